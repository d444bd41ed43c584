//! The stand-in kube-apiserver (`harness::apiserver`) checked against what kube-apiserver really
//! answers: the real kubectl reads its discovery, its `storageVersionHash` values equal the ones
//! kubernetes pins in `pkg/controlplane/storageversionhashdata/data.go`, and its Status bodies
//! equal, byte for byte, ones captured from real API servers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::apiserver::{ApiServer, Resource, storage_version_hash};

const TOKEN: &str = "atrest-test-token";
const VERBS: [&str; 8] =
    ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// kube-apiserver's 401 body, as captured from real servers (Content-Length 129: Go's
/// json.Encoder ends it with a newline).
const UNAUTHORIZED: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}
"#;
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

fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

#[test]
fn unknown_paths_are_404_status() {
    let server = ApiServer::start(resources(), TOKEN);
    assert_eq!(NOT_FOUND.len(), 174);
    for path in [
        "/nothing",
        "/api/v2",
        "/apis/nope",
        "/apis/nope/v1",
        "/apis/apps/v9",
        "/apis/apps/v1/x/y/z/w",
    ] {
        let r = server.get(path, Some(TOKEN));
        assert_eq!(r.status, 404, "GET {path}");
        assert_eq!(r.body, NOT_FOUND, "GET {path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let auth = format!("Bearer {TOKEN}");
    let r = server.request("POST", "/api", &[("Authorization", &auth)], b"{}");
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["reason"], "MethodNotAllowed");
}

#[test]
fn missing_or_wrong_token_is_401_status() {
    let server = ApiServer::start(resources(), TOKEN);
    assert_eq!(UNAUTHORIZED.len(), 129);
    let cases: [(&str, Option<&str>); 5] = [
        ("/version", None),
        ("/api", Some("Bearer wrong")),
        ("/apis/apps/v1", Some("Bearer ")),
        ("/nothing", Some("Basic YWRtaW46YWRtaW4=")),
        ("/api/v1", Some(TOKEN)), // the token without the scheme
    ];
    for (path, authorization) in cases {
        let headers: Vec<(&str, &str)> =
            authorization.map(|a| vec![("Authorization", a)]).unwrap_or_default();
        let r = server.request("GET", path, &headers, b"");
        assert_eq!(r.status, 401, "GET {path} with {authorization:?}");
        assert_eq!(r.body, UNAUTHORIZED);
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    // Scheme is case-insensitive, as in apiserver's bearertoken authenticator.
    let ok = server.request("GET", "/api", &[("Authorization", &format!("bearer {TOKEN}"))], b"");
    assert_eq!(ok.status, 200);
}

#[test]
fn requests_are_counted_and_logged() {
    let server = ApiServer::start(resources(), TOKEN);
    assert_eq!(server.requests(), 0);
    server.get("/api", Some(TOKEN));
    server.get("/api", None);
    server.get("/nothing?timeout=32s", Some(TOKEN));
    assert_eq!(server.requests(), 3);
    let log = server.request_log();
    let seen: Vec<(&str, &str, u16)> =
        log.iter().map(|r| (r.method.as_str(), r.uri.as_str(), r.status)).collect();
    assert_eq!(
        seen,
        [("GET", "/api", 200), ("GET", "/api", 401), ("GET", "/nothing?timeout=32s", 404)]
    );
}

#[test]
fn drop_stops_the_server_and_removes_its_files() {
    let server = ApiServer::start(resources(), TOKEN);
    let addr: std::net::SocketAddr = server.url().trim_start_matches("https://").parse().unwrap();
    let kubeconfig = server.kubeconfig();
    assert!(kubeconfig.exists());
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(6), "stop took {:?}", started.elapsed());
    assert!(!kubeconfig.exists());
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

/// atrest's client tests may be async: starting and dropping inside a runtime must work.
#[tokio::test]
async fn starts_and_stops_inside_an_async_test() {
    let server = ApiServer::start(resources(), TOKEN);
    // Blocking calls on the (current-thread) test runtime: the server has its own thread.
    let r = server.get("/version", Some(TOKEN));
    assert_eq!(r.status, 200);
    drop(server);
}

// ---- the real kubectl ----

fn kubectl_bin() -> PathBuf {
    std::env::var_os("ATREST_KUBECTL_BIN").map(PathBuf::from).unwrap_or_else(|| "kubectl".into())
}

/// kubectl with only this kubeconfig and a private cache dir (no ~/.kube, no $KUBECONFIG).
fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(kubectl_bin())
        .env_remove("KUBECONFIG")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--cache-dir={}", cache.display()))
        .arg("--request-timeout=20s")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {:?} ({e}): install kubectl or set ATREST_KUBECTL_BIN",
                kubectl_bin()
            )
        })
}

fn stdout_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout: {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn kubectl_reads_discovery() {
    let server = ApiServer::start(resources(), TOKEN);
    let cache = tempfile::tempdir().unwrap();
    let kubeconfig = server.kubeconfig();
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(server.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let ca_data = base64::engine::general_purpose::STANDARD.encode(server.ca_pem());
    assert!(text.contains(&format!("certificate-authority-data: {ca_data}")), "{text}");
    assert!(text.contains("current-context: atrest-test"), "{text}");

    let versions =
        stdout_ok(&kubectl(&kubeconfig, cache.path(), &["api-versions"]), "api-versions");
    let versions: BTreeSet<&str> = versions.lines().collect();
    assert_eq!(
        versions,
        BTreeSet::from(["apps/v1", "autoscaling/v1", "autoscaling/v2", "example.com/v1", "v1"])
    );

    let table = stdout_ok(
        &kubectl(&kubeconfig, cache.path(), &["api-resources", "-o", "wide"]),
        "api-resources -o wide",
    );
    // NAME SHORTNAMES APIVERSION NAMESPACED KIND VERBS CATEGORIES; one row per resource at its
    // group's preferred version.
    let verbs = VERBS.join(",");
    for (name, api_version, namespaced, kind) in [
        ("secrets", "v1", "true", "Secret"),
        ("configmaps", "v1", "true", "ConfigMap"),
        ("pods", "v1", "true", "Pod"),
        ("namespaces", "v1", "false", "Namespace"),
        ("deployments", "apps/v1", "true", "Deployment"),
        ("horizontalpodautoscalers", "autoscaling/v2", "true", "HorizontalPodAutoscaler"),
        ("widgets", "example.com/v1", "true", "Widget"),
    ] {
        let row = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{table}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        for want in [api_version, namespaced, kind] {
            assert!(cols.contains(&want), "{name}: {want} missing in {row:?}");
        }
        assert!(row.contains(&verbs), "{name}: verbs missing in {row:?}");
    }
    assert_eq!(table.lines().count(), 1 + 7, "{table}");

    let version = stdout_ok(
        &kubectl(&kubeconfig, cache.path(), &["version", "-o", "json"]),
        "version -o json",
    );
    let version: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.31.0");

    // kubectl asked for aggregated discovery, got the legacy documents and used them.
    let log = server.request_log();
    assert!(
        log.iter()
            .any(|r| r.accept.as_deref().is_some_and(|a| a.contains("as=APIGroupDiscoveryList"))),
        "kubectl did not ask for aggregated discovery: {log:#?}"
    );
    assert!(log.iter().all(|r| r.status == 200), "{log:#?}");
}

#[test]
fn kubectl_with_a_wrong_token_is_unauthorized() {
    let server = ApiServer::start(resources(), TOKEN);
    let cache = tempfile::tempdir().unwrap();
    let out =
        kubectl(&server.kubeconfig_with_token("not-the-token"), cache.path(), &["api-resources"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Unauthorized") || stderr.contains("You must be logged in"),
        "{stderr}"
    );
    assert!(server.request_log().iter().all(|r| r.status == 401));
}
