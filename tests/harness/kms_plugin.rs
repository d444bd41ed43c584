//! A real KMS plugin for tests: a tonic gRPC server on a unix socket in a fresh temp dir, serving
//! `v1beta1.KeyManagementService` (Version, Encrypt, Decrypt) and `v2.KeyManagementService`
//! (Status, Encrypt, Decrypt) on its own thread and tokio runtime.
//!
//! It behaves like the golden mock plugin (`shared/fixtures/golden/envelopes/kms-plugin.json`):
//! Decrypt = AES-256-GCM open with the KEK, nonce = `ciphertext[0:12]`, sealed =
//! `ciphertext[12:]`, no AAD; Encrypt is the inverse with a counter nonce. Failures can be switched
//! on at run time. Every wait is bounded; stopping closes the socket for real.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use atrest::pb::{kms_v1beta1 as v1, kms_v2 as v2};
use base64::Engine as _;
use tonic::{Request, Response, Status};

/// How long `start` waits for the server to listen, and `stop` for it to go away.
const START_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What every RPC does instead of answering normally.
#[derive(Clone, Copy, Debug)]
pub enum Failure {
    /// Answer normally.
    None,
    /// `Status::unavailable`.
    Unavailable,
    /// Sleep this long, then answer normally.
    Slow(Duration),
    /// `Status::internal`.
    Error,
    /// Answer the first this many Decrypt calls normally, then `Status::unavailable` to
    /// everything: a plugin that dies mid-scan, at a point that does not depend on timing.
    UnavailableAfterDecrypts(u64),
}

struct State {
    kek: [u8; 32],
    key_id: Mutex<String>,
    failure: Mutex<Failure>,
    decrypt_calls: AtomicU64,
    status_calls: AtomicU64,
    nonce_counter: AtomicU64,
}

impl State {
    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&self.kek).unwrap()
    }

    fn wrap(&self, plaintext: &[u8]) -> Vec<u8> {
        let n = self.nonce_counter.fetch_add(1, Ordering::Relaxed);
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&n.to_be_bytes());
        let sealed = self.cipher().encrypt(&Nonce::from(nonce), plaintext).unwrap();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    fn unwrap(&self, ciphertext: &[u8]) -> Result<Vec<u8>, Status> {
        if ciphertext.len() < 12 + 16 {
            return Err(Status::invalid_argument("ciphertext too short"));
        }
        let (nonce, sealed) = ciphertext.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().unwrap();
        self.cipher()
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| Status::invalid_argument("cannot decrypt: wrong KEK or damaged data"))
    }

    /// Applies the configured failure before an RPC answers.
    async fn gate(&self) -> Result<(), Status> {
        let failure = *self.failure.lock().unwrap();
        match failure {
            Failure::None => Ok(()),
            Failure::Unavailable => Err(Status::unavailable("test plugin: switched off")),
            Failure::Error => Err(Status::internal("test plugin: internal failure")),
            Failure::UnavailableAfterDecrypts(n)
                if self.decrypt_calls.load(Ordering::Relaxed) > n =>
            {
                Err(Status::unavailable("test plugin: switched off"))
            }
            Failure::UnavailableAfterDecrypts(_) => Ok(()),
            Failure::Slow(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
        }
    }
}

#[derive(Clone)]
struct Service(Arc<State>);

#[tonic::async_trait]
impl v2::key_management_service_server::KeyManagementService for Service {
    async fn status(
        &self,
        _: Request<v2::StatusRequest>,
    ) -> Result<Response<v2::StatusResponse>, Status> {
        self.0.status_calls.fetch_add(1, Ordering::Relaxed);
        self.0.gate().await?;
        Ok(Response::new(v2::StatusResponse {
            version: "v2".into(),
            healthz: "ok".into(),
            key_id: self.0.key_id.lock().unwrap().clone(),
        }))
    }

    async fn decrypt(
        &self,
        request: Request<v2::DecryptRequest>,
    ) -> Result<Response<v2::DecryptResponse>, Status> {
        self.0.decrypt_calls.fetch_add(1, Ordering::Relaxed);
        self.0.gate().await?;
        let r = request.into_inner();
        if r.key_id.is_empty() || r.uid.is_empty() {
            return Err(Status::invalid_argument("key_id and uid are required"));
        }
        Ok(Response::new(v2::DecryptResponse { plaintext: self.0.unwrap(&r.ciphertext)? }))
    }

    async fn encrypt(
        &self,
        request: Request<v2::EncryptRequest>,
    ) -> Result<Response<v2::EncryptResponse>, Status> {
        self.0.gate().await?;
        Ok(Response::new(v2::EncryptResponse {
            ciphertext: self.0.wrap(&request.into_inner().plaintext),
            key_id: self.0.key_id.lock().unwrap().clone(),
            annotations: Default::default(),
        }))
    }
}

#[tonic::async_trait]
impl v1::key_management_service_server::KeyManagementService for Service {
    async fn version(
        &self,
        _: Request<v1::VersionRequest>,
    ) -> Result<Response<v1::VersionResponse>, Status> {
        self.0.status_calls.fetch_add(1, Ordering::Relaxed);
        self.0.gate().await?;
        Ok(Response::new(v1::VersionResponse {
            version: "v1beta1".into(),
            runtime_name: "atrest-test-kms".into(),
            runtime_version: "0.1".into(),
        }))
    }

    async fn decrypt(
        &self,
        request: Request<v1::DecryptRequest>,
    ) -> Result<Response<v1::DecryptResponse>, Status> {
        self.0.decrypt_calls.fetch_add(1, Ordering::Relaxed);
        self.0.gate().await?;
        let r = request.into_inner();
        if r.version != "v1beta1" {
            return Err(Status::invalid_argument(format!("unsupported version {:?}", r.version)));
        }
        Ok(Response::new(v1::DecryptResponse { plain: self.0.unwrap(&r.cipher)? }))
    }

    async fn encrypt(
        &self,
        request: Request<v1::EncryptRequest>,
    ) -> Result<Response<v1::EncryptResponse>, Status> {
        self.0.gate().await?;
        Ok(Response::new(v1::EncryptResponse { cipher: self.0.wrap(&request.into_inner().plain) }))
    }
}

pub struct KmsPluginServer {
    state: Arc<State>,
    dir: Option<tempfile::TempDir>,
    socket: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl KmsPluginServer {
    /// Listens on `<fresh temp dir>/kms.sock`.
    pub fn start(kek: [u8; 32], key_id: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("atrest-kms-").tempdir().unwrap();
        let socket = dir.path().join("kms.sock");
        let state = Arc::new(State {
            kek,
            key_id: Mutex::new(key_id.to_owned()),
            failure: Mutex::new(Failure::None),
            decrypt_calls: AtomicU64::new(0),
            status_calls: AtomicU64::new(0),
            nonce_counter: AtomicU64::new(1),
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let service = Service(Arc::clone(&state));
        let path = socket.clone();
        let thread = std::thread::Builder::new()
            .name("test-kms-plugin".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = match tokio::net::UnixListener::bind(&path) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("bind {}: {e}", path.display())));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
                    let serve = tonic::transport::Server::builder()
                        .add_service(
                            v1::key_management_service_server::KeyManagementServiceServer::new(
                                service.clone(),
                            ),
                        )
                        .add_service(
                            v2::key_management_service_server::KeyManagementServiceServer::new(
                                service,
                            ),
                        )
                        .serve_with_incoming(incoming);
                    // Not graceful: stopping drops the listener at once, and dropping the runtime
                    // below closes every open connection (a connected client sees it go away).
                    tokio::select! {
                        r = serve => r.unwrap(),
                        _ = shutdown_rx => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .unwrap();
        match ready_rx.recv_timeout(START_STOP_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("test KMS plugin: {e}"),
            Err(e) => panic!("test KMS plugin did not start within {START_STOP_TIMEOUT:?}: {e}"),
        }
        Self { state, dir: Some(dir), socket, shutdown: Some(shutdown_tx), thread: Some(thread) }
    }

    /// The golden mock plugin: the KEK of `kms-plugin.json`, key_id `kek-2`.
    pub fn golden() -> Self {
        let path = atrest::testkit::golden_dir().join("envelopes/kms-plugin.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (set ATREST_GOLDEN_DIR)", path.display()));
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let kek = base64::engine::general_purpose::STANDARD
            .decode(doc["kek_base64"].as_str().unwrap())
            .unwrap();
        let key_id = doc["status"]["key_id"].as_str().unwrap_or("kek-2");
        Self::start(kek.try_into().unwrap(), key_id)
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `unix:///…/kms.sock`.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The key_id later Status calls report.
    pub fn set_key_id(&self, id: &str) {
        *self.state.key_id.lock().unwrap() = id.to_owned();
    }

    pub fn set_failure(&self, f: Failure) {
        *self.state.failure.lock().unwrap() = f;
    }

    /// Decrypt calls received (v1beta1 and v2, including failed ones).
    pub fn decrypt_calls(&self) -> u64 {
        self.state.decrypt_calls.load(Ordering::Relaxed)
    }

    /// v2 Status plus v1beta1 Version calls received.
    pub fn status_calls(&self) -> u64 {
        self.state.status_calls.load(Ordering::Relaxed)
    }

    /// What this plugin's Encrypt returns for `plaintext` (a fresh counter nonce each time).
    pub fn wrap(&self, plaintext: &[u8]) -> Vec<u8> {
        self.state.wrap(plaintext)
    }

    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let deadline = std::time::Instant::now() + START_STOP_TIMEOUT;
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        let _ = std::fs::remove_file(&self.socket);
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

impl Drop for KmsPluginServer {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}
