//! Storage versions end to end: CRDs and custom resources at several versions (JSON and CBOR),
//! built-ins at old and current versions, storedVersions trimmed too early, a CR without its
//! CRD, broken CRDs, and `atrest check`.

use serde_json::Value;

use crate::harness::cli::{atrest, record};
use crate::harness::etcd::Etcd;
use crate::harness::golden::payload;
use atrest::testkit::golden_dir;

fn crd(group: &str, plural: &str, versions: &[(&str, bool)], stored: &[&str]) -> String {
    let vs: Vec<String> = versions
        .iter()
        .map(|(n, storage)| format!(r#"{{"name":"{n}","served":true,"storage":{storage}}}"#))
        .collect();
    let st: Vec<String> = stored.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        r#"{{"apiVersion":"apiextensions.k8s.io/v1beta1","kind":"CustomResourceDefinition","metadata":{{"name":"{plural}.{group}","uid":"u-{plural}"}},"spec":{{"group":"{group}","names":{{"kind":"K","plural":"{plural}"}},"scope":"Namespaced","versions":[{}]}},"status":{{"storedVersions":[{}]}}}}
"#,
        vs.join(","),
        st.join(",")
    )
}

fn cr(api_version: &str, name: &str) -> String {
    format!(
        r#"{{"apiVersion":"{api_version}","kind":"SelfieRequest","metadata":{{"name":"{name}","namespace":"team","uid":"uid-{name}"}},"spec":{{}}}}
"#
    )
}

fn seed(etcd: &Etcd) {
    let crds = "/registry/apiextensions.k8s.io/customresourcedefinitions/";
    let cbor = std::fs::read(golden_dir().join(
        "envelopes/plaintext/92bf4a1b7a350ce96afe02136b575424ce881b393bed2c9a8071ceb317969da3.bin",
    ))
    .unwrap();
    let kvs: Vec<(String, Vec<u8>)> = vec![
        // The seeds' example: selfierequests stored v1, then v2 became the storage version.
        (
            format!("{crds}selfierequests.example.com"),
            crd("example.com", "selfierequests", &[("v1", false), ("v2", true)], &["v1", "v2"])
                .into_bytes(),
        ),
        (
            "/registry/example.com/selfierequests/team/old".into(),
            cr("example.com/v1", "old").into_bytes(),
        ),
        (
            "/registry/example.com/selfierequests/team/new".into(),
            cr("example.com/v2", "new").into_bytes(),
        ),
        ("/registry/example.com/selfierequests/team/cbor".into(), cbor),
        // storedVersions trimmed too early: an object still at v1.
        (
            format!("{crds}gadgets.example.org"),
            crd("example.org", "gadgets", &[("v1", false), ("v2", true)], &["v2"]).into_bytes(),
        ),
        ("/registry/example.org/gadgets/team/g1".into(), cr("example.org/v1", "g1").into_bytes()),
        // A CRD with two storage versions, and one that is not JSON.
        (
            format!("{crds}twos.example.io"),
            crd("example.io", "twos", &[("v1", true), ("v2", true)], &["v1"]).into_bytes(),
        ),
        (format!("{crds}broken.example.io"), b"\x00\x01not json".to_vec()),
        // A custom resource whose CRD is gone.
        ("/registry/example.net/orphans/team/o1".into(), cr("example.net/v1", "o1").into_bytes()),
    ];
    etcd.put_all(&kvs);
}

fn scan(etcd: &Etcd, extra: &[&str]) -> Value {
    let mut args =
        vec!["scan".to_owned(), format!("--endpoints={}", etcd.endpoint), "-o=json".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = atrest(&args);
    assert!(run.code <= 1, "exit {}: {}", run.code, run.stderr);
    run.json()
}

#[test]
fn custom_resources_against_their_crds() {
    let etcd = Etcd::start();
    seed(&etcd);
    let doc = scan(&etcd, &[]);
    let old = record(&doc, "/registry/example.com/selfierequests/team/old");
    assert_eq!(old["status"], "stale", "{old}");
    assert_eq!(old["expectedApiVersion"], "example.com/v2");
    assert!(old["reasons"].to_string().contains("storage version is v2"), "{old}");
    let new = record(&doc, "/registry/example.com/selfierequests/team/new");
    assert_eq!(
        (new["status"].as_str(), new["expectedApiVersion"].as_str()),
        (Some("current"), Some("example.com/v2"))
    );
    let cbor = record(&doc, "/registry/example.com/selfierequests/team/cbor");
    assert_eq!(
        (cbor["encoding"].as_str(), cbor["status"].as_str()),
        (Some("cbor"), Some("current")),
        "{cbor}"
    );
    let g1 = record(&doc, "/registry/example.org/gadgets/team/g1");
    assert_eq!(g1["status"], "stale");
    assert!(g1["reasons"].to_string().contains("storedVersions"), "{g1}");
    let orphan = record(&doc, "/registry/example.net/orphans/team/o1");
    assert!(orphan["reasons"].to_string().contains("no CustomResourceDefinition"), "{orphan}");

    let crds = doc["summary"]["crds"].as_array().unwrap();
    let find = |name: &str| {
        crds.iter().find(|c| c["name"].as_str().is_some_and(|n| n.contains(name))).unwrap()
    };
    let selfie = find("selfierequests.example.com");
    assert_eq!(selfie["versionsInUse"], serde_json::json!({"v1": 1, "v2": 2}));
    assert_eq!(selfie["trimmable"], serde_json::json!([]));
    assert_eq!(find("gadgets.example.org")["unlistedInUse"], serde_json::json!(["v1"]));
    assert!(find("twos.example.io")["problem"].as_str().unwrap().contains("2 versions"));
    assert!(find("broken.example.io")["problem"].as_str().unwrap().contains("cannot read"));
    assert_eq!(doc["summary"]["keys"], 9, "the scan went on past the broken CRD");
}

#[test]
fn check_can_remove_version_and_key() {
    let etcd = Etcd::start();
    seed(&etcd);
    let check = |args: &[&str]| {
        let mut a = vec!["check".to_owned(), format!("--endpoints={}", etcd.endpoint)];
        a.extend(args.iter().map(|s| s.to_string()));
        atrest(&a)
    };
    let no = check(&["can-remove-version", "example.com/selfierequests", "v1"]);
    assert_eq!(no.code, 1, "{}{}", no.stdout, no.stderr);
    assert!(no.stdout.contains("/registry/example.com/selfierequests/team/old"), "{}", no.stdout);
    etcd.with_client(async |c| {
        c.delete("/registry/example.com/selfierequests/team/old", None).await.unwrap();
    });
    let yes = check(&["can-remove-version", "example.com/selfierequests", "v1"]);
    assert_eq!(yes.code, 0, "{}{}", yes.stdout, yes.stderr);
    assert!(
        yes.stdout.contains(r#"kubectl patch customresourcedefinitions selfierequests.example.com --subresource=status --type=merge -p '{"status":{"storedVersions":["v2"]}}'"#),
        "{}",
        yes.stdout
    );
    assert_eq!(check(&["can-remove-key", "aescbc:key1"]).code, 0);
    assert_eq!(check(&["can-remove-key", "nonsense"]).code, 2);
}

fn node(kubelet: &str) -> Vec<u8> {
    use atrest::pb::runtime::{NodeHead, NodeStatus, NodeSystemInfo, ObjectHead, ObjectMeta};
    use prost::Message;
    // A Node message's fields 1 (metadata) and 3 (status), concatenated as the real type has them.
    let mut raw =
        ObjectHead { metadata: Some(ObjectMeta { name: Some("n1".into()), ..Default::default() }) }
            .encode_to_vec();
    raw.extend(
        NodeHead {
            status: Some(NodeStatus {
                node_info: Some(NodeSystemInfo { kubelet_version: Some(kubelet.into()) }),
            }),
        }
        .encode_to_vec(),
    );
    atrest::testkit::protobuf_payload("v1", "Node", &raw)
}

#[test]
fn built_ins_at_old_and_current_versions() {
    let etcd = Etcd::start();
    etcd.put_all(&[
        (
            "/registry/horizontalpodautoscalers/team/old",
            payload("autoscaling.v1.HorizontalPodAutoscaler.pb"),
        ),
        (
            "/registry/horizontalpodautoscalers/team/new",
            payload("autoscaling.v2.HorizontalPodAutoscaler.pb"),
        ),
        (
            "/registry/flowschemas/old",
            payload("flowcontrol.apiserver.k8s.io.v1beta3.FlowSchema.pb"),
        ),
        ("/registry/flowschemas/new", payload("flowcontrol.apiserver.k8s.io.v1.FlowSchema.pb")),
        ("/registry/configmaps/team/as-json", payload("core.v1.ConfigMap.json")),
        ("/registry/minions/n1", node("v1.31.4")),
        ("/registry/minions/n2", node("v1.30.9")),
    ]);
    // The release comes from the newest kubelet in the Node objects.
    let doc = scan(&etcd, &[]);
    assert_eq!(doc["source"]["kubeVersion"], "1.31");
    assert!(
        doc["source"]["kubeVersionBasis"].as_str().unwrap().contains("v1.31.4"),
        "{}",
        doc["source"]
    );
    let old = record(&doc, "/registry/horizontalpodautoscalers/team/old");
    assert_eq!(
        (old["status"].as_str(), old["expectedApiVersion"].as_str()),
        (Some("stale"), Some("autoscaling/v2")),
        "{old}"
    );
    assert!(
        old["reasons"].to_string().contains("kube-apiserver 1.31 writes autoscaling/v2"),
        "{old}"
    );
    assert_eq!(record(&doc, "/registry/horizontalpodautoscalers/team/new")["status"], "current");
    assert_eq!(record(&doc, "/registry/flowschemas/old")["status"], "stale");
    assert_eq!(record(&doc, "/registry/flowschemas/new")["status"], "current");
    let json = record(&doc, "/registry/configmaps/team/as-json");
    assert_eq!(json["status"], "current");
    assert!(json["reasons"].to_string().contains("protobuf"), "{json}");

    // --kube-version wins; at 1.25 HPA was still stored as autoscaling/v1.
    let at25 = scan(&etcd, &["--kube-version=1.25"]);
    assert_eq!(at25["source"]["kubeVersionBasis"], "--kube-version");
    assert_eq!(record(&at25, "/registry/horizontalpodautoscalers/team/old")["status"], "current");
    assert_eq!(record(&at25, "/registry/horizontalpodautoscalers/team/new")["status"], "stale");
    let bad = atrest([
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        "--kube-version=2.0".into(),
    ]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}
