//! Server-side apply's preconditions, authorization and injected faults, answered like
//! kube-apiserver.

use std::time::{Duration, Instant};

use serde_json::json;

use super::TOKEN;
use super::fixture::{APPLY, Objects, migrate_body, rv};
use crate::harness::apiserver::{Access, EtcdWrite};

#[test]
fn apply_preconditions_answer_like_kube_apiserver() {
    let o = Objects::start();
    let key = o.secret("default", "db", &[("password", b"pw")], &o.old);
    let (_, rev) = o.value(&key);
    let path = "/api/v1/namespaces/default/secrets/db";

    let stale_rv = o.apply(path, &migrate_body("v1", "Secret", "uid-db", &(rev - 1).to_string()));
    assert_eq!(stale_rv.status, 409);
    assert_eq!(
        stale_rv.body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\
         \"Operation cannot be fulfilled on secrets \\\"db\\\": the object has been modified; please \
         apply your changes to the latest version and try again\",\"reason\":\"Conflict\",\"details\":\
         {\"name\":\"db\",\"kind\":\"secrets\"},\"code\":409}\n"
    );
    // The resourceVersion is checked before the uid.
    let both = o.apply(path, &migrate_body("v1", "Secret", "other-uid", &(rev - 1).to_string()));
    assert_eq!(both.status, 409);
    let uid = o.apply(path, &migrate_body("v1", "Secret", "other-uid", &rev.to_string())).json();
    assert_eq!(uid["code"], 422);
    assert_eq!(uid["reason"], "Invalid");
    assert_eq!(
        uid["message"],
        "Secret \"db\" is invalid: metadata.uid: Invalid value: \"other-uid\": field is immutable"
    );
    assert_eq!(
        uid["details"],
        json!({"name": "db", "kind": "Secret", "causes": [{"reason": "FieldValueInvalid",
               "message": "Invalid value: \"other-uid\": field is immutable", "field": "metadata.uid"}]})
    );

    let ghost = o
        .apply(
            "/api/v1/namespaces/default/secrets/gone",
            &migrate_body("v1", "Secret", "uid-gone", "5"),
        )
        .json();
    assert_eq!(ghost["code"], 409);
    assert_eq!(
        ghost["message"],
        "Operation cannot be fulfilled on secrets \"gone\": uid mismatch: the provided object specified uid uid-gone, and no existing object was found"
    );

    let auth = format!("Bearer {TOKEN}");
    let body = migrate_body("v1", "Secret", "uid-db", "").to_string();
    let no_manager = o.server.request(
        "PATCH",
        path,
        &[("Authorization", &auth), ("Content-Type", APPLY)],
        body.as_bytes(),
    );
    assert_eq!(no_manager.status, 422);
    assert_eq!(
        no_manager.body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\
         \"PatchOptions.meta.k8s.io \\\"\\\" is invalid: fieldManager: Required value: is required for \
         apply patch\",\"reason\":\"Invalid\",\"details\":{\"group\":\"meta.k8s.io\",\"kind\":\
         \"PatchOptions\",\"causes\":[{\"reason\":\"FieldValueRequired\",\"message\":\"Required value: is \
         required for apply patch\",\"field\":\"fieldManager\"}]},\"code\":422}\n"
    );
    let merge = o.server.request(
        "PATCH",
        &format!("{path}?fieldManager=x"),
        &[("Authorization", &auth), ("Content-Type", "application/merge-patch+json")],
        body.as_bytes(),
    );
    assert_eq!(
        (merge.status, merge.json()["reason"].clone()),
        (415, json!("UnsupportedMediaType"))
    );
    let wrong_version = o.apply(path, &migrate_body("v2", "Secret", "", "")).json();
    assert_eq!(
        (&wrong_version["code"], &wrong_version["message"]),
        (&json!(400), &json!("invalid object type: /v2, Kind=Secret"))
    );
    let wrong_name = o
        .apply(path, &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "other"}}))
        .json();
    assert_eq!(
        wrong_name["message"],
        "the name of the object (other) does not match the name on the URL (db)"
    );
    assert!(o.server.etcd_writes().is_empty(), "no failed apply wrote");

    // Deleted and recreated under the same name: the client's old resourceVersion conflicts.
    o.etcd.with_client(async |c| {
        c.delete(key.as_str(), None).await.unwrap();
    });
    o.secret("default", "db", &[("password", b"new")], &o.new);
    assert_eq!(
        o.apply(path, &migrate_body("v1", "Secret", "uid-db", &rev.to_string())).status,
        409
    );

    // Absent and no uid: created (201), with a new uid and creationTimestamp, under key2.
    let new = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fresh"}, "stringData": {"k": "v"}});
    let created = o.apply("/api/v1/namespaces/default/secrets/fresh", &new);
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    assert_eq!(
        (&created["data"], &created["type"], created.get("stringData")),
        (&json!({"k": "dg=="}), &json!("Opaque"), None)
    );
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!(created["metadata"]["uid"].as_str().unwrap().len(), 36);
    let fresh = "/registry/secrets/default/fresh";
    let (value, fresh_rev) = o.value(fresh);
    assert!(value.starts_with(b"k8s:enc:aescbc:v1:key2:"));
    assert_eq!(rv(&created), fresh_rev);
    assert_eq!(
        o.server.etcd_writes().last().unwrap(),
        &EtcdWrite { key: fresh.into(), from_revision: 0, to_revision: fresh_rev }
    );
}

#[test]
fn read_only_tokens_read_but_may_not_patch() {
    let o = Objects::start();
    let key = o.secret("default", "db", &[("password", b"pw")], &o.old);
    o.server.add_token("viewer", Access::ReadOnly);
    assert_eq!(o.server.get("/api/v1/namespaces/default/secrets/db", Some("viewer")).status, 200);
    assert_eq!(o.server.get("/api/v1/secrets", Some("viewer")).status, 200);
    assert_eq!(o.server.get("/apis", Some("viewer")).status, 200);
    let path = "/api/v1/namespaces/default/secrets/db";
    let r = o.apply_as(
        "viewer",
        path,
        &format!("{path}?fieldManager=x"),
        &migrate_body("v1", "Secret", "uid-db", ""),
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\
         \"secrets \\\"db\\\" is forbidden: User \\\"system:serviceaccount:default:readonly\\\" cannot \
         patch resource \\\"secrets\\\" in API group \\\"\\\" in the namespace \\\"default\\\"\",\"reason\":\
         \"Forbidden\",\"details\":{\"name\":\"db\",\"kind\":\"secrets\"},\"code\":403}\n"
    );
    assert!(o.server.etcd_writes().is_empty());
    assert!(o.value(&key).0.starts_with(b"k8s:enc:aescbc:v1:key1:"));
    assert_eq!(o.server.get("/api/v1/secrets", Some("nobody")).status, 401);
}

#[test]
fn faults_fail_delay_and_conflict_patches() {
    let o = Objects::start();
    let key = o.secret("default", "db", &[("password", b"pw")], &o.old);
    let path = "/api/v1/namespaces/default/secrets/db";
    let body = migrate_body("v1", "Secret", "uid-db", "");

    o.server.faults().fail_patches(2, 429, Some(3));
    for _ in 0..2 {
        let r = o.apply(path, &body);
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("3"));
        assert_eq!(
            r.body,
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\
             \"Too many requests, please try again later.\",\"reason\":\"TooManyRequests\",\"details\":\
             {\"retryAfterSeconds\":3},\"code\":429}\n"
        );
    }
    o.server.faults().fail_patches(1, 500, None);
    let r = o.apply(path, &body);
    assert_eq!(
        (r.status, r.json()["reason"].clone(), r.header("retry-after")),
        (500, json!("InternalError"), None)
    );
    o.server.faults().fail_patches(1, 503, None);
    assert_eq!(o.apply(path, &body).json()["reason"], "ServiceUnavailable");
    assert!(o.server.etcd_writes().is_empty(), "failures never touch etcd");

    o.server.faults().conflict_first_patch(true);
    let first = o.apply(path, &body);
    assert_eq!(first.status, 409);
    assert_eq!(
        first.json()["message"],
        "Operation cannot be fulfilled on secrets \"db\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert!(o.server.etcd_writes().is_empty());
    assert_eq!(o.apply(path, &body).status, 200, "the second PATCH of the object goes through");
    assert_eq!(o.server.etcd_writes().len(), 1);
    assert!(o.value(&key).0.starts_with(b"k8s:enc:aescbc:v1:key2:"));

    o.server.faults().set_latency(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(o.get(path).status, 200);
    assert_eq!(o.get("/api/v1/secrets").status, 200);
    assert!(started.elapsed() >= Duration::from_millis(600), "{:?}", started.elapsed());
    o.server.faults().set_latency(Duration::ZERO);
    let started = Instant::now();
    assert_eq!(o.get("/api").status, 200, "discovery is not delayed");
    assert!(started.elapsed() < Duration::from_millis(300));
}
