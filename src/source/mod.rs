//! Where the bytes come from: one etcd key-value at a time, in key order, at one pinned revision.
//!
//! Sources push pages of [`RawKv`] into a bounded channel so that fetching the next page overlaps
//! with decrypting and decoding the current one, and memory stays flat in the number of keys.

pub mod live;
mod opened;
pub mod snapshot;

pub use opened::{Source, SourceSpec};

use std::time::Duration;

/// One etcd key-value as read from the source (mvccpb.KeyValue).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawKv {
    /// The full etcd key, prefix included (it is the AAD of AEAD envelopes).
    pub key: Vec<u8>,
    /// The stored value: envelope or plaintext payload.
    pub value: Vec<u8>,
    /// Revision of the key's creation.
    pub create_revision: i64,
    /// Revision of the last modification (the object's resourceVersion).
    pub mod_revision: i64,
    /// Number of modifications since creation.
    pub version: i64,
    /// Attached etcd lease (events, lease reconciler keys), 0 for none.
    pub lease: i64,
}

/// A batch of consecutive keys, all read at `revision`.
#[derive(Debug, Default)]
pub struct Page {
    /// The key-values, in key order.
    pub kvs: Vec<RawKv>,
    /// The revision they were read at.
    pub revision: i64,
}

/// The pinned revision was compacted while scanning, and the scan resumed at a newer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restart {
    /// The revision that was compacted away.
    pub from: i64,
    /// The revision the scan resumed at.
    pub to: i64,
}

/// What a finished scan of a source read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// The revision the scan started at (the revision in the report).
    pub revision: i64,
    /// Compaction restarts, oldest first.
    pub restarts: Vec<Restart>,
    /// Keys read.
    pub keys: u64,
    /// Key + value bytes read.
    pub bytes: u64,
}

/// Fatal source errors: they stop the scan and map to exit code 3.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Could not connect or authenticate.
    #[error("cannot connect to etcd at {endpoints}")]
    Connect {
        /// The endpoints tried.
        endpoints: String,
        /// Why.
        #[source]
        source: etcd_client::Error,
    },
    /// The first request did not answer within the dial timeout.
    #[error("etcd at {endpoints} did not answer within the dial timeout of {timeout:?}")]
    DialTimeout {
        /// The endpoints tried.
        endpoints: String,
        /// The dial timeout.
        timeout: Duration,
    },
    /// A request failed.
    #[error("etcd request failed: {what}")]
    Request {
        /// Which request.
        what: &'static str,
        /// Why.
        #[source]
        source: etcd_client::Error,
    },
    /// A request did not answer within the command timeout.
    #[error("etcd request timed out after {timeout:?}: {what}")]
    CommandTimeout {
        /// Which request.
        what: &'static str,
        /// The command timeout.
        timeout: Duration,
    },
    /// The revision the scan needs was compacted, and restarting did not help.
    #[error(
        "etcd revision {requested} has been compacted{}; no complete report was produced",
        if *restarts > 0 { format!(" (after {restarts} restarts at newer revisions)") } else { String::new() }
    )]
    Compacted {
        /// The revision that was compacted away.
        requested: i64,
        /// How many times the scan restarted at a newer revision before giving up.
        restarts: u32,
    },
    /// `--rev` names a revision etcd has not reached yet.
    #[error("etcd revision {requested} is a future revision (etcd is at {current})")]
    FutureRevision {
        /// The revision asked for.
        requested: i64,
        /// etcd's current revision.
        current: i64,
    },
    /// Reading a TLS file named on the command line.
    #[error("reading {what} {path}")]
    ReadTlsFile {
        /// Which flag.
        what: &'static str,
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The snapshot file cannot be read as an etcd backend.
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    /// The snapshot fails its sha256 check, and the check was not skipped (as
    /// `etcdutl snapshot restore`).
    #[error("refusing a snapshot that fails its hash check (--skip-hash-check reads it anyway)")]
    HashRefused(#[source] snapshot::SnapshotError),
    /// A thread of the reader panicked (a bug, reported instead of aborting).
    #[error("{what} thread panicked")]
    Panicked {
        /// Which thread.
        what: &'static str,
    },
    /// Options that do not fit together (what to change).
    #[error("{0}")]
    Options(&'static str),
    /// etcd cancelled the history watch (its reason, as etcd states it).
    #[error("etcd cancelled the history watch: {reason}")]
    WatchCancelled {
        /// `WatchResponse.cancel_reason`.
        reason: String,
    },
    /// The history watch ended before it reached the pinned revision.
    #[error("the history watch ended early")]
    WatchEnded,
    /// The consumer of the pages went away (output closed).
    #[error("the scan was stopped")]
    Stopped,
}
