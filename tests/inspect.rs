//! `atrest inspect`: every layer of one key, against a real etcd (live) and a real snapshot,
//! with the golden payloads.

use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

use crate::harness::cli::{Run, atrest};
use crate::harness::etcd::Etcd;
use crate::harness::golden::{normalize, payload};
use atrest::testkit::{first_difference, golden_dir, seal_aescbc};

const KEY1: [u8; 32] = [1; 32];
const KEY2: [u8; 32] = [2; 32];

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = format!(
        "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [configmaps]
    providers:
      - identity: {{}}
  - resources: [secrets]
    providers:
      - aescbc:
          keys:
            - name: key2
              secret: {}
            - name: key1
              secret: {}
      - identity: {{}}
",
        b64.encode(KEY2),
        b64.encode(KEY1)
    );
    let path = dir.join("enc.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn inspect(etcd: &Etcd, config: &std::path::Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "inspect".to_owned(),
        "--endpoints".into(),
        etcd.endpoint.clone(),
        "--encryption-config".into(),
        config.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    atrest(args)
}

const SECRET_KEY: &str = "/registry/secrets/namespaceValue/nameValue";

/// A stale Secret (golden payload, aescbc key1 while key2 writes) and a plaintext ConfigMap.
fn seeded() -> (Etcd, tempfile::TempDir, std::path::PathBuf) {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let secret = seal_aescbc(&KEY1, "key1", &payload("core.v1.Secret.pb"), [9; 16]);
    etcd.put(SECRET_KEY, secret);
    etcd.put("/registry/configmaps/namespaceValue/nameValue", payload("core.v1.ConfigMap.pb"));
    etcd.put("/registry/secrets/default/damaged", b"k8s:enc:aescbc:v1:key2:short");
    (etcd, dir, cfg)
}

/// Every string value of the golden Secret's `data` and `stringData`, decoded: none may appear
/// in any output without --reveal.
fn secret_values() -> Vec<Vec<u8>> {
    let twin: Value = serde_json::from_slice(&payload("core.v1.Secret.json")).unwrap();
    let mut out = Vec::new();
    for (_, v) in twin["data"].as_object().unwrap() {
        let b64 = v.as_str().unwrap();
        out.push(b64.as_bytes().to_vec());
        out.push(base64::engine::general_purpose::STANDARD.decode(b64).unwrap());
    }
    for (_, v) in twin["stringData"].as_object().into_iter().flatten() {
        out.push(v.as_str().unwrap().as_bytes().to_vec());
    }
    assert!(!out.is_empty());
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() >= 4 && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn layers_of_a_stale_secret_and_its_redacted_object() {
    let (etcd, _dir, cfg) = seeded();
    let run = inspect(&etcd, &cfg, &["-o", "json", SECRET_KEY]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["kind"], "Inspection");
    assert_eq!(doc["envelope"]["provider"], "aescbc");
    assert_eq!(doc["envelope"]["keyName"], "key1");
    assert_eq!(doc["envelope"]["configEntry"]["rule"], 1);
    assert_eq!(doc["envelope"]["configEntry"]["provider"], 0);
    assert_eq!(doc["envelope"]["configEntry"]["key"], 1);
    assert_eq!(doc["envelope"]["stale"], true);
    assert_eq!(doc["envelope"]["headerBytes"], "k8s:enc:aescbc:v1:key1:".len());
    assert_eq!(doc["envelope"]["plaintextBytes"], payload("core.v1.Secret.pb").len());
    assert_eq!(doc["payload"]["encoding"], "protobuf");
    assert_eq!(doc["payload"]["expectedApiVersion"], "v1");
    assert_eq!(doc["status"], "stale");
    assert_eq!(doc["object"]["metadata"]["uid"], "uidValue");
    assert_eq!(doc["etcd"]["modRevision"], doc["etcd"]["createRevision"]);
    let redacted = doc["object"]["data"].as_object().expect("data decoded");
    assert!(
        redacted.values().all(|v| v.as_str().unwrap().starts_with("<redacted: ")),
        "{redacted:?}"
    );
    assert_eq!(doc["redacted"], true);
    // The human form carries the same layers.
    let yaml = inspect(&etcd, &cfg, &[SECRET_KEY]);
    assert!(yaml.stdout.contains("# envelope:  aescbc key \"key1\""), "{}", yaml.stdout);
    assert!(
        yaml.stdout.contains("stale: encrypted with key1, not the write key key2"),
        "{}",
        yaml.stdout
    );
    assert!(yaml.stdout.contains("kind: Secret"), "{}", yaml.stdout);
}

#[test]
fn no_secret_value_appears_in_any_output_without_reveal() {
    let (etcd, _dir, cfg) = seeded();
    let values = secret_values();
    for args in [
        vec![SECRET_KEY],
        vec!["-o", "json", SECRET_KEY],
        vec!["-o", "raw", SECRET_KEY],
        vec!["-o", "raw", "--decrypted", SECRET_KEY],
        vec!["--list", "/registry/secrets/"],
    ] {
        let run = inspect(&etcd, &cfg, &args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let out = [run.stdout.as_bytes(), run.stderr.as_bytes()].concat();
        for v in &values {
            assert!(!contains(&out, v), "{args:?} printed a secret value");
        }
    }
    // --reveal prints them, with a warning.
    let run = inspect(&etcd, &cfg, &["-o", "json", "--reveal", SECRET_KEY]);
    assert!(run.stderr.contains("--reveal prints secret values"), "{}", run.stderr);
    let twin: Value = serde_json::from_slice(&payload("core.v1.Secret.json")).unwrap();
    assert_eq!(run.json()["object"]["data"], twin["data"]);
    let raw = inspect(&etcd, &cfg, &["-o", "raw", "--decrypted", "--reveal", SECRET_KEY]);
    assert!(raw.stdout.contains("protobuf magic"), "{}", raw.stdout);
}

#[test]
fn raw_is_hexdump_c_with_the_layers_marked() {
    let (etcd, _dir, cfg) = seeded();
    let key = "/registry/configmaps/namespaceValue/nameValue";
    let run = inspect(&etcd, &cfg, &["-o", "raw", key]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("# 00000000  protobuf magic"), "{}", run.stdout);
    // Without the marks, byte for byte what `hexdump -C` prints for the value.
    assert_eq!(unmarked(&run.stdout), system_hexdump(&payload("core.v1.ConfigMap.pb")));
    let secret = inspect(&etcd, &cfg, &["-o", "raw", SECRET_KEY]);
    for mark in
        ["envelope prefix \"k8s:enc:aescbc:v1:key1:\"", "IV (16 bytes)", "AES-CBC ciphertext"]
    {
        assert!(secret.stdout.contains(mark), "{mark}: {}", secret.stdout);
    }
}

#[test]
fn missing_and_damaged_keys() {
    let (etcd, _dir, cfg) = seeded();
    let run = inspect(&etcd, &cfg, &["/registry/secrets/default/nope"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not found at revision "), "{}", run.stderr);
    let run = inspect(&etcd, &cfg, &["-o", "json", "/registry/secrets/default/damaged"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["status"], "unreadable");
    assert_eq!(doc["envelope"]["provider"], "aescbc");
    assert_eq!(doc["envelope"]["keyName"], "key2");
    assert!(doc["envelope"]["reasons"][0].as_str().unwrap().contains("key2"), "{doc}");
    assert!(doc["object"].is_null());
    let run = inspect(&etcd, &cfg, &["/etc/passwd"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn list_and_lease_ttl() {
    let (etcd, _dir, cfg) = seeded();
    let run = inspect(&etcd, &cfg, &["--list", "/registry/secrets/"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "/registry/secrets/default/damaged\taescbc:key2\t-\tunreadable",
            "/registry/secrets/namespaceValue/nameValue\taescbc:key1\tv1\tstale",
        ]
    );
    let lease = etcd.with_client(async |c| {
        let lease = c.lease_grant(600, None).await.unwrap().id();
        let opts = etcd_client::PutOptions::new().with_lease(lease);
        c.put("/registry/events/default/e1", payload("core.v1.Event.pb"), Some(opts))
            .await
            .unwrap();
        lease
    });
    let run = inspect(&etcd, &cfg, &["-o", "json", "/registry/events/default/e1"]);
    let doc = run.json();
    assert_eq!(doc["etcd"]["lease"], lease);
    let ttl = doc["etcd"]["leaseTtlSeconds"].as_i64().unwrap();
    assert!((1..=600).contains(&ttl), "{ttl}");
}

#[test]
fn every_golden_protobuf_payload_decodes_to_its_json_twin() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let manifest = std::fs::read_to_string(golden_dir().join("payloads/MANIFEST.jsonl")).unwrap();
    let pairs: Vec<(String, String)> = manifest
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|m| m["encoding"] == "protobuf" && m["twin"].is_string())
        .map(|m| (m["file"].as_str().unwrap().to_owned(), m["twin"].as_str().unwrap().to_owned()))
        .collect();
    assert!(pairs.len() > 100, "{}", pairs.len());
    let kvs: Vec<(String, Vec<u8>)> =
        pairs.iter().map(|(pb, _)| (format!("/registry/golden/x/{pb}"), payload(pb))).collect();
    etcd.put_all(&kvs);
    let (mut full, mut partial, mut metadata_only) = (0, 0, Vec::new());
    for (pb, twin) in &pairs {
        let run =
            inspect(&etcd, &cfg, &["-o", "json", "--reveal", &format!("/registry/golden/x/{pb}")]);
        assert_eq!(run.code, 0, "{pb}: {}", run.stderr);
        let doc = run.json();
        let mut ours = doc["object"].clone();
        let mut theirs: Value = serde_json::from_slice(&payload(twin)).unwrap();
        let completeness = doc["objectCompleteness"].as_str().unwrap();
        let subset = completeness.starts_with("partial: ");
        if completeness == "full" {
            full += 1;
        } else if subset {
            // Fields newer than the bundled descriptors are missing; the rest must match.
            partial += 1;
        } else {
            // A kind the descriptors lack: the metadata must still be exact.
            assert!(completeness.starts_with("metadata only: "), "{pb}: {completeness}");
            ours = ours["metadata"].clone();
            theirs = theirs["metadata"].clone();
            metadata_only.push(pb.clone());
        }
        normalize(&mut ours);
        normalize(&mut theirs);
        assert_eq!(first_difference(&ours, &theirs, subset, ""), None, "{pb}");
    }
    eprintln!(
        "{full} of {} in full, {partial} partial; metadata only: {metadata_only:?}",
        pairs.len()
    );
    assert!(
        (full + partial) * 10 >= pairs.len() * 9,
        "at least 90% decoded beyond metadata: {full} + {partial} of {}",
        pairs.len()
    );
}

/// `hexdump -C` of `bytes`, from the system's hexdump.
fn system_hexdump(bytes: &[u8]) -> String {
    let out = crate::harness::process::output_with_input(Command::new("hexdump").arg("-C"), bytes)
        .expect("hexdump (bsdextrautils) is installed");
    String::from_utf8(out.stdout).unwrap()
}

/// Our dump without the layer marks.
fn unmarked(dump: &str) -> String {
    dump.lines().filter(|l| !l.starts_with('#')).map(|l| format!("{l}\n")).collect()
}

#[test]
fn every_golden_envelope_layer_by_layer() {
    use crate::harness::golden::{CONFIGS, config_file, load_envelopes, manifest};
    use crate::harness::kms_plugin::KmsPluginServer;
    let cases = manifest();
    let etcd = Etcd::start();
    let dir = golden_dir().join("envelopes");
    load_envelopes(&etcd, &cases);
    let plugin = KmsPluginServer::golden();
    let (mut checked, mut unreadable) = (0, 0);
    for case in &cases {
        let name = case["case"].as_str().unwrap();
        let key = case["key"].as_str().unwrap();
        // A config that can read it (current or stale).
        let Some(config) = CONFIGS
            .iter()
            .find(|c| matches!(case["status"][**c].as_str(), Some("current" | "stale")))
        else {
            // Unreadable under every config (damaged on purpose): shown with its reason.
            let cfg = config_file(CONFIGS[0], etcd.dir(), &plugin);
            let run = inspect(&etcd, &cfg, &["-o", "json", key]);
            assert_eq!(run.code, 1, "{name}: {}", run.stderr);
            assert_eq!(run.json()["status"], "unreadable", "{name}");
            assert!(!run.json()["envelope"]["reasons"][0].is_null(), "{name}");
            unreadable += 1;
            continue;
        };
        let cfg = config_file(config, etcd.dir(), &plugin);
        let run = inspect(&etcd, &cfg, &["-o", "json", "--reveal", key]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let doc = run.json();
        let env = &doc["envelope"];
        assert_eq!(env["provider"], case["provider"], "{name}");
        assert_eq!(env["keyName"], case["keyName"], "{name}");
        assert_eq!(env["keyId"], case["keyId"], "{name}");
        assert_eq!(env["kmsApiVersion"], case["kmsApiVersion"], "{name}");
        assert_eq!(doc["status"], case["status"][*config], "{name} under {config}");
        assert_eq!(env["stale"], case["status"][*config] == "stale", "{name}");
        assert_eq!(doc["object"]["kind"], case["kind"], "{name}");
        assert_eq!(doc["object"]["metadata"]["name"], case["objectName"], "{name}");
        // HEAD payloads may carry fields newer than the 1.35 schemas (a Deployment's PodSpec).
        let completeness = doc["objectCompleteness"].as_str().unwrap();
        assert!(completeness == "full" || completeness.starts_with("partial: "), "{name}");
        if case["kmsApiVersion"] == "v2" {
            assert!(env["dekSourceType"].is_string(), "{name}: {env}");
        }
        // The decrypted bytes are the golden plaintext, byte for byte.
        let plaintext = std::fs::read(dir.join(case["plaintextFile"].as_str().unwrap())).unwrap();
        assert_eq!(env["plaintextBytes"], plaintext.len(), "{name}");
        let raw = inspect(&etcd, &cfg, &["-o", "raw", "--decrypted", "--reveal", key]);
        assert_eq!(unmarked(&raw.stdout), system_hexdump(&plaintext), "{name}");
        checked += 1;
    }
    assert_eq!(checked + unreadable, cases.len());
    assert!(checked >= 20, "{checked} of {} cases readable under some config", cases.len());
}
