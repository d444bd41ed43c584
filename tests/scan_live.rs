//! Live scans against a real etcd: paging and accounting, formats, filters, prefix detection,
//! non-object keys, compaction restarts, TLS and user auth.

use std::time::Duration;

use atrest::source::live::{LiveOptions, LiveSource};
use atrest::source::{Page, SourceError};
use atrest::testkit::seal_aescbc;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::harness::cli::atrest;
use crate::harness::etcd::Etcd;
use crate::harness::golden::payload;

const KEY1: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(KEY1);
    let path = dir.join("enc.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
             - resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: k1\n        secret: {b64}\n  - identity: {{}}\n"
        ),
    )
    .unwrap();
    path
}

/// `n` secrets under aescbc k1, `n` plaintext configmaps, and non-object keys.
fn seed(etcd: &Etcd, prefix: &str, n: usize) -> usize {
    let secret = payload("core.v1.Secret.pb");
    let cm = payload("core.v1.ConfigMap.pb");
    let mut kvs = Vec::new();
    for i in 0..n {
        let iv = [(i % 251) as u8; 16];
        kvs.push((
            format!("{prefix}secrets/ns{}/s{i}", i % 7),
            seal_aescbc(KEY1, "k1", &secret, iv),
        ));
        kvs.push((format!("{prefix}configmaps/ns{}/cm{i}", i % 7), cm.clone()));
    }
    kvs.push((format!("{prefix}masterleases/10.0.0.1"), cm.clone()));
    kvs.push((format!("{prefix}ranges/serviceips"), cm));
    etcd.put_all(&kvs);
    kvs.len()
}

fn scan(etcd: &Etcd, extra: &[String]) -> crate::harness::cli::Run {
    let mut args = vec!["scan".to_owned(), format!("--endpoints={}", etcd.endpoint)];
    args.extend(extra.iter().cloned());
    atrest(args)
}

#[test]
fn accounts_for_every_key_across_many_pages() {
    let etcd = Etcd::start();
    let total = seed(&etcd, "/registry/", 3000);
    let cfg = write_config(etcd.dir());
    let run = scan(&etcd, &["-o=json".into(), format!("--encryption-config={}", cfg.display())]);
    assert_eq!(
        run.code, 0,
        "secrets under the write key, configmaps under no rule: {}",
        run.stderr
    );
    let doc = run.json();
    let objects = doc["objects"].as_array().unwrap();
    assert_eq!(objects.len(), total);
    let s = &doc["summary"];
    let n = |f: &str| s[f].as_u64().unwrap();
    assert_eq!(n("keys"), total as u64);
    assert_eq!(n("keys"), n("current") + n("stale") + n("unreadable") + n("skipped"));
    assert_eq!(n("skipped"), 2);
    assert_eq!(n("current"), 6000, "secrets under the write key and configmaps with no rule");
    // Key order, no duplicates.
    let keys: Vec<&str> = objects.iter().map(|o| o["key"].as_str().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(keys, sorted);
    assert!(doc["source"]["revision"].as_i64().unwrap() > 0);
    assert_eq!(doc["source"]["prefix"], "/registry/");
    let skipped: Vec<&Value> = objects.iter().filter(|o| o["status"] == "skipped").collect();
    assert!(skipped.iter().all(|o| !o["reasons"].as_array().unwrap().is_empty()));
}

#[test]
fn formats_agree() {
    let etcd = Etcd::start();
    seed(&etcd, "/registry/", 20);
    let cfg = format!("--encryption-config={}", write_config(etcd.dir()).display());
    let json = scan(&etcd, &["-o=json".into(), cfg.clone()]).json();
    let jsonl = scan(&etcd, &["-o=jsonl".into(), cfg.clone()]);
    let lines: Vec<Value> =
        jsonl.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (last, records) = lines.split_last().unwrap();
    assert_eq!(records, json["objects"].as_array().unwrap().as_slice());
    assert_eq!(last["summary"], json["summary"]);
    let yaml = scan(&etcd, &["-o=yaml".into(), cfg.clone()]);
    let from_yaml: Value = serde_saphyr::from_str(&yaml.stdout).unwrap();
    assert_eq!(from_yaml, json, "YAML is the JSON document");
    let table = scan(&etcd, &["-o=table".into(), cfg]);
    assert_eq!(table.code, 0);
    assert!(table.stdout.contains("RESOURCE"), "{}", table.stdout);
    assert!(table.stdout.contains("secrets   "), "{}", table.stdout);
    assert!(table.stdout.contains("aescbc:k1"), "{}", table.stdout);
    assert!(
        table.stdout.contains("42 keys: 40 current, 0 stale, 0 unreadable, 2 skipped"),
        "{}",
        table.stdout
    );
}

#[test]
fn fail_on_levels_and_filters() {
    let etcd = Etcd::start();
    seed(&etcd, "/registry/", 5);
    // Plaintext secret under a config whose write provider is aescbc: stale.
    etcd.put("/registry/secrets/ns0/plain", payload("core.v1.Secret.pb"));
    let cfg = format!("--encryption-config={}", write_config(etcd.dir()).display());
    let run = scan(&etcd, &["-o=json".into(), cfg.clone()]);
    assert_eq!(run.code, 1);
    let doc = run.json();
    let plain = doc["objects"].as_array().unwrap().iter().find(|o| o["name"] == "plain").unwrap();
    assert_eq!(plain["status"], "stale");
    assert!(plain["reasons"][0].as_str().unwrap().contains("plaintext"), "{plain}");
    assert_eq!(
        scan(&etcd, &["-o=json".into(), cfg.clone(), "--fail-on=unreadable".into()]).code,
        0
    );
    assert_eq!(scan(&etcd, &["-o=json".into(), cfg.clone(), "--fail-on=never".into()]).code, 0);

    let only = scan(&etcd, &["-o=json".into(), cfg.clone(), "--resource=configmaps".into()]).json();
    for o in only["objects"].as_array().unwrap() {
        assert!(o["resource"] == "configmaps" || o["status"] == "skipped", "{o}");
    }
    assert_eq!(only["summary"]["keys"], doc["summary"]["keys"], "filtered keys still counted");
    let ns = scan(&etcd, &["-o=json".into(), cfg, "--namespace=ns1".into()]).json();
    for o in ns["objects"].as_array().unwrap() {
        assert!(o["namespace"] == "ns1" || o["status"] == "skipped", "{o}");
    }
}

#[test]
fn without_a_config_envelopes_are_identified_not_decrypted() {
    let etcd = Etcd::start();
    seed(&etcd, "/registry/", 3);
    let run = scan(&etcd, &["-o=json".into()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert!(doc["encryptionConfig"].is_null());
    for o in doc["objects"].as_array().unwrap() {
        match o["resource"].as_str().unwrap() {
            "secrets" => {
                assert_eq!(o["encryption"]["provider"], "aescbc");
                assert_eq!(o["encryption"]["keyName"], "k1");
                assert!(o["apiVersion"].is_null());
            }
            "configmaps" => {
                assert_eq!(o["encryption"]["provider"], "identity");
                assert_eq!(o["kind"], "ConfigMap");
            }
            _ => assert_eq!(o["status"], "skipped"),
        }
    }
}

#[test]
fn prefix_detection() {
    let etcd = Etcd::start();
    let none = scan(&etcd, &["-o=json".into()]);
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(none.stderr.contains("--prefix"), "{}", none.stderr);

    seed(&etcd, "/kubernetes.io/", 2);
    let found = scan(&etcd, &["-o=json".into()]);
    assert_eq!(found.code, 0, "{}", found.stderr);
    assert_eq!(found.json()["source"]["prefix"], "/kubernetes.io/");

    seed(&etcd, "/registry/", 2);
    let both = scan(&etcd, &["-o=json".into()]);
    assert_eq!(both.code, 2);
    assert!(
        both.stderr.contains("/registry/") && both.stderr.contains("/kubernetes.io/"),
        "{}",
        both.stderr
    );
    let explicit = scan(&etcd, &["-o=json".into(), "--prefix=registry".into()]);
    assert_eq!(explicit.code, 0, "{}", explicit.stderr);
    assert_eq!(explicit.json()["summary"]["keys"], 6);
}

fn connect(etcd: &Etcd) -> LiveOptions {
    LiveOptions {
        endpoints: vec![etcd.endpoint.clone()],
        dial_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(30),
        ..LiveOptions::default()
    }
}

/// Scans with tiny pages and calls `between` after each page (the scan is paused meanwhile,
/// since the channel holds one page).
fn scan_with(
    etcd: &Etcd,
    mut between: impl FnMut(usize),
) -> (usize, Result<atrest::source::ScanStats, SourceError>) {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let mut src = rt.block_on(LiveSource::connect(connect(etcd))).unwrap().with_max_page_keys(10);
    let (tx, mut rx) = mpsc::channel::<Page>(1);
    let task = rt.spawn(async move { src.scan(b"/registry/", None, tx).await });
    let mut keys = Vec::new();
    let mut pages = 0;
    while let Some(page) = rx.blocking_recv() {
        keys.extend(page.kvs.into_iter().map(|kv| kv.key));
        pages += 1;
        between(pages);
    }
    let result = rt.block_on(task).unwrap();
    let n = keys.len();
    keys.dedup();
    assert_eq!(n, keys.len(), "no key twice");
    (n, result)
}

#[test]
fn compaction_mid_scan_restarts_then_gives_up() {
    let etcd = Etcd::start();
    let total = seed(&etcd, "/registry/", 100);
    // Compacted once: the scan resumes at a newer revision and still reads every key once.
    let (n, stats) = scan_with(&etcd, |page| {
        if page == 2 {
            let rev = etcd.put("/other/bump", "x");
            etcd.compact(rev);
        }
    });
    let stats = stats.unwrap();
    assert_eq!(n, total);
    assert_eq!(stats.restarts.len(), 1, "{stats:?}");
    assert!(stats.restarts[0].to > stats.restarts[0].from);

    // Compacted on every page: after MAX_RESTARTS it stops with an error, never a silent end.
    let (_, result) = scan_with(&etcd, |_| {
        let rev = etcd.put("/other/bump", "x");
        etcd.compact(rev);
    });
    match result {
        Err(SourceError::Compacted { restarts, .. }) => {
            assert_eq!(restarts, atrest::source::live::MAX_RESTARTS)
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
}

#[test]
fn live_history_finds_superseded_plaintext_until_compaction() {
    let etcd = Etcd::start();
    seed(&etcd, "/registry/", 3);
    let secret = payload("core.v1.Secret.pb");
    // Written before encryption was configured, then rewritten encrypted (as the API server
    // does on a no-op update after the config change).
    etcd.put("/registry/secrets/prod/db", &secret);
    etcd.put("/registry/secrets/prod/db", seal_aescbc(KEY1, "k1", &secret, [9; 16]));
    etcd.put("/registry/secrets/prod/gone", &secret);
    etcd.with_client(async |c| {
        c.delete("/registry/secrets/prod/gone", None).await.unwrap();
    });
    let cfg = format!("--encryption-config={}", write_config(etcd.dir()).display());
    let run = scan(&etcd, &["-o=json".into(), cfg.clone(), "--history".into()]);
    assert!(run.code <= 1, "{}", run.stderr);
    let doc = run.json();
    let h = &doc["summary"]["history"];
    assert_eq!(h["supersededRevisions"], 2, "{h}");
    assert_eq!(h["exposedRevisions"], 2, "{h}");
    let row = &h["byResource"][0];
    assert_eq!(row["resource"], "secrets");
    assert_eq!(row["provider"], "identity");
    assert!(row["exposure"].as_str().unwrap().contains("plaintext"), "{row}");
    assert!(h["remediation"][0].as_str().unwrap().starts_with("etcdctl compact"), "{h}");
    let table = scan(&etcd, &["-o=table".into(), cfg.clone(), "--history".into()]);
    assert!(table.stdout.contains("HISTORY: "), "{}", table.stdout);

    let rev = etcd.put("/other/bump", "x");
    etcd.compact(rev);
    let after = scan(&etcd, &["-o=json".into(), cfg, "--history".into()]).json();
    assert_eq!(after["summary"]["history"]["supersededRevisions"], 0);
    assert_eq!(after["summary"]["history"]["remediation"], serde_json::json!([]));
}
