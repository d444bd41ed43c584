//! Payload encoders: the plaintext bytes kube-apiserver stores for an object (layout doc §2),
//! so tests can seed etcd exactly as a real server would have written it, under any config.
//! Stored objects carry no resourceVersion (PrepareObjectForStorage clears it): clients see the
//! etcd mod_revision instead.

use prost::Message;
use serde_json::{Map, Value, json};

use super::gojson;
use super::proto::{self, ObjectMeta, Time};

/// "k8s\0" + runtime.Unknown{typeMeta{apiVersion:"v1",kind:"Secret"}, raw: v1.Secret protobuf,
/// contentEncoding:"", contentType:""} (§2.1). Type `Opaque`, data sorted by key.
pub fn secret_pb(
    namespace: &str,
    name: &str,
    uid: &str,
    creation_unix: i64,
    data: &[(&str, &[u8])],
) -> Vec<u8> {
    let secret = proto::Secret {
        metadata: Some(meta(namespace, name, uid, creation_unix)),
        data: proto::bytes_entries(data.iter().copied()),
        r#type: Some("Opaque".into()),
        string_data: Vec::new(),
        immutable: None,
    };
    proto::wrap("v1", "Secret", secret.encode_to_vec())
}

/// "k8s\0" + runtime.Unknown{v1 ConfigMap}: data sorted by key, no binaryData.
pub fn configmap_pb(
    namespace: &str,
    name: &str,
    uid: &str,
    creation_unix: i64,
    data: &[(&str, &str)],
) -> Vec<u8> {
    let configmap = proto::ConfigMap {
        metadata: Some(meta(namespace, name, uid, creation_unix)),
        data: proto::string_entries(data.iter().copied()),
        binary_data: Vec::new(),
        immutable: None,
    };
    proto::wrap("v1", "ConfigMap", configmap.encode_to_vec())
}

/// A custom resource as JSON (compact, keys sorted, Go json.Encoder trailing newline),
/// apiVersion e.g. "example.com/v1". Metadata as the CR strategy leaves it on create:
/// creationTimestamp, generation 1, name, namespace, uid.
pub fn cr_json(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    uid: &str,
    creation_unix: i64,
    spec: Value,
) -> Vec<u8> {
    let mut metadata = Map::new();
    metadata.insert("creationTimestamp".into(), json!(super::time::rfc3339(creation_unix)));
    metadata.insert("generation".into(), json!(1));
    metadata.insert("name".into(), json!(name));
    if let Some(ns) = namespace {
        metadata.insert("namespace".into(), json!(ns));
    }
    metadata.insert("uid".into(), json!(uid));
    let object =
        json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec});
    let mut bytes = gojson::sorted(&object);
    bytes.push(b'\n');
    bytes
}

/// ObjectMeta as generated.pb.go writes it for a new object: fields 1–8 always present.
fn meta(namespace: &str, name: &str, uid: &str, creation_unix: i64) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        uid: Some(uid.into()),
        creation_timestamp: Some(Time::at(creation_unix)),
        ..ObjectMeta::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact bytes: magic, Unknown{typeMeta, raw, "", ""}, ObjectMeta fields 1–8 with empty
    /// ones present (`12 00`, `22 00`, `32 00`, `38 00`), Time{seconds, nanos 0}.
    #[test]
    fn secret_bytes_are_gogo_shaped() {
        let b = secret_pb("ns", "s", "u", 1, &[("k", b"v"), ("a", b"")]);
        let meta: &[u8] = &[
            0x0a, 0x01, b's', 0x12, 0x00, 0x1a, 0x02, b'n', b's', 0x22, 0x00, 0x2a, 0x01, b'u',
            0x32, 0x00, 0x38, 0x00, 0x42, 0x04, 0x08, 0x01, 0x10, 0x00,
        ];
        let mut raw = vec![0x0a, meta.len() as u8];
        raw.extend_from_slice(meta);
        raw.extend_from_slice(&[0x12, 0x05, 0x0a, 0x01, b'a', 0x12, 0x00]);
        raw.extend_from_slice(&[0x12, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01, b'v']);
        raw.extend_from_slice(&[0x1a, 0x06]);
        raw.extend_from_slice(b"Opaque");
        let mut want = b"k8s\0".to_vec();
        let type_meta = [&[0x0a, 0x02][..], b"v1", &[0x12, 0x06], b"Secret"].concat();
        want.extend_from_slice(&[0x0a, type_meta.len() as u8]);
        want.extend_from_slice(&type_meta);
        want.extend_from_slice(&[0x12, raw.len() as u8]);
        want.extend_from_slice(&raw);
        want.extend_from_slice(&[0x1a, 0x00, 0x22, 0x00]);
        assert_eq!(b, want);
    }

    #[test]
    fn cr_json_is_go_encoded() {
        let b = cr_json("example.com/v1", "Widget", Some("ns"), "w", "u", 0, json!({"size": 3}));
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"creationTimestamp\":\
             \"1970-01-01T00:00:00Z\",\"generation\":1,\"name\":\"w\",\"namespace\":\"ns\",\"uid\":\"u\"},\
             \"spec\":{\"size\":3}}\n"
        );
    }
}
