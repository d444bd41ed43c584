//! Offline scans: the same report from a snapshot file as from the live etcd it was saved from.

use atrest::testkit::{golden_dir, seal_aescbc, seal_aesgcm};
use serde_json::Value;

use crate::harness::cli::atrest;
use crate::harness::etcd::Etcd;

const KEY1: [u8; 32] = [7; 32];

/// Golden envelopes, plus generated objects with updates, deletes, re-creates, a lease and a
/// compaction. Returns a revision after the compaction point with later history.
fn busy_cluster(etcd: &Etcd) -> i64 {
    let dir = golden_dir().join("envelopes");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.jsonl")).unwrap();
    let mut kvs: Vec<(String, Vec<u8>)> = manifest
        .lines()
        .map(|l| {
            let c: Value = serde_json::from_str(l).unwrap();
            (
                c["key"].as_str().unwrap().to_owned(),
                std::fs::read(dir.join(c["file"].as_str().unwrap())).unwrap(),
            )
        })
        .collect();
    let secret = std::fs::read(golden_dir().join("payloads/core.v1.Secret.pb")).unwrap();
    for i in 0..2000u32 {
        let key = format!("/registry/secrets/gen{}/s{i}", i % 13);
        let v = if i % 2 == 0 {
            seal_aescbc(&KEY1, "key1", &secret, [i as u8; 16])
        } else {
            seal_aesgcm(&KEY1, "gcm1", &secret, [i as u8; 12], key.as_bytes())
        };
        kvs.push((key, v));
    }
    etcd.put_all(&kvs);
    let early = etcd.put("/registry/secrets/gen0/s0", seal_aescbc(&KEY1, "key1", &secret, [1; 16]));
    etcd.compact(early);
    let mid = etcd.put("/registry/secrets/gen1/s1", seal_aescbc(&KEY1, "key1", &secret, [2; 16]));
    etcd.with_client(async |c| {
        for i in (0..200).step_by(3) {
            c.delete(format!("/registry/secrets/gen{}/s{i}", i % 13), None).await.unwrap();
        }
        // Re-created with a new create_revision.
        c.put("/registry/secrets/gen0/s0", secret.clone(), None).await.unwrap();
        let lease = c.lease_grant(3600, None).await.unwrap().id();
        let opts = etcd_client::PutOptions::new().with_lease(lease);
        c.put("/registry/events/default/e1", secret.clone(), Some(opts)).await.unwrap();
        c.put("/registry/masterleases/10.0.0.1", b"x".to_vec(), None).await.unwrap();
        c.put("/outside/the/prefix", b"x".to_vec(), None).await.unwrap();
    });
    mid
}

fn scan(args: &[String]) -> Value {
    let run = atrest(args);
    assert!(run.code == 0 || run.code == 1, "exit {}: {}", run.code, run.stderr);
    run.json()
}

fn same_report(live: &Value, snap: &Value) {
    assert_eq!(snap["source"]["kind"], "snapshot");
    assert_eq!(live["source"]["revision"], snap["source"]["revision"]);
    assert_eq!(live["source"]["prefix"], snap["source"]["prefix"]);
    assert_eq!(live["encryptionConfig"], snap["encryptionConfig"]);
    let (lo, so) = (live["objects"].as_array().unwrap(), snap["objects"].as_array().unwrap());
    assert_eq!(lo.len(), so.len());
    for (l, s) in lo.iter().zip(so) {
        assert_eq!(l, s);
    }
    assert_eq!(live["summary"], snap["summary"]);
}

#[test]
fn snapshot_report_equals_live_report() {
    let etcd = Etcd::start();
    let mid = busy_cluster(&etcd);
    let cfg = format!(
        "--encryption-config={}",
        golden_dir().join("envelopes/config-after.yaml").display()
    );
    let live_args = |extra: &[String]| {
        let mut a = vec![
            "scan".to_owned(),
            format!("--endpoints={}", etcd.endpoint),
            "-o=json".into(),
            cfg.clone(),
        ];
        a.extend_from_slice(extra);
        a
    };
    let file = etcd.dir().join("backup.db");
    etcd.snapshot_save(&file);
    let snap_args = |path: &std::path::Path, extra: &[String]| {
        let mut a = vec![
            "scan".to_owned(),
            format!("--snapshot={}", path.display()),
            "-o=json".into(),
            cfg.clone(),
        ];
        a.extend_from_slice(extra);
        a
    };
    let live = scan(&live_args(&[]));
    let snap = scan(&snap_args(&file, &[]));
    same_report(&live, &snap);
    assert_eq!(snap["source"]["integrity"], "sha256 ok");
    assert!(snap["source"]["compactedRevision"].as_i64().unwrap() > 0);
    let n = live["summary"]["keys"].as_u64().unwrap();
    assert!(n > 1900, "{n}");

    // At an older revision (after the compaction point): live history == snapshot history.
    let rev = [format!("--rev={mid}")];
    same_report(&scan(&live_args(&rev)), &scan(&snap_args(&file, &rev)));

    // Below the compaction point: exit 3.
    let run = atrest(snap_args(&file, &["--rev=2".into()]));
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("compacted"), "{}", run.stderr);

    // After defrag, a new snapshot still gives the same report.
    etcd.defrag();
    let file2 = etcd.dir().join("backup2.db");
    etcd.snapshot_save(&file2);
    same_report(&live, &scan(&snap_args(&file2, &[])));
}

#[test]
fn bad_snapshot_files_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "this is not a bolt file\n".repeat(500)).unwrap();
    for (path, words) in [
        (empty.as_path(), "empty"),
        (text.as_path(), "bolt"),
        (dir.path(), "directory"),
        (std::path::Path::new("/nonexistent/backup.db"), "/nonexistent/backup.db"),
    ] {
        let run = atrest(["scan".to_owned(), format!("--snapshot={}", path.display())]);
        assert_eq!(run.code, 3, "{}: {}", path.display(), run.stderr);
        assert!(run.stderr.to_lowercase().contains(words), "{}: {}", path.display(), run.stderr);
    }
}

#[test]
fn snapshot_history_until_compact_and_defrag() {
    let etcd = Etcd::start();
    let secret = std::fs::read(golden_dir().join("payloads/core.v1.Secret.pb")).unwrap();
    // Written before encryption was configured, then rewritten encrypted by the API server.
    etcd.put("/registry/secrets/prod/db", &secret);
    etcd.put("/registry/secrets/prod/db", seal_aescbc(&KEY1, "key1", &secret, [3; 16]));
    let cfg_path = etcd.dir().join("enc.yaml");
    std::fs::write(
        &cfg_path,
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
         - resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        \
         secret: BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
    )
    .unwrap();
    let cfg = format!("--encryption-config={}", cfg_path.display());
    let before = etcd.dir().join("before.db");
    etcd.snapshot_save(&before);
    let args = |p: &std::path::Path| {
        vec![
            "scan".to_owned(),
            format!("--snapshot={}", p.display()),
            "-o=json".into(),
            cfg.clone(),
            "--history".into(),
        ]
    };
    let doc = scan(&args(&before));
    let h = &doc["summary"]["history"];
    assert_eq!(h["supersededRevisions"], 1, "{h}");
    assert_eq!(h["exposedRevisions"], 1, "{h}");
    let row = &h["byResource"][0];
    assert_eq!(
        (row["resource"].as_str(), row["provider"].as_str()),
        (Some("secrets"), Some("identity"))
    );
    assert!(row["exposure"].as_str().unwrap().contains("plaintext"), "{row}");
    assert!(h["freePages"]["scanned"].is_u64(), "{h}");
    assert!(!h["remediation"].as_array().unwrap().is_empty());
    assert_eq!(
        doc["objects"][0]["status"], "current",
        "the live value is fine: {}",
        doc["objects"][0]
    );

    let rev = etcd.put("/other/bump", "x");
    etcd.compact(rev);
    etcd.defrag();
    let after = etcd.dir().join("after.db");
    etcd.snapshot_save(&after);
    let h = &scan(&args(&after))["summary"]["history"];
    assert_eq!(h["supersededRevisions"], 0, "{h}");
    assert_eq!(h["freePages"]["withObjectBytes"], 0, "{h}");
    assert_eq!(h["remediation"], serde_json::json!([]));
}

/// The matrix (`scripts/test`) runs this binary once per etcd release: `ATREST_EXPECT_ETCD`
/// names the release it meant (e.g. "3.5."), and the etcd that tests actually start must be it,
/// so a fallback to another binary cannot pass unseen.
#[test]
fn etcd_under_test_is_the_one_asked_for() {
    let etcd = Etcd::start();
    let version = etcd.with_client(async |c| c.status().await.unwrap().version().to_owned());
    eprintln!("etcd under test: {version} ({})", crate::harness::etcd::etcd_version());
    if let Ok(want) = std::env::var("ATREST_EXPECT_ETCD") {
        assert!(version.starts_with(&want), "asked for etcd {want}, started {version}");
    }
}

/// What the backend records of the etcd that wrote it, read from the snapshot as etcd wrote it:
/// the raft term (3.5+) equals the member's, the cluster version (3.5+) is the server's
/// major.minor.0, storageVersion (3.6+) likewise; older releases simply lack them.
#[test]
fn snapshot_reports_the_backend_meta_of_its_etcd_release() {
    let etcd = Etcd::start();
    etcd.put("/registry/configmaps/default/a", "k8s\0x");
    let (version, term) = etcd.with_client(async |c| {
        let s = c.status().await.unwrap();
        (s.version().to_owned(), s.raft_term())
    });
    let path = etcd.dir().join("s.db");
    etcd.snapshot_save(&path);
    let doc = scan(&["scan".into(), format!("--snapshot={}", path.display()), "-o=json".into()]);
    let source = &doc["source"];
    assert!(source["consistentIndex"].as_u64().is_some_and(|i| i > 0), "{source}");
    let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
    let major_minor = version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    if minor >= 5 {
        assert_eq!(source["term"].as_u64(), Some(term), "{source}");
        assert_eq!(source["etcdClusterVersion"], format!("{major_minor}.0"), "{source}");
    } else {
        assert!(source.get("term").is_none(), "etcd {version} writes no term: {source}");
    }
    if minor >= 6 {
        assert_eq!(source["etcdStorageVersion"], format!("{major_minor}.0"), "{source}");
    } else {
        assert!(source.get("etcdStorageVersion").is_none(), "{source}");
    }
    let table =
        atrest(&["scan".into(), format!("--snapshot={}", path.display()), "-o=table".into()]);
    assert!(table.stdout.contains("Backend:    etcd "), "{}", table.stdout);
}
