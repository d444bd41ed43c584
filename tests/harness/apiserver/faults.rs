//! Knobs a test turns while the server runs, to see how a client copes with a slow or failing
//! kube-apiserver: latency on every object request, the next N PATCHes failing with a
//! metav1.Status (429 with Retry-After, 500, 503, …) without touching etcd, and a 409 on the
//! first PATCH of each object. Locks are held only to read or update a knob, never across an
//! await.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use super::status;

#[derive(Default)]
pub struct Faults {
    latency_nanos: AtomicU64,
    failures: Mutex<Option<Failure>>,
    conflict_first: AtomicBool,
    conflicted: Mutex<HashSet<String>>,
}

#[derive(Clone, Copy)]
struct Failure {
    remaining: usize,
    code: u16,
    retry_after_secs: Option<u64>,
}

impl Faults {
    /// Added before answering every object GET, LIST and PATCH.
    pub fn set_latency(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.latency_nanos.store(nanos, Ordering::Relaxed);
    }

    /// The next `n` PATCHes answer `code` as kube-apiserver would (429 TooManyRequests with a
    /// `Retry-After` header and `details.retryAfterSeconds` when `retry_after_secs` is given;
    /// 500 InternalError; 503 ServiceUnavailable), without touching etcd. `n = 0` clears.
    pub fn fail_patches(&self, n: usize, code: u16, retry_after_secs: Option<u64>) {
        *lock(&self.failures) = (n > 0).then_some(Failure { remaining: n, code, retry_after_secs });
    }

    /// While on, the first PATCH of each object (by etcd key) answers 409 Conflict "the object
    /// has been modified…" without writing; later PATCHes of that object go through. Turning it
    /// on starts over for every object.
    pub fn conflict_first_patch(&self, on: bool) {
        if on {
            lock(&self.conflicted).clear();
        }
        self.conflict_first.store(on, Ordering::Relaxed);
    }

    pub(super) fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    /// Sleeps the configured latency (no lock held).
    pub(super) async fn delay(&self) {
        let d = self.latency();
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }

    /// The failure answer for this PATCH, if one is due (and counts it).
    pub(super) fn take_patch_failure(&self) -> Option<Response> {
        let failure = {
            let mut guard = lock(&self.failures);
            let f = (*guard)?;
            *guard = (f.remaining > 1).then_some(Failure { remaining: f.remaining - 1, ..f });
            f
        };
        Some(failure_response(failure.code, failure.retry_after_secs))
    }

    /// Whether this PATCH of `key` must answer 409 (first time seen while the knob is on).
    pub(super) fn conflict_now(&self, key: &str) -> bool {
        self.conflict_first.load(Ordering::Relaxed) && lock(&self.conflicted).insert(key.into())
    }
}

fn failure_response(code: u16, retry_after: Option<u64>) -> Response {
    let status = match code {
        429 => status::too_many_requests(retry_after),
        500 => status::internal("etcdserver: request timed out"),
        503 => status::service_unavailable("the server is currently unable to handle the request"),
        504 => status::Status::failure(
            504,
            "Timeout",
            "Timeout: request did not complete within the allotted timeout",
        ),
        other => {
            status::Status::failure(other, "InternalError", format!("injected failure {other}"))
        }
    };
    let mut response = status.into_response();
    if let Some(secs) = retry_after {
        // responsewriters.ErrorNegotiated sets it from details.retryAfterSeconds; for the
        // other codes the header is what an intermediary (or APF) would add.
        response.headers_mut().insert("retry-after", HeaderValue::from(secs));
    }
    response
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
