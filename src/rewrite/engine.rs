//! The writes: every target gets the no-op apply, at most `--concurrency` in flight and `--qps`
//! started per second. A conflict is never overwritten: the key is re-read from etcd and
//! re-judged (someone else already rewrote it; it was deleted; it was recreated and is stale
//! again, so apply with its new uid and resourceVersion). 429 and 5xx are retried with bounded
//! backoff. 401/403 stop the whole run: without credentials nothing else will succeed.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use serde::Serialize;
use tokio::sync::Notify;

use super::api::{Answer, ApiClient, Refusal};
use super::journal::Entry;
use super::pace::{self, MAX_RETRIES, Pacer};
use super::plan::Target;
use crate::source::live::KeyReader;
use crate::verdict::{Judge, Status};

/// Applies allowed per object after conflicts (each one re-judged from etcd first).
pub const MAX_CONFLICTS: u32 = 5;

/// Why a 200 without a new resourceVersion matters (storage-layout doc §5.1 short-circuit).
pub const UNCHANGED: &str = "the API server accepted the apply but did not write: it does not \
    consider this object stale, so its EncryptionConfiguration (write key order), KMS plugin or \
    storage version differs from what atrest judged with";

/// How one object ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server wrote it: a new resourceVersion.
    Rewritten {
        /// The new resourceVersion, when the server said.
        to: Option<i64>,
    },
    /// 200 with the same resourceVersion: the server saw nothing to write (storage-layout §5.1
    /// short-circuit), so its config or version differs from the one atrest judged with.
    Unchanged,
    /// Someone else changed it meanwhile, and it is current now.
    AlreadyCurrent,
    /// Deleted meanwhile.
    Gone,
    /// Not rewritten; why.
    Failed(String),
    /// Not attempted (not served, no patch verb); why.
    Skipped(String),
    /// Ctrl-C (or a fatal answer) came first.
    Interrupted,
}

impl Outcome {
    /// The name in reports and the journal.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Rewritten { .. } => "rewritten",
            Self::Unchanged => "unchanged",
            Self::AlreadyCurrent => "alreadyCurrent",
            Self::Gone => "gone",
            Self::Failed(_) => "failed",
            Self::Skipped(_) => "skipped",
            Self::Interrupted => "interrupted",
        }
    }

    /// Why, for failures, skips and writes the server did not make.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Failed(d) | Self::Skipped(d) => Some(d),
            Self::Unchanged => Some(UNCHANGED),
            _ => None,
        }
    }
}

/// One finished object.
#[derive(Clone, Debug)]
pub struct Done {
    /// The object, with the uid and resourceVersion of the last attempt.
    pub target: Target,
    /// The resourceVersion it was planned at.
    pub planned_revision: i64,
    /// How it ended.
    pub outcome: Outcome,
    /// Applies sent.
    pub attempts: u32,
    /// 409 answers.
    pub conflicts: u32,
    /// Retries after 429/5xx/transport errors.
    pub retries: u32,
}

impl Done {
    /// Its line in the journal.
    pub fn journal_entry(&self) -> Entry {
        Entry {
            key: self.target.key_str(),
            uid: self.target.uid.clone(),
            from_revision: self.planned_revision,
            outcome: self.outcome.name().to_owned(),
            to_revision: match self.outcome {
                Outcome::Rewritten { to } => to,
                _ => None,
            },
            detail: self.outcome.detail().map(str::to_owned),
        }
    }

    /// An object an earlier run finished, as its journal line says (`e` is final, see
    /// [`Entry::is_final`]).
    pub fn resumed(target: Target, e: &Entry) -> Self {
        let outcome = match e.outcome.as_str() {
            "rewritten" => Outcome::Rewritten { to: e.to_revision },
            "unchanged" => Outcome::Unchanged,
            "alreadyCurrent" => Outcome::AlreadyCurrent,
            _ => Outcome::Gone,
        };
        Self {
            planned_revision: e.from_revision,
            target,
            outcome,
            attempts: 0,
            conflicts: 0,
            retries: 0,
        }
    }
}

/// Totals of a run.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Stale objects in the plan.
    pub planned: u64,
    /// Written by the server.
    pub rewritten: u64,
    /// Answered 200 without a write.
    pub unchanged: u64,
    /// Made current by someone else meanwhile.
    pub already_current: u64,
    /// Deleted meanwhile.
    pub gone: u64,
    /// Not rewritten.
    pub failed: u64,
    /// Not attempted.
    pub skipped: u64,
    /// Stopped by Ctrl-C before their turn.
    pub interrupted: u64,
    /// Finished in an earlier run (from the journal).
    pub resumed: u64,
    /// 409 answers.
    pub conflicts: u64,
    /// Retries after 429/5xx/transport errors.
    pub retries: u64,
    /// Verified in etcd afterwards: still stale.
    pub still_stale: u64,
    /// Verified in etcd afterwards: current.
    pub verified_current: u64,
    /// Verified in etcd afterwards: unreadable.
    pub verified_unreadable: u64,
    /// Seconds spent writing.
    pub seconds: f64,
}

impl Counts {
    /// Counts one finished object.
    pub fn add(&mut self, done: &Done) {
        match done.outcome {
            Outcome::Rewritten { .. } => self.rewritten += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::AlreadyCurrent => self.already_current += 1,
            Outcome::Gone => self.gone += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Skipped(_) => self.skipped += 1,
            Outcome::Interrupted => self.interrupted += 1,
        }
        self.conflicts += u64::from(done.conflicts);
        self.retries += u64::from(done.retries);
    }
}

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
    async fn sleep(&self, d: Duration) -> bool {
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
                    if let Some(outcome) = self.rejudge(d, &refusal).await {
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

    /// After 409/404/422: what etcd holds now decides. Some(outcome) when done; None to apply
    /// again with the uid and resourceVersion now in etcd.
    async fn rejudge(&self, d: &mut Done, refusal: &Refusal) -> Option<Outcome> {
        let kv = match self.reader.get(&d.target.key, 0).await {
            Ok((Some(kv), _)) => kv,
            Ok((None, _)) => return Some(Outcome::Gone),
            Err(e) => {
                return Some(Outcome::Failed(format!(
                    "{} {}, and re-reading the key from etcd failed: {e}",
                    refusal.code, refusal.message
                )));
            }
        };
        let mod_revision = kv.mod_revision;
        let rec = self.judge.judge(kv);
        let unmoved = mod_revision == d.target.resource_version
            && rec.facts.uid.as_deref() == Some(d.target.uid.as_str());
        match rec.status {
            Status::Current => Some(Outcome::AlreadyCurrent),
            Status::Skipped => Some(Outcome::Gone),
            Status::Unreadable => Some(Outcome::Failed(format!(
                "changed meanwhile and now unreadable: {}",
                rec.reasons.join("; ")
            ))),
            Status::Stale if unmoved && refusal.code != 409 => {
                // etcd still holds what we applied against: the refusal is not about a change.
                Some(Outcome::Failed(format!(
                    "{} {}: {} (etcd still holds this object at revision {mod_revision}: does the \
                     kubeconfig point at the cluster of this etcd?)",
                    refusal.code, refusal.reason, refusal.message
                )))
            }
            Status::Stale if d.conflicts >= MAX_CONFLICTS => Some(Outcome::Failed(format!(
                "still stale after {} conflicts; last: {}",
                d.conflicts, refusal.message
            ))),
            Status::Stale => match rec.facts.uid {
                Some(uid) => {
                    // Changed (or recreated) and still stale: apply against what is there now.
                    d.target.uid = uid;
                    d.target.resource_version = mod_revision;
                    None
                }
                None => Some(Outcome::Failed("recreated without a metadata.uid".into())),
            },
        }
    }
}
