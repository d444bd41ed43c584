//! Stopping a run early: Ctrl-C, or a 401/403 that no other write would get past.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Why the whole run stopped early.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the API server refused the write ({code} {reason}): {message}; atrest needs the RBAC verbs \
     get and patch on {resource} (and list/get on discovery)"
)]
pub struct Denied {
    /// 401 or 403.
    pub code: u16,
    /// `Status.reason`.
    pub reason: String,
    /// `Status.message`.
    pub message: String,
    /// `resource.group` of the refused write.
    pub resource: String,
}

/// A stop request shared by the Ctrl-C handler and the workers.
#[derive(Debug, Default)]
pub struct Stop {
    flag: AtomicBool,
    notify: Notify,
}

impl Stop {
    /// Asks every worker to stop after its request in flight.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleeps `d`; returns true (early) if a stop is asked for meanwhile.
    pub(super) async fn sleep(&self, d: Duration) -> bool {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_stopped() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => false,
            () = notified => true,
        }
    }
}
