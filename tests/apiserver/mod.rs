//! The stand-in kube-apiserver (`harness::apiserver`) checked against what kube-apiserver really
//! answers: the real kubectl reads its discovery, its `storageVersionHash` values equal the ones
//! kubernetes pins in `pkg/controlplane/storageversionhashdata/data.go`, and its Status bodies
//! equal, byte for byte, ones captured from real API servers.
//!
//! With a backend (a real etcd), objects: GET and LIST with resourceVersion = mod_revision,
//! server-side apply with kube's preconditions and error bodies, and GuaranteedUpdate's rule
//! (layout doc §5.1): a no-op apply rewrites a stale object with the write key, and leaves a
//! current one alone. The real kubectl gets, lists and applies (`--server-side`, validation on)
//! against it.

mod apply;
mod discovery;
mod fixture;
mod kubectl;
mod kubectl_etcd;
mod lifecycle;
mod reencrypt;
mod routing;
mod storage;

use serde_json::Value;

use crate::harness::apiserver::Resource;

const TOKEN: &str = "atrest-test-token";
const VERBS: [&str; 8] =
    ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// kube-apiserver's 404 for a path nothing serves (Content-Length 174).
const NOT_FOUND: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}
"#;

fn resources() -> Vec<Resource> {
    let hpa = |v: &str| {
        Resource::new("autoscaling", v, "horizontalpodautoscalers", "HorizontalPodAutoscaler", true)
            .stored_as("v2")
    };
    vec![
        Resource::new("", "v1", "secrets", "Secret", true),
        Resource::new("", "v1", "configmaps", "ConfigMap", true),
        Resource::new("", "v1", "pods", "Pod", true),
        Resource::new("", "v1", "namespaces", "Namespace", false),
        Resource::new("apps", "v1", "deployments", "Deployment", true),
        hpa("v1"),
        hpa("v2"),
        Resource::new("example.com", "v1", "widgets", "Widget", true),
    ]
}

fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}
