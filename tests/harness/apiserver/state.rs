//! What every handler shares: the served resources, the token, the request count and log.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Resource;

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
    pub token: String,
    /// `127.0.0.1:PORT`, for `serverAddressByClientCIDRs`.
    pub address: SocketAddr,
    requests: AtomicU64,
    log: Mutex<Vec<LoggedRequest>>,
}

impl State {
    pub fn new(resources: Vec<Resource>, token: &str, address: SocketAddr) -> Self {
        Self {
            resources,
            token: token.into(),
            address,
            requests: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
        }
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
