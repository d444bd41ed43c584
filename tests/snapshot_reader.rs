//! The offline bbolt reader against real etcd files: `etcdctl snapshot save` output (before and
//! after compaction and defrag, trailer intact, stripped and flipped) and the member's live
//! `snap/db`, each compared key by key with a live `get` at the same revision; then bad input.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use atrest::source::snapshot::{HashCheck, Integrity, Snapshot, SnapshotError};
use atrest::source::{Page, RawKv, ScanStats};
use etcd_client::{GetOptions, PutOptions};
use tokio::sync::mpsc;

use crate::harness::etcd::Etcd;

/// Deterministic filler bytes (xorshift), so values are not compressible or repetitive.
fn filler(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn cm_key(i: usize) -> String {
    format!("/registry/configmaps/ns{}/cm{i:05}", i % 13)
}

/// Every key at `rev` (or the newest), as a live etcd-client `get` returns them.
fn live_all(etcd: &Etcd, rev: Option<i64>) -> (Vec<RawKv>, i64) {
    etcd.with_client(async |c| {
        let mut kv = c.kv_client().max_decoding_message_size(1 << 30);
        let mut opts = GetOptions::new().with_all_keys();
        if let Some(r) = rev {
            opts = opts.with_revision(r);
        }
        let resp = kv.get("", Some(opts)).await.unwrap();
        let revision = resp.header().unwrap().revision();
        let kvs = resp
            .kvs()
            .iter()
            .map(|k| RawKv {
                key: k.key().to_vec(),
                value: k.value().to_vec(),
                create_revision: k.create_revision(),
                mod_revision: k.mod_revision(),
                version: k.version(),
                lease: k.lease(),
            })
            .collect();
        (kvs, revision)
    })
}

/// `Snapshot::scan`, drained by a consumer thread as the scan driver does.
fn scan(snap: &Snapshot, rev: Option<i64>) -> Result<(Vec<RawKv>, ScanStats), SnapshotError> {
    let (tx, mut rx) = mpsc::channel::<Page>(4);
    let consumer = std::thread::spawn(move || {
        let mut kvs = Vec::new();
        while let Some(page) = rx.blocking_recv() {
            assert!(!page.kvs.is_empty() && page.kvs.len() <= 1000);
            kvs.push((page.revision, page.kvs));
        }
        kvs
    });
    let stats = snap.scan(b"", rev, tx);
    let pages = consumer.join().unwrap();
    let stats = stats?;
    assert!(pages.iter().all(|(r, _)| *r == stats.revision));
    let kvs: Vec<RawKv> = pages.into_iter().flat_map(|(_, kvs)| kvs).collect();
    assert_eq!(stats.keys, kvs.len() as u64);
    assert_eq!(stats.bytes, kvs.iter().map(|k| (k.key.len() + k.value.len()) as u64).sum::<u64>());
    Ok((kvs, stats))
}

fn assert_same(snapshot: &[RawKv], live: &[RawKv], what: &str) {
    for (i, (s, l)) in snapshot.iter().zip(live).enumerate() {
        assert!(
            s == l,
            "{what}: record {i} differs: snapshot key {:?} (rev {}/{}, v{}, lease {}, {} value bytes) vs live key {:?} (rev {}/{}, v{}, lease {}, {} value bytes)",
            String::from_utf8_lossy(&s.key),
            s.create_revision,
            s.mod_revision,
            s.version,
            s.lease,
            s.value.len(),
            String::from_utf8_lossy(&l.key),
            l.create_revision,
            l.mod_revision,
            l.version,
            l.lease,
            l.value.len()
        );
    }
    assert_eq!(snapshot.len(), live.len(), "{what}: key count");
}

/// The snapshot's latest state at `rev`, matched against a live get at `rev`.
fn assert_matches_live(snap: &Snapshot, etcd: &Etcd, rev: Option<i64>, what: &str) -> usize {
    let (live, live_rev) = live_all(etcd, rev);
    let (kvs, stats) = scan(snap, rev).unwrap();
    assert_eq!(stats.revision, rev.unwrap_or(live_rev), "{what}: revision");
    assert_same(&kvs, &live, what);
    kvs.len()
}

/// The latest state at `rev` rebuilt from `for_each_revision` (an independent path through the
/// key bucket).
fn replay_history(snap: &Snapshot, rev: i64) -> Vec<RawKv> {
    let mut state = std::collections::BTreeMap::new();
    let mut last = (0, 0);
    snap.for_each_revision(&mut |e| {
        assert!((e.main, e.sub) > last, "history out of order");
        last = (e.main, e.sub);
        if e.main > rev {
            return ControlFlow::Break(());
        }
        if e.tombstone {
            state.remove(&e.kv.key);
        } else {
            state.insert(e.kv.key.clone(), e.kv);
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    state.into_values().collect()
}

const MARKER: &[u8] = b"FREE-PAGE-MARKER-7f3c";

/// Loads 3000 configmaps (some with overflow-page values), updates every third, deletes every
/// seventh and a whole namespace, re-creates some, attaches a lease to 20 events, and writes then
/// deletes a marked value. Returns (revision after the updates, newest revision).
fn seed(etcd: &Etcd) -> (i64, i64) {
    let kvs: Vec<(String, Vec<u8>)> = (0..3000)
        .map(|i| {
            let len = match i {
                1234 => 200_000,
                _ if i % 500 == 0 => 20_000,
                _ => 10 + (i * 37) % 3000,
            };
            (cm_key(i), filler(i as u64, len))
        })
        .collect();
    etcd.put_all(&kvs);
    let updates: Vec<(String, Vec<u8>)> = (0..3000)
        .step_by(3)
        .map(|i| (cm_key(i), filler(i as u64 + 10_000, 100 + i % 700)))
        .collect();
    etcd.put_all(&updates);
    let rev_a = etcd.put("/registry/ranges/serviceips", b"range-a");
    etcd.with_client(async |c| {
        for i in (0..3000).step_by(7) {
            c.delete(cm_key(i), None).await.unwrap();
        }
        c.delete(
            "/registry/configmaps/ns5/",
            Some(etcd_client::DeleteOptions::new().with_prefix()),
        )
        .await
        .unwrap();
        let lease = c.lease_grant(3600, None).await.unwrap().id();
        for i in 0..20 {
            let opts = PutOptions::new().with_lease(lease);
            c.put(format!("/registry/events/default/e{i:02}"), filler(i, 300), Some(opts))
                .await
                .unwrap();
        }
        let mut marked = MARKER.to_vec();
        marked.extend(filler(99, 30_000));
        c.put("/registry/secrets/default/doomed", marked, None).await.unwrap();
        c.delete("/registry/secrets/default/doomed", None).await.unwrap();
    });
    let recreated: Vec<(String, Vec<u8>)> =
        (0..3000).step_by(14).map(|i| (cm_key(i), filler(i as u64 + 20_000, 50))).collect();
    etcd.put_all(&recreated);
    let newest = etcd.put("/registry/ranges/serviceips", b"range-b");
    (rev_a, newest)
}

fn copy_with(src: &Path, dst: PathBuf, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(src).unwrap();
    edit(&mut bytes);
    std::fs::write(&dst, bytes).unwrap();
    dst
}

#[test]
fn snapshot_matches_live_etcd_through_compaction_and_defrag() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let (rev_a, newest) = seed(&etcd);

    // 1. A snapshot with the whole history.
    let s1 = dir.path().join("s1.db");
    etcd.snapshot_save(&s1);
    let snap = Snapshot::open(&s1).unwrap();
    let info = snap.info().clone();
    assert_eq!(info.integrity, Integrity::Ok);
    assert_eq!(info.page_size, 4096);
    assert_eq!(info.file_size % 4096, 32);
    assert_eq!(info.revision, newest);
    assert_eq!(info.compacted_revision, None);
    assert!(info.consistent_index.is_some_and(|i| i > 0));
    let n = assert_matches_live(&snap, &etcd, None, "s1 newest");
    assert!(n > 2000, "{n} keys");
    assert_eq!(snap.info().revision, newest);
    assert_matches_live(&snap, &etcd, Some(rev_a), "s1 at rev_a");
    assert_matches_live(&snap, &etcd, Some(rev_a + 100), "s1 in the deletes");
    assert_same(
        &replay_history(&snap, rev_a),
        &live_all(&etcd, Some(rev_a)).0,
        "s1 history at rev_a",
    );
    assert_same(&replay_history(&snap, newest), &live_all(&etcd, None).0, "s1 history newest");
    let leased = scan(&snap, None).unwrap().0.into_iter().filter(|k| k.lease != 0).count();
    assert_eq!(leased, 20);

    // 2. Compacted at the newest revision (the marked value's revisions go, and its pages are
    // freed): older revisions are refused, newer ones still match.
    let rev_c = newest;
    etcd.compact(rev_c);
    let after = etcd.put("/registry/ranges/serviceips", b"range-c");
    let s2 = dir.path().join("s2.db");
    etcd.snapshot_save(&s2);
    let snap = Snapshot::open(&s2).unwrap();
    assert_eq!(snap.info().compacted_revision, Some(rev_c));
    assert_eq!(snap.info().scheduled_compact_revision, Some(rev_c));
    assert_eq!(snap.info().revision, after);
    let err = scan(&snap, Some(rev_a)).unwrap_err();
    assert!(
        matches!(err, SnapshotError::Compacted { requested, compacted } if requested == rev_a && compacted == rev_c)
    );
    assert_eq!(
        err.to_string(),
        format!(
            "etcd revision {rev_a} has been compacted in this snapshot (compacted at {rev_c}); use --rev {rev_c} or later"
        )
    );
    let err = scan(&snap, Some(after + 1)).unwrap_err();
    assert!(matches!(err, SnapshotError::FutureRevision { newest, .. } if newest == after));
    assert_matches_live(&snap, &etcd, Some(rev_c), "s2 at the compaction");
    assert_matches_live(&snap, &etcd, None, "s2 newest");
    let (free_before, marked_before) = snap.scan_free_pages(&[MARKER]).unwrap();
    assert!(free_before > 0, "compaction frees pages");
    assert!(marked_before > 0, "the deleted value lingers in free pages until a defrag");

    // 3. Defragmented: same answers, and the freed pages are gone.
    etcd.defrag();
    let s3 = dir.path().join("s3.db");
    etcd.snapshot_save(&s3);
    let snap = Snapshot::open(&s3).unwrap();
    assert_eq!(snap.info().compacted_revision, Some(rev_c));
    assert_matches_live(&snap, &etcd, None, "s3 newest");
    assert_matches_live(&snap, &etcd, Some(rev_c), "s3 at the compaction");
    let (free_after, marked_after) = snap.scan_free_pages(&[MARKER]).unwrap();
    assert_eq!(marked_after, 0, "defrag leaves no marked free page");
    assert!(free_after < free_before);
    eprintln!(
        "free pages: {free_before} ({marked_before} marked) before defrag, {free_after} after"
    );

    // 4. Trailer stripped (a member db's shape), trailer flipped.
    let stripped = copy_with(&s3, dir.path().join("stripped.db"), |b| b.truncate(b.len() - 32));
    let snap = Snapshot::open(&stripped).unwrap();
    assert_eq!(snap.info().integrity, Integrity::Absent);
    assert_eq!(snap.info().integrity.as_str(), "absent (member db)");
    assert_matches_live(&snap, &etcd, None, "stripped");
    let flipped = copy_with(&s3, dir.path().join("flipped.db"), |b| *b.last_mut().unwrap() ^= 1);
    let err = Snapshot::open(&flipped).unwrap_err();
    assert!(matches!(err, SnapshotError::HashMismatch { .. }), "{err}");
    let snap = Snapshot::open_with(&flipped, HashCheck::Skip).unwrap();
    assert!(matches!(snap.info().integrity, Integrity::Mismatch { .. }));
    assert_eq!(snap.info().integrity.as_str(), "sha256 mismatch");
    assert_matches_live(&snap, &etcd, None, "flipped trailer");

    // 5. The member's own db, read in place while etcd runs (nothing is being written now).
    let snap = Snapshot::open(&etcd.member_db()).unwrap();
    assert_eq!(snap.info().integrity, Integrity::Absent);
    assert_matches_live(&snap, &etcd, None, "member db");
    // etcd still writes after we read its file: we took no lock.
    etcd.put("/registry/ranges/serviceips", b"range-d");
}

/// Reads the chosen meta's root page of a small bbolt file and returns (page size, root pgid).
fn root_of(bytes: &[u8]) -> (usize, usize) {
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    let ps = u32_at(16 + 8) as usize;
    let (txid0, txid1) = (u64_at(16 + 48), u64_at(ps + 16 + 48));
    let meta = if txid1 > txid0 { ps } else { 0 };
    (ps, u64_at(meta + 16 + 16) as usize)
}

/// Offset of the leaf element named `name` on the root page, and where its key bytes are.
fn root_element(bytes: &[u8], name: &[u8]) -> (usize, usize) {
    let (ps, root) = root_of(bytes);
    let page = root * ps;
    assert_eq!(u16::from_le_bytes([bytes[page + 8], bytes[page + 9]]), 0x02, "root is a leaf");
    let count = u16::from_le_bytes([bytes[page + 10], bytes[page + 11]]) as usize;
    for i in 0..count {
        let elem = page + 16 + 16 * i;
        let pos = u32::from_le_bytes(bytes[elem + 4..elem + 8].try_into().unwrap()) as usize;
        let ksize = u32::from_le_bytes(bytes[elem + 8..elem + 12].try_into().unwrap()) as usize;
        if &bytes[elem + pos..elem + pos + ksize] == name {
            return (elem, elem + pos);
        }
    }
    panic!("no {name:?} on the root page");
}

#[test]
fn bad_snapshot_files_are_refused_with_clear_errors() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    etcd.put_all(&(0..300).map(|i| (cm_key(i), filler(i as u64, 2000))).collect::<Vec<_>>());
    let good = dir.path().join("good.db");
    etcd.snapshot_save(&good);
    assert_eq!(Snapshot::open(&good).unwrap().info().integrity, Integrity::Ok);
    let bytes = std::fs::read(&good).unwrap();
    let open = |name: &str, content: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        // The layout errors themselves: with the hash checked, a damaged file with a trailer is
        // a HashMismatch that carries them (below).
        Snapshot::open_with(&p, HashCheck::Skip).unwrap_err()
    };

    let err = open("empty", b"");
    assert!(matches!(err, SnapshotError::Empty));
    assert_eq!(err.to_string(), "the snapshot file is empty");

    let text =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-a-snapshot\ndata:\n  a: b\n"
            .repeat(20);
    let err = open("text", text.as_bytes());
    assert!(matches!(err, SnapshotError::NotBolt), "{err}");
    assert_eq!(
        err.to_string(),
        "not a bbolt database: neither meta page has bbolt's magic number and version 2"
    );
    assert!(matches!(open("random", &filler(7, 1 << 16)), SnapshotError::NotBolt));
    assert!(matches!(open("tiny", b"etcd"), SnapshotError::TooSmall { len: 4 }));

    let half = bytes.len() / 2 / 4096 * 4096;
    let err = open("truncated", &bytes[..half]);
    assert!(
        matches!(err, SnapshotError::Truncated { len, need } if len == half as u64 && need == (bytes.len() - 32) as u64),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("the snapshot file is truncated: its database needs"),
        "{err}"
    );

    // Both metas' checksums broken.
    let mut metas = bytes.clone();
    metas[16 + 56] ^= 0xff;
    metas[4096 + 16 + 56] ^= 0xff;
    let err = open("metas", &metas);
    assert!(matches!(err, SnapshotError::MetaChecksum), "{err}");
    assert_eq!(
        err.to_string(),
        "the bbolt database is damaged: both meta pages fail their checksum"
    );

    // A bbolt file that is not etcd's: the `key` bucket renamed (still sorted: "kez" < "lease").
    let mut renamed = bytes.clone();
    let (_, key_at) = root_element(&renamed, b"key");
    renamed[key_at + 2] = b'z';
    let err = open("not-etcd", &renamed);
    assert!(matches!(err, SnapshotError::NotEtcd), "{err}");
    assert_eq!(err.to_string(), "not an etcd backend: the bbolt file has no `key` bucket");

    // The `key` bucket's root page pointer out of range.
    let mut pointer = bytes.clone();
    let (elem, key_at) = root_element(&pointer, b"key");
    let value_at = key_at + 3;
    let vsize = u32::from_le_bytes(pointer[elem + 12..elem + 16].try_into().unwrap());
    assert!(vsize >= 16);
    pointer[value_at..value_at + 8].copy_from_slice(&99_999u64.to_le_bytes());
    let err = open("pointer", &pointer);
    let (_, root) = root_of(&bytes);
    let pages = (bytes.len() - 32) / 4096;
    assert!(matches!(err, SnapshotError::PageOutOfRange { target: 99_999, .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "snapshot page {root} (file offset {}) is corrupt: a bucket header points past the end of the file (page 99999 of {pages})",
            root * 4096
        )
    );

    // Checked, the pointer damage comes second to the hash mismatch, and is kept as its source.
    let p = dir.path().join("pointer");
    let err = Snapshot::open(&p).unwrap_err();
    let also = std::error::Error::source(&err).map(ToString::to_string);
    assert!(matches!(err, SnapshotError::HashMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&p.display().to_string()), "{err}");
    assert!(also.is_some_and(|a| a.contains("points past the end of the file")));

    let err = Snapshot::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::Open { source, .. } if source.kind() == std::io::ErrorKind::IsADirectory)
    );
    assert_eq!(err.to_string(), format!("cannot open snapshot file {}", dir.path().display()));
    let missing = dir.path().join("missing.db");
    assert!(matches!(Snapshot::open(&missing), Err(SnapshotError::Open { .. })));
}
