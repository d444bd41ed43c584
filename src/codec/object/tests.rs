#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, Value as Pv};
use serde_json::{Value, json};

use super::proto_json::{decode_message, go_duration};
use super::{Completeness, DESCRIPTORS_RELEASE, decode_object, pool};
use crate::codec::DecodeError;
use crate::pb::runtime::Unknown;
use crate::testkit::{first_difference, normalize};

fn golden(name: &str) -> Vec<u8> {
    let path = crate::testkit::golden_dir().join("payloads").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn manifest() -> Vec<Value> {
    let text =
        std::fs::read_to_string(crate::testkit::golden_dir().join("payloads/MANIFEST.jsonl"))
            .unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn desc(name: &str) -> MessageDescriptor {
    pool::pool().get_message_by_name(name).unwrap_or_else(|| panic!("{name} not in the pool"))
}

/// `message` as `k8s\0` + runtime.Unknown, the way kube-apiserver stores it.
fn stored(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    crate::testkit::protobuf_payload(api_version, kind, &raw)
}

/// One field of message `name` set to `value`, converted.
fn convert(name: &str, fields: &[(&str, Pv)]) -> Value {
    let d = desc(name);
    let mut m = DynamicMessage::new(d.clone());
    for (field, value) in fields {
        m.set_field_by_name(field, value.clone());
    }
    let converted = decode_message(d, &m.encode_to_vec(), "test").unwrap();
    assert!(converted.unknown.is_empty());
    converted.value
}

const META: &str = "apimachinery.pkg.apis.meta.v1.";

#[test]
fn the_pool_is_bundled_and_knows_the_common_kinds() {
    assert_eq!(DESCRIPTORS_RELEASE, "1.35");
    assert!(pool::pool().files().count() >= 70, "{}", pool::pool().files().count());
    let cases = [
        ("v1", "Pod", "api.core.v1.Pod"),
        ("v1", "Event", "api.core.v1.Event"),
        ("events.k8s.io/v1", "Event", "api.events.v1.Event"),
        ("apps/v1", "Deployment", "api.apps.v1.Deployment"),
        ("extensions/v1beta1", "Deployment", "api.extensions.v1beta1.Deployment"),
        ("extensions/v1beta1", "Ingress", "api.extensions.v1beta1.Ingress"),
        ("networking.k8s.io/v1beta1", "Ingress", "api.networking.v1beta1.Ingress"),
        ("batch/v1", "CronJob", "api.batch.v1.CronJob"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", "api.rbac.v1.ClusterRole"),
        ("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", "api.flowcontrol.v1.FlowSchema"),
        ("coordination.k8s.io/v1", "Lease", "api.coordination.v1.Lease"),
        (
            "internal.apiserver.k8s.io/v1alpha1",
            "StorageVersion",
            "api.apiserverinternal.v1alpha1.StorageVersion",
        ),
        (
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        ),
        (
            "apiregistration.k8s.io/v1",
            "APIService",
            "kube_aggregator.pkg.apis.apiregistration.v1.APIService",
        ),
        ("metrics.k8s.io/v1beta1", "PodMetrics", "metrics.pkg.apis.metrics.v1beta1.PodMetrics"),
        (
            "custom.metrics.k8s.io/v1beta2",
            "MetricValueList",
            "metrics.pkg.apis.custom_metrics.v1beta2.MetricValueList",
        ),
        (
            "external.metrics.k8s.io/v1beta1",
            "ExternalMetricValueList",
            "metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValueList",
        ),
    ];
    for (api_version, kind, want) in cases {
        let got = pool::message_for(api_version, kind).map(|m| m.full_name().to_owned());
        assert_eq!(got.as_deref(), Some(want), "{api_version} {kind}");
    }
    for (api_version, kind) in [
        ("example.com/v1", "Widget"),
        ("apps/v1", "Nope"),
        ("apps/v2", "Deployment"),
        ("v1", "Deployment"),
        ("apps.example.com/v1", "Deployment"),
        ("meta.k8s.io/v1", "Time"),
        ("", ""),
        ("/", "Pod"),
    ] {
        assert!(pool::message_for(api_version, kind).is_none(), "{api_version} {kind}");
    }
}

#[test]
fn go_package_names_of_groups() {
    assert_eq!(pool::go_package_rank("", "core"), Some(0));
    assert_eq!(pool::go_package_rank("", "apps"), None);
    assert_eq!(pool::go_package_rank("apps", "apps"), Some(0));
    assert_eq!(pool::go_package_rank("rbac.authorization.k8s.io", "rbac"), Some(0));
    assert_eq!(pool::go_package_rank("rbac.authorization.k8s.io", "authorization"), None);
    assert_eq!(pool::go_package_rank("internal.apiserver.k8s.io", "apiserverinternal"), Some(1));
    assert_eq!(pool::go_package_rank("custom.metrics.k8s.io", "custom_metrics"), Some(1));
    assert_eq!(pool::go_package_rank("metrics.k8s.io", "custom_metrics"), None);
    assert_eq!(pool::go_package_rank("apps", "core"), None);
    assert_eq!(pool::go_package_rank("apps.example.com", "apps"), None);
    // CRD groups under k8s.io are never Kubernetes' protobuf packages (issue 14).
    assert_eq!(pool::go_package_rank("snapshot.storage.k8s.io", "snapshot"), None);
    assert_eq!(pool::go_package_rank("policy.networking.k8s.io", "policy"), None);
    assert_eq!(pool::go_package_rank("gateway.networking.k8s.io", "networking"), None);
}

#[test]
fn every_golden_protobuf_type_resolves_as_its_package() {
    // The golden file names are `<group>.<version>.<Kind>.pb` (group "core" for ""): wherever
    // the pool has that kind, the resolved message's package must end in `<version>`.
    for m in manifest() {
        if m["encoding"] != "protobuf" {
            continue;
        }
        let (api_version, kind) = (m["apiVersion"].as_str().unwrap(), m["kind"].as_str().unwrap());
        if let Some(desc) = pool::message_for(api_version, kind) {
            let version = api_version.rsplit('/').next().unwrap();
            assert!(desc.package_name().ends_with(&format!(".{version}")), "{api_version} {kind}");
            assert_eq!(desc.name(), kind);
        }
    }
}

#[test]
fn no_two_packages_claim_a_kind_for_one_group() {
    // For each message with metadata at field 1, no other package with the same Go package name
    // and version has a message of that name.
    let mut seen = std::collections::HashMap::new();
    for m in pool::pool().all_messages() {
        if m.parent_message().is_some() || m.get_field(1).is_none_or(|f| f.name() != "metadata") {
            continue;
        }
        let mut segs = m.package_name().rsplit('.');
        let key =
            (segs.next().unwrap().to_owned(), segs.next().unwrap().to_owned(), m.name().to_owned());
        if let Some(other) = seen.insert(key, m.full_name().to_owned()) {
            panic!("{} and {other}", m.full_name());
        }
    }
}

#[test]
fn time_microtime_duration() {
    let t = |fields: &[(&str, Pv)]| convert(&format!("{META}Time"), fields);
    assert_eq!(t(&[]), Value::Null, "empty Time is Go's zero time");
    assert_eq!(t(&[("seconds", Pv::I64(1_199_149_261))]), json!("2008-01-01T01:01:01Z"));
    assert_eq!(
        t(&[("seconds", Pv::I64(1_199_149_261)), ("nanos", Pv::I32(999_999_999))]),
        json!("2008-01-01T01:01:01Z"),
        "Time drops nanos"
    );
    assert_eq!(t(&[("nanos", Pv::I32(0))]), json!("1970-01-01T00:00:00Z"));
    let mt = |fields: &[(&str, Pv)]| convert(&format!("{META}MicroTime"), fields);
    assert_eq!(mt(&[]), Value::Null);
    assert_eq!(
        mt(&[("seconds", Pv::I64(1_199_149_261)), ("nanos", Pv::I32(123_456_789))]),
        json!("2008-01-01T01:01:01.123456Z")
    );
    assert_eq!(mt(&[("seconds", Pv::I64(0))]), json!("1970-01-01T00:00:00.000000Z"));
    assert_eq!(
        mt(&[("seconds", Pv::I64(1)), ("nanos", Pv::I32(-1))]),
        json!("1970-01-01T00:00:00.999999Z"),
        "time.Unix normalizes negative nanos"
    );
    let d = |ns: i64| convert(&format!("{META}Duration"), &[("duration", Pv::I64(ns))]);
    assert_eq!(d(3_723_000_000_000), json!("1h2m3s"));
    assert_eq!(d(1_500_000_000), json!("1.5s"));
    assert_eq!(d(500_000_000), json!("500ms"));
    assert_eq!(d(0), json!("0s"));
    assert_eq!(convert(&format!("{META}Duration"), &[]), json!("0s"));
}

#[test]
fn go_duration_strings() {
    // Expected values are Go's `time.Duration(n).String()`.
    for (ns, want) in [
        (0, "0s"),
        (1, "1ns"),
        (999, "999ns"),
        (1_000, "1µs"),
        (1_500, "1.5µs"),
        (1_000_000, "1ms"),
        (1_100_000, "1.1ms"),
        (999_999_999, "999.999999ms"),
        (1_000_000_000, "1s"),
        (1_000_000_001, "1.000000001s"),
        (60_000_000_000, "1m0s"),
        (3_600_000_000_000, "1h0m0s"),
        (7_384_500_000_000, "2h3m4.5s"),
        (-1_500_000_000, "-1.5s"),
        (-1, "-1ns"),
        (i64::MAX, "2562047h47m16.854775807s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
    ] {
        assert_eq!(go_duration(ns), want, "{ns}");
    }
}

#[test]
fn quantity_intorstring_and_raw_json() {
    assert_eq!(
        convert("apimachinery.pkg.api.resource.Quantity", &[("string", Pv::String("100m".into()))]),
        json!("100m")
    );
    let ios = "apimachinery.pkg.util.intstr.IntOrString";
    assert_eq!(convert(ios, &[("type", Pv::I64(0)), ("intVal", Pv::I32(8080))]), json!(8080));
    assert_eq!(
        convert(ios, &[("type", Pv::I64(1)), ("strVal", Pv::String("25%".into()))]),
        json!("25%")
    );
    assert_eq!(convert(ios, &[("intVal", Pv::I32(0))]), json!(0));
    let raw = |bytes: &[u8]| {
        convert(
            "apimachinery.pkg.runtime.RawExtension",
            &[("raw", Pv::Bytes(bytes.to_vec().into()))],
        )
    };
    assert_eq!(raw(br#"{"a":[1,"x"]}"#), json!({"a": [1, "x"]}));
    assert_eq!(raw(b""), Value::Null);
    assert_eq!(raw(b"\x00\x01binary"), json!("AAFiaW5hcnk="), "not JSON: base64");
    let mut cbor = Vec::new();
    ciborium::ser::into_writer(
        &ciborium::Value::Tag(
            55799,
            Box::new(ciborium::Value::Map(vec![(
                ciborium::Value::Bytes(b"k".to_vec()),
                ciborium::Value::Bytes(b"v".to_vec()),
            )])),
        ),
        &mut cbor,
    )
    .unwrap();
    assert!(cbor.starts_with(&[0xd9, 0xd9, 0xf7]));
    assert_eq!(raw(&cbor), json!({"k": "v"}), "self-described CBOR RawExtension");
    assert_eq!(
        convert(
            &format!("{META}FieldsV1"),
            &[("Raw", Pv::Bytes(br#"{"f:metadata":{}}"#.to_vec().into()))]
        ),
        json!({"f:metadata": {}})
    );
}

#[test]
fn bytes_maps_presence_and_numbers() {
    let secret = convert(
        "api.core.v1.Secret",
        &[
            (
                "data",
                Pv::Map(
                    [(
                        prost_reflect::MapKey::String("k".into()),
                        Pv::Bytes(b"\x00\xffhi".to_vec().into()),
                    )]
                    .into_iter()
                    .collect(),
                ),
            ),
            ("immutable", Pv::Bool(false)),
        ],
    );
    // bytes → standard base64; a set zero value is kept; unset fields are absent.
    assert_eq!(secret, json!({"data": {"k": "AP9oaQ=="}, "immutable": false}));
    let props = "apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps";
    let schema = convert(
        props,
        &[
            ("maximum", Pv::F64(3.0)),
            ("minimum", Pv::F64(0.5)),
            ("ref", Pv::String("#/x".into())),
            ("xKubernetesPreserveUnknownFields", Pv::Bool(true)),
        ],
    );
    assert_eq!(
        schema,
        json!({"maximum": 3, "minimum": 0.5, "$ref": "#/x", "x-kubernetes-preserve-unknown-fields": true})
    );
}

#[test]
fn payloads_with_newer_fields_decode_to_a_part_of_their_twin() {
    // Objects written by a release after the descriptors' come out partial; what the
    // descriptors do name must still be exactly the twin's.
    let mut checked = 0;
    for m in manifest() {
        if m["encoding"] != "protobuf" || !m["twin"].is_string() {
            continue;
        }
        let file = m["file"].as_str().unwrap();
        let (api_version, kind) = (m["apiVersion"].as_str().unwrap(), m["kind"].as_str().unwrap());
        let Some(desc) = pool::message_for(api_version, kind) else { continue };
        let bytes = golden(file);
        let body = super::protobuf_body(&bytes).unwrap();
        let raw = Unknown::decode(body.as_ref()).unwrap().raw.unwrap_or_default();
        let converted = decode_message(desc, &raw, "test").unwrap();
        let mut ours = converted.value;
        let mut twin: Value = serde_json::from_slice(&golden(m["twin"].as_str().unwrap())).unwrap();
        normalize(&mut ours);
        normalize(&mut twin);
        assert_eq!(first_difference(&ours, &twin, true, ""), None, "{file}");
        let object = decode_object(&golden(file)).unwrap();
        match object.completeness {
            Completeness::Full => assert!(converted.unknown.is_empty(), "{file}"),
            Completeness::Partial(why) => {
                assert!(!converted.unknown.is_empty(), "{file}");
                assert!(why.contains(&converted.unknown[0]), "{file}: {why}");
                checked += 1;
            }
            Completeness::MetadataOnly(why) => panic!("{file}: the kind is known: {why}"),
        }
    }
    assert!(checked > 0);
}

#[test]
fn removed_objectmeta_fields_are_skipped_like_kubernetes_does() {
    // ObjectMeta field 15 (clusterName) in old data: skipped, the object stays full.
    let mut meta = DynamicMessage::new(desc(&format!("{META}ObjectMeta")));
    meta.set_field_by_name("name", Pv::String("n".into()));
    let mut meta_bytes = meta.encode_to_vec();
    meta_bytes.extend([0x7a, 0x01, b'c']); // field 15, length-delimited, "c"
    let mut raw = vec![0x0a, u8::try_from(meta_bytes.len()).unwrap()];
    raw.extend(meta_bytes);
    let object = decode_object(&stored("v1", "ConfigMap", raw.clone())).unwrap();
    assert_eq!(object.completeness, Completeness::Full);
    assert_eq!(
        object.value,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n"}})
    );
    // An unknown field elsewhere makes it partial, saying where.
    raw.extend([0xf8, 0x07, 0x01]); // field 127, varint 1
    let object = decode_object(&stored("v1", "ConfigMap", raw)).unwrap();
    let Completeness::Partial(why) = object.completeness else { panic!("full") };
    assert!(why.contains("(top level): field 127"), "{why}");
    assert_eq!(
        object.value,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n"}})
    );
}

#[test]
fn a_kind_the_descriptors_lack_gets_its_metadata() {
    let mut pod = DynamicMessage::new(desc("api.core.v1.Pod"));
    let mut meta = DynamicMessage::new(desc(&format!("{META}ObjectMeta")));
    meta.set_field_by_name("name", Pv::String("x".into()));
    meta.set_field_by_name("uid", Pv::String("u".into()));
    pod.set_field_by_name("metadata", Pv::Message(meta));
    let mut spec = DynamicMessage::new(desc("api.core.v1.PodSpec"));
    spec.set_field_by_name("nodeName", Pv::String("node".into()));
    pod.set_field_by_name("spec", Pv::Message(spec));
    let object = decode_object(&stored("future.k8s.io/v9", "Gizmo", pod.encode_to_vec())).unwrap();
    let Completeness::MetadataOnly(why) = object.completeness else { panic!("full") };
    assert_eq!(why, "future.k8s.io/v9 Gizmo is not in the Kubernetes 1.35 protobuf descriptors");
    assert_eq!(
        object.value,
        json!({"apiVersion": "future.k8s.io/v9", "kind": "Gizmo", "metadata": {"name": "x", "uid": "u"}})
    );
}

#[test]
fn self_describing_encodings_decode_whole() {
    let json_doc = golden("core.v1.Pod.json");
    let object = decode_object(&json_doc).unwrap();
    assert_eq!(object.completeness, Completeness::Full);
    assert_eq!(object.value, serde_json::from_slice::<Value>(&json_doc).unwrap());

    let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels: {a: b}\ndata:\n  k: v\n  n: \"1\"\nitems: [1, 2.5, true, null]\n";
    let object = decode_object(yaml).unwrap();
    assert_eq!(object.completeness, Completeness::Full);
    assert_eq!(
        object.value,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "labels": {"a": "b"}},
               "data": {"k": "v", "n": "1"}, "items": [1, 2.5, true, null]})
    );

    // The golden CBOR custom resource: strings and keys as byte strings.
    let path = crate::testkit::golden_dir().join(
        "envelopes/plaintext/92bf4a1b7a350ce96afe02136b575424ce881b393bed2c9a8071ceb317969da3.bin",
    );
    let object = decode_object(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(object.completeness, Completeness::Full);
    assert_eq!(
        object.value,
        json!({"apiVersion": "example.com/v2", "kind": "Widget",
               "metadata": {"name": "plain-cbor", "namespace": "team-d", "generation": 1,
                            "uid": "0111d8ab-b4b1-4bbc-a7a2-973b7fd7f128",
                            "creationTimestamp": "2026-03-04T05:06:07Z",
                            "labels": {"app.kubernetes.io/name": "plain-cbor"}},
               "spec": {"color": "teal", "enabled": true, "replicas": 3, "tags": ["a", "b"]}})
    );
    // []byte in tag 22 → base64.
    let mut cbor = Vec::new();
    let b = |s: &str| ciborium::Value::Bytes(s.as_bytes().to_vec());
    ciborium::ser::into_writer(
        &ciborium::Value::Tag(
            55799,
            Box::new(ciborium::Value::Map(vec![
                (b("apiVersion"), b("example.com/v1")),
                (b("kind"), b("Widget")),
                (
                    b("blob"),
                    ciborium::Value::Tag(22, Box::new(ciborium::Value::Bytes(vec![0, 1, 2]))),
                ),
                (b("f"), ciborium::Value::Float(1.5)),
            ])),
        ),
        &mut cbor,
    )
    .unwrap();
    assert_eq!(
        decode_object(&cbor).unwrap().value,
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "blob": "AAEC", "f": 1.5})
    );
}

#[test]
fn base64_wrapped_protobuf_is_the_same_object() {
    use base64::Engine as _;
    let pb = golden("core.v1.Secret.pb");
    let wrapped = base64::engine::general_purpose::STANDARD.encode(&pb);
    assert_eq!(decode_object(wrapped.as_bytes()).unwrap(), decode_object(&pb).unwrap());
}

#[test]
fn errors_describe_shape_not_content() {
    let pb = golden("core.v1.Secret.pb");
    let twin: Value = serde_json::from_slice(&golden("core.v1.Secret.json")).unwrap();
    let secrets: Vec<String> =
        twin["data"].as_object().unwrap().values().map(|v| v.to_string()).collect();
    // A body cut inside Unknown.raw, and raw bytes that are not a Secret.
    let cut = decode_object(&pb[..pb.len() - 10]).unwrap_err();
    assert!(matches!(cut, DecodeError::ProtobufTruncated { .. }), "{cut:?}");
    let bad =
        decode_object(&stored("v1", "Secret", vec![0x0a, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff]))
            .unwrap_err();
    for e in [cut, bad] {
        let text = e.to_string();
        assert!(
            !text.contains("Value") && secrets.iter().all(|s| !text.contains(s.trim_matches('"'))),
            "{text}"
        );
    }
}

#[test]
fn truncations_and_flips_never_panic() {
    for name in [
        "core.v1.Pod.pb",
        "apiextensions.k8s.io.v1.CustomResourceDefinition.pb",
        "auger.pod.pb",
        "core.v1.Secret.pb",
        "core.v1.ConfigMap.json",
    ] {
        let full = golden(name);
        for len in 0..full.len() {
            let _ = decode_object(&full[..len]);
        }
    }
    let secret = golden("core.v1.Secret.pb");
    for i in 0..secret.len() {
        for x in [0x00, 0x80, 0xff, 0x0a, 0x12] {
            let mut flipped = secret.clone();
            flipped[i] ^= x;
            let _ = decode_object(&flipped);
        }
    }
    // Deep nesting: JSONSchemaProps.not (field 28) a thousand times.
    let mut raw = Vec::new();
    for _ in 0..1000 {
        let mut outer = vec![0xe2, 0x01];
        prost::encoding::encode_varint(raw.len() as u64, &mut outer);
        outer.extend(raw);
        raw = outer;
    }
    let _ = decode_object(&stored("apiextensions.k8s.io/v1", "CustomResourceDefinition", raw));
}
