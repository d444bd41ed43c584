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

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use atrest::config::EncryptionConfig;
use atrest::envelope::{Transformer, open};

use crate::harness::apiserver::{
    Access, ApiServer, Backend, EtcdWrite, RawResponse, Resource, load_encryption_config, objects,
    seal_for, storage_version_hash,
};
use crate::harness::etcd::Etcd;

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
    crate::harness::process::output(
        Command::new(kubectl_bin())
            .env_remove("KUBECONFIG")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg("--request-timeout=20s")
            .args(args),
    )
    .unwrap_or_else(|e| {
        panic!("cannot run {:?} ({e}): install kubectl or set ATREST_KUBECTL_BIN", kubectl_bin())
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

// ---- objects in a real etcd ----

const K1: [u8; 32] = [0x11; 32];
const K2: [u8; 32] = [0x22; 32];
const CREATED: i64 = 1_700_000_000;
const APPLY: &str = "application/apply-patch+yaml";

/// An aescbc rule for secrets and configmaps (keys in write order), identity as the fallback.
fn enc_config(keys: &[(&str, &[u8; 32])]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let keys: String = keys
        .iter()
        .map(|(n, k)| format!("          - name: {n}\n            secret: {}\n", b64.encode(k)))
        .collect();
    format!(
        "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, configmaps]
    providers:
      - aescbc:
          keys:
{keys}      - identity: {{}}
"
    )
}

fn object_resources() -> Vec<Resource> {
    let widgets =
        |v: &str| Resource::new("example.com", v, "widgets", "Widget", true).stored_as("v2");
    vec![
        Resource::new("", "v1", "secrets", "Secret", true),
        Resource::new("", "v1", "configmaps", "ConfigMap", true),
        Resource::new("", "v1", "namespaces", "Namespace", false),
        widgets("v1"),
        widgets("v2"),
    ]
}

/// etcd + the server writing with key2 (key1 still reads); `old` is the key1-only config.
struct Objects {
    etcd: Etcd,
    server: ApiServer,
    _dir: tempfile::TempDir,
    old: EncryptionConfig,
    new: EncryptionConfig,
}

impl Objects {
    fn start() -> Self {
        let etcd = Etcd::start();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enc.yaml");
        std::fs::write(&path, enc_config(&[("key2", &K2), ("key1", &K1)])).unwrap();
        let server = ApiServer::with_backend(
            object_resources(),
            TOKEN,
            Backend {
                endpoint: etcd.endpoint.clone(),
                prefix: "/registry".into(),
                encryption_config: path.clone(),
            },
        );
        let old = EncryptionConfig::from_bytes(enc_config(&[("key1", &K1)]).as_bytes()).unwrap();
        let new = EncryptionConfig::load(&path).unwrap();
        Self { etcd, server, _dir: dir, old, new }
    }

    /// Seeds a secret as kube-apiserver would have written it under `config`; its key.
    fn secret(
        &self,
        ns: &str,
        name: &str,
        data: &[(&str, &[u8])],
        config: &EncryptionConfig,
    ) -> String {
        let key = format!("/registry/secrets/{ns}/{name}");
        let payload = objects::secret_pb(ns, name, &format!("uid-{name}"), CREATED, data);
        self.etcd.put(&key, seal_for(config, "", "secrets", &key, &payload).unwrap());
        key
    }

    /// (value, mod_revision) of `key`.
    fn value(&self, key: &str) -> (Vec<u8>, i64) {
        self.etcd.with_client(async |c| {
            let r = c.get(key, None).await.unwrap();
            let kv = &r.kvs()[0];
            (kv.value().to_vec(), kv.mod_revision())
        })
    }

    fn plaintext(&self, key: &str) -> Vec<u8> {
        let (value, _) = self.value(key);
        let t = Transformer::for_resource(&self.new, "", "secrets");
        open(&value, key.as_bytes(), t).unwrap().plaintext.to_vec()
    }

    fn get(&self, path: &str) -> RawResponse {
        self.server.get(path, Some(TOKEN))
    }

    fn apply(&self, path: &str, body: &Value) -> RawResponse {
        self.apply_as(TOKEN, path, &format!("{path}?fieldManager=test"), body)
    }

    fn apply_as(&self, token: &str, _path: &str, uri: &str, body: &Value) -> RawResponse {
        let auth = format!("Bearer {token}");
        let headers = [("Authorization", auth.as_str()), ("Content-Type", APPLY)];
        self.server.request("PATCH", uri, &headers, body.to_string().as_bytes())
    }
}

/// The body the storage version migrator sends: only type, uid and resourceVersion.
fn migrate_body(api_version: &str, kind: &str, uid: &str, rv: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"uid": uid, "resourceVersion": rv}})
}

fn rv(v: &Value) -> i64 {
    v["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()
}

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

// ---- the real kubectl against objects in etcd ----

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
