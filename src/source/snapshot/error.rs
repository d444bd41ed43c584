//! Why a snapshot cannot be read.

use std::path::PathBuf;

use super::{At, Sha256Hash};

/// Why a snapshot cannot be read. Messages carry page numbers, offsets and lengths, never data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The file cannot be opened (missing, unreadable, a directory).
    #[error("cannot open snapshot file {path}")]
    Open {
        /// The path given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file has no bytes.
    #[error("the snapshot file is empty")]
    Empty,
    /// The file is shorter than one meta page.
    #[error("the snapshot file is too small to be a bbolt database ({len} bytes)")]
    TooSmall {
        /// File length.
        len: u64,
    },
    /// Neither meta page has bbolt's magic number and format version 2.
    #[error("not a bbolt database: neither meta page has bbolt's magic number and version 2")]
    NotBolt,
    /// Both meta pages look like bbolt's but fail their checksum.
    #[error("the bbolt database is damaged: both meta pages fail their checksum")]
    MetaChecksum,
    /// A bbolt file without etcd's `key` bucket.
    #[error("not an etcd backend: the bbolt file has no `key` bucket")]
    NotEtcd,
    /// A page breaks bbolt's layout.
    #[error("snapshot page {at} is corrupt: {what}")]
    Corrupt {
        /// The page where the problem was found (the page holding a bad pointer), and its
        /// offset in the file.
        at: At,
        /// What is wrong.
        what: &'static str,
    },
    /// A pointer leads past the database's last page.
    #[error(
        "snapshot page {at} is corrupt: {what} points past the end of the file (page {target} of {count})"
    )]
    PageOutOfRange {
        /// The page holding the pointer (0 or 1 for a meta page), and its offset.
        at: At,
        /// Which pointer.
        what: &'static str,
        /// Where it points.
        target: u64,
        /// Pages in the database (the meta's high-water mark).
        count: u64,
    },
    /// The file is shorter than its meta page says.
    #[error("the snapshot file is truncated: its database needs {need} bytes but has {len}")]
    Truncated {
        /// Bytes of database present (the file minus a sha256 trailer).
        len: u64,
        /// Bytes the meta's high-water mark needs.
        need: u64,
    },
    /// An entry of the `key` or `meta` bucket is not what etcd writes.
    #[error("snapshot page {at} holds a bad etcd record: {what}")]
    KeyValue {
        /// The page holding the record, and its offset.
        at: At,
        /// What is wrong.
        what: &'static str,
    },
    /// The requested revision was compacted away in this file.
    #[error(
        "etcd revision {requested} has been compacted in this snapshot (compacted at {compacted}); use --rev {compacted} or later"
    )]
    Compacted {
        /// The revision asked for.
        requested: i64,
        /// The file's compaction revision.
        compacted: i64,
    },
    /// The requested revision is newer than anything in the file.
    #[error(
        "etcd revision {requested} is newer than this snapshot (its newest revision is {newest})"
    )]
    FutureRevision {
        /// The revision asked for.
        requested: i64,
        /// The file's newest revision.
        newest: i64,
    },
    /// The sha256 trailer `etcdctl snapshot save` wrote does not match the database bytes: the
    /// file was damaged or altered after it was saved. `etcdutl snapshot restore` refuses such a
    /// file too (unless `--skip-hash-check`).
    #[error(
        "snapshot file {path} fails its sha256 check: the trailer says {expected}, the data hashes to {actual}; it was damaged or altered after it was saved"
    )]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// The trailer (the hash of the database when it was saved).
        expected: Sha256Hash,
        /// The hash of the database bytes now.
        actual: Sha256Hash,
        /// Reading the file failed too (found before the hash was checked).
        #[source]
        also: Option<Box<SnapshotError>>,
    },
    /// The receiver of the pages went away.
    #[error("the scan was stopped")]
    Stopped,
    /// A read failed.
    #[error("reading snapshot file {path} at offset {offset}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
