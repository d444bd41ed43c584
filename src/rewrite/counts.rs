//! The totals of a rewrite run.

use serde::Serialize;

use super::outcome::{Done, Outcome};

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
