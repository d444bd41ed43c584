//! The etcd layer inside bbolt: revision keys of the `key` bucket, `mvccpb.KeyValue` values, and
//! the `meta` bucket's values.
//!
//! Follows etcd-io/etcd `server/storage/mvcc/revision.go` (revBytesLen = 8 + 1 + 8: main u64 BE,
//! `'_'`, sub u64 BE; markedRevBytesLen = 18 with a trailing `'t'` = tombstone; `isTombstone`),
//! `api/mvccpb/kv.proto` (KeyValue: 1 key bytes, 2 create_revision int64, 3 mod_revision int64,
//! 4 version int64, 5 value bytes, 6 lease int64), `server/storage/schema/bucket.go` (bucket and
//! meta key names), `server/storage/mvcc/store.go` (`UnsafeSetFinishedCompact`: the compaction
//! marks are 17-byte revisions with sub 0, read back with `BytesToRev(..).Main`) and
//! `server/storage/schema/cindex.go` (`consistent_index`, `term`: u64 big-endian), as of etcd main
//! 16e19a9 (revision.go) / 282e4e6 (cindex.go); `schema/bucket.go` (0b2fd5c) for the keys etcd
//! 3.5 (`term`, `confState`, `cluster/clusterVersion`) and 3.6 (`storageVersion`) added. Keys
//! not named here are skipped: a newer etcd may add more.

use crate::reader::{ReadError, Reader};
use crate::source::RawKv;

/// Bucket holding every retained revision.
pub const KEY_BUCKET: &[u8] = b"key";
/// Bucket holding the consistent index and the compaction marks.
pub const META_BUCKET: &[u8] = b"meta";
/// `meta` key: the last finished compaction (a 17-byte revision).
pub const FINISHED_COMPACT: &[u8] = b"finishedCompactRev";
/// `meta` key: the last scheduled compaction (a 17-byte revision).
pub const SCHEDULED_COMPACT: &[u8] = b"scheduledCompactRev";
/// `meta` key: the raft index applied to this backend (u64 BE).
pub const CONSISTENT_INDEX: &[u8] = b"consistent_index";
/// `meta` key since etcd 3.5: the raft term of that index (u64 BE, `schema/cindex.go`).
pub const TERM: &[u8] = b"term";
/// `meta` key since etcd 3.6: the storage schema version, a semver string ("3.6.0",
/// `schema/version.go`).
pub const STORAGE_VERSION: &[u8] = b"storageVersion";
/// Bucket holding cluster-wide settings (etcd 3.5+ writes `clusterVersion` there).
pub const CLUSTER_BUCKET: &[u8] = b"cluster";
/// `cluster` key: the cluster version the members agreed on, a semver string ("3.5.0",
/// `schema/membership.go`).
pub const CLUSTER_VERSION: &[u8] = b"clusterVersion";

const REV_BYTES_LEN: usize = 17;
const MARKED_REV_BYTES_LEN: usize = 18;
const MARK_TOMBSTONE: u8 = b't';

/// A parsed revision key of the `key` bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevKey {
    /// Main revision (the etcd transaction's revision).
    pub main: i64,
    /// Sub revision (the change's index inside the transaction).
    pub sub: i64,
    /// This revision deletes the key.
    pub tombstone: bool,
}

/// Parses `main u64 BE ‖ '_' ‖ sub u64 BE [‖ mark]`. etcd only ever writes the mark `'t'`; an
/// 18-byte key with another mark is a plain revision, exactly as etcd's `isTombstone` reads it.
pub fn parse_revision_key(b: &[u8]) -> Option<RevKey> {
    if b.len() != REV_BYTES_LEN && b.len() != MARKED_REV_BYTES_LEN {
        return None;
    }
    let mut r = Reader::new(b);
    let main = r.u64_be().ok()?;
    let sep = r.u8().ok()?;
    let sub = r.u64_be().ok()?;
    if sep != b'_' {
        return None;
    }
    Some(RevKey { main: main as i64, sub: sub as i64, tombstone: r.u8() == Ok(MARK_TOMBSTONE) })
}

/// The main revision of a compaction mark in the `meta` bucket (17-byte revision).
pub fn parse_compact_mark(b: &[u8]) -> Option<i64> {
    if b.len() != REV_BYTES_LEN {
        return None;
    }
    parse_revision_key(b).map(|r| r.main)
}

/// `consistent_index` and `term`: u64 big-endian.
pub fn parse_consistent_index(b: &[u8]) -> Option<u64> {
    let mut r = Reader::new(b);
    let index = r.u64_be().ok()?;
    r.is_empty().then_some(index)
}

/// `storageVersion` and `clusterVersion`: a short printable version string.
pub fn parse_version_string(b: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(b).ok()?;
    (!s.is_empty() && s.len() <= 64 && s.bytes().all(|c| c.is_ascii_graphic()))
        .then(|| s.to_owned())
}

/// Protobuf fields over the checked [`Reader`]: just enough for `mvccpb.KeyValue`.
struct Fields<'a> {
    r: Reader<'a>,
}

enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
    /// fixed64 / fixed32 of an unknown field, skipped.
    Fixed(u32),
}

impl<'a> Fields<'a> {
    fn new(b: &'a [u8]) -> Self {
        Self { r: Reader::new(b) }
    }

    fn varint(&mut self) -> Result<u64, &'static str> {
        self.r.varint().map_err(|e| match e {
            ReadError::Short { .. } => "a varint is cut short",
            // The 10th byte carries more than the 64th bit.
            ReadError::Varint { .. } => "a varint overflows 64 bits",
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        self.r.take(n).map_err(|_| "a field runs past the end of the record")
    }

    fn next(&mut self) -> Option<Result<Field<'a>, &'static str>> {
        if self.r.is_empty() {
            return None;
        }
        Some(self.field())
    }

    fn field(&mut self) -> Result<Field<'a>, &'static str> {
        let tag = self.varint()?;
        let number = u32::try_from(tag >> 3).map_err(|_| "a field number is out of range")?;
        if number == 0 {
            return Err("a field number is 0");
        }
        match tag & 7 {
            0 => Ok(Field::Varint(number, self.varint()?)),
            1 => self.take(8).map(|_| Field::Fixed(number)),
            2 => {
                let len =
                    usize::try_from(self.varint()?).map_err(|_| "a length is out of range")?;
                Ok(Field::Bytes(number, self.take(len)?))
            }
            5 => self.take(4).map(|_| Field::Fixed(number)),
            _ => Err("a field has an unsupported wire type"),
        }
    }
}

const WRONG_TYPE: &str = "a KeyValue field has the wrong wire type";

/// Decodes only field 1 (the user key) of an `mvccpb.KeyValue`, checking the record's framing.
/// Last occurrence wins, as in protobuf.
pub fn decode_user_key(b: &[u8]) -> Result<&[u8], &'static str> {
    decode_head(b).map(|(key, _)| key)
}

/// Field 1 (the user key) and field 3 (mod_revision) of an `mvccpb.KeyValue`, checking the
/// record's framing. Last occurrence wins, as in protobuf.
pub fn decode_head(b: &[u8]) -> Result<(&[u8], i64), &'static str> {
    let mut fields = Fields::new(b);
    let mut key: &[u8] = &[];
    let mut mod_revision = 0i64;
    while let Some(field) = fields.next() {
        match field? {
            Field::Bytes(1, k) => key = k,
            Field::Varint(3, v) => mod_revision = v as i64,
            Field::Varint(1, _) | Field::Fixed(1) | Field::Bytes(3, _) | Field::Fixed(3) => {
                return Err(WRONG_TYPE);
            }
            _ => {}
        }
    }
    Ok((key, mod_revision))
}

/// etcd writes a put's `mod_revision` as its revision key's main revision (`kvstore_txn.go`
/// `put`), and a tombstone as a bare `KeyValue{key}`; anything else is a damaged record.
pub fn mod_revision_matches(rev: &RevKey, mod_revision: i64) -> bool {
    rev.tombstone || mod_revision == rev.main
}

pub fn decode_key_value(b: &[u8]) -> Result<RawKv, &'static str> {
    let mut fields = Fields::new(b);
    let mut kv = RawKv::default();
    let mut key: &[u8] = &[];
    let mut value: &[u8] = &[];
    while let Some(field) = fields.next() {
        match field? {
            Field::Bytes(1, k) => key = k,
            Field::Bytes(5, v) => value = v,
            Field::Varint(2, v) => kv.create_revision = v as i64,
            Field::Varint(3, v) => kv.mod_revision = v as i64,
            Field::Varint(4, v) => kv.version = v as i64,
            Field::Varint(6, v) => kv.lease = v as i64,
            Field::Bytes(1..=6, _) | Field::Varint(1..=6, _) | Field::Fixed(1..=6) => {
                return Err(WRONG_TYPE);
            }
            _ => {}
        }
    }
    kv.key = key.to_vec();
    kv.value = value.to_vec();
    Ok(kv)
}
