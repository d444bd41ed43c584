//! A real `etcd` on 127.0.0.1 with random ports and a temp data dir, stopped by PID on drop.
//! `ATREST_ETCD_BIN` picks the binary (default: `etcd` on PATH); `etcdctl` is the one beside it
//! (same release), else `ATREST_ETCDCTL_BIN`, else `etcdctl` on PATH. Never an outside cluster.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, Txn, TxnOp};

use super::tls::TlsFiles;

/// How long etcd may take to come up before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Etcd {
    child: Child,
    _dir: tempfile::TempDir,
    /// Client URL, `http://127.0.0.1:PORT` or `https://…`.
    pub endpoint: String,
    pub tls: Option<TlsFiles>,
    rt: tokio::runtime::Runtime,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn etcd_bin() -> PathBuf {
    std::env::var_os("ATREST_ETCD_BIN").map(PathBuf::from).unwrap_or_else(|| "etcd".into())
}

/// A tool of the same etcd release as [`etcd_bin`] (`etcdctl`, `etcdutl`): the file beside
/// `ATREST_ETCD_BIN` when there is one, else `ATREST_<TOOL>_BIN`, else the name on PATH.
pub fn etcd_tool(tool: &str) -> PathBuf {
    if let Some(beside) = std::env::var_os("ATREST_ETCD_BIN")
        .map(PathBuf::from)
        .and_then(|etcd| etcd.parent().map(|dir| dir.join(tool)))
        .filter(|p| p.is_file())
    {
        return beside;
    }
    std::env::var_os(format!("ATREST_{}_BIN", tool.to_uppercase()))
        .map(PathBuf::from)
        .unwrap_or_else(|| tool.into())
}

/// The etcd release the tests run on (`etcd --version`'s first line), for the matrix's log.
pub fn etcd_version() -> String {
    super::process::output(Command::new(etcd_bin()).arg("--version"))
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| format!("{:?}: not runnable", etcd_bin()))
}

impl Etcd {
    /// Plain-HTTP etcd.
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// etcd that requires TLS client certificates signed by a test CA.
    pub fn start_tls() -> Self {
        Self::spawn(Some(TlsFiles::generate()))
    }

    fn spawn(tls: Option<TlsFiles>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cport, pport) = (free_port(), free_port());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let endpoint = format!("{scheme}://127.0.0.1:{cport}");
        let peer = format!("http://127.0.0.1:{pport}");
        let mut cmd = Command::new(etcd_bin());
        cmd.arg("--name=atrest-test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=atrest-test={peer}"))
            .arg("--quota-backend-bytes=8589934592")
            .arg("--log-level=error")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("etcd.log")).unwrap());
        if let Some(t) = &tls {
            cmd.arg(format!("--cert-file={}", t.server_cert.display()))
                .arg(format!("--key-file={}", t.server_key.display()))
                .arg(format!("--trusted-ca-file={}", t.ca_cert.display()))
                .arg("--client-cert-auth");
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {:?} ({e}): install etcd (Debian etcd-server) or set ATREST_ETCD_BIN",
                etcd_bin()
            )
        });
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let etcd = Self { child, _dir: dir, endpoint, tls, rt };
        etcd.wait_ready();
        etcd
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ok = self.rt.block_on(async {
                let mut c = self.client_async().await.ok()?;
                c.get("health-probe", None).await.ok()
            });
            if ok.is_some() {
                return;
            }
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self._dir.path().join("etcd.log")).unwrap_or_default();
                panic!("etcd did not become ready in {START_TIMEOUT:?}; log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    async fn client_async(&self) -> Result<Client, etcd_client::Error> {
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(30));
        if let Some(t) = &self.tls {
            opts = opts.with_tls(t.client_options());
        }
        Client::connect([self.endpoint.as_str()], Some(opts)).await
    }

    pub fn with_client<T>(&self, f: impl AsyncFnOnce(&mut Client) -> T) -> T {
        self.rt.block_on(async {
            let mut c = self.client_async().await.unwrap();
            f(&mut c).await
        })
    }

    /// Puts every pair, 100 per transaction (etcd's max-txn-ops is 128).
    pub fn put_all<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, kvs: &[(K, V)]) {
        self.with_client(async |c| {
            for chunk in kvs.chunks(100) {
                let ops: Vec<TxnOp> = chunk
                    .iter()
                    .map(|(k, v)| TxnOp::put(k.as_ref().to_vec(), v.as_ref().to_vec(), None))
                    .collect();
                c.txn(Txn::new().and_then(ops)).await.unwrap();
            }
        })
    }

    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> i64 {
        self.with_client(async |c| {
            c.put(key.as_ref().to_vec(), value.as_ref().to_vec(), None)
                .await
                .unwrap()
                .header()
                .unwrap()
                .revision()
        })
    }

    pub fn compact(&self, rev: i64) {
        self.with_client(async |c| {
            c.compact(rev, Some(etcd_client::CompactionOptions::new().with_physical()))
                .await
                .unwrap();
        })
    }

    /// `etcdctl snapshot save PATH` (the file has bbolt's db plus a sha256 trailer).
    pub fn snapshot_save(&self, path: &Path) {
        let mut cmd = Command::new(etcd_tool("etcdctl"));
        cmd.env("ETCDCTL_API", "3").arg(format!("--endpoints={}", self.endpoint));
        if self.tls.is_some() {
            cmd.args(self.tls_args());
        }
        let out =
            super::process::output(cmd.arg("snapshot").arg("save").arg(path)).expect("run etcdctl");
        assert!(
            out.status.success(),
            "etcdctl snapshot save: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `etcdctl defrag`.
    pub fn defrag(&self) {
        let out = super::process::output(
            Command::new(etcd_tool("etcdctl"))
                .env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={}", self.endpoint))
                .arg("defrag"),
        )
        .expect("run etcdctl");
        assert!(out.status.success(), "etcdctl defrag: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The member's live bbolt file (`member/snap/db`, no sha256 trailer).
    #[allow(dead_code)]
    pub fn member_db(&self) -> PathBuf {
        self._dir.path().join("data/member/snap/db")
    }

    /// Adds user `root` with `password` and turns auth on.
    pub fn enable_auth(&self, password: &str) {
        self.with_client(async |c| {
            c.user_add("root", password, None).await.unwrap();
            c.user_grant_role("root", "root").await.unwrap();
            c.auth_enable().await.unwrap();
        })
    }

    /// The `--cacert/--cert/--key` args for a TLS etcd.
    pub fn tls_args(&self) -> Vec<String> {
        let t = self.tls.as_ref().expect("TLS etcd");
        vec![
            format!("--cacert={}", t.ca_cert.display()),
            format!("--cert={}", t.client_cert.display()),
            format!("--key={}", t.client_key.display()),
        ]
    }

    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        // By PID (our own child), never by name.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
