//! KMS end to end: a real etcd, the test KMS plugin on a unix socket, the atrest binary.

use std::path::{Path, PathBuf};

use atrest::testkit::{golden_dir, seal_kms_v2};
use serde_json::Value;

use crate::harness::cli::atrest;
use crate::harness::etcd::Etcd;
use crate::harness::kms_plugin::{Failure, KmsPluginServer};

/// A config whose secrets are written by a KMS v2 provider served by `plugin`.
fn kms_config(dir: &Path, plugin: &KmsPluginServer) -> PathBuf {
    let path = dir.join("enc-kms.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
             - resources: [secrets]\n  providers:\n  - kms:\n      apiVersion: v2\n      name: cloud-kms\n\
             \x20     endpoint: {}\n      timeout: 2s\n  - identity: {{}}\n",
            plugin.endpoint()
        ),
    )
    .unwrap();
    path
}

/// `n` secrets under KMS v2 keyID `key_id`, one DEK source (seed) per `per_source` objects.
fn seed_kms(etcd: &Etcd, plugin: &KmsPluginServer, key_id: &str, n: usize, per_source: usize) {
    let secret = std::fs::read(golden_dir().join("payloads/core.v1.Secret.pb")).unwrap();
    let mut kvs = Vec::with_capacity(n);
    let mut source = (Vec::new(), [0u8; 32]);
    for i in 0..n {
        if i % per_source == 0 {
            let seed = [(i / per_source) as u8 ^ 0x5a; 32];
            source = (plugin.wrap(&seed), seed);
        }
        let key = format!("/registry/secrets/kms/s{i:05}");
        let mut info = [0u8; 32];
        info[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let v = seal_kms_v2(
            "cloud-kms",
            key_id,
            &source.0,
            &source.1,
            info,
            nonce,
            &secret,
            key.as_bytes(),
        );
        kvs.push((key, v));
    }
    etcd.put_all(&kvs);
}

fn scan(etcd: &Etcd, cfg: &Path) -> (i32, Value) {
    let run = atrest([
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        format!("--encryption-config={}", cfg.display()),
        "-o=json".into(),
    ]);
    assert!(run.code <= 1, "exit {}: {}", run.code, run.stderr);
    (run.code, run.json())
}

#[test]
fn key_id_rotation_makes_every_object_stale() {
    let etcd = Etcd::start();
    let plugin = KmsPluginServer::start([3; 32], "key-a");
    seed_kms(&etcd, &plugin, "key-a", 200, 50);
    let cfg = kms_config(etcd.dir(), &plugin);
    let (code, before) = scan(&etcd, &cfg);
    assert_eq!(code, 0, "{}", before["summary"]);
    assert_eq!(before["summary"]["current"], 200);
    let status = &before["source"]["kms"][0];
    assert_eq!(
        (status["name"].as_str(), status["keyId"].as_str()),
        (Some("cloud-kms"), Some("key-a")),
        "{status}"
    );
    assert_eq!(status["healthz"], "ok");

    plugin.set_key_id("key-b");
    let (code, after) = scan(&etcd, &cfg);
    assert_eq!(code, 1);
    assert_eq!(after["summary"]["stale"], 200, "{}", after["summary"]);
    for o in after["objects"].as_array().unwrap() {
        assert_eq!(o["encryption"]["keyId"], "key-a");
        assert_eq!(o["kind"], "Secret", "decrypted and decoded: {o}");
        assert!(o["reasons"].to_string().contains("key-b"), "{o}");
    }
}

#[test]
fn objects_sharing_a_dek_source_cost_one_decrypt_call() {
    let etcd = Etcd::start();
    let plugin = KmsPluginServer::start([4; 32], "key-a");
    seed_kms(&etcd, &plugin, "key-a", 10_000, 10_000);
    let (_, doc) = scan(&etcd, &kms_config(etcd.dir(), &plugin));
    assert_eq!(doc["summary"]["current"], 10_000, "{}", doc["summary"]);
    assert_eq!(plugin.decrypt_calls(), 1, "one DEK source, one Decrypt");
}

#[test]
fn plugin_killed_mid_scan_leaves_the_rest_unreadable_and_the_scan_finishes() {
    let etcd = Etcd::start();
    let plugin = KmsPluginServer::start([5; 32], "key-a");
    seed_kms(&etcd, &plugin, "key-a", 3_000, 50);
    let cfg = kms_config(etcd.dir(), &plugin);
    // 60 DEK sources: the plugin answers 20 Decrypt calls, then is gone (by count, not by a
    // timer, so the test does not depend on how fast this machine is).
    plugin.set_failure(Failure::UnavailableAfterDecrypts(20));
    let (code, doc) = scan(&etcd, &cfg);
    assert_eq!(code, 1);
    let s = &doc["summary"];
    assert_eq!(s["keys"], 3_000, "every key accounted for");
    let (current, unreadable) = (s["current"].as_u64().unwrap(), s["unreadable"].as_u64().unwrap());
    assert_eq!(current + unreadable, 3_000, "{s}");
    assert!(current > 0 && unreadable > 0, "some read before the stop, some after: {s}");
    let dead =
        doc["objects"].as_array().unwrap().iter().find(|o| o["status"] == "unreadable").unwrap();
    assert!(dead["reasons"].to_string().contains("cloud-kms"), "{dead}");
}
