//! End to end on the golden envelopes: load every value at its MANIFEST key into a real etcd,
//! run `atrest scan -o json` with each golden config, and compare every record with the MANIFEST.

use std::collections::BTreeMap;

use atrest::testkit::golden_dir;
use serde_json::Value;

use crate::harness::cli::atrest;
use crate::harness::etcd::Etcd;
use crate::harness::golden::{CONFIGS, config_file, load_envelopes, manifest};
use crate::harness::kms_plugin::KmsPluginServer;

fn scan_json(etcd: &Etcd, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        "-o".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = atrest(&args);
    assert!(run.code == 0 || run.code == 1, "exit {}: {}", run.code, run.stderr);
    (run.code, run.json())
}

fn by_key(doc: &Value) -> BTreeMap<String, Value> {
    doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

#[test]
fn every_golden_envelope_under_every_config() {
    let cases = manifest();
    assert_eq!(cases.len(), 35, "golden envelope count");
    let etcd = Etcd::start();
    load_envelopes(&etcd, &cases);
    let plugin = KmsPluginServer::golden();
    let mut mismatches = Vec::new();
    for config in CONFIGS {
        let cfg = config_file(config, etcd.dir(), &plugin);
        let (code, doc) = scan_json(&etcd, &[&format!("--encryption-config={}", cfg.display())]);
        assert_eq!(code, 1, "{config}: findings exist, so exit 1");
        let records = by_key(&doc);
        assert_eq!(records.len(), cases.len(), "{config}: one record per key");
        let summary = &doc["summary"];
        let n = |f: &str| summary[f].as_u64().unwrap();
        assert_eq!(n("keys"), cases.len() as u64);
        assert_eq!(n("keys"), n("current") + n("stale") + n("unreadable") + n("skipped"));
        assert_eq!(doc["encryptionConfig"]["sha256"].as_str().unwrap().len(), 64);
        if config != "config-aesgcm.yaml" && config != "config-secretbox.yaml" {
            for k in doc["source"]["kms"].as_array().unwrap() {
                assert!(k["error"].is_null(), "{config}: {k}");
                if k["apiVersion"] == "v2" {
                    assert_eq!(
                        (k["healthz"].as_str(), k["keyId"].as_str()),
                        (Some("ok"), Some("kek-2"))
                    );
                }
            }
        }
        for case in &cases {
            let name = case["case"].as_str().unwrap();
            let rec = &records[case["key"].as_str().unwrap()];
            let expected_status = case["status"][config].as_str().unwrap();
            let mut check = |field: &str, got: &Value, want: &Value| {
                if got != want {
                    mismatches.push(format!("{config} {name}: {field}: got {got}, want {want}"));
                }
            };
            for f in ["group", "resource", "namespace", "name"] {
                check(f, &rec[f], &case[f]);
            }
            check("provider", &rec["encryption"]["provider"], &case["provider"]);
            check("keyName", &rec["encryption"]["keyName"], &case["keyName"]);
            if case["kmsApiVersion"] == "v2" {
                check("keyId", &rec["encryption"]["keyId"], &case["keyId"]);
            }
            check("status", &rec["status"], &expected_status.into());
            if expected_status == "unreadable" {
                if rec["reasons"].as_array().is_none_or(Vec::is_empty) {
                    mismatches.push(format!("{config} {name}: unreadable without a reason"));
                }
            } else {
                for f in ["encoding", "apiVersion", "kind", "uid"] {
                    check(f, &rec[f], &case[f]);
                }
            }
            if expected_status == "stale" && rec["reasons"].as_array().is_none_or(Vec::is_empty) {
                mismatches.push(format!("{config} {name}: stale without a reason"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn reports_never_contain_key_material_or_plaintext() {
    let cases = manifest();
    let etcd = Etcd::start();
    load_envelopes(&etcd, &cases);
    let dir = golden_dir().join("envelopes");
    let config = std::fs::read_to_string(dir.join("config-after.yaml")).unwrap();
    let secrets: Vec<&str> =
        config.lines().filter_map(|l| l.trim().strip_prefix("secret: ")).collect();
    assert!(secrets.len() > 5);
    for format in ["json", "jsonl", "yaml", "table"] {
        let run = atrest([
            "scan".to_owned(),
            format!("--endpoints={}", etcd.endpoint),
            format!("--encryption-config={}", dir.join("config-after.yaml").display()),
            format!("-o={format}"),
        ]);
        let all = format!("{}{}", run.stdout, run.stderr);
        for s in &secrets {
            assert!(!all.contains(s), "{format}: key material in output");
        }
        // The Secret payloads' data values are fuzz strings; none may leak.
        for marker in ["dataKey", "stringDataValue", "typeValue"] {
            assert!(!all.contains(marker), "{format}: payload bytes ({marker:?}) in output");
        }
    }
}

#[test]
fn kms_values_without_a_reachable_plugin_are_unreadable_and_the_scan_finishes() {
    let cases = manifest();
    let etcd = Etcd::start();
    load_envelopes(&etcd, &cases);
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(golden_dir().join("envelopes/config-kms.yaml")).unwrap();
    let cfg = dir.path().join("config-kms.yaml");
    let missing = dir.path().join("no-plugin.sock");
    std::fs::write(&cfg, text.replace("/tmp/atrest-golden-kms.sock", missing.to_str().unwrap()))
        .unwrap();
    let (code, doc) = scan_json(&etcd, &[&format!("--encryption-config={}", cfg.display())]);
    assert_eq!(code, 1);
    assert_eq!(doc["summary"]["keys"], cases.len());
    assert!(doc["source"]["kms"][0]["error"].is_string(), "{}", doc["source"]);
    for case in cases.iter().filter(|c| c["provider"] == "kms") {
        let rec = &by_key(&doc)[case["key"].as_str().unwrap()];
        assert_eq!(rec["status"], "unreadable", "{rec}");
        assert!(rec["reasons"].to_string().contains("kms"), "{rec}");
    }
}
