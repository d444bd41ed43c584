//! etcdctl's connection flags, and the TLS files they name.

use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{Certificate, Identity, TlsOptions};

use crate::source::SourceError;

/// How to reach etcd: etcdctl's flags. `Debug` leaves the password out.
#[derive(Clone, Default)]
pub struct LiveOptions {
    /// `--endpoints`.
    pub endpoints: Vec<String>,
    /// `--cacert`: verify the server with this CA bundle.
    pub cacert: Option<PathBuf>,
    /// `--cert`: client certificate.
    pub cert: Option<PathBuf>,
    /// `--key`: client key.
    pub key: Option<PathBuf>,
    /// `--user name:password`.
    pub user: Option<(String, String)>,
    /// `--dial-timeout`.
    pub dial_timeout: Duration,
    /// `--command-timeout`, per request.
    pub command_timeout: Duration,
}

impl std::fmt::Debug for LiveOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveOptions")
            .field("endpoints", &self.endpoints)
            .field("cacert", &self.cacert)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("user", &self.user.as_ref().map(|(name, _)| name))
            .field("dial_timeout", &self.dial_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

pub(super) fn tls_options(opts: &LiveOptions) -> Result<TlsOptions, SourceError> {
    let read = |what: &'static str, path: &PathBuf| {
        std::fs::read(path).map_err(|source| SourceError::ReadTlsFile {
            what,
            path: path.clone(),
            source,
        })
    };
    let mut tls = TlsOptions::new();
    if let Some(ca) = &opts.cacert {
        tls = tls.ca_certificate(Certificate::from_pem(read("--cacert", ca)?));
    }
    match (&opts.cert, &opts.key) {
        (Some(cert), Some(key)) => {
            tls = tls.identity(Identity::from_pem(read("--cert", cert)?, read("--key", key)?));
        }
        (None, None) => {}
        _ => return Err(SourceError::Options("--cert and --key go together")),
    }
    Ok(tls)
}
