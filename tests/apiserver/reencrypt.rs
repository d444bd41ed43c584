//! GuaranteedUpdate's rule (layout doc §5.1): a no-op apply rewrites a stale object with the
//! write key and leaves a current one alone; what the server seals with.

use base64::Engine;
use serde_json::json;

use atrest::config::EncryptionConfig;
use atrest::envelope::{Transformer, open};

use super::fixture::{CREATED, Objects, enc_config, migrate_body, rv};
use crate::harness::apiserver::{EtcdWrite, load_encryption_config, objects, seal_for};

#[test]
fn a_no_op_apply_leaves_a_current_object_alone() {
    let o = Objects::start();
    let key = o.secret("default", "db", &[("password", b"pw")], &o.new);
    let (before, rev) = o.value(&key);
    let path = "/api/v1/namespaces/default/secrets/db";
    let r = o.apply(path, &migrate_body("v1", "Secret", "uid-db", &rev.to_string()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(rv(&r.json()), rev, "resourceVersion unchanged");
    assert_eq!(r.json()["data"], json!({"password": "cHc="}));
    assert!(o.server.etcd_writes().is_empty());
    assert_eq!(o.value(&key), (before, rev));
}

#[test]
fn a_no_op_apply_rewrites_a_stale_object_with_the_write_key() {
    let o = Objects::start();
    let key = o.secret("default", "db", &[("password", b"pw"), ("empty", b"")], &o.old);
    let original = objects::secret_pb(
        "default",
        "db",
        "uid-db",
        CREATED,
        &[("password", b"pw"), ("empty", b"")],
    );
    let (before, rev) = o.value(&key);
    assert!(before.starts_with(b"k8s:enc:aescbc:v1:key1:"));
    let r = o.apply(
        "/api/v1/namespaces/default/secrets/db",
        &migrate_body("v1", "Secret", "uid-db", &rev.to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (after, new_rev) = o.value(&key);
    assert_eq!(
        o.server.etcd_writes(),
        [EtcdWrite { key: key.clone(), from_revision: rev, to_revision: new_rev }]
    );
    assert!(new_rev > rev);
    assert_eq!(rv(&r.json()), new_rev);
    assert!(after.starts_with(b"k8s:enc:aescbc:v1:key2:"), "{:?}", &after[..30]);
    assert_eq!(o.plaintext(&key), original, "the object bytes did not change");

    // Same for a ConfigMap; and a second no-op apply is now a no-op.
    let cm_key = "/registry/configmaps/default/cm";
    let cm = objects::configmap_pb("default", "cm", "uid-cm", CREATED, &[("a", "1"), ("b", "")]);
    o.etcd.put(cm_key, seal_for(&o.old, "", "configmaps", cm_key, &cm).unwrap());
    let body = migrate_body("v1", "ConfigMap", "uid-cm", "");
    assert_eq!(o.apply("/api/v1/namespaces/default/configmaps/cm", &body).status, 200);
    assert_eq!(o.plaintext(cm_key), cm);
    assert_eq!(o.server.etcd_writes().len(), 2);
    assert_eq!(o.apply("/api/v1/namespaces/default/configmaps/cm", &body).status, 200);
    assert_eq!(o.server.etcd_writes().len(), 2);
}

#[test]
fn custom_resources_are_rewritten_at_the_storage_version() {
    let o = Objects::start();
    let spec = json!({"size": 7, "name": "<&>"});
    let stored = |v: &str, name: &str| {
        objects::cr_json(
            &format!("example.com/{v}"),
            "Widget",
            Some("default"),
            name,
            &format!("uid-{name}"),
            CREATED,
            spec.clone(),
        )
    };
    o.etcd.put("/registry/example.com/widgets/default/old", stored("v1", "old"));
    o.etcd.put("/registry/example.com/widgets/default/new", stored("v2", "new"));
    for name in ["old", "new"] {
        let path = format!("/apis/example.com/v1/namespaces/default/widgets/{name}");
        let r =
            o.apply(&path, &migrate_body("example.com/v1", "Widget", &format!("uid-{name}"), ""));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["apiVersion"], "example.com/v1", "served at the requested version");
        assert_eq!(r.json()["metadata"]["generation"], 1, "a no-op keeps the generation");
    }
    let writes = o.server.etcd_writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].key, "/registry/example.com/widgets/default/old");
    assert_eq!(o.value("/registry/example.com/widgets/default/old").0, stored("v2", "old"));

    // A spec change bumps the generation.
    let body = json!({"apiVersion": "example.com/v2", "kind": "Widget", "metadata": {"name": "new"}, "spec": {"size": 8}});
    let w = o.apply("/apis/example.com/v2/namespaces/default/widgets/new", &body).json();
    assert_eq!(
        (&w["spec"]["size"], &w["spec"]["name"], &w["metadata"]["generation"]),
        (&json!(8), &json!("<&>"), &json!(2))
    );
}

#[test]
fn seal_for_writes_with_provider_zero_key_zero() {
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aesgcm: {{keys: [{{name: g2, secret: {g2}}}, {{name: g1, secret: {g1}}}]}}
  - resources: [configmaps]
    providers:
      - secretbox: {{keys: [{{name: s1, secret: {s1}}}]}}
  - resources: [leases.coordination.k8s.io]
    providers:
      - identity: {{}}
      - aescbc: {{keys: [{{name: c1, secret: {c1}}}]}}
  - resources: [events]
    providers:
      - kms: {{apiVersion: v2, name: kms-v2, endpoint: unix:///nowhere.sock}}
",
        g2 = b64.encode([3u8; 32]),
        g1 = b64.encode([4u8; 16]),
        s1 = b64.encode([5u8; 32]),
        c1 = b64.encode([6u8; 32]),
    );
    let path = dir.path().join("enc.yaml");
    std::fs::write(&path, &text).unwrap();
    let config = load_encryption_config(&path).unwrap();
    let pt = b"k8s\0payload";
    let key = "/registry/secrets/ns/s";
    let gcm = seal_for(&config, "", "secrets", key, pt).unwrap();
    assert!(gcm.starts_with(b"k8s:enc:aesgcm:v1:g2:"));
    let opened =
        open(&gcm, key.as_bytes(), Transformer::for_resource(&config, "", "secrets")).unwrap();
    assert_eq!((&*opened.plaintext, opened.stale.len()), (&pt[..], 0));
    // AAD = the full key: the value does not open under another key.
    assert!(
        open(&gcm, b"/registry/secrets/ns/t", Transformer::for_resource(&config, "", "secrets"))
            .is_err()
    );
    assert_ne!(seal_for(&config, "", "secrets", key, pt).unwrap(), gcm, "a fresh nonce every time");
    let sb = seal_for(&config, "", "configmaps", "/registry/configmaps/a/b", pt).unwrap();
    assert!(sb.starts_with(b"k8s:enc:secretbox:v1:s1:"));
    assert_eq!(
        seal_for(&config, "coordination.k8s.io", "leases", "/registry/leases/a/b", pt).unwrap(),
        pt
    );
    assert_eq!(
        seal_for(&config, "apps", "deployments", "/registry/deployments/a/b", pt).unwrap(),
        pt
    );
    assert!(
        seal_for(&config, "", "events", "/registry/events/a/b", pt).unwrap_err().contains("KMS")
    );
    // Any config's write key, whether or not a server has loaded it; it reads back as current.
    let other =
        EncryptionConfig::from_bytes(enc_config(&[("never-seen", &[9; 32])]).as_bytes()).unwrap();
    let sealed = seal_for(&other, "", "secrets", key, pt).unwrap();
    assert!(sealed.starts_with(b"k8s:enc:aescbc:v1:never-seen:"));
    let opened =
        open(&sealed, key.as_bytes(), Transformer::for_resource(&other, "", "secrets")).unwrap();
    assert_eq!((&*opened.plaintext, opened.stale.len()), (&pt[..], 0));
}
