//! Offline source: an `etcdctl snapshot save` file or a member's `member/snap/db`, read directly.
//!
//! A read-only bbolt reader (etcd-io/bbolt; layouts in [`page`], walks in [`file`]) under etcd's
//! MVCC layer (etcd-io/etcd; [`revision`]). The file is opened read-only and never locked, so a
//! running etcd is never blocked; pages are read on demand with `pread` (no mmap: `unsafe` is
//! forbidden, and a truncated mmap would SIGBUS). The freelist is never trusted: everything is
//! reached by walking from the root.
//!
//! The `key` bucket is ordered by revision, not by user key, so [`Snapshot::scan`] works in two
//! passes (see `latest.rs`): it first collects the user keys of the revisions up to the requested
//! one (keys only, no values), keeps the newest revision of each, then reads those values again by
//! location, in user-key order.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod element;
mod error;
mod file;
mod free;
mod integrity;
mod latest;
mod opened;
pub mod page;
pub mod revision;
mod superseded;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::ops::ControlFlow;
use std::path::Path;

use self::file::{BucketRoot, Pager, Walk};
use self::page::{MAX_PAGE_SIZE, META_SIZE, MIN_PAGE_SIZE, Meta, MetaCheck, PAGE_HEADER_SIZE};
use self::revision::{
    CLUSTER_BUCKET, CLUSTER_VERSION, CONSISTENT_INDEX, FINISHED_COMPACT, KEY_BUCKET, META_BUCKET,
    SCHEDULED_COMPACT, STORAGE_VERSION, TERM, parse_compact_mark, parse_consistent_index,
    parse_revision_key, parse_version_string,
};
use crate::source::RawKv;

pub use self::error::SnapshotError;
use self::integrity::TRAILER_LEN;
pub use self::integrity::{HashCheck, Integrity, Sha256Hash, diagnose};
pub use self::latest::KeyIndex;
pub use self::opened::SnapshotSource;
pub use self::page::{At, parse_page};

/// What [`Snapshot::open`] learned about the file.
#[derive(Clone, Debug)]
pub struct SnapshotInfo {
    /// The sha256 trailer check.
    pub integrity: Integrity,
    /// bbolt page size.
    pub page_size: u32,
    /// File length in bytes (trailer included).
    pub file_size: u64,
    /// bbolt transaction id of the chosen meta.
    pub txid: u64,
    /// The store's current revision as etcd computes it on restore: the newest main revision in
    /// the `key` bucket, or the finished compaction revision if that is newer (0 if both absent).
    pub revision: i64,
    /// `meta` bucket `finishedCompactRev`.
    pub compacted_revision: Option<i64>,
    /// `meta` bucket `scheduledCompactRev`.
    pub scheduled_compact_revision: Option<i64>,
    /// `meta` bucket `consistent_index`.
    pub consistent_index: Option<u64>,
    /// `meta` bucket `term` (etcd 3.5+).
    pub term: Option<u64>,
    /// `meta` bucket `storageVersion` (etcd 3.6+): the backend's schema version.
    pub storage_version: Option<String>,
    /// `cluster` bucket `clusterVersion` (etcd 3.5+).
    pub cluster_version: Option<String>,
}

/// One retained revision of the `key` bucket, for `--history`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionEntry {
    /// Main revision.
    pub main: i64,
    /// Sub revision.
    pub sub: i64,
    /// This revision deletes `kv.key` (`kv` then holds only the key).
    pub tombstone: bool,
    /// The stored `mvccpb.KeyValue`.
    pub kv: RawKv,
}

/// An open etcd backend file.
pub struct Snapshot {
    pager: Pager,
    info: SnapshotInfo,
    meta: Meta,
    key_bucket: BucketRoot,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("path", &self.pager.path)
            .field("info", &self.info)
            .finish()
    }
}

/// Reads the meta at `offset + 16`, if the file is long enough.
fn read_meta(
    file: &File,
    path: &Path,
    len: u64,
    offset: u64,
) -> Result<Option<Meta>, SnapshotError> {
    let mut buf = [0u8; PAGE_HEADER_SIZE + META_SIZE];
    let end = offset.checked_add(buf.len() as u64);
    if end.is_none_or(|e| e > len) {
        return Ok(None);
    }
    std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, offset)
        .map_err(|source| SnapshotError::Read { path: path.to_owned(), offset, source })?;
    Ok(buf.get(PAGE_HEADER_SIZE..).and_then(Meta::parse))
}

/// bbolt `db.meta()`: the valid meta with the higher txid (meta 0 on a tie), else the other.
/// Returns the meta, its page (0 or 1) and the page size.
fn choose_meta(file: &File, path: &Path, len: u64) -> Result<(Meta, u64, u32), SnapshotError> {
    let meta0 = read_meta(file, path, len, 0)?;
    let mut seen_bolt = meta0.is_some_and(|m| m.check() == MetaCheck::BadChecksum);
    let valid0 = meta0.filter(|m| m.check() == MetaCheck::Valid);
    // The second meta lives at offset page_size: take it from meta 0, else probe as bbolt's
    // getPageSizeFromSecondMeta does (1 KiB … 16 MiB).
    let probes: Vec<u32> = match valid0 {
        Some(m) => vec![m.page_size],
        None => (0..=14).filter_map(|i| MIN_PAGE_SIZE.checked_shl(i)).collect(),
    };
    let mut valid1 = None;
    for ps in probes {
        let Some(m) = read_meta(file, path, len, u64::from(ps))? else { break };
        match m.check() {
            MetaCheck::Valid if m.page_size == ps => {
                valid1 = Some(m);
                break;
            }
            MetaCheck::BadChecksum => seen_bolt = true,
            _ => {}
        }
    }
    let (meta, page) = match (valid0, valid1) {
        (Some(a), Some(b)) if b.txid > a.txid => (b, 1),
        (Some(a), _) => (a, 0),
        (None, Some(b)) => (b, 1),
        (None, None) if seen_bolt => return Err(SnapshotError::MetaChecksum),
        (None, None) => return Err(SnapshotError::NotBolt),
    };
    if !meta.page_size.is_power_of_two()
        || !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&meta.page_size)
    {
        return Err(SnapshotError::Corrupt {
            at: At::new(page, u64::from(meta.page_size)),
            what: "the page size is not a power of two between 1 KiB and 16 MiB",
        });
    }
    Ok((meta, page, meta.page_size))
}

impl Snapshot {
    /// Opens `path` read-only (never writes, never locks), validates both metas and picks one as
    /// bbolt does, verifies the sha256 trailer when `len % page_size == 32` (a mismatch is
    /// [`SnapshotError::HashMismatch`] unless `check` is [`HashCheck::Skip`]), and finds the
    /// `key` and `meta` buckets.
    pub fn open_with(path: &Path, check: HashCheck) -> Result<Self, SnapshotError> {
        let mut snap = Self::open_unverified(path).map_err(|e| diagnose(path, e, check))?;
        snap.info.integrity = snap.check_integrity(check)?;
        Ok(snap)
    }

    /// [`Snapshot::open_with`] [`HashCheck::Enforce`]: a sha256 mismatch is an error.
    pub fn open(path: &Path) -> Result<Self, SnapshotError> {
        Self::open_with(path, HashCheck::Enforce)
    }

    /// [`Snapshot::open`] without the sha256 check: a trailer is reported
    /// [`Integrity::Unverified`] until [`Snapshot::verify_integrity`].
    pub fn open_unverified(path: &Path) -> Result<Self, SnapshotError> {
        let open_err = |source| SnapshotError::Open { path: path.to_owned(), source };
        let md = std::fs::metadata(path).map_err(open_err)?;
        if md.is_dir() {
            return Err(open_err(std::io::Error::from(std::io::ErrorKind::IsADirectory)));
        }
        let file = File::open(path).map_err(open_err)?;
        let len = file.metadata().map_err(open_err)?.len();
        if len == 0 {
            return Err(SnapshotError::Empty);
        }
        if len < (PAGE_HEADER_SIZE + META_SIZE) as u64 {
            return Err(SnapshotError::TooSmall { len });
        }
        let (meta, meta_page, page_size) = choose_meta(&file, path, len)?;
        let ps = u64::from(page_size);
        let (integrity, db_len) = match len.checked_sub(TRAILER_LEN) {
            Some(db_len) if len.checked_rem(ps) == Some(TRAILER_LEN) => {
                (Integrity::Unverified, db_len)
            }
            _ => (Integrity::Absent, len),
        };
        let need = meta.pgid.saturating_mul(ps);
        if need > db_len {
            return Err(SnapshotError::Truncated { len: db_len, need });
        }
        if meta.pgid < 3 || meta.root < 2 {
            return Err(SnapshotError::Corrupt {
                at: At::new(meta_page, ps),
                what: "the meta's root or high-water mark points into the meta pages",
            });
        }
        if meta.root >= meta.pgid {
            return Err(SnapshotError::PageOutOfRange {
                at: At::new(meta_page, ps),
                what: "the root bucket pointer",
                target: meta.root,
                count: meta.pgid,
            });
        }
        let pager = Pager { file, path: path.to_owned(), page_size: ps, pgid_end: meta.pgid };

        // The root bucket: find `key` and `meta`.
        let root = BucketRoot::Page { pgid: meta.root, from: meta_page };
        let (mut key_bucket, mut meta_bucket, mut cluster_bucket) = (None, None, None);
        Walk::new(&pager).leaves(&root, &mut |_, at, e| {
            let slot = match e.key {
                KEY_BUCKET => &mut key_bucket,
                META_BUCKET => &mut meta_bucket,
                CLUSTER_BUCKET => &mut cluster_bucket,
                _ => return Ok(ControlFlow::Continue(())),
            };
            if e.is_bucket() {
                *slot = Some(BucketRoot::from_value(e.value, at)?);
            }
            Ok(ControlFlow::Continue(()))
        })?;
        let key_bucket = key_bucket.ok_or(SnapshotError::NotEtcd)?;

        let (mut finished, mut scheduled, mut consistent_index) = (None, None, None);
        let (mut term, mut storage_version, mut cluster_version) = (None, None, None);
        if let Some(mb) = &meta_bucket {
            Walk::new(&pager).leaves(mb, &mut |_, at, e| {
                let bad = |what| SnapshotError::KeyValue { at, what };
                if e.is_bucket() {
                    return Ok(ControlFlow::Continue(()));
                }
                match e.key {
                    FINISHED_COMPACT => {
                        finished = Some(parse_compact_mark(e.value).ok_or(bad(
                            "the meta bucket's finishedCompactRev is not a 17-byte revision",
                        ))?);
                    }
                    SCHEDULED_COMPACT => {
                        scheduled = Some(parse_compact_mark(e.value).ok_or(bad(
                            "the meta bucket's scheduledCompactRev is not a 17-byte revision",
                        ))?);
                    }
                    CONSISTENT_INDEX => {
                        consistent_index = Some(
                            parse_consistent_index(e.value)
                                .ok_or(bad("the meta bucket's consistent_index is not 8 bytes"))?,
                        );
                    }
                    TERM => {
                        term = Some(
                            parse_consistent_index(e.value)
                                .ok_or(bad("the meta bucket's term is not 8 bytes"))?,
                        );
                    }
                    STORAGE_VERSION => {
                        storage_version = Some(parse_version_string(e.value).ok_or(bad(
                            "the meta bucket's storageVersion is not a version string",
                        ))?);
                    }
                    // confState and keys of newer releases: not needed, never an error.
                    _ => {}
                }
                Ok(ControlFlow::Continue(()))
            })?;
        }
        if let Some(cb) = &cluster_bucket {
            Walk::new(&pager).leaves(cb, &mut |_, at, e| {
                if !e.is_bucket() && e.key == CLUSTER_VERSION {
                    cluster_version =
                        Some(parse_version_string(e.value).ok_or(SnapshotError::KeyValue {
                            at,
                            what: "the cluster bucket's clusterVersion is not a version string",
                        })?);
                }
                Ok(ControlFlow::Continue(()))
            })?;
        }

        let newest = Walk::new(&pager)
            .last(&key_bucket, |at, e| {
                parse_revision_key(e.key).map(|r| r.main).ok_or(SnapshotError::KeyValue {
                    at,
                    what: "a key bucket entry is not a revision (8 bytes, '_', 8 bytes, optional mark)",
                })
            })?
            .unwrap_or(0);
        // etcd's restore: currentRev = max(last revision in `key`, finished compaction).
        let revision = newest.max(finished.unwrap_or(0));
        let info = SnapshotInfo {
            integrity,
            page_size,
            file_size: len,
            txid: meta.txid,
            revision,
            compacted_revision: finished,
            scheduled_compact_revision: scheduled,
            consistent_index,
            term,
            storage_version,
            cluster_version,
        };
        Ok(Self { pager, info, meta, key_bucket })
    }

    /// What [`Snapshot::open`] found.
    pub fn info(&self) -> &SnapshotInfo {
        &self.info
    }

    /// Revisions below this cannot be read: the finished compaction, or a scheduled one that had
    /// not finished when the file was written (its deletes may be partly applied).
    fn compaction_floor(&self) -> Option<i64> {
        match (self.info.compacted_revision, self.info.scheduled_compact_revision) {
            (Some(f), Some(s)) => Some(f.max(s)),
            (f, s) => f.or(s),
        }
    }
}
