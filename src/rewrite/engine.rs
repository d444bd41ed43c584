//! The writes: every target gets the no-op apply, at most `--concurrency` in flight and `--qps`
//! started per second. A conflict is never overwritten: the key is re-read from etcd and
//! re-judged (`rejudge`: someone else already rewrote it; it was deleted; it was recreated and is
//! stale again, so apply with its new uid and resourceVersion). 429 and 5xx are retried with
//! bounded backoff ([`pace`]). 401/403 stop the whole run: without credentials nothing else
//! will succeed.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt as _;

use super::api::{Answer, ApiClient, Refusal};
use super::pace::{self, MAX_RETRIES, Pacer};
use super::plan::Target;
use super::rejudge::rejudge;
use crate::source::live::KeyReader;
use crate::verdict::Judge;

pub use super::counts::Counts;
pub use super::outcome::{Done, Outcome, UNCHANGED};
pub use super::rejudge::MAX_CONFLICTS;
pub use super::stop::{Denied, Stop};

/// Everything the workers share.
pub struct Engine<'a> {
    /// The API server.
    pub api: &'a ApiClient,
    /// Re-judges objects re-read after a conflict.
    pub judge: &'a Judge<'a>,
    /// Re-reads keys from etcd.
    pub reader: &'a KeyReader,
    /// Applies in flight at most.
    pub concurrency: usize,
    /// Starts per second.
    pub pacer: Pacer,
    /// Ctrl-C.
    pub stop: Arc<Stop>,
    denied: Mutex<Option<Denied>>,
}

impl<'a> Engine<'a> {
    /// An engine; `qps` 0 = unlimited.
    pub fn new(
        api: &'a ApiClient,
        judge: &'a Judge<'a>,
        reader: &'a KeyReader,
        concurrency: usize,
        qps: f64,
        stop: Arc<Stop>,
    ) -> Self {
        Self {
            api,
            judge,
            reader,
            concurrency: concurrency.max(1),
            pacer: Pacer::new(qps),
            stop,
            denied: Mutex::new(None),
        }
    }

    /// Rewrites every target, calling `on_done` as each finishes (in completion order).
    /// Returns the first 401/403, which stopped the run, if any.
    pub async fn run(&self, targets: Vec<Target>, mut on_done: impl FnMut(Done)) -> Option<Denied> {
        let mut results = futures::stream::iter(targets)
            .map(|t| self.rewrite_one(t))
            .buffer_unordered(self.concurrency);
        while let Some(done) = results.next().await {
            on_done(done);
        }
        self.denied.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    async fn rewrite_one(&self, target: Target) -> Done {
        let mut done = Done {
            planned_revision: target.resource_version,
            target,
            outcome: Outcome::Interrupted,
            attempts: 0,
            conflicts: 0,
            retries: 0,
        };
        done.outcome = self.drive(&mut done).await;
        done
    }

    async fn drive(&self, d: &mut Done) -> Outcome {
        let Some(served) = self.api.served(&d.target.group, &d.target.resource) else {
            return Outcome::Skipped(format!(
                "the API server does not serve {} (API removed, or an aggregated API)",
                d.target.group_resource()
            ));
        };
        if !served.verbs.iter().any(|v| v == "patch") {
            return Outcome::Skipped(format!(
                "the API server does not allow patch on {}",
                d.target.group_resource()
            ));
        }
        // Bounded: every pass either returns or spends one conflict or one retry.
        for _ in 0..=(MAX_CONFLICTS + MAX_RETRIES) {
            if self.stop.is_stopped() {
                return Outcome::Interrupted;
            }
            self.pacer.wait().await;
            if self.stop.is_stopped() {
                return Outcome::Interrupted;
            }
            d.attempts += 1;
            let refusal = match self.api.apply_noop(served, &d.target).await {
                Ok(Answer::Applied { resource_version }) => {
                    return if resource_version == Some(d.target.resource_version) {
                        Outcome::Unchanged
                    } else {
                        Outcome::Rewritten { to: resource_version }
                    };
                }
                Ok(Answer::Refused(r)) => r,
                Err(e) => {
                    if let Some(outcome) =
                        self.retry(d, None, &format!("request failed: {e}")).await
                    {
                        return outcome;
                    }
                    continue;
                }
            };
            match refusal.code {
                401 | 403 => {
                    self.deny(&refusal, d);
                    return Outcome::Failed(format!("{} {}", refusal.code, refusal.message));
                }
                409 | 404 | 422 => {
                    if refusal.code == 409 {
                        d.conflicts += 1;
                    }
                    if let Some(outcome) = rejudge(self.reader, self.judge, d, &refusal).await {
                        return outcome;
                    }
                }
                429 | 500..=599 => {
                    let why = format!("{} {}: {}", refusal.code, refusal.reason, refusal.message);
                    if let Some(outcome) = self.retry(d, refusal.retry_after, &why).await {
                        return outcome;
                    }
                }
                code => {
                    return Outcome::Failed(format!(
                        "{code} {}: {}",
                        refusal.reason, refusal.message
                    ));
                }
            }
        }
        Outcome::Failed("gave up: too many conflicts and retries".into())
    }

    fn deny(&self, refusal: &Refusal, d: &Done) {
        let mut denied = self.denied.lock().unwrap_or_else(|e| e.into_inner());
        denied.get_or_insert_with(|| Denied {
            code: refusal.code,
            reason: refusal.reason.clone(),
            message: refusal.message.clone(),
            resource: d.target.group_resource(),
        });
        self.stop.stop();
    }

    /// Waits before the next try; Some(outcome) when the budget is spent or a stop came.
    async fn retry(&self, d: &mut Done, after: Option<Duration>, why: &str) -> Option<Outcome> {
        d.retries += 1;
        if d.retries > MAX_RETRIES {
            return Some(Outcome::Failed(format!(
                "gave up after {MAX_RETRIES} retries; last: {why}"
            )));
        }
        tracing::debug!(key = %d.target.key_str(), retry = d.retries, why, "backing off");
        if self.stop.sleep(pace::backoff(d.retries, after)).await {
            return Some(Outcome::Interrupted);
        }
        None
    }
}
