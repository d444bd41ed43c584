//! MVCC resolution over the `key` bucket: the latest state at a revision ([`Snapshot::scan`]) and
//! the raw history ([`Snapshot::for_each_revision`]).
//!
//! Semantics follow etcd-io/etcd `server/storage/mvcc/kvstore_txn.go` (`rangeKeys`: a revision
//! below the compaction is `ErrCompacted`, above the current one `ErrFutureRev`, `rev <= 0` means
//! the current one) and `index.go`/`key_index.go` (a key's state at `rev` is its newest revision
//! `<= rev`; a tombstone there means the key does not exist), and `kvstore.go` at 00a120e
//! (`restore`: the current revision is the newest in `key`, or the finished compaction if newer).
//!
//! Memory: pass 1 keeps, per revision up to `rev`, only the user key (in one arena) and the
//! element's location; every [`COMPACT_EVERY`] entries it sorts and keeps the newest per key, so a
//! long history costs about as much as the live keyspace. Pass 2 reads the survivors' values in
//! user-key order, a page of keys at a time.

use std::cmp::Ordering;
use std::ops::ControlFlow;

use tokio::sync::mpsc;

use super::element::ElementReader;
use super::file::{Loc, Walk};
use super::page::At;
use super::revision::{decode_head, decode_key_value, mod_revision_matches, parse_revision_key};
use super::{RevisionEntry, Snapshot, SnapshotError};
use crate::source::{Page, RawKv, ScanStats};

/// Keys per [`Page`] sent.
const PAGE_KEYS: usize = 1000;
/// Key + value bytes after which a page is sent early.
const PAGE_BYTES: usize = 4 << 20;
/// Pass 1 collapses to the newest entry per key when it holds this many more entries than after
/// the last collapse.
const COMPACT_EVERY: usize = 1 << 20;

const MOD_REVISION: &str = "a revision's mod_revision is not the main revision of its key";

const NOT_A_REVISION: &str =
    "a key bucket entry is not a revision (8 bytes, '_', 8 bytes, optional mark)";

/// One revision seen in pass 1: where its user key is in the arena and where its element is.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    off: usize,
    len: u32,
    pub(super) idx: u16,
    tombstone: bool,
    /// Visit order = revision order.
    seq: u64,
    pgid: u64,
}

/// Every key under a prefix at one revision, and where its value is ([`Snapshot::index`]).
pub struct KeyIndex {
    latest: Latest,
    rev: i64,
}

impl KeyIndex {
    /// Keys indexed.
    pub fn len(&self) -> usize {
        self.latest.entries.len()
    }

    /// Whether no key is indexed.
    pub fn is_empty(&self) -> bool {
        self.latest.entries.is_empty()
    }

    /// Keys under `sub_prefix`.
    pub fn count_under(&self, sub_prefix: &[u8]) -> u64 {
        self.latest.entries.iter().filter(|e| self.latest.key(e).starts_with(sub_prefix)).count()
            as u64
    }
}

/// The user keys seen so far and their newest revision's location.
#[derive(Default)]
pub(super) struct Latest {
    arena: Vec<u8>,
    pub(super) entries: Vec<Entry>,
    seq: u64,
    kept: usize,
}

impl Latest {
    pub(super) fn key(&self, e: &Entry) -> &[u8] {
        let end = e.off.saturating_add(e.len as usize);
        self.arena.get(e.off..end).unwrap_or_default()
    }

    pub(super) fn push(
        &mut self,
        key: &[u8],
        loc: Loc,
        tombstone: bool,
        at: At,
    ) -> Result<(), SnapshotError> {
        let len = u32::try_from(key.len())
            .map_err(|_| SnapshotError::KeyValue { at, what: "a user key is longer than 4 GiB" })?;
        let entry = Entry {
            off: self.arena.len(),
            len,
            idx: loc.idx,
            tombstone,
            seq: self.seq,
            pgid: loc.pgid,
        };
        self.arena.extend_from_slice(key);
        self.entries.push(entry);
        self.seq = self.seq.saturating_add(1);
        if self.entries.len().saturating_sub(self.kept) >= COMPACT_EVERY {
            self.collapse(false);
        }
        Ok(())
    }

    /// Sorts by (user key, revision) and keeps the newest entry per key, dropping it too if it
    /// is a tombstone and `drop_tombstones`. Rebuilds the arena in key order.
    pub(super) fn collapse(&mut self, drop_tombstones: bool) {
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_unstable_by(|a, b| match self.key(a).cmp(self.key(b)) {
            Ordering::Equal => a.seq.cmp(&b.seq),
            o => o,
        });
        let mut arena = Vec::with_capacity(self.arena.len());
        let mut kept = Vec::with_capacity(entries.len());
        let mut it = entries.iter().peekable();
        while let Some(e) = it.next() {
            let key = self.key(e);
            let newest = it.peek().is_none_or(|n| self.key(n) != key);
            if newest && !(drop_tombstones && e.tombstone) {
                kept.push(Entry { off: arena.len(), ..*e });
                arena.extend_from_slice(key);
            }
        }
        self.arena = arena;
        self.entries = kept;
        self.kept = self.entries.len();
    }
}

fn bad(at: At, what: &'static str) -> SnapshotError {
    SnapshotError::KeyValue { at, what }
}

/// Checks that revisions arrive strictly increasing (bbolt keeps keys sorted; the resolution
/// relies on it).
fn check_order(
    prev: &mut Option<(u64, u64)>,
    main: i64,
    sub: i64,
    at: At,
) -> Result<(), SnapshotError> {
    let cur = (main as u64, sub as u64);
    if prev.is_some_and(|p| p >= cur) {
        return Err(SnapshotError::Corrupt { at, what: "revision keys are out of order" });
    }
    *prev = Some(cur);
    Ok(())
}

impl Snapshot {
    /// The latest state at `rev` (default and `rev <= 0`: [`super::SnapshotInfo::revision`]):
    /// for every user key its newest revision `<= rev`, without keys whose newest revision is a
    /// tombstone, sent in user-key order in pages of at most 1000 keys or about 4 MiB with
    /// `tx.blocking_send` (call from a plain thread, not inside a tokio runtime).
    /// Only keys starting with `prefix` are read (the etcd range `[prefix, prefix_end)`, like
    /// the live source).
    pub fn scan(
        &self,
        prefix: &[u8],
        rev: Option<i64>,
        tx: mpsc::Sender<Page>,
    ) -> Result<ScanStats, SnapshotError> {
        let index = self.index(prefix, rev)?;
        self.send(&index, prefix, tx)
    }

    /// Pass 1 of [`Snapshot::scan`] on its own: every key under `prefix` that exists at `rev`
    /// and where its newest revision is. Reads the whole `key` bucket once, so callers that
    /// need several sub-ranges (CRDs and Nodes before the objects) build it once and
    /// [`Snapshot::send`] each range from it.
    pub fn index(&self, prefix: &[u8], rev: Option<i64>) -> Result<KeyIndex, SnapshotError> {
        let rev = self.checked_revision(rev)?;
        Ok(KeyIndex { latest: self.latest(prefix, rev)?, rev })
    }

    /// Pass 2: the values of the indexed keys that start with `sub_prefix`, in key order, in
    /// pages, through `tx` (see [`Snapshot::scan`]).
    pub fn send(
        &self,
        index: &KeyIndex,
        sub_prefix: &[u8],
        tx: mpsc::Sender<Page>,
    ) -> Result<ScanStats, SnapshotError> {
        let (latest, rev) = (&index.latest, index.rev);
        let mut reader = ElementReader::new(&self.pager, &self.key_bucket);
        let mut stats = ScanStats { revision: rev, ..ScanStats::default() };
        let mut kvs: Vec<RawKv> = Vec::with_capacity(PAGE_KEYS);
        let mut page_bytes = 0usize;
        // Entries are in key order: the sub-range is contiguous.
        let start = latest.entries.partition_point(|e| latest.key(e) < sub_prefix);
        let entries = latest.entries.get(start..).unwrap_or_default();
        for entry in entries.iter().take_while(|e| latest.key(e).starts_with(sub_prefix)) {
            let want = latest.key(entry);
            let kv = reader.with(Loc { pgid: entry.pgid, idx: entry.idx }, |at, e| {
                let kv = decode_key_value(e.value).map_err(|what| bad(at, what))?;
                if kv.key != want {
                    return Err(SnapshotError::Corrupt {
                        at,
                        what: "the page changed while it was being read",
                    });
                }
                Ok(kv)
            })?;
            let n = kv.key.len().saturating_add(kv.value.len());
            page_bytes = page_bytes.saturating_add(n);
            stats.keys = stats.keys.saturating_add(1);
            stats.bytes = stats.bytes.saturating_add(n as u64);
            kvs.push(kv);
            if kvs.len() >= PAGE_KEYS || page_bytes >= PAGE_BYTES {
                let full = std::mem::replace(&mut kvs, Vec::with_capacity(PAGE_KEYS));
                tx.blocking_send(Page { kvs: full, revision: rev })
                    .map_err(|_| SnapshotError::Stopped)?;
                page_bytes = 0;
            }
        }
        if !kvs.is_empty() {
            tx.blocking_send(Page { kvs, revision: rev }).map_err(|_| SnapshotError::Stopped)?;
        }
        Ok(stats)
    }

    /// The revision a scan at `rev` reads (default and `rev <= 0`: the newest), refusing
    /// compacted and future revisions as etcd's Range does.
    pub fn checked_revision(&self, rev: Option<i64>) -> Result<i64, SnapshotError> {
        let newest = self.info.revision;
        let rev = rev.filter(|r| *r > 0).unwrap_or(newest);
        if rev > newest {
            return Err(SnapshotError::FutureRevision { requested: rev, newest });
        }
        if let Some(compacted) = self.compaction_floor().filter(|c| rev < *c) {
            return Err(SnapshotError::Compacted { requested: rev, compacted });
        }
        Ok(rev)
    }

    /// Pass 1: user keys under `prefix` and the location of their newest revision `<= rev`,
    /// without deleted keys, in key order.
    fn latest(&self, prefix: &[u8], rev: i64) -> Result<Latest, SnapshotError> {
        let mut latest = Latest::default();
        let mut prev = None;
        Walk::new(&self.pager).leaves(&self.key_bucket, &mut |loc, at, e| {
            if e.is_bucket() {
                return Err(bad(at, "the key bucket holds a nested bucket"));
            }
            let r = parse_revision_key(e.key).ok_or(bad(at, NOT_A_REVISION))?;
            check_order(&mut prev, r.main, r.sub, at)?;
            if r.main > rev {
                // Not a stop: the rest of the bucket must still be in order, or a damaged
                // revision key in the middle would silently cut the scan short.
                return Ok(ControlFlow::Continue(()));
            }
            let (key, mod_revision) = decode_head(e.value).map_err(|what| bad(at, what))?;
            if !mod_revision_matches(&r, mod_revision) {
                return Err(bad(at, MOD_REVISION));
            }
            if key.starts_with(prefix) {
                latest.push(key, loc, r.tombstone, at)?;
            }
            Ok(ControlFlow::Continue(()))
        })?;
        latest.collapse(true);
        Ok(latest)
    }

    /// Every retained revision of the `key` bucket in revision order, streamed to `f` until it
    /// breaks. Tombstones carry only the key.
    pub fn for_each_revision(
        &self,
        f: &mut dyn FnMut(RevisionEntry) -> ControlFlow<()>,
    ) -> Result<(), SnapshotError> {
        let mut prev = None;
        Walk::new(&self.pager).leaves(&self.key_bucket, &mut |_, at, e| {
            if e.is_bucket() {
                return Err(bad(at, "the key bucket holds a nested bucket"));
            }
            let r = parse_revision_key(e.key).ok_or(bad(at, NOT_A_REVISION))?;
            check_order(&mut prev, r.main, r.sub, at)?;
            let kv = decode_key_value(e.value).map_err(|what| bad(at, what))?;
            if !mod_revision_matches(&r, kv.mod_revision) {
                return Err(bad(at, MOD_REVISION));
            }
            Ok(f(RevisionEntry { main: r.main, sub: r.sub, tombstone: r.tombstone, kv }))
        })?;
        Ok(())
    }
}
