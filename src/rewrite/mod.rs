//! Repair: rewrite only the stale objects through the API server, then prove in etcd that they
//! moved. atrest never writes etcd; kube-apiserver re-encrypts and re-encodes on write.
//!
//! [`plan`] (the stale records of one pinned scan) → [`api`] (kube client, discovery, the no-op
//! server-side apply of the StorageVersionMigration controller) → [`engine`] (the worker loop:
//! concurrency, [`pace`] for qps and backoff, conflicts re-judged from etcd, [`stop`] on Ctrl-C or
//! 401/403, each [`outcome`] into the [`journal`] and the [`counts`]) → [`verify`] (every touched
//! key re-read at a new revision and re-judged) → [`report`]. [`repair`] runs engine and verify for
//! one plan, resuming from the journal.

pub mod api;
pub mod counts;
pub mod engine;
pub mod journal;
pub mod outcome;
pub mod pace;
pub mod plan;
mod rejudge;
pub mod repair;
pub mod report;
pub mod stop;
pub mod verify;

pub use engine::{Counts, Done, Outcome};
pub use plan::{Plan, Target};
