//! A stand-in kube-apiserver for tests: real HTTPS (rustls with the ring provider) on
//! 127.0.0.1:<random>, its own CA, bearer tokens, and the JSON shapes kube-apiserver answers
//! with. Never an outside cluster. [`ApiServer::start`] serves discovery only;
//! [`ApiServer::with_backend`] also serves objects stored in a real etcd (GET, LIST,
//! server-side apply), encrypted and encoded as kube-apiserver does, so a client's rewrite can be
//! checked against the etcd values it causes.
//!
//! One module per concern:
//! - `discovery`: `/version`, `/api`, `/api/{v}`, `/apis`, `/apis/{g}`, `/apis/{g}/{v}`, and the
//!   `storageVersionHash` (apiserver `pkg/endpoints/discovery/storageversionhash.go`);
//! - `rest`: object GET and LIST routes; `apply`: PATCH (server-side apply, GuaranteedUpdate);
//! - `merge`: the apply merge; `codec`: stored bytes ⇄ served JSON; `proto`: the protobuf
//!   messages; `gojson`: Go's JSON encoding; `time`: RFC 3339;
//! - `objects`: payload encoders for seeding etcd; `seal`: the encrypting write path;
//! - `backend`: etcd keys, reads, OptimisticPut, the write log;
//! - `openapi`: the OpenAPI v3 kubectl needs for server-side field validation;
//! - `faults`: latency, failing PATCHes, conflicts;
//! - `status`: `metav1.Status` failures;
//! - `json`: bodies as kube-apiserver writes them (content type, trailing newline);
//! - `auth`: bearer tokens and their access (anonymous auth off, as `--anonymous-auth=false`);
//! - `router`: the axum `Router`, common headers, the request count and log;
//! - `state`: what every handler shares;
//! - `kubeconfig`: the file kubectl / kube-rs read;
//! - `client`: a tiny blocking HTTPS client to test the server itself.
//!
//! The server runs on its own thread with its own tokio runtime, so it can be started and
//! dropped from plain `#[test]`s and from async tests alike.

mod apply;
mod auth;
mod backend;
mod client;
mod codec;
mod discovery;
mod faults;
mod gojson;
mod json;
mod kubeconfig;
mod merge;
pub mod objects;
mod openapi;
mod proto;
mod rest;
mod router;
mod seal;
mod state;
mod status;
mod time;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::tls::TlsFiles;
pub use auth::Access;
pub use backend::{Backend, EtcdWrite};
pub use client::RawResponse;
pub use discovery::storage_version_hash;
pub use faults::Faults;
pub use seal::{load_encryption_config, seal_for};
pub use state::LoggedRequest;
use state::State;

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Grace period for open connections on drop, then the hard bound on the whole stop.
const GRACE: Duration = Duration::from_secs(1);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// One served `group/version` of a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// API group, `""` for core.
    pub group: String,
    /// The served version this entry lists.
    pub version: String,
    /// Plural name, e.g. `secrets`.
    pub resource: String,
    pub kind: String,
    pub namespaced: bool,
    /// The version the objects are stored as; its hash is what discovery advertises.
    pub storage_version: String,
}

impl Resource {
    /// A resource served and stored at `version`.
    pub fn new(group: &str, version: &str, resource: &str, kind: &str, namespaced: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
            kind: kind.into(),
            namespaced,
            storage_version: version.into(),
        }
    }

    /// The same resource, stored as `storage_version` (e.g. HPA served at v1, stored at v2).
    pub fn stored_as(mut self, storage_version: &str) -> Self {
        self.storage_version = storage_version.into();
        self
    }
}

pub struct ApiServer {
    state: Arc<State>,
    url: String,
    ca_pem: String,
    handle: Handle<SocketAddr>,
    thread: Option<JoinHandle<()>>,
    /// CA, server cert and key (and a client cert for later use).
    _tls: TlsFiles,
    /// Kubeconfigs written for clients.
    dir: tempfile::TempDir,
    kubeconfigs: AtomicUsize,
}

impl ApiServer {
    /// HTTPS on 127.0.0.1:<random>, its own CA (rcgen), bearer token `token`: discovery only.
    pub fn start(resources: Vec<Resource>, token: &str) -> Self {
        Self::launch(resources, token, None)
    }

    /// Discovery plus the objects of `resources` stored in the backend's etcd, read and written
    /// through its EncryptionConfiguration. Panics if the config cannot be loaded.
    pub fn with_backend(resources: Vec<Resource>, token: &str, backend: Backend) -> Self {
        let store = backend::Store::new(&backend)
            .unwrap_or_else(|e| panic!("test apiserver backend {backend:?}: {e}"));
        Self::launch(resources, token, Some(store))
    }

    fn launch(resources: Vec<Resource>, token: &str, store: Option<backend::Store>) -> Self {
        let tls = TlsFiles::generate();
        let ca_pem = std::fs::read_to_string(&tls.ca_cert).expect("read test CA");
        let config = server_tls_config(&tls);
        // Bound here, so the port is known before the server thread runs.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::new(resources, token, addr, store));
        let app = router::build(state.clone());
        let handle = Handle::new();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("test-apiserver".into())
            .spawn({
                let handle = handle.clone();
                move || serve(listener, config, app, handle, ready_tx)
            })
            .expect("spawn the test apiserver thread");
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("test apiserver failed to start: {e}"),
            Err(_) => panic!("test apiserver did not start in {START_TIMEOUT:?}"),
        }
        Self {
            state,
            url: format!("https://{addr}"),
            ca_pem,
            handle,
            thread: Some(thread),
            _tls: tls,
            dir: tempfile::tempdir().expect("temp dir"),
            kubeconfigs: AtomicUsize::new(0),
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The PEM of the CA that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes a kubeconfig (cluster with certificate-authority-data, user with the server's
    /// token, context `atrest-test`, current-context set) and returns its path, inside a temp
    /// dir the server owns.
    pub fn kubeconfig(&self) -> PathBuf {
        self.kubeconfig_with_token(&self.state.token)
    }

    /// The same kubeconfig with another token (e.g. a wrong one), in a new file.
    pub fn kubeconfig_with_token(&self, token: &str) -> PathBuf {
        let n = self.kubeconfigs.fetch_add(1, Ordering::Relaxed);
        let name = if n == 0 { "kubeconfig".to_string() } else { format!("kubeconfig-{n}") };
        let path = self.dir.path().join(name);
        std::fs::write(&path, kubeconfig::render(&self.url, &self.ca_pem, token))
            .expect("write kubeconfig");
        path
    }

    /// How many HTTP requests arrived (any path, any outcome).
    pub fn requests(&self) -> u64 {
        self.state.requests()
    }

    /// Every request so far, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.state.log()
    }

    /// The fault knobs (changeable while the server runs).
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Accepts `token` from now on, with `access` (the start token is ReadWrite).
    pub fn add_token(&self, token: &str, access: Access) {
        self.state.add_token(token, access);
    }

    /// Every etcd put the server did, in order (empty without a backend).
    pub fn etcd_writes(&self) -> Vec<EtcdWrite> {
        self.state.store.as_ref().map(backend::Store::writes).unwrap_or_default()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.handle.graceful_shutdown(Some(GRACE));
        let Some(thread) = self.thread.take() else { return };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            // Bounded: force-close and leave the thread; its runtime stops with its last task.
            self.handle.shutdown();
            eprintln!("test apiserver did not stop in {STOP_TIMEOUT:?}; detached");
        }
        // `dir` and `_tls` (temp dirs) are removed when the fields drop.
    }
}

/// The serving config: the leaf for 127.0.0.1/localhost, ring, TLS 1.2+1.3, h2 and http/1.1.
fn server_tls_config(tls: &TlsFiles) -> Arc<rustls::ServerConfig> {
    let certs = CertificateDer::pem_file_iter(&tls.server_cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .expect("read server certificate");
    let key = PrivateKeyDer::from_pem_file(&tls.server_key).expect("read server key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate and key match");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The server thread: its own runtime, serve until the handle says stop.
fn serve(
    listener: std::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: axum::Router,
    handle: Handle<SocketAddr>,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("test-apiserver-rt")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("tokio runtime: {e}")));
            return;
        }
    };
    rt.block_on(async move {
        let server = match axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(config))
        {
            Ok(server) => server.handle(handle.clone()),
            Err(e) => {
                let _ = ready.send(Err(format!("listener: {e}")));
                return;
            }
        };
        let serving = tokio::spawn(server.serve(app.into_make_service()));
        let _ = ready.send(match handle.listening().await {
            Some(_) => Ok(()),
            None => Err("the server did not listen".into()),
        });
        match serving.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("test apiserver: {e}"),
            Err(e) => eprintln!("test apiserver task: {e}"),
        }
    });
    rt.shutdown_timeout(STOP_TIMEOUT);
}
