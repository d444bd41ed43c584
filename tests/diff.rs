//! `atrest diff`: two real scans around a key rotation (before: 10 stale; after the rewrite: 0),
//! regressions and their exit code, appeared/disappeared/rewritten, json vs jsonl inputs, bad
//! inputs (exit 2), and a large generated pair that only a streaming join handles cheaply.

use std::path::{Path, PathBuf};

use atrest::testkit::{golden_dir, seal_aescbc};
use serde_json::{Value, json};

use crate::harness::cli::{Run, atrest};
use crate::harness::etcd::Etcd;

const OLD_KEY: &[u8; 32] = b"old-key-0123456789abcdef01234567";
const NEW_KEY: &[u8; 32] = b"new-key-0123456789abcdef01234567";

fn payload(name: &str) -> Vec<u8> {
    std::fs::read(golden_dir().join("payloads").join(name)).unwrap()
}

/// secrets: aescbc with the new key first (the write key) and the old key second, then identity.
fn write_config(dir: &Path) -> PathBuf {
    use base64::Engine;
    let b64 = |k: &[u8]| base64::engine::general_purpose::STANDARD.encode(k);
    let path = dir.join("enc.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
             - resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n\
             \x20     - name: k-new\n        secret: {}\n\
             \x20     - name: k-old\n        secret: {}\n  - identity: {{}}\n",
            b64(NEW_KEY),
            b64(OLD_KEY)
        ),
    )
    .unwrap();
    path
}

fn old_secret(i: usize) -> String {
    format!("/registry/secrets/app/old-{i:02}")
}

/// 10 secrets under the old key (stale), 5 under the new key (current), 5 plaintext configmaps
/// (no rule: current). Returns the 10 stale keys.
fn seed(etcd: &Etcd) -> Vec<String> {
    let secret = payload("core.v1.Secret.pb");
    let mut kvs = Vec::new();
    let stale: Vec<String> = (0..10).map(old_secret).collect();
    for (i, key) in stale.iter().enumerate() {
        kvs.push((key.clone(), seal_aescbc(OLD_KEY, "k-old", &secret, [i as u8; 16])));
    }
    for i in 0..5 {
        let sealed = seal_aescbc(NEW_KEY, "k-new", &secret, [100 + i as u8; 16]);
        kvs.push((format!("/registry/secrets/app/cur-{i}"), sealed));
        kvs.push((format!("/registry/configmaps/app/cm-{i}"), payload("core.v1.ConfigMap.pb")));
    }
    etcd.put_all(&kvs);
    stale
}

/// Scans into `dir/name` (`-o json` or `-o jsonl` from the extension).
fn scan_to(etcd: &Etcd, config: Option<&Path>, dir: &Path, name: &str) -> PathBuf {
    let format = if name.ends_with(".jsonl") { "jsonl" } else { "json" };
    let mut args = vec![
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        format!("-o={format}"),
        "--fail-on=never".to_owned(),
    ];
    if let Some(c) = config {
        args.push(format!("--encryption-config={}", c.display()));
    }
    let run = atrest(args);
    assert_eq!(run.code, 0, "scan: {}", run.stderr);
    let path = dir.join(name);
    std::fs::write(&path, &run.stdout).unwrap();
    path
}

fn diff(old: &Path, new: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["diff".to_owned(), old.display().to_string(), new.display().to_string()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    atrest(args)
}

fn diff_json(old: &Path, new: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["-o", "json"];
    args.extend_from_slice(extra);
    let run = diff(old, new, &args);
    assert!(run.code == 0 || run.code == 1, "exit {}: {}", run.code, run.stderr);
    (run.code, run.json())
}

fn summary(appeared: u64, disappeared: u64, changed: u64, rewritten: u64, unchanged: u64) -> Value {
    json!({"appeared": appeared, "disappeared": disappeared, "changed": changed,
           "rewritten": rewritten, "unchanged": unchanged})
}

/// The count fields of a summary, plus (regressions, improvements).
fn counts(doc: &Value) -> (Value, u64, u64) {
    let s = &doc["summary"];
    let mut c = s.clone();
    let m = c.as_object_mut().unwrap();
    m.remove("regressions");
    m.remove("improvements");
    (c, s["regressions"].as_u64().unwrap(), s["improvements"].as_u64().unwrap())
}

fn changes(doc: &Value) -> &Vec<Value> {
    doc["changes"].as_array().unwrap()
}

fn change<'a>(doc: &'a Value, key: &str) -> &'a Value {
    changes(doc).iter().find(|c| c["key"] == key).unwrap_or_else(|| panic!("no change {key}"))
}

#[test]
fn rotation_rewrite_reports_exactly_the_moved_objects() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let stale = seed(&etcd);
    let old = scan_to(&etcd, Some(&cfg), dir.path(), "old.json");
    let old_l = scan_to(&etcd, Some(&cfg), dir.path(), "old.jsonl");
    // What the API server does on a rewrite: read, write back under the current write key.
    let secret = payload("core.v1.Secret.pb");
    let rewritten: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (old_secret(i), seal_aescbc(NEW_KEY, "k-new", &secret, [200 + i as u8; 16])))
        .collect();
    etcd.put_all(&rewritten);
    let new = scan_to(&etcd, Some(&cfg), dir.path(), "new.json");
    let new_l = scan_to(&etcd, Some(&cfg), dir.path(), "new.jsonl");

    let (code, doc) = diff_json(&old, &new, &[]);
    assert_eq!(code, 0, "improvements only");
    assert_eq!(doc["apiVersion"], "atrest/v1");
    assert_eq!(doc["kind"], "Diff");
    assert_eq!(counts(&doc), (summary(0, 0, 10, 0, 10), 0, 10));
    let keys: Vec<&str> = changes(&doc).iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(keys, stale, "exactly the 10 rewritten objects, in key order");
    for c in changes(&doc) {
        assert_eq!(c["change"], "changed", "{c}");
        assert_eq!(c["regression"], false, "{c}");
        assert_eq!(c["improvement"], true, "{c}");
        let f = &c["fields"];
        assert_eq!(f["keyName"], json!({"old": "k-old", "new": "k-new"}), "{c}");
        assert_eq!(f["status"], json!({"old": "stale", "new": "current"}), "{c}");
        assert!(f.get("provider").is_none() && f.get("apiVersion").is_none(), "{c}");
        assert!(f["modRevision"]["new"].as_i64() > f["modRevision"]["old"].as_i64(), "{c}");
    }
    let rev = |side: &str| doc[side]["source"]["revision"].as_i64().unwrap();
    assert!(rev("old") < rev("new"));
    assert_eq!(doc["old"]["format"], "json");
    assert_eq!(doc["old"]["encryptionConfig"]["sha256"], doc["new"]["encryptionConfig"]["sha256"]);

    // jsonl inputs (and one of each) give the same diff.
    for (o, n) in [(&old_l, &new_l), (&old, &new_l), (&old_l, &new)] {
        let (code, other) = diff_json(o, n, &[]);
        assert_eq!(code, 0);
        assert_eq!(other["summary"], doc["summary"], "{} {}", o.display(), n.display());
        assert_eq!(other["changes"], doc["changes"], "{} {}", o.display(), n.display());
    }
    let (_, l) = diff_json(&old_l, &new_l, &[]);
    assert_eq!(l["old"]["format"], "jsonl");
    assert!(l["old"]["source"].is_null(), "jsonl records no source");

    // Backwards: every one of them got worse.
    let (code, back) = diff_json(&new, &old, &[]);
    assert_eq!(code, 1);
    assert_eq!(counts(&back), (summary(0, 0, 10, 0, 10), 10, 0));
    for c in changes(&back) {
        assert_eq!(c["regression"], true, "{c}");
        assert!(c["reasons"].as_array().unwrap().contains(&json!("status current → stale")), "{c}");
    }
    assert_eq!(diff(&new, &old, &["--fail-on=never"]).code, 0);

    let table = diff(&old, &new, &[]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let out = &table.stdout;
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} line:\n{out}"))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert_eq!(line("changed"), "10", "{out}");
    assert_eq!(line("improvements"), "10", "{out}");
    assert_eq!(line("regressions"), "0", "{out}");
    assert!(out.contains(&format!("revision changed: {} → {}", rev("old"), rev("new"))), "{out}");
    assert!(!out.contains("encryptionConfig changed"), "{out}");
    let row = out.lines().find(|l| l.starts_with(&stale[0])).expect(out);
    assert!(row.contains("changed (improvement)"), "{row}");
    assert!(row.contains("keyName k-old → k-new, status stale → current"), "{row}");
    assert_eq!(out.lines().filter(|l| l.starts_with("/registry/")).count(), 10, "{out}");
}

#[test]
fn plaintext_appeared_disappeared_and_rewritten() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    seed(&etcd);
    let old = scan_to(&etcd, Some(&cfg), dir.path(), "old.json");
    let secret = payload("core.v1.Secret.pb");
    etcd.put("/registry/secrets/app/cur-0", &secret); // encrypted → plaintext
    etcd.put("/registry/secrets/app/new-ok", seal_aescbc(NEW_KEY, "k-new", &secret, [1; 16]));
    etcd.put("/registry/secrets/app/new-stale", seal_aescbc(OLD_KEY, "k-old", &secret, [2; 16]));
    etcd.put("/registry/configmaps/app/cm-1", payload("core.v1.ConfigMap.pb")); // same bytes
    etcd.with_client(async |c| c.delete("/registry/configmaps/app/cm-0", None).await.unwrap());
    let new = scan_to(&etcd, Some(&cfg), dir.path(), "new.json");

    let (code, doc) = diff_json(&old, &new, &[]);
    assert_eq!(code, 1, "plaintext and a new stale object regress");
    assert_eq!(counts(&doc), (summary(2, 1, 1, 1, 17), 2, 0));
    assert_eq!(changes(&doc).len(), 4, "rewritten only with --all");

    let plain = change(&doc, "/registry/secrets/app/cur-0");
    assert_eq!(plain["change"], "changed");
    assert_eq!(plain["regression"], true);
    assert_eq!(plain["fields"]["provider"], json!({"old": "aescbc", "new": "identity"}));
    assert_eq!(plain["fields"]["keyName"], json!({"old": "k-new", "new": null}));
    assert_eq!(plain["fields"]["status"], json!({"old": "current", "new": "stale"}));
    let reasons = plain["reasons"].as_array().unwrap();
    assert!(reasons.contains(&json!("encrypted (aescbc) → plaintext")), "{plain}");

    let ok = change(&doc, "/registry/secrets/app/new-ok");
    assert_eq!((&ok["change"], &ok["regression"]), (&json!("appeared"), &json!(false)));
    assert_eq!(ok["fields"]["status"], json!({"old": null, "new": "current"}));
    assert_eq!(ok["fields"]["keyName"], json!({"old": null, "new": "k-new"}));
    let bad = change(&doc, "/registry/secrets/app/new-stale");
    assert_eq!((&bad["change"], &bad["regression"]), (&json!("appeared"), &json!(true)));
    assert_eq!(bad["reasons"], json!(["new object is stale"]));
    let gone = change(&doc, "/registry/configmaps/app/cm-0");
    assert_eq!((&gone["change"], &gone["regression"]), (&json!("disappeared"), &json!(false)));
    assert_eq!(gone["fields"]["provider"], json!({"old": "identity", "new": null}));

    let (_, all) = diff_json(&old, &new, &["--all"]);
    assert_eq!(all["summary"], doc["summary"]);
    assert_eq!(changes(&all).len(), 5);
    let re = change(&all, "/registry/configmaps/app/cm-1");
    assert_eq!(re["change"], "rewritten");
    let fields: Vec<&String> = re["fields"].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["modRevision"]);

    let table = diff(&old, &new, &[]);
    assert_eq!(table.code, 1);
    assert!(table.stdout.contains("1 rewritten (modRevision only) not listed"), "{}", table.stdout);
    assert!(table.stdout.contains("provider aescbc → identity"), "{}", table.stdout);
    assert!(table.stdout.contains("- → aescbc:k-old v1/Secret stale"), "{}", table.stdout);
    let table_all = diff(&old, &new, &["--all"]);
    assert!(table_all.stdout.contains("rewritten"), "{}", table_all.stdout);
    assert!(table_all.stdout.lines().any(|l| l.starts_with("/registry/configmaps/app/cm-1")));
}

#[test]
fn new_plaintext_object_of_an_encrypted_resource_is_a_regression() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    seed(&etcd);
    let old = scan_to(&etcd, Some(&cfg), dir.path(), "old.json");
    // Sorts before every encrypted secret: OLD must be known in full to judge it.
    etcd.put("/registry/secrets/app/a-plain", payload("core.v1.Secret.pb"));
    // Without a config nothing is stale, so only the resource rule can catch it.
    let new = scan_to(&etcd, None, dir.path(), "new.json");
    let (code, doc) = diff_json(&old, &new, &[]);
    assert_eq!(code, 1);
    assert_eq!(doc["summary"]["regressions"], 1, "{}", doc["summary"]);
    assert_eq!(doc["summary"]["appeared"], 1);
    let c = change(&doc, "/registry/secrets/app/a-plain");
    assert_eq!(c["regression"], true);
    assert_eq!(c["fields"]["status"]["new"], "current");
    assert_eq!(c["reasons"], json!(["new plaintext object; OLD had encrypted secrets"]));
    assert!(doc["new"]["encryptionConfig"].is_null());

    let table = diff(&old, &new, &[]);
    assert!(table.stdout.contains("encryptionConfig changed: sha256 "), "{}", table.stdout);
    assert!(table.stdout.contains("appeared (regression)"), "{}", table.stdout);
}

// ---- inputs written by the tests (no etcd) -------------------------------------------------

fn record(key: &str, provider: &str, key_name: Option<&str>, status: &str, rev: i64) -> Value {
    let resource = key.split('/').nth(2).unwrap_or("");
    json!({
        "key": key, "modRevision": rev, "createRevision": 1, "version": 1, "lease": 0,
        "group": "", "resource": resource, "namespace": "ns", "name": "x",
        "encryption": {"provider": provider, "kmsApiVersion": null, "keyName": key_name,
                       "keyId": null},
        "encoding": "protobuf", "apiVersion": "v1", "kind": "Secret", "uid": null,
        "expectedApiVersion": null, "status": status, "reasons": []
    })
}

fn jsonl(records: &[Value]) -> String {
    let mut s = String::new();
    for r in records {
        s.push_str(&r.to_string());
        s.push('\n');
    }
    s.push_str(&json!({"summary": {"keys": records.len()}}).to_string());
    s.push('\n');
    s
}

/// Shaped like report/json.rs writes it: head, one record per line, summary.
fn document(records: &[Value], revision: i64) -> String {
    let mut s = format!(
        "{{\"apiVersion\":\"atrest/v1\",\"source\":{{\"kind\":\"etcd\",\"endpoints\":[\"x\"],\
         \"revision\":{revision},\"prefix\":\"/registry/\"}},\"encryptionConfig\":null,\"objects\":["
    );
    for (i, r) in records.iter().enumerate() {
        s.push_str(if i == 0 { "\n" } else { ",\n" });
        s.push_str(&r.to_string());
    }
    s.push_str(&format!("\n],\"summary\":{{\"keys\":{},\"byResource\":[]}}}}\n", records.len()));
    s
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn expect_usage_error(run: &Run, path: &Path, what: &str) {
    assert_eq!(run.code, 2, "{what}: stdout {} stderr {}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&path.display().to_string()), "{what}: {}", run.stderr);
    assert!(run.stderr.contains(what), "{what}: {}", run.stderr);
}

#[test]
fn bad_inputs_exit_2_with_the_path_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = record("/registry/secrets/ns/a", "aescbc", Some("k"), "current", 5);
    let b = record("/registry/secrets/ns/b", "aescbc", Some("k"), "current", 6);
    let good = write(d, "good.jsonl", &jsonl(&[a.clone(), b.clone()]));

    let unordered = write(d, "unordered.jsonl", &jsonl(&[b.clone(), a.clone()]));
    let run = diff(&unordered, &good, &[]);
    expect_usage_error(&run, &unordered, "keys out of order at record 2");
    assert!(run.stdout.is_empty(), "OLD is checked before anything is written");
    expect_usage_error(&diff(&good, &unordered, &["-o", "json"]), &unordered, "out of order");
    let unordered_doc = write(d, "unordered.json", &document(&[b.clone(), a.clone()], 3));
    expect_usage_error(&diff(&unordered_doc, &good, &[]), &unordered_doc, "out of order");
    let dup = write(d, "dup.jsonl", &jsonl(&[a.clone(), a.clone()]));
    expect_usage_error(&diff(&good, &dup, &[]), &dup, "appears twice");

    let text = write(d, "notes.txt", "hello, not a report\n");
    expect_usage_error(&diff(&text, &good, &[]), &text, "not an atrest scan report: not JSON");
    let empty = write(d, "empty.json", "");
    expect_usage_error(&diff(&good, &empty, &[]), &empty, "empty");
    let missing = d.join("missing.json");
    expect_usage_error(&diff(&missing, &good, &[]), &missing, "cannot open");

    let truncated = write(d, "truncated.jsonl", &format!("{a}\n{b}\n"));
    expect_usage_error(&diff(&truncated, &good, &[]), &truncated, "truncated");
    let cut = document(&[a.clone(), b.clone()], 3);
    let cut_doc = write(d, "cut.json", &cut[..cut.len() / 2]);
    expect_usage_error(&diff(&good, &cut_doc, &[]), &cut_doc, "invalid atrest/v1 report");
    let short = write(
        d,
        "short.jsonl",
        &jsonl(&[a.clone(), b.clone()]).replace("\"keys\":2", "\"keys\":3"),
    );
    expect_usage_error(&diff(&short, &good, &[]), &short, "counts 3 keys but the report lists 2");
    let bad_line = write(d, "bad.jsonl", &jsonl(&[a, b]).replace("current", "great"));
    expect_usage_error(&diff(&good, &bad_line, &[]), &bad_line, "line 1: invalid record");

    // A diff is not a scan report.
    let out = diff(&good, &good, &["-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["summary"]["unchanged"], 2);
    let diff_doc = write(d, "diff.json", &out.stdout);
    expect_usage_error(&diff(&diff_doc, &good, &[]), &diff_doc, "expected a scan report");
}

#[test]
fn large_generated_pair_streams_with_exact_counts() {
    const N: usize = 20_000;
    let key = |i: usize| format!("/registry/secrets/ns{}/s{i:06}", i % 10);
    let (mut old, mut new) = (Vec::new(), Vec::new());
    for i in 0..N {
        old.push((key(i), record(&key(i), "aescbc", Some("k-new"), "current", 10)));
        if i % 100 == 0 {
            old.last_mut().unwrap().1 = record(&key(i), "aescbc", Some("k-old"), "stale", 10);
        }
        let n = match i {
            _ if i % 1000 == 1 => continue, // disappeared
            _ if i % 100 == 0 => record(&key(i), "aescbc", Some("k-new"), "current", 20),
            _ if i % 500 == 3 => record(&key(i), "aescbc", Some("k-old"), "stale", 20),
            _ if i % 250 == 4 => record(&key(i), "aescbc", Some("k-new"), "current", 20),
            _ => record(&key(i), "aescbc", Some("k-new"), "current", 10),
        };
        new.push((key(i), n));
        if i % 1000 == 2 {
            let k = format!("{}-extra", key(i));
            new.push((k.clone(), record(&k, "aescbc", Some("k-new"), "current", 20)));
        }
    }
    old.sort_by(|a, b| a.0.cmp(&b.0));
    new.sort_by(|a, b| a.0.cmp(&b.0));
    let old: Vec<Value> = old.into_iter().map(|(_, v)| v).collect();
    let new: Vec<Value> = new.into_iter().map(|(_, v)| v).collect();
    let dir = tempfile::tempdir().unwrap();
    let old_path = write(dir.path(), "old.jsonl", &jsonl(&old));
    let new_path = write(dir.path(), "new.json", &document(&new, 99));

    let (code, doc) = diff_json(&old_path, &new_path, &[]);
    assert_eq!(code, 1, "40 objects went current → stale");
    let unchanged = (N - 200 - 20 - 40 - 80) as u64;
    assert_eq!(counts(&doc), (summary(20, 20, 240, 80, unchanged), 40, 200));
    let listed: Vec<&str> = changes(&doc).iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 280);
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "changes in key order");
    let (_, all) = diff_json(&old_path, &new_path, &["--all"]);
    assert_eq!(changes(&all).len(), 360);

    let table = diff(&old_path, &new_path, &[]);
    assert_eq!(table.code, 1);
    assert_eq!(table.stdout.lines().filter(|l| l.starts_with("/registry/")).count(), 50);
    assert!(table.stdout.contains("… 230 more (--all lists every change)"), "{}", table.stdout);
}
