//! The discovery documents and storageVersionHash values, checked against kube-apiserver's and
//! kubernetes' own.

use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{TOKEN, VERBS, find, resources};
use crate::harness::apiserver::{ApiServer, storage_version_hash};

/// Computed here without the harness: base64std(sha256("<group>/<version>/<kind>")[0:8]).
fn independent_hash(gvk: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(&Sha256::digest(gvk.as_bytes())[..8])
}

#[test]
fn storage_version_hash_matches_kubernetes() {
    assert_eq!(storage_version_hash("", "v1", "Secret"), independent_hash("/v1/Secret"));
    assert_eq!(
        storage_version_hash("apps", "v1", "Deployment"),
        independent_hash("apps/v1/Deployment")
    );
    // kubernetes/kubernetes pkg/controlplane/storageversionhashdata/data.go
    // (GVRToStorageVersionHash, checked by the apiserver integration tests).
    for (group, version, kind, want) in [
        ("", "v1", "Secret", "S6u1pOWzb84="),
        ("", "v1", "ConfigMap", "qFsyl6wFWjQ="),
        ("", "v1", "Pod", "xPOwRZ+Yhw8="),
        ("apps", "v1", "Deployment", "8aSe+NMegvE="),
        // Both autoscaling/v1 and /v2 HPAs advertise this: the v2 storage version's hash.
        ("autoscaling", "v2", "HorizontalPodAutoscaler", "qwQve8ut294="),
    ] {
        assert_eq!(storage_version_hash(group, version, kind), want, "{group}/{version}/{kind}");
    }
}

#[test]
fn discovery_documents_have_kube_apiserver_shapes() {
    let server = ApiServer::start(resources(), TOKEN);
    let addr = server.url().trim_start_matches("https://").to_string();
    let get = |path: &str| {
        let r = server.get(path, Some(TOKEN));
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"), "GET {path}");
        assert_eq!(r.header("cache-control"), Some("no-cache, private"), "GET {path}");
        r.json()
    };

    let version = get("/version");
    assert_eq!((&version["major"], &version["minor"]), (&json!("1"), &json!("31")));
    assert_eq!(version["gitVersion"], "v1.31.0");

    assert_eq!(
        get("/api"),
        json!({"kind": "APIVersions", "versions": ["v1"],
               "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]})
    );

    let gv = |g: &str, v: &str| json!({"groupVersion": format!("{g}/{v}"), "version": v});
    assert_eq!(
        get("/apis"),
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": "apps", "versions": [gv("apps", "v1")], "preferredVersion": gv("apps", "v1")},
            {"name": "autoscaling", "versions": [gv("autoscaling", "v2"), gv("autoscaling", "v1")],
             "preferredVersion": gv("autoscaling", "v2")},
            {"name": "example.com", "versions": [gv("example.com", "v1")],
             "preferredVersion": gv("example.com", "v1")},
        ]})
    );
    assert_eq!(
        get("/apis/autoscaling"),
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": "autoscaling",
               "versions": [gv("autoscaling", "v2"), gv("autoscaling", "v1")],
               "preferredVersion": gv("autoscaling", "v2")})
    );

    // Core: no apiVersion (apiserver keeps the legacy group unversioned); sorted by name.
    let core = get("/api/v1");
    assert_eq!(core.get("apiVersion"), None);
    assert_eq!((&core["kind"], &core["groupVersion"]), (&json!("APIResourceList"), &json!("v1")));
    let names: Vec<&str> =
        core["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["configmaps", "namespaces", "pods", "secrets"]);
    assert_eq!(
        find(&core, "secrets"),
        &json!({"name": "secrets", "singularName": "secret", "namespaced": true, "kind": "Secret",
                "verbs": VERBS, "storageVersionHash": "S6u1pOWzb84="})
    );
    assert_eq!(find(&core, "namespaces")["namespaced"], false);

    let apps = get("/apis/apps/v1");
    assert_eq!((&apps["apiVersion"], &apps["groupVersion"]), (&json!("v1"), &json!("apps/v1")));
    assert_eq!(find(&apps, "deployments")["storageVersionHash"], "8aSe+NMegvE=");

    // Served at v1 and v2, stored at v2: both lists advertise the v2 hash.
    for v in ["v1", "v2"] {
        let list = get(&format!("/apis/autoscaling/{v}"));
        assert_eq!(list["groupVersion"], format!("autoscaling/{v}"));
        assert_eq!(find(&list, "horizontalpodautoscalers")["storageVersionHash"], "qwQve8ut294=");
    }

    let widgets = get("/apis/example.com/v1");
    assert_eq!(
        find(&widgets, "widgets")["storageVersionHash"],
        independent_hash("example.com/v1/Widget").as_str()
    );

    // Aggregated discovery asked for: the legacy document, plain application/json.
    let aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
                      application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,\
                      application/json";
    let auth = format!("Bearer {TOKEN}");
    for path in ["/api", "/apis"] {
        let r =
            server.request("GET", path, &[("Authorization", &auth), ("Accept", aggregated)], b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(matches!(r.json()["kind"].as_str(), Some("APIVersions" | "APIGroupList")));
    }
}
