//! Custom resources in `*.k8s.io` groups (issue 14): Gateway API routes and VolumeSnapshots are
//! CRDs, so their objects are judged against the CRD found in etcd, never against a built-in
//! table or the group's name. End to end in `scan` (live and snapshot), `check
//! can-remove-version`, `inspect` and `rewrite` (through the test API server), with a CR whose
//! CRD was deleted, a CRD that shadows a built-in, and built-ins of `*.k8s.io` groups beside them.
//!
//! The CRDs are the projects' own definitions (Gateway API v1.1 standard channel, external-
//! snapshotter v8: names, scope, versions, `api-approved.kubernetes.io`, subresources, printer
//! columns) with their OpenAPI schemas cut down to the top of the tree: atrest reads names,
//! versions and `status.storedVersions`, and kube-apiserver stores the CRD as this JSON.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::harness::apiserver::{ApiServer, Backend, Resource, objects};
use crate::harness::cli::{Run, atrest, record};
use crate::harness::etcd::Etcd;
use crate::harness::golden::payload;

const CRDS: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";
const ROUTES: &str = "/registry/gateway.networking.k8s.io/httproutes/default/";
const GRPC: &str = "/registry/gateway.networking.k8s.io/grpcroutes/default/";
const SNAPS: &str = "/registry/snapshot.storage.k8s.io/volumesnapshots/default/";
/// An AdminNetworkPolicy (`policy.networking.k8s.io`, cluster-scoped) whose CRD was deleted.
const ORPHAN: &str = "/registry/policy.networking.k8s.io/adminnetworkpolicies/deny-all";
/// A built-in of a `*.k8s.io` group (networking.k8s.io/v1 Ingress, protobuf).
const INGRESS: &str = "/registry/ingress/default/web";

/// One version of a CRD: (name, served, storage).
type Version = (&'static str, bool, bool);

/// A CRD as kube-apiserver stores it: `apiextensions.k8s.io/v1beta1` JSON (kube-apiserver keeps
/// writing CRDs at v1beta1, the more compact form: `pkg/controlplane/apiserver/apiextensions.go`,
/// issue 82292), per-version schemas because they differ, Go's trailing newline.
fn crd(group: &str, kind: &str, plural: &str, versions: &[Version], stored: &[&str]) -> Vec<u8> {
    let schema = |version: &str| {
        json!({"openAPIV3Schema": {
            "description": format!("{kind} ({group}/{version})"),
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            },
            "required": ["spec"]
        }})
    };
    let versions: Vec<Value> = versions
        .iter()
        .map(|(name, served, storage)| {
            let mut v = json!({
                "additionalPrinterColumns": [
                    {"JSONPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}
                ],
                "name": name,
                "schema": schema(name),
                "served": served,
                "storage": storage,
                "subresources": {"status": {}}
            });
            if !storage {
                v["deprecated"] = json!(true);
            }
            v
        })
        .collect();
    let approval = if group.ends_with("k8s.io") {
        json!({"api-approved.kubernetes.io": "https://github.com/kubernetes/enhancements/pull/1111"})
    } else {
        json!({})
    };
    let doc = json!({
        "apiVersion": "apiextensions.k8s.io/v1beta1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "annotations": approval,
            "creationTimestamp": "2026-01-05T10:00:00Z",
            "generation": 2,
            "name": format!("{plural}.{group}"),
            "uid": format!("crd-uid-{plural}")
        },
        "spec": {
            "conversion": {"strategy": "None"},
            "group": group,
            "names": {
                "categories": ["gateway-api"],
                "kind": kind,
                "listKind": format!("{kind}List"),
                "plural": plural,
                "singular": kind.to_lowercase()
            },
            "preserveUnknownFields": false,
            "scope": "Namespaced",
            "version": versions.first().map(|v| v["name"].clone()),
            "versions": versions
        },
        "status": {
            "acceptedNames": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural},
            "conditions": [{"lastTransitionTime": "2026-01-05T10:00:00Z", "message":
                "no conflicts found", "reason": "NoConflicts", "status": "True",
                "type": "NamesAccepted"}],
            "storedVersions": stored
        }
    });
    let mut bytes = serde_json::to_vec(&doc).unwrap();
    bytes.push(b'\n');
    bytes
}

fn route(api_version: &str, kind: &str, name: &str) -> Vec<u8> {
    objects::cr_json(
        api_version,
        kind,
        Some("default"),
        name,
        &format!("uid-{name}"),
        1_760_000_000,
        json!({"parentRefs": [{"name": "gw"}], "hostnames": [format!("{name}.example.com")],
               "rules": [{"backendRefs": [{"name": name, "port": 8080}]}]}),
    )
}

/// The cluster after Gateway API v1.1 and external-snapshotter v8 moved storage to v1, before
/// anything rewrote the older objects.
fn seed(etcd: &Etcd) {
    const GW: &str = "gateway.networking.k8s.io";
    let kvs: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{CRDS}httproutes.{GW}"),
            crd(
                GW,
                "HTTPRoute",
                "httproutes",
                &[("v1", true, true), ("v1beta1", true, false)],
                &["v1beta1", "v1"],
            ),
        ),
        (format!("{ROUTES}old-a"), route(&format!("{GW}/v1beta1"), "HTTPRoute", "old-a")),
        (format!("{ROUTES}old-b"), route(&format!("{GW}/v1beta1"), "HTTPRoute", "old-b")),
        (format!("{ROUTES}new"), route(&format!("{GW}/v1"), "HTTPRoute", "new")),
        (
            format!("{CRDS}grpcroutes.{GW}"),
            crd(
                GW,
                "GRPCRoute",
                "grpcroutes",
                &[("v1", true, true), ("v1alpha2", true, false)],
                &["v1alpha2", "v1"],
            ),
        ),
        (format!("{GRPC}old"), route(&format!("{GW}/v1alpha2"), "GRPCRoute", "old")),
        (format!("{GRPC}new"), route(&format!("{GW}/v1"), "GRPCRoute", "new")),
        (
            format!("{CRDS}volumesnapshots.snapshot.storage.k8s.io"),
            crd(
                "snapshot.storage.k8s.io",
                "VolumeSnapshot",
                "volumesnapshots",
                &[("v1", true, true), ("v1beta1", true, false)],
                &["v1beta1", "v1"],
            ),
        ),
        (format!("{SNAPS}old"), route("snapshot.storage.k8s.io/v1beta1", "VolumeSnapshot", "old")),
        (format!("{SNAPS}new"), route("snapshot.storage.k8s.io/v1", "VolumeSnapshot", "new")),
        (
            ORPHAN.to_owned(),
            objects::cr_json(
                "policy.networking.k8s.io/v1alpha1",
                "AdminNetworkPolicy",
                None,
                "deny-all",
                "uid-anp",
                1_760_000_000,
                json!({"priority": 10}),
            ),
        ),
        // A CRD naming a built-in GroupResource: kube-apiserver serves the built-in instead.
        (
            format!("{CRDS}ingresses.networking.k8s.io"),
            crd("networking.k8s.io", "Ingress", "ingresses", &[("v1", true, true)], &["v1"]),
        ),
        (INGRESS.to_owned(), payload("networking.k8s.io.v1.Ingress.pb")),
    ];
    etcd.put_all(&kvs);
}

fn json_of(run: &Run) -> Value {
    assert!(run.code <= 1, "exit {}: {}", run.code, run.stderr);
    run.json()
}

/// (status, expectedApiVersion) of `key`.
fn verdict(doc: &Value, key: &str) -> (String, Value) {
    let r = record(doc, key);
    (r["status"].as_str().unwrap().to_owned(), r["expectedApiVersion"].clone())
}

fn assert_judged_by_their_crds(doc: &Value) {
    for (key, status, expected) in [
        (format!("{ROUTES}old-a"), "stale", "gateway.networking.k8s.io/v1"),
        (format!("{ROUTES}old-b"), "stale", "gateway.networking.k8s.io/v1"),
        (format!("{ROUTES}new"), "current", "gateway.networking.k8s.io/v1"),
        (format!("{GRPC}old"), "stale", "gateway.networking.k8s.io/v1"),
        (format!("{GRPC}new"), "current", "gateway.networking.k8s.io/v1"),
        (format!("{SNAPS}old"), "stale", "snapshot.storage.k8s.io/v1"),
        (format!("{SNAPS}new"), "current", "snapshot.storage.k8s.io/v1"),
        (INGRESS.to_owned(), "current", "networking.k8s.io/v1"),
    ] {
        assert_eq!(verdict(doc, &key), (status.to_owned(), json!(expected)), "{key}");
    }
    let old = record(doc, &format!("{ROUTES}old-a"));
    assert!(
        old["reasons"].to_string().contains("storage version is v1"),
        "the reason names the CRD's storage version: {old}"
    );
    let orphan = record(doc, ORPHAN);
    assert!(
        orphan["reasons"]
            .to_string()
            .contains("no CustomResourceDefinition adminnetworkpolicies.policy.networking.k8s.io"),
        "{orphan}"
    );
    assert_eq!(orphan["expectedApiVersion"], Value::Null, "no CRD, no storage version");

    let crds = doc["summary"]["crds"].as_array().unwrap();
    let find =
        |name: &str| crds.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name}"));
    let http = find("httproutes.gateway.networking.k8s.io");
    assert_eq!(http["versionsInUse"], json!({"v1": 1, "v1beta1": 2}), "{http}");
    assert_eq!(
        find("grpcroutes.gateway.networking.k8s.io")["versionsInUse"],
        json!({"v1": 1, "v1alpha2": 1})
    );
    let shadow = find("ingresses.networking.k8s.io");
    assert!(
        shadow["problem"].as_str().unwrap_or("").contains("also serves as a built-in"),
        "a CRD that names a built-in is a finding: {shadow}"
    );
    assert_eq!(doc["summary"]["keys"], 13);
    for o in doc["objects"].as_array().unwrap() {
        if o["resource"] == "customresourcedefinitions" {
            assert_eq!(o["status"], "current", "CRDs are stored as v1beta1: {o}");
        }
    }
}

#[test]
fn gateway_api_and_volume_snapshots_are_judged_against_their_crds_live_and_offline() {
    let etcd = Etcd::start();
    seed(&etcd);
    let live = json_of(&atrest(["scan", "--endpoints", &etcd.endpoint, "-o", "json"]));
    assert_judged_by_their_crds(&live);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("backup.db");
    etcd.snapshot_save(&db);
    let offline = json_of(&atrest(["scan", "--snapshot", db.to_str().unwrap(), "-o", "json"]));
    assert_judged_by_their_crds(&offline);
}

#[test]
fn check_can_remove_version_of_a_gateway_api_crd() {
    let etcd = Etcd::start();
    seed(&etcd);
    let check = |args: &[&str]| {
        let mut a = vec!["check".to_owned(), format!("--endpoints={}", etcd.endpoint)];
        a.extend(args.iter().map(|s| (*s).to_owned()));
        atrest(a)
    };
    let no = check(&["can-remove-version", "gateway.networking.k8s.io/httproutes", "v1beta1"]);
    assert_eq!(no.code, 1, "{}{}", no.stdout, no.stderr);
    for name in ["old-a", "old-b"] {
        assert!(no.stdout.contains(&format!("{ROUTES}{name}")), "{}", no.stdout);
    }
    assert!(!no.stdout.contains(&format!("{ROUTES}new")), "{}", no.stdout);

    let snaps =
        check(&["can-remove-version", "snapshot.storage.k8s.io/volumesnapshots", "v1beta1"]);
    assert_eq!(snaps.code, 1, "{}{}", snaps.stdout, snaps.stderr);
    assert!(snaps.stdout.contains(&format!("{SNAPS}old")), "{}", snaps.stdout);

    etcd.with_client(async |c| {
        for name in ["old-a", "old-b"] {
            c.delete(format!("{ROUTES}{name}"), None).await.unwrap();
        }
    });
    let yes = check(&["can-remove-version", "gateway.networking.k8s.io/httproutes", "v1beta1"]);
    assert_eq!(yes.code, 0, "{}{}", yes.stdout, yes.stderr);
    assert!(
        yes.stdout.contains(r#"kubectl patch customresourcedefinitions httproutes.gateway.networking.k8s.io --subresource=status --type=merge -p '{"status":{"storedVersions":["v1"]}}'"#),
        "{}",
        yes.stdout
    );
}

#[test]
fn inspect_names_the_crds_storage_version() {
    let etcd = Etcd::start();
    seed(&etcd);
    let old = atrest(["inspect", "--endpoints", &etcd.endpoint, &format!("{ROUTES}old-a")]);
    assert_eq!(old.code, 0, "{}", old.stderr);
    assert!(
        old.stdout.contains("gateway.networking.k8s.io/v1beta1 HTTPRoute")
            && old.stdout.contains("expected storage version gateway.networking.k8s.io/v1"),
        "{}",
        old.stdout
    );
    assert!(old.stdout.contains("stale"), "{}", old.stdout);
    let orphan = atrest(["inspect", "--endpoints", &etcd.endpoint, ORPHAN]);
    assert_eq!(orphan.code, 0, "{}", orphan.stderr);
    assert!(orphan.stdout.contains("no CustomResourceDefinition"), "{}", orphan.stdout);
}

#[test]
fn rewrite_moves_gateway_api_routes_and_volume_snapshots_to_v1() {
    let etcd = Etcd::start();
    seed(&etcd);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("enc.yaml");
    std::fs::write(
        &config,
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  \
         - resources: [secrets]\n    providers:\n      - identity: {}\n",
    )
    .unwrap();
    let gw = "gateway.networking.k8s.io";
    let resources = vec![
        Resource::new(gw, "v1", "httproutes", "HTTPRoute", true),
        Resource::new(gw, "v1beta1", "httproutes", "HTTPRoute", true).stored_as("v1"),
        Resource::new(gw, "v1", "grpcroutes", "GRPCRoute", true),
        Resource::new(gw, "v1alpha2", "grpcroutes", "GRPCRoute", true).stored_as("v1"),
        Resource::new("snapshot.storage.k8s.io", "v1", "volumesnapshots", "VolumeSnapshot", true),
        Resource::new(
            "snapshot.storage.k8s.io",
            "v1beta1",
            "volumesnapshots",
            "VolumeSnapshot",
            true,
        )
        .stored_as("v1"),
    ];
    let server = ApiServer::with_backend(
        resources,
        "crs-token",
        Backend {
            endpoint: etcd.endpoint.clone(),
            prefix: "/registry".into(),
            encryption_config: config.clone(),
        },
    );
    let before = values(&etcd);
    let run = atrest([
        "rewrite",
        "--endpoints",
        &etcd.endpoint,
        "--encryption-config",
        config.to_str().unwrap(),
        "--kubeconfig",
        server.kubeconfig().to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(run.code, 0, "stdout {}\nstderr {}", run.stdout, run.stderr);
    let counts = run.stdout.lines().last().map(|l| serde_json::from_str::<Value>(l).unwrap());
    let after = values(&etcd);
    let moved: Vec<&String> =
        after.iter().filter(|(k, v)| before.get(*k) != Some(*v)).map(|(k, _)| k).collect();
    assert_eq!(
        moved,
        [
            &format!("{GRPC}old"),
            &format!("{ROUTES}old-a"),
            &format!("{ROUTES}old-b"),
            &format!("{SNAPS}old"),
        ],
        "exactly the old-version objects were written: {counts:?}"
    );
    for key in moved {
        let obj: Value = serde_json::from_slice(&after[key]).unwrap();
        assert!(obj["apiVersion"].as_str().unwrap().ends_with("/v1"), "{key}: {obj}");
        assert!(obj["spec"]["parentRefs"].is_array(), "{key}: the spec survived");
    }
    // Nothing is left for the CRDs' old versions.
    let check = atrest([
        "check",
        "--endpoints",
        &etcd.endpoint,
        "can-remove-version",
        "gateway.networking.k8s.io/grpcroutes",
        "v1alpha2",
    ]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
}

/// Every key and value in etcd under `/registry/`.
fn values(etcd: &Etcd) -> BTreeMap<String, Vec<u8>> {
    etcd.with_client(async |c| {
        let resp =
            c.get("/registry/", Some(etcd_client::GetOptions::new().with_prefix())).await.unwrap();
        resp.kvs()
            .iter()
            .map(|kv| (String::from_utf8_lossy(kv.key()).into_owned(), kv.value().to_vec()))
            .collect()
    })
}
