//! What every handler shares: the served resources, the tokens, the request count and log, and
//! (with a backend) the etcd store and the fault knobs.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Resource;
use super::auth::Access;
use super::backend::Store;
use super::faults::Faults;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub method: String,
    /// Path and query, e.g. `/api/v1?timeout=32s`.
    pub uri: String,
    /// The `Accept` header, if any.
    pub accept: Option<String>,
    /// The status the server answered with.
    pub status: u16,
}

pub(super) struct State {
    pub resources: Vec<Resource>,
    /// The start token (read-write); kubeconfigs use it.
    pub token: String,
    /// `127.0.0.1:PORT`, for `serverAddressByClientCIDRs`.
    pub address: SocketAddr,
    /// Objects in etcd, when the server has a backend.
    pub store: Option<Store>,
    pub faults: Faults,
    tokens: Mutex<Vec<(String, Access)>>,
    requests: AtomicU64,
    log: Mutex<Vec<LoggedRequest>>,
}

impl State {
    pub fn new(
        resources: Vec<Resource>,
        token: &str,
        address: SocketAddr,
        store: Option<Store>,
    ) -> Self {
        Self {
            resources,
            token: token.into(),
            address,
            store,
            faults: Faults::default(),
            tokens: Mutex::new(vec![(token.into(), Access::ReadWrite)]),
            requests: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
        }
    }

    /// Adds (or changes) a token.
    pub fn add_token(&self, token: &str, access: Access) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|(t, _)| t != token);
        tokens.push((token.into(), access));
    }

    pub fn access_of(&self, token: &str) -> Option<Access> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.iter().find(|(t, _)| t == token).map(|(_, a)| *a)
    }

    pub fn record(&self, request: LoggedRequest) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.log.lock().unwrap_or_else(|e| e.into_inner()).push(request);
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn log(&self) -> Vec<LoggedRequest> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
