//! The real kubectl getting, listing and applying objects stored in etcd.

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

use super::fixture::{CREATED, Objects};
use super::kubectl::{kubectl, stdout_ok};
use crate::harness::apiserver::objects;

fn kubectl_in(o: &Objects, cache: &Path, args: &[&str]) -> String {
    let out = kubectl(&o.server.kubeconfig(), cache, args);
    stdout_ok(&out, &args.join(" "))
}

#[test]
fn kubectl_gets_and_lists_secrets_from_etcd() {
    let o = Objects::start();
    o.secret("default", "db", &[("password", b"s3cret")], &o.new);
    o.secret("team", "api", &[("token", b"abc")], &o.old);
    let cache = tempfile::tempdir().unwrap();
    let all: Value = serde_json::from_str(&kubectl_in(
        &o,
        cache.path(),
        &["get", "secrets", "-A", "-o", "json"],
    ))
    .unwrap();
    let items = all["items"].as_array().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let seen: Vec<(String, String, Vec<u8>)> = items
        .iter()
        .map(|i| {
            let (k, v) = i["data"].as_object().unwrap().iter().next().unwrap();
            (
                i["metadata"]["name"].as_str().unwrap().into(),
                k.clone(),
                b64.decode(v.as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("db".into(), "password".into(), b"s3cret".to_vec()),
            ("api".into(), "token".into(), b"abc".to_vec())
        ]
    );
    assert!(items.iter().all(|i| i["kind"] == "Secret" && i["apiVersion"] == "v1"));

    let yaml =
        kubectl_in(&o, cache.path(), &["get", "secret", "-n", "default", "db", "-o", "yaml"]);
    let doc: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(doc["data"]["password"], "czNjcmV0", "{yaml}");
    assert_eq!(
        doc["metadata"]["resourceVersion"],
        o.value("/registry/secrets/default/db").1.to_string()
    );
    assert_eq!(doc["metadata"]["creationTimestamp"], "2023-11-14T22:13:20Z");

    let missing = kubectl(&o.server.kubeconfig(), cache.path(), &["get", "secret", "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("secrets \"nope\" not found"));
}

#[test]
fn kubectl_server_side_apply_updates_and_creates_secrets() {
    let o = Objects::start();
    let db = o.secret("default", "db", &[("password", b"old")], &o.old);
    let cache = tempfile::tempdir().unwrap();
    let file = o._dir.path().join("secrets.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: default
stringData:
  password: changed
---
apiVersion: v1
kind: Secret
metadata:
  name: brand-new
data:
  key: dmFsdWU=
",
    )
    .unwrap();
    let out =
        kubectl_in(&o, cache.path(), &["apply", "--server-side", "-f", file.to_str().unwrap()]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["secret/db serverside-applied", "secret/brand-new serverside-applied"]
    );

    let changed =
        objects::secret_pb("default", "db", "uid-db", CREATED, &[("password", b"changed")]);
    assert_eq!(o.plaintext(&db), changed, "the new data, same object otherwise");
    let fresh = "/registry/secrets/default/brand-new";
    let created: Value = serde_json::from_str(&kubectl_in(
        &o,
        cache.path(),
        &["get", "secret", "brand-new", "-o", "json"],
    ))
    .unwrap();
    assert_eq!(created["data"], json!({"key": "dmFsdWU="}));
    for key in [db.as_str(), fresh] {
        assert!(o.value(key).0.starts_with(b"k8s:enc:aescbc:v1:key2:"), "{key}");
    }
    assert_eq!(o.server.etcd_writes().len(), 2);

    // What kubectl asked for: OpenAPI v3 (to learn that the server validates fields), then one
    // server-side apply per object, with fieldValidation=Strict; never OpenAPI v2.
    let log = o.server.request_log();
    assert!(log.iter().all(|r| r.status < 400), "{log:#?}");
    assert!(log.iter().any(|r| r.uri.starts_with("/openapi/v3/api/v1?hash=")), "{log:#?}");
    assert!(!log.iter().any(|r| r.uri.starts_with("/openapi/v2")), "{log:#?}");
    let patches: Vec<&str> =
        log.iter().filter(|r| r.method == "PATCH").map(|r| r.uri.as_str()).collect();
    assert_eq!(patches.len(), 2, "{log:#?}");
    assert!(
        patches
            .iter()
            .all(|u| u.contains("fieldManager=kubectl") && u.contains("fieldValidation=Strict")),
        "{patches:?}"
    );

    // Applying the same file again: nothing changes, nothing is written.
    kubectl_in(&o, cache.path(), &["apply", "--server-side", "-f", file.to_str().unwrap()]);
    assert_eq!(o.server.etcd_writes().len(), 2);

    // Discovery still works with objects served.
    let table = kubectl_in(&o, cache.path(), &["api-resources"]);
    assert!(table.lines().any(|l| l.starts_with("widgets ")), "{table}");
}
