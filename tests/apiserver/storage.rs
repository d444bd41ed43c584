//! GET and LIST served from etcd, with resourceVersion = mod_revision.

use serde_json::json;

use super::NOT_FOUND;
use super::fixture::{CREATED, Objects, rv};
use crate::harness::apiserver::{objects, seal_for};

#[test]
fn get_and_list_serve_etcd_objects_with_the_mod_revision() {
    let o = Objects::start();
    let db = o.secret("default", "db", &[("password", b"s3cret"), ("user", b"admin")], &o.new);
    o.secret("default", "api", &[("token", b"t")], &o.old);
    o.secret("team", "x", &[], &o.new);
    let cm_key = "/registry/configmaps/default/settings";
    let cm = objects::configmap_pb("default", "settings", "uid-cm", CREATED, &[("mode", "fast")]);
    o.etcd.put(cm_key, seal_for(&o.new, "", "configmaps", cm_key, &cm).unwrap());
    let w_key = "/registry/example.com/widgets/default/w1";
    let spec = json!({"size": 3, "tags": ["a"]});
    o.etcd.put(
        w_key,
        objects::cr_json(
            "example.com/v1",
            "Widget",
            Some("default"),
            "w1",
            "uid-w1",
            CREATED,
            spec,
        ),
    );

    // One object: kube-apiserver's JSON, field for field and in its order.
    let r = o.get("/api/v1/namespaces/default/secrets/db");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let (_, db_rev) = o.value(&db);
    assert_eq!(
        r.body,
        format!(
            "{{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{{\"name\":\"db\",\"namespace\":\
             \"default\",\"uid\":\"uid-db\",\"resourceVersion\":\"{db_rev}\",\"creationTimestamp\":\
             \"2023-11-14T22:13:20Z\"}},\"data\":{{\"password\":\"czNjcmV0\",\"user\":\"YWRtaW4=\"}},\
             \"type\":\"Opaque\"}}\n"
        )
    );
    let c = o.get("/api/v1/namespaces/default/configmaps/settings").json();
    assert_eq!((&c["kind"], &c["data"]), (&json!("ConfigMap"), &json!({"mode": "fast"})));

    // LIST across namespaces: by key, RV = the etcd header revision, typed items without TypeMeta.
    let list = o.get("/api/v1/secrets?limit=500").json();
    assert_eq!((&list["kind"], &list["apiVersion"]), (&json!("SecretList"), &json!("v1")));
    let names: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (i["metadata"]["namespace"].as_str().unwrap(), i["metadata"]["name"].as_str().unwrap())
        })
        .collect();
    assert_eq!(names, [("default", "api"), ("default", "db"), ("team", "x")]);
    let header_rev: i64 = list["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(header_rev >= o.value(w_key).1, "{list}");
    for item in list["items"].as_array().unwrap() {
        assert_eq!((item.get("apiVersion"), item.get("kind")), (None, None), "{item}");
    }
    assert_eq!(list["items"][1]["metadata"]["resourceVersion"], db_rev.to_string());
    let in_team = o.get("/api/v1/namespaces/team/secrets").json();
    assert_eq!(in_team["items"].as_array().unwrap().len(), 1);

    // A custom resource: the stored JSON at the requested version, resourceVersion added.
    for v in ["v1", "v2"] {
        let w = o.get(&format!("/apis/example.com/{v}/namespaces/default/widgets/w1")).json();
        assert_eq!(w["apiVersion"], format!("example.com/{v}"));
        assert_eq!(
            (&w["kind"], &w["spec"]),
            (&json!("Widget"), &json!({"size": 3, "tags": ["a"]}))
        );
        assert_eq!(rv(&w), o.value(w_key).1);
        let list = o.get(&format!("/apis/example.com/{v}/widgets")).json();
        assert_eq!(list["kind"], "WidgetList");
        assert_eq!(list["items"][0]["apiVersion"], format!("example.com/{v}"), "{list}");
    }
}

#[test]
fn missing_objects_and_paths_are_404_status() {
    let o = Objects::start();
    let r = o.get("/api/v1/namespaces/default/secrets/nope");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\
         \"secrets \\\"nope\\\" not found\",\"reason\":\"NotFound\",\"details\":{\"name\":\"nope\",\
         \"kind\":\"secrets\"},\"code\":404}\n"
    );
    let cr = o.get("/apis/example.com/v2/namespaces/default/widgets/gone").json();
    assert_eq!(cr["message"], "widgets.example.com \"gone\" not found");
    assert_eq!(cr["details"], json!({"name": "gone", "group": "example.com", "kind": "widgets"}));
    for path in [
        "/api/v1/namespaces/default/pods/p",       // not served
        "/apis/example.com/v3/widgets",            // version not served
        "/api/v1/secrets/db",                      // a namespaced object without its namespace
        "/api/v1/namespaces/default/namespaces/x", // a cluster-scoped one with a namespace
        "/api/v1/namespaces/default/secrets/db/status",
    ] {
        let r = o.get(path);
        assert_eq!((r.status, r.body.as_str()), (404, NOT_FOUND), "GET {path}");
    }
    // The namespaces resource itself: list (empty) and a missing object.
    assert_eq!(o.get("/api/v1/namespaces").json()["kind"], "NamespaceList");
    assert_eq!(
        o.get("/api/v1/namespaces/default").json()["message"],
        "namespaces \"default\" not found"
    );
}
