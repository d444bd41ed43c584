//! Unit tests over hand-built bbolt files: a tiny writer lays out metas, leaf and branch pages,
//! overflow and inline buckets exactly as bbolt's page.go/meta.go describe them.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::ops::ControlFlow;
use std::path::Path;

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::page::{self, MetaCheck, PageHeader};
use super::revision::{self, RevKey};
use super::{
    At, HashCheck, Integrity, RevisionEntry, Sha256Hash, Snapshot, SnapshotError, parse_page,
};
use crate::source::{Page, RawKv, ScanStats};

const PS: usize = 1024;

// ---- a tiny bbolt writer ----

fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn header(b: &mut [u8], id: u64, flags: u16, count: u16, overflow: u32) {
    put_u64(b, 0, id);
    put_u16(b, 8, flags);
    put_u16(b, 10, count);
    put_u32(b, 12, overflow);
}

/// A leaf node's bytes (unpadded): header, element headers, then key+value data.
fn leaf_bytes(id: u64, elems: &[(u32, Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let n = elems.len();
    let mut b = vec![0u8; 16 + 16 * n];
    header(&mut b, id, page::LEAF_PAGE, n as u16, 0);
    for (i, (flags, k, v)) in elems.iter().enumerate() {
        let elem = 16 + 16 * i;
        let pos = b.len() - elem;
        put_u32(&mut b, elem, *flags);
        put_u32(&mut b, elem + 4, pos as u32);
        put_u32(&mut b, elem + 8, k.len() as u32);
        put_u32(&mut b, elem + 12, v.len() as u32);
        b.extend_from_slice(k);
        b.extend_from_slice(v);
    }
    b
}

fn branch_bytes(id: u64, elems: &[(Vec<u8>, u64)]) -> Vec<u8> {
    let n = elems.len();
    let mut b = vec![0u8; 16 + 16 * n];
    header(&mut b, id, page::BRANCH_PAGE, n as u16, 0);
    for (i, (k, pgid)) in elems.iter().enumerate() {
        let elem = 16 + 16 * i;
        let pos = b.len() - elem;
        put_u32(&mut b, elem, pos as u32);
        put_u32(&mut b, elem + 4, k.len() as u32);
        put_u64(&mut b, elem + 8, *pgid);
        b.extend_from_slice(k);
    }
    b
}

/// Pads a node to whole pages and sets its overflow count.
fn pad(mut b: Vec<u8>) -> Vec<u8> {
    let pages = b.len().div_ceil(PS).max(1);
    put_u32(&mut b, 12, (pages - 1) as u32);
    b.resize(pages * PS, 0);
    b
}

fn meta_page(id: u64, root: u64, pgid: u64, txid: u64) -> Vec<u8> {
    let mut b = vec![0u8; PS];
    header(&mut b, id, page::META_PAGE, 0, 0);
    let m = 16;
    put_u32(&mut b, m, page::MAGIC);
    put_u32(&mut b, m + 4, page::VERSION);
    put_u32(&mut b, m + 8, PS as u32);
    put_u64(&mut b, m + 16, root);
    put_u64(&mut b, m + 32, page::PGID_NO_FREELIST);
    put_u64(&mut b, m + 40, pgid);
    put_u64(&mut b, m + 48, txid);
    let sum = page::fnv1a64(&b[m..m + 56]);
    put_u64(&mut b, m + 56, sum);
    b
}

fn bucket_value(root: u64, inline: Option<Vec<u8>>) -> Vec<u8> {
    let mut v = vec![0u8; 16];
    put_u64(&mut v, 0, root);
    if let Some(p) = inline {
        v.extend_from_slice(&p);
    }
    v
}

fn rev_key(main: i64, sub: i64, tombstone: bool) -> Vec<u8> {
    let mut k = (main as u64).to_be_bytes().to_vec();
    k.push(b'_');
    k.extend_from_slice(&(sub as u64).to_be_bytes());
    if tombstone {
        k.push(b't');
    }
    k
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// mvccpb.KeyValue as gogo-protobuf marshals it (fields in order, zero values omitted).
fn kv_bytes(kv: &RawKv) -> Vec<u8> {
    let mut b = Vec::new();
    let bytes = |tag: u8, v: &[u8], b: &mut Vec<u8>| {
        if !v.is_empty() {
            b.push(tag);
            varint(v.len() as u64, b);
            b.extend_from_slice(v);
        }
    };
    let int = |tag: u8, v: i64, b: &mut Vec<u8>| {
        if v != 0 {
            b.push(tag);
            varint(v as u64, b);
        }
    };
    bytes(0x0a, &kv.key, &mut b);
    int(0x10, kv.create_revision, &mut b);
    int(0x18, kv.mod_revision, &mut b);
    int(0x20, kv.version, &mut b);
    bytes(0x2a, &kv.value, &mut b);
    int(0x30, kv.lease, &mut b);
    b
}

/// A database under construction: pages by id (0 and 1 are the metas).
struct Builder {
    nodes: Vec<(u64, Vec<u8>)>,
    next: u64,
}

impl Builder {
    fn new() -> Self {
        Self { nodes: Vec::new(), next: 2 }
    }

    fn alloc(&mut self, pages: u64) -> u64 {
        let id = self.next;
        self.next += pages;
        id
    }

    /// Writes a (padded) node at a fresh page id; `make` builds it given its id.
    fn node(&mut self, make: impl Fn(u64) -> Vec<u8>) -> u64 {
        let pages = make(0).len().div_ceil(PS).max(1) as u64;
        let id = self.alloc(pages);
        self.nodes.push((id, pad(make(id))));
        id
    }

    /// A B+tree of the (sorted) elements: leaves of at most `per_leaf` elements, one branch
    /// level above them when there is more than one leaf. Returns the root page.
    fn tree(&mut self, elems: &[(u32, Vec<u8>, Vec<u8>)], per_leaf: usize) -> u64 {
        let mut children = Vec::new();
        for chunk in elems.chunks(per_leaf.max(1)) {
            let chunk = chunk.to_vec();
            let id = self.node(|id| leaf_bytes(id, &chunk));
            children.push((chunk[0].1.clone(), id));
        }
        if children.len() == 1 {
            return children[0].1;
        }
        self.node(|id| branch_bytes(id, &children))
    }

    /// The file: two metas (txids 1 and 2 unless given), then the nodes.
    fn file(&self, root: u64) -> Vec<u8> {
        self.file_with(root, 2, 1)
    }

    fn file_with(&self, root: u64, txid0: u64, txid1: u64) -> Vec<u8> {
        let mut out = vec![0u8; self.next as usize * PS];
        out[..PS].copy_from_slice(&meta_page(0, root, self.next, txid0));
        out[PS..2 * PS].copy_from_slice(&meta_page(1, root, self.next, txid1));
        for (id, bytes) in &self.nodes {
            let at = *id as usize * PS;
            out[at..at + bytes.len()].copy_from_slice(bytes);
        }
        out
    }
}

fn kv(key: &str, value: &[u8], create: i64, modr: i64, version: i64, lease: i64) -> RawKv {
    RawKv {
        key: key.as_bytes().to_vec(),
        value: value.to_vec(),
        create_revision: create,
        mod_revision: modr,
        version,
        lease,
    }
}

/// One change in the key bucket.
struct Change {
    main: i64,
    sub: i64,
    tombstone: bool,
    kv: RawKv,
}

fn put(main: i64, sub: i64, kv: RawKv) -> Change {
    Change { main, sub, tombstone: false, kv }
}

fn del(main: i64, sub: i64, key: &str) -> Change {
    Change {
        main,
        sub,
        tombstone: true,
        kv: RawKv { key: key.as_bytes().to_vec(), ..RawKv::default() },
    }
}

fn key_elems(changes: &[Change]) -> Vec<(u32, Vec<u8>, Vec<u8>)> {
    changes.iter().map(|c| (0, rev_key(c.main, c.sub, c.tombstone), kv_bytes(&c.kv))).collect()
}

fn meta_elems(finished: Option<i64>, scheduled: Option<i64>) -> Vec<(u32, Vec<u8>, Vec<u8>)> {
    let mut m = vec![(0, b"consistent_index".to_vec(), 42u64.to_be_bytes().to_vec())];
    if let Some(f) = finished {
        m.push((0, b"finishedCompactRev".to_vec(), rev_key(f, 0, false)));
    }
    if let Some(s) = scheduled {
        m.push((0, b"scheduledCompactRev".to_vec(), rev_key(s, 0, false)));
    }
    m.sort_by(|a, b| a.1.cmp(&b.1));
    m
}

/// An etcd-like database: root leaf with an `alarm` bucket, the `key` bucket (a tree of
/// `per_leaf` revisions per leaf, or inline when `per_leaf == 0`) and an inline `meta` bucket.
fn etcd_db(
    changes: &[Change],
    per_leaf: usize,
    finished: Option<i64>,
    scheduled: Option<i64>,
) -> Vec<u8> {
    let mut b = Builder::new();
    let key_value = if per_leaf == 0 {
        bucket_value(0, Some(leaf_bytes(0, &key_elems(changes))))
    } else {
        bucket_value(b.tree(&key_elems(changes), per_leaf), None)
    };
    let meta_value = bucket_value(0, Some(leaf_bytes(0, &meta_elems(finished, scheduled))));
    let alarm = bucket_value(0, Some(leaf_bytes(0, &[])));
    let root_elems = vec![
        (page::BUCKET_LEAF_FLAG, b"alarm".to_vec(), alarm),
        (page::BUCKET_LEAF_FLAG, b"key".to_vec(), key_value),
        (page::BUCKET_LEAF_FLAG, b"meta".to_vec(), meta_value),
    ];
    let root = b.node(|id| leaf_bytes(id, &root_elems));
    b.file(root)
}

fn history() -> Vec<Change> {
    vec![
        put(2, 0, kv("/registry/a", b"a1", 2, 2, 1, 0)),
        put(3, 0, kv("/registry/b", b"b1", 3, 3, 1, 7)),
        put(4, 0, kv("/registry/a", b"a2", 2, 4, 2, 0)),
        del(5, 0, "/registry/a"),
        put(6, 0, kv("/registry/c", b"c1", 6, 6, 1, 0)),
        put(6, 1, kv("/registry/d", b"d1", 6, 6, 1, 0)),
        put(7, 0, kv("/registry/a", b"a3", 7, 7, 1, 0)),
        del(8, 0, "/registry/d"),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn scan_all(
    snap: &Snapshot,
    rev: Option<i64>,
) -> Result<(Vec<RawKv>, Vec<usize>, ScanStats), SnapshotError> {
    let (tx, mut rx) = mpsc::channel::<Page>(100_000);
    let stats = snap.scan(b"", rev, tx)?;
    let mut kvs = Vec::new();
    let mut sizes = Vec::new();
    while let Ok(p) = rx.try_recv() {
        assert_eq!(p.revision, stats.revision);
        sizes.push(p.kvs.len());
        kvs.extend(p.kvs);
    }
    Ok((kvs, sizes, stats))
}

fn keys(kvs: &[RawKv]) -> Vec<String> {
    kvs.iter().map(|k| String::from_utf8(k.key.clone()).unwrap()).collect()
}

fn open_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let dir = tempfile::tempdir().unwrap();
    Snapshot::open(&write(dir.path(), "db", bytes))
}

// ---- layouts ----

#[test]
fn fnv1a64_matches_go() {
    assert_eq!(page::fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(page::fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(page::fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
}

#[test]
fn meta_checks_in_bbolt_order() {
    let good = meta_page(0, 3, 4, 1);
    let m = page::Meta::parse(&good[16..]).unwrap();
    assert_eq!(m.check(), MetaCheck::Valid);
    assert_eq!((m.page_size, m.root, m.pgid, m.txid), (PS as u32, 3, 4, 1));
    let mut bad = good.clone();
    bad[16 + 48] ^= 1; // txid: covered by the checksum
    assert_eq!(page::Meta::parse(&bad[16..]).unwrap().check(), MetaCheck::BadChecksum);
    let mut bad = good.clone();
    bad[16] ^= 1;
    assert_eq!(page::Meta::parse(&bad[16..]).unwrap().check(), MetaCheck::BadMagic);
    let mut bad = good;
    bad[20] = 1;
    assert_eq!(page::Meta::parse(&bad[16..]).unwrap().check(), MetaCheck::BadVersion);
    assert!(page::Meta::parse(&[0u8; 63]).is_none());
}

#[test]
fn revision_keys() {
    let r = revision::parse_revision_key(&rev_key(5, 2, false)).unwrap();
    assert_eq!(r, RevKey { main: 5, sub: 2, tombstone: false });
    let r = revision::parse_revision_key(&rev_key(1 << 40, 0, true)).unwrap();
    assert_eq!(r, RevKey { main: 1 << 40, sub: 0, tombstone: true });
    // 18 bytes with another mark: a plain revision, as etcd's isTombstone reads it.
    let mut k = rev_key(5, 0, false);
    k.push(b'x');
    assert!(!revision::parse_revision_key(&k).unwrap().tombstone);
    let mut k = rev_key(5, 0, false);
    k[8] = b'-';
    assert!(revision::parse_revision_key(&k).is_none());
    for len in [0, 8, 16, 19] {
        assert!(revision::parse_revision_key(&vec![b'_'; len]).is_none(), "{len}");
    }
    assert_eq!(revision::parse_compact_mark(&rev_key(57, 0, false)), Some(57));
    assert_eq!(revision::parse_compact_mark(&rev_key(57, 0, true)), None);
    assert_eq!(revision::parse_consistent_index(&9u64.to_be_bytes()), Some(9));
    assert_eq!(revision::parse_consistent_index(&[0; 7]), None);
}

#[test]
fn key_value_round_trip_and_errors() {
    let want = kv("/registry/secrets/ns/s", &[0u8, 255, 10], 3, 9, 4, -1);
    let bytes = kv_bytes(&want);
    assert_eq!(revision::decode_key_value(&bytes).unwrap(), want);
    assert_eq!(revision::decode_user_key(&bytes).unwrap(), want.key.as_slice());
    // Unknown fields of every wire type are skipped.
    let mut extra = bytes.clone();
    extra.extend_from_slice(&[0x38, 1, 0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0x4a, 1, 9, 0x55, 0, 0, 0, 0]);
    assert_eq!(revision::decode_key_value(&extra).unwrap(), want);
    // Known field, wrong wire type.
    assert!(revision::decode_key_value(&[0x08, 1]).is_err());
    assert!(revision::decode_user_key(&[0x08, 1]).is_err());
    assert!(revision::decode_key_value(&[0x12, 0]).is_err());
    // Groups, field 0, an 11-byte varint.
    assert!(revision::decode_key_value(&[0x0b]).is_err());
    assert!(revision::decode_key_value(&[0x00, 1]).is_err());
    assert!(
        revision::decode_key_value(&[
            0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02
        ])
        .is_err()
    );
    // Truncation sweep: every proper prefix that cuts a field fails, none panics.
    for l in 0..bytes.len() {
        let r = revision::decode_key_value(&bytes[..l]);
        let field_boundary = [0, 24, 26, 28, 30, 35].contains(&l);
        assert_eq!(r.is_ok(), field_boundary, "prefix {l}: {r:?}");
    }
}

#[test]
fn leaf_and_branch_elements() {
    let elems = vec![(0, b"k1".to_vec(), b"v1".to_vec()), (1, b"k2".to_vec(), vec![0; 16])];
    let b = pad(leaf_bytes(9, &elems));
    let node = parse_page(&b, PS as u32).unwrap();
    assert_eq!(node.header, PageHeader { id: 9, flags: page::LEAF_PAGE, count: 2, overflow: 0 });
    let e = node.leaf(1).unwrap();
    assert!(e.is_bucket());
    assert_eq!((e.key, e.value.len()), (&b"k2"[..], 16));
    assert!(node.leaf(2).is_err());
    assert!(node.branch(0).is_err());

    let b = pad(branch_bytes(5, &[(b"a".to_vec(), 7), (b"m".to_vec(), 8)]));
    let node = parse_page(&b, PS as u32).unwrap();
    assert_eq!(node.branch(1).unwrap().pgid, 8);
    assert_eq!(node.branch(1).unwrap().key, b"m");
}

#[test]
fn element_bounds_are_checked() {
    let elems = vec![(0, b"k1".to_vec(), b"v1".to_vec())];
    let mut b = pad(leaf_bytes(3, &elems));
    put_u32(&mut b, 16 + 12, PS as u32); // vsize past the page
    let err = parse_page(&b, PS as u32).unwrap_err();
    assert!(matches!(err, SnapshotError::Corrupt { at: At { page: 3, .. }, .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "snapshot page 3 (file offset 3072) is corrupt: a leaf element's value runs past the end of the page"
    );
    let mut b = pad(leaf_bytes(3, &elems));
    put_u32(&mut b, 16 + 4, u32::MAX); // pos
    assert!(parse_page(&b, PS as u32).is_err());
    let mut b = pad(leaf_bytes(3, &elems));
    put_u16(&mut b, 10, 1000); // count: element headers past the page
    let err = parse_page(&b, PS as u32).unwrap_err();
    assert!(err.to_string().contains("element headers run past the end"), "{err}");
    let mut b = pad(leaf_bytes(3, &elems));
    put_u16(&mut b, 8, page::META_PAGE);
    assert!(parse_page(&b, PS as u32).is_err());
    let b = pad(branch_bytes(3, &[]));
    assert!(parse_page(&b, PS as u32).unwrap_err().to_string().contains("no elements"));
}

#[test]
fn overflow_spans_pages_and_truncation_sweep() {
    let big = vec![7u8; 3 * PS];
    let b = pad(leaf_bytes(4, &[(0, b"k".to_vec(), big.clone())]));
    assert_eq!(b.len(), 4 * PS);
    let node = parse_page(&b, PS as u32).unwrap();
    assert_eq!(node.header.overflow, 3);
    assert_eq!(node.leaf(0).unwrap().value, big.as_slice());
    for l in 0..b.len() {
        assert!(parse_page(&b[..l], PS as u32).is_err(), "prefix {l}");
    }
}

// ---- whole files ----

#[test]
fn latest_state_tombstones_and_revisions() {
    for per_leaf in [0, 1, 2, 3, 100] {
        let snap = open_bytes(&etcd_db(&history(), per_leaf, None, None)).unwrap();
        let info = snap.info();
        assert_eq!(
            (info.revision, info.compacted_revision, info.consistent_index),
            (8, None, Some(42))
        );
        assert_eq!(info.integrity, Integrity::Absent);
        assert_eq!(info.txid, 2);
        let (kvs, _, stats) = scan_all(&snap, None).unwrap();
        assert_eq!(
            keys(&kvs),
            ["/registry/a", "/registry/b", "/registry/c"],
            "per_leaf {per_leaf}"
        );
        assert_eq!(kvs[0], kv("/registry/a", b"a3", 7, 7, 1, 0));
        assert_eq!(kvs[1], kv("/registry/b", b"b1", 3, 3, 1, 7));
        assert_eq!(stats.revision, 8);
        assert_eq!(stats.keys, 3);
        assert_eq!(stats.bytes, 3 * 11 + 6);
        let at = |rev| keys(&scan_all(&snap, Some(rev)).unwrap().0);
        assert_eq!(at(2), ["/registry/a"]);
        assert_eq!(at(4), ["/registry/a", "/registry/b"]);
        assert_eq!(scan_all(&snap, Some(4)).unwrap().0[0].value, b"a2");
        assert_eq!(at(5), ["/registry/b"]);
        assert_eq!(at(6), ["/registry/b", "/registry/c", "/registry/d"]);
        assert_eq!(at(7), ["/registry/a", "/registry/b", "/registry/c", "/registry/d"]);
        assert_eq!(at(1), Vec::<String>::new());
        let err = scan_all(&snap, Some(9)).unwrap_err();
        assert!(matches!(err, SnapshotError::FutureRevision { requested: 9, newest: 8 }), "{err}");

        let mut seen = Vec::new();
        snap.for_each_revision(&mut |e: RevisionEntry| {
            seen.push((e.main, e.sub, e.tombstone, e.kv.key.len()));
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(seen.len(), 8);
        assert_eq!(seen[3], (5, 0, true, 11));
        let mut n = 0;
        snap.for_each_revision(&mut |_| {
            n += 1;
            if n == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
        assert_eq!(n, 2);
    }
}

#[test]
fn compaction_marks() {
    let snap = open_bytes(&etcd_db(&history()[2..], 2, Some(4), Some(4))).unwrap();
    assert_eq!(snap.info().compacted_revision, Some(4));
    assert_eq!(snap.info().scheduled_compact_revision, Some(4));
    let err = scan_all(&snap, Some(3)).unwrap_err();
    assert!(matches!(err, SnapshotError::Compacted { requested: 3, compacted: 4 }));
    assert_eq!(
        err.to_string(),
        "etcd revision 3 has been compacted in this snapshot (compacted at 4); use --rev 4 or later"
    );
    assert_eq!(keys(&scan_all(&snap, Some(4)).unwrap().0), ["/registry/a"]);
    // A scheduled compaction that had not finished: its revision is the floor.
    let snap = open_bytes(&etcd_db(&history(), 2, Some(2), Some(5))).unwrap();
    assert!(matches!(scan_all(&snap, Some(4)), Err(SnapshotError::Compacted { compacted: 5, .. })));
    // Everything at or below the compaction deleted: the revision is the compaction's (etcd's
    // restore does the same).
    let snap = open_bytes(&etcd_db(&history()[..2], 2, Some(9), Some(9))).unwrap();
    assert_eq!(snap.info().revision, 9);
}

#[test]
fn empty_key_bucket() {
    let snap = open_bytes(&etcd_db(&[], 0, None, None)).unwrap();
    assert_eq!(snap.info().revision, 0);
    let (kvs, sizes, stats) = scan_all(&snap, None).unwrap();
    assert!(kvs.is_empty() && sizes.is_empty());
    assert_eq!(stats.keys, 0);
}

#[test]
fn paging_and_overflow_values() {
    // 2500 keys written twice (every key updated once), one big value spanning overflow pages.
    let mut changes = Vec::new();
    let mut main = 1;
    for round in 0..2 {
        for i in 0..2500 {
            main += 1;
            let value = if i == 7 && round == 1 {
                vec![b'x'; 5 * PS]
            } else {
                format!("v{round}-{i}").into_bytes()
            };
            changes.push(put(main, 0, kv(&format!("/k/{i:05}"), &value, 0, main, round + 1, 0)));
        }
    }
    let snap = open_bytes(&etcd_db(&changes, 9, None, None)).unwrap();
    let (kvs, sizes, stats) = scan_all(&snap, None).unwrap();
    assert_eq!(sizes, [1000, 1000, 500]);
    assert_eq!(stats.keys, 2500);
    assert!(kvs.windows(2).all(|w| w[0].key < w[1].key));
    assert!(kvs.iter().all(|k| k.version == 2));
    assert_eq!(kvs[7].value.len(), 5 * PS);
    assert_eq!(kvs[8].value, b"v1-8");
    let (kvs, _, _) = scan_all(&snap, Some(2501)).unwrap();
    assert_eq!(kvs.len(), 2500);
    assert_eq!(kvs.iter().filter(|k| k.version == 2).count(), 0);
    // A closed receiver stops the scan.
    let (tx, rx) = mpsc::channel::<Page>(1);
    drop(rx);
    assert!(matches!(snap.scan(b"", None, tx), Err(SnapshotError::Stopped)));
}

#[test]
fn element_headers_beyond_the_first_page() {
    // One leaf of 200 elements: element headers for index >= 63 lie on overflow pages.
    let changes: Vec<Change> = (0..200)
        .map(|i| {
            put(i + 2, 0, kv(&format!("/k/{:03}", 199 - i), &[i as u8; 5], i + 2, i + 2, 1, 0))
        })
        .collect();
    let snap = open_bytes(&etcd_db(&changes, 200, None, None)).unwrap();
    let (kvs, _, _) = scan_all(&snap, None).unwrap();
    assert_eq!(kvs.len(), 200);
    assert_eq!(kvs[0].key, b"/k/000");
    assert_eq!(kvs[0].value, [199u8; 5]);
    assert_eq!(kvs[199].value, [0u8; 5]);
}

#[test]
fn collapse_keeps_newest_and_tombstones_until_the_end() {
    let mut l = super::latest::Latest::default();
    let loc = |i| super::file::Loc { pgid: 2, idx: i };
    l.push(b"b", loc(0), false, At::new(2, 4096)).unwrap();
    l.push(b"a", loc(1), false, At::new(2, 4096)).unwrap();
    l.push(b"b", loc(2), true, At::new(2, 4096)).unwrap();
    l.collapse(false);
    assert_eq!(l.entries.len(), 2);
    l.push(b"a", loc(3), false, At::new(2, 4096)).unwrap();
    l.push(b"c", loc(4), false, At::new(2, 4096)).unwrap();
    l.collapse(true);
    let got: Vec<(&[u8], u16)> = l.entries.iter().map(|e| (l.key(e), e.idx)).collect();
    assert_eq!(got, [(&b"a"[..], 3), (&b"c"[..], 4)]);
}

#[test]
fn trailer_integrity() {
    let db = etcd_db(&history(), 2, None, None);
    let mut file = db.clone();
    file.extend_from_slice(&Sha256::digest(&db));
    let snap = open_bytes(&file).unwrap();
    assert_eq!(snap.info().integrity, Integrity::Ok);
    assert_eq!(snap.info().integrity.as_str(), "sha256 ok");
    assert_eq!(snap.info().file_size, file.len() as u64);
    assert_eq!(keys(&scan_all(&snap, None).unwrap().0).len(), 3);
    let last = file.len() - 1;
    file[last] ^= 1;
    let expected = Sha256Hash(file[db.len()..].try_into().unwrap());
    let actual = Sha256Hash(Sha256::digest(&db).into());
    let err = open_bytes(&file).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::HashMismatch { expected: e, actual: a, .. } if *e == expected && *a == actual),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&expected.to_string()) && msg.contains(&actual.to_string()), "{msg}");
    assert!(msg.contains("/db"), "names the file: {msg}");
    let dir = tempfile::tempdir().unwrap();
    let skipped = Snapshot::open_with(&write(dir.path(), "db", &file), HashCheck::Skip).unwrap();
    assert_eq!(skipped.info().integrity, Integrity::Mismatch { expected, actual });
    assert!(skipped.info().integrity.warning().unwrap().contains(&actual.to_string()));
    assert_eq!(keys(&scan_all(&skipped, None).unwrap().0).len(), 3);
    assert!(
        open_bytes(&db).unwrap().info().integrity.warning().unwrap().contains("cannot be verified")
    );
    assert_eq!(open_bytes(&db).unwrap().info().integrity.as_str(), "absent (member db)");
}

#[test]
fn meta_fallback_and_failures() {
    let db = etcd_db(&history(), 2, None, None);
    // Newer meta 0 damaged: fall back to meta 1.
    let mut f = db.clone();
    f[16 + 56] ^= 1;
    assert_eq!(open_bytes(&f).unwrap().info().txid, 1);
    // Meta 1 newer and valid: it wins.
    let mut b = Builder::new();
    let root = b.node(|id| {
        leaf_bytes(id, &[(1, b"key".to_vec(), bucket_value(0, Some(leaf_bytes(0, &[]))))])
    });
    assert_eq!(open_bytes(&b.file_with(root, 3, 4)).unwrap().info().txid, 4);
    assert_eq!(open_bytes(&b.file_with(root, 4, 4)).unwrap().info().txid, 4);
    // Both damaged.
    let mut f = db.clone();
    f[16 + 56] ^= 1;
    f[PS + 16 + 56] ^= 1;
    let err = open_bytes(&f).unwrap_err();
    assert!(matches!(err, SnapshotError::MetaChecksum), "{err}");
    // Not bbolt at all.
    let err = open_bytes(&vec![0x5a; 8 * PS]).unwrap_err();
    assert!(matches!(err, SnapshotError::NotBolt), "{err}");
    assert!(matches!(open_bytes(b"hello").unwrap_err(), SnapshotError::TooSmall { len: 5 }));
    assert!(matches!(open_bytes(b"").unwrap_err(), SnapshotError::Empty));
    // Wrong version on both.
    let mut f = db;
    f[20] = 3;
    f[PS + 20] = 3;
    assert!(matches!(open_bytes(&f).unwrap_err(), SnapshotError::NotBolt));
}

#[test]
fn not_etcd_and_bad_pointers() {
    let mut b = Builder::new();
    let root = b.node(|id| {
        leaf_bytes(id, &[(1, b"kez".to_vec(), bucket_value(0, Some(leaf_bytes(0, &[]))))])
    });
    let err = open_bytes(&b.file(root)).unwrap_err();
    assert!(matches!(err, SnapshotError::NotEtcd));
    assert_eq!(err.to_string(), "not an etcd backend: the bbolt file has no `key` bucket");
    // A `key` entry that is not a bucket is not etcd's either.
    let mut b = Builder::new();
    let root = b.node(|id| leaf_bytes(id, &[(0, b"key".to_vec(), b"v".to_vec())]));
    assert!(matches!(open_bytes(&b.file(root)).unwrap_err(), SnapshotError::NotEtcd));

    // The key bucket's root points past the end.
    let mut b = Builder::new();
    let root = b.node(|id| leaf_bytes(id, &[(1, b"key".to_vec(), bucket_value(999, None))]));
    let err = open_bytes(&b.file(root)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "snapshot page 2 (file offset 2048) is corrupt: a bucket header points past the end of the file (page 999 of 3)"
    );
    // A branch pointing to itself: a cycle.
    let mut b = Builder::new();
    let leaf = b.node(|id| leaf_bytes(id, &key_elems(&history()[..1])));
    let branch =
        b.node(|id| branch_bytes(id, &[(rev_key(1, 0, false), leaf), (rev_key(2, 0, false), id)]));
    let root = b.node(|id| leaf_bytes(id, &[(1, b"key".to_vec(), bucket_value(branch, None))]));
    let bytes = b.file(root);
    // The rightmost descent loops on the branch until the depth guard stops it.
    let err = open_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("deeper than 64 levels"), "{err}");
    // A page whose header names another page.
    let mut b = Builder::new();
    let leaf = b.node(|id| leaf_bytes(id + 1, &key_elems(&history()[..1])));
    let root = b.node(|id| leaf_bytes(id, &[(1, b"key".to_vec(), bucket_value(leaf, None))]));
    let err = open_bytes(&b.file(root)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "snapshot page 2 (file offset 2048) is corrupt: the page header names another page"
    );
    // A key bucket entry that is not a revision.
    let mut b = Builder::new();
    let elems = vec![(0, b"not-a-revision".to_vec(), Vec::new())];
    let root = b.node(|id| {
        leaf_bytes(id, &[(1, b"key".to_vec(), bucket_value(0, Some(leaf_bytes(0, &elems))))])
    });
    assert!(matches!(
        open_bytes(&b.file(root)).unwrap_err(),
        SnapshotError::KeyValue { at: At { page: 2, .. }, .. }
    ));
}

#[test]
fn cycle_found_by_the_full_walk() {
    // Two leaves under a branch; the second branch element points at the first leaf again.
    let mut b = Builder::new();
    let changes = history();
    let l1 = b.node(|id| leaf_bytes(id, &key_elems(&changes[..2])));
    let l2 = b.node(|id| leaf_bytes(id, &key_elems(&changes[2..])));
    let branch =
        b.node(|id| branch_bytes(id, &[(rev_key(2, 0, false), l1), (rev_key(4, 0, false), l1)]));
    let _ = l2;
    let root = b.node(|id| leaf_bytes(id, &[(1, b"key".to_vec(), bucket_value(branch, None))]));
    let snap = open_bytes(&b.file(root)).unwrap();
    let err = scan_all(&snap, None).unwrap_err();
    assert!(err.to_string().contains("reached before"), "{err}");
}

#[test]
fn out_of_order_revisions_are_corrupt() {
    let mut changes = history();
    changes.swap(1, 2);
    let snap = open_bytes(&etcd_db(&changes, 100, None, None)).unwrap();
    let err = scan_all(&snap, None).unwrap_err();
    assert!(err.to_string().contains("out of order"), "{err}");
}

#[test]
fn truncation_sweep_over_a_file() {
    let db = etcd_db(&history(), 2, Some(2), Some(2));
    let dir = tempfile::tempdir().unwrap();
    for l in 0..db.len() {
        let p = write(dir.path(), "t", &db[..l]);
        match Snapshot::open(&p) {
            Err(_) => {}
            Ok(s) => panic!("prefix {l} opened: {:?}", s.info()),
        }
    }
    assert!(Snapshot::open(&write(dir.path(), "t", &db)).is_ok());
    let err = Snapshot::open(&write(dir.path(), "t", &db[..3 * PS])).unwrap_err();
    assert!(
        matches!(err, SnapshotError::Truncated { len, need } if len == 3 * PS as u64 && need == db.len() as u64)
    );
}

#[test]
fn free_pages_are_the_complement() {
    let mut b = Builder::new();
    let stale = b.node(|id| {
        leaf_bytes(
            id,
            &[(0, rev_key(1, 0, false), kv_bytes(&kv("/old", b"SECRET-OLD", 1, 1, 1, 0)))],
        )
    });
    let _ = stale;
    let leaf = b.node(|id| leaf_bytes(id, &key_elems(&history())));
    let root = b.node(|id| leaf_bytes(id, &[(1, b"key".to_vec(), bucket_value(leaf, None))]));
    let _spare = b.alloc(2);
    let snap = open_bytes(&b.file(root)).unwrap();
    assert_eq!(snap.scan_free_pages(&[b"SECRET-OLD"]).unwrap(), (3, 1));
    assert_eq!(snap.scan_free_pages(&[b"nothing", b""]).unwrap(), (3, 0));
    assert_eq!(snap.scan_free_pages(&[]).unwrap(), (3, 0));
}

/// Copy-on-write leaves a stale copy of the root page behind (etcd 3.5 writes `meta` right after a
/// defrag). A copy of revisions the key bucket still retains, byte for byte, exposes nothing; a
/// copy whose value the tree no longer holds does, as do needles outside revision values.
#[test]
fn free_copies_of_retained_revisions_do_not_count() {
    let live = kv("/registry/secrets/a", b"k8s:enc:aescbc:v1:key1:new", 2, 3, 2, 0);
    let gone = kv("/registry/secrets/a", b"k8s:enc:aescbc:v1:key1:old", 2, 2, 1, 0);
    let inline_root = |id: u64, kvs: &[(i64, &RawKv)]| {
        let elems: Vec<_> =
            kvs.iter().map(|(main, kv)| (0, rev_key(*main, 0, false), kv_bytes(kv))).collect();
        let inline = leaf_bytes(0, &elems);
        leaf_bytes(id, &[(1, b"key".to_vec(), bucket_value(0, Some(inline)))])
    };
    for (old_copy, needle_elsewhere, counted) in [
        (vec![(3, &live)], false, 0),
        (vec![(2, &gone), (3, &live)], false, 1),
        (vec![(3, &live)], true, 1),
    ] {
        let mut b = Builder::new();
        b.node(|id| {
            let mut page = inline_root(id, &old_copy);
            if needle_elsewhere {
                page.extend_from_slice(b"k8s:enc:");
            }
            page
        });
        let root = b.node(|id| inline_root(id, &[(3, &live)]));
        let snap = open_bytes(&b.file(root)).unwrap();
        assert_eq!(
            snap.scan_free_pages(&[b"k8s:enc:"]).unwrap(),
            (1, counted),
            "{} revisions copied, needle elsewhere: {needle_elsewhere}",
            old_copy.len()
        );
    }
}

#[test]
fn directory_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = Snapshot::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::Open { source, .. } if source.kind() == std::io::ErrorKind::IsADirectory)
    );
    assert!(err.to_string().starts_with("cannot open snapshot file "));
    assert!(matches!(Snapshot::open(&dir.path().join("nope")), Err(SnapshotError::Open { .. })));
}

#[test]
fn errors_never_print_data() {
    let marker = "MARKER-VALUE-BYTES";
    let changes = vec![put(2, 0, kv("/k", marker.as_bytes(), 2, 2, 1, 0))];
    let db = etcd_db(&changes, 1, None, None);
    let dir = tempfile::tempdir().unwrap();
    for i in (2 * PS)..db.len() {
        let mut f = db.clone();
        f[i] ^= 0xff;
        let p = write(dir.path(), "f", &f);
        let msg = match Snapshot::open(&p) {
            Err(e) => format!("{e} {e:?}"),
            Ok(s) => match scan_all(&s, None) {
                Err(e) => format!("{e} {e:?}"),
                Ok(_) => continue,
            },
        };
        assert!(!msg.contains(marker), "{msg}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_pages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000), ps in prop::sample::select(vec![1024u32, 2048])) {
        let _ = parse_page(&bytes, ps);
    }

    #[test]
    fn flipped_pages_never_panic(flips in proptest::collection::vec((0usize..2 * PS, any::<u8>()), 1..8)) {
        let elems = vec![(0, b"k1".to_vec(), b"v1".to_vec()), (1, b"k2".to_vec(), vec![0; 40])];
        let mut b = pad(leaf_bytes(9, &elems));
        b.resize(2 * PS, 0);
        for (at, x) in &flips {
            b[*at] ^= x;
        }
        if let Ok(node) = parse_page(&b, PS as u32) {
            for i in 0..node.count() {
                let _ = node.leaf(i);
                let _ = node.branch(i);
            }
        }
    }

    #[test]
    fn flipped_files_never_panic(flips in proptest::collection::vec((0usize..9 * PS, any::<u8>()), 1..6)) {
        let mut f = etcd_db(&history(), 2, Some(2), Some(2));
        for (at, x) in &flips {
            let at = at % f.len();
            f[at] ^= x;
        }
        if let Ok(s) = open_bytes(&f) {
            let _ = scan_all(&s, None);
            let _ = s.for_each_revision(&mut |_| ControlFlow::Continue(()));
            let _ = s.scan_free_pages(&[b"a1"]);
        }
    }
}
