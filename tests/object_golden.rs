//! `codec::object::decode_object` on the shared golden payloads: every protobuf file with a JSON
//! twin decodes to that twin (modulo [`normalize`]: Go's `omitempty` against protobuf's zero
//! values), the JSON files decode to themselves, and the auger and CRD files decode too.

use atrest::codec::object::{Completeness, DESCRIPTORS_RELEASE, decode_object};
use atrest::testkit::{first_difference, golden_dir};
use serde_json::Value;

use crate::harness::golden::{normalize, payload};

fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(golden_dir().join("payloads/MANIFEST.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn every_protobuf_payload_decodes_to_its_json_twin() {
    let pairs: Vec<(String, String)> = manifest()
        .into_iter()
        .filter(|m| m["encoding"] == "protobuf" && m["twin"].is_string())
        .map(|m| (m["file"].as_str().unwrap().to_owned(), m["twin"].as_str().unwrap().to_owned()))
        .collect();
    assert!(pairs.len() > 100, "{}", pairs.len());
    let (mut full, mut absent, mut newer, mut mismatches) = (0, Vec::new(), Vec::new(), Vec::new());
    for (pb, twin) in &pairs {
        let object = decode_object(&payload(pb)).unwrap_or_else(|e| panic!("{pb}: {e}"));
        let mut theirs: Value = serde_json::from_slice(&payload(twin)).unwrap();
        let mut ours = object.value;
        assert_eq!(ours["apiVersion"], theirs["apiVersion"], "{pb}");
        assert_eq!(ours["kind"], theirs["kind"], "{pb}");
        let mut subset = false;
        match &object.completeness {
            Completeness::Full => full += 1,
            Completeness::Partial(why) => {
                // Fields of a release after the descriptors' (the HEAD files): what they do
                // name must be exactly the twin's.
                assert!(why.contains("unknown to the Kubernetes"), "{pb}: {why}");
                assert!(why.contains(DESCRIPTORS_RELEASE), "{pb}: {why}");
                newer.push(format!("{pb} ({why})"));
                subset = true;
            }
            Completeness::MetadataOnly(why) => {
                assert!(why.contains("is not in the Kubernetes"), "{pb}: {why}");
                absent.push(pb.clone());
                let keys: Vec<&String> = ours.as_object().unwrap().keys().collect();
                assert_eq!(keys, ["apiVersion", "kind", "metadata"], "{pb}");
                ours = ours["metadata"].take();
                theirs = theirs["metadata"].take();
            }
        }
        normalize(&mut ours);
        normalize(&mut theirs);
        if let Some(diff) = first_difference(&ours, &theirs, subset, "") {
            mismatches.push(format!("{pb}: {diff}"));
        }
    }
    eprintln!(
        "{full} of {} decoded in full with the {DESCRIPTORS_RELEASE} descriptors.\nMetadata \
         only, kind not in the descriptors ({}): {absent:?}\nPartial, fields newer than the \
         descriptors ({}):\n  {}",
        pairs.len(),
        absent.len(),
        newer.len(),
        newer.join("\n  ")
    );
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn every_json_payload_decodes_to_itself() {
    let mut n = 0;
    for m in manifest().into_iter().filter(|m| m["encoding"] == "json") {
        let file = m["file"].as_str().unwrap();
        let bytes = payload(file);
        let object = decode_object(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(object.completeness, Completeness::Full, "{file}");
        assert_eq!(object.value, serde_json::from_slice::<Value>(&bytes).unwrap(), "{file}");
        n += 1;
    }
    assert!(n > 100, "{n}");
}

#[test]
fn auger_and_crd_protobuf_files_decode_in_full() {
    // Real 2017 etcd values (selfLink still stored) and the CRD serializer output.
    for (file, api_version, kind, name) in [
        ("auger.pod.pb", "v1", "Pod", "pi-dqtsw"),
        ("auger.job.pb", "batch/v1", "Job", "pi"),
        ("auger.namespace-default.pb", "v1", "Namespace", "default"),
        (
            "apiextensions.k8s.io.v1.CustomResourceDefinition.pb",
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "nameValue",
        ),
        (
            "apiextensions.k8s.io.v1beta1.CustomResourceDefinition.pb",
            "apiextensions.k8s.io/v1beta1",
            "CustomResourceDefinition",
            "nameValue",
        ),
    ] {
        let object = decode_object(&payload(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(object.completeness, Completeness::Full, "{file}");
        assert_eq!(object.value["apiVersion"], api_version, "{file}");
        assert_eq!(object.value["kind"], kind, "{file}");
        assert_eq!(object.value["metadata"]["name"], name, "{file}");
    }
    let ns = decode_object(&payload("auger.namespace-default.pb")).unwrap().value;
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(ns["spec"]["finalizers"], serde_json::json!(["kubernetes"]));
    // The CRD schema's JSONSchemaProps conventions ($ref, x-kubernetes-*, Or* unions) are in
    // the twin comparison; spot-check one here.
    let crd = decode_object(&payload("apiextensions.k8s.io.v1.CustomResourceDefinition.pb"))
        .unwrap()
        .value;
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert!(
        schema["$ref"].is_string() && schema["x-kubernetes-preserve-unknown-fields"].is_boolean(),
        "{schema}"
    );
}
