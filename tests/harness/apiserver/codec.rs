//! Stored plaintext ⇄ the object as kube-apiserver serves it in JSON.
//!
//! - `k8s\0` protobuf of v1 Secret or ConfigMap: decoded fully; re-encoding a decoded object
//!   gives the same bytes (managedFields ride along as raw bytes, see `proto`).
//! - Any other protobuf kind: only `metadata` is decoded; the rest of the message is kept raw,
//!   so a metadata-only change (or none) re-encodes faithfully. Changing other fields of such a
//!   kind is refused: the server cannot encode them.
//! - JSON (custom resources, CRDs, legacy built-ins): the stored map itself.
//!
//! The JSON object keeps the stored `apiVersion`; callers set the served or storage version
//! (the test CRDs have identical schemas across versions, so conversion is just that).

use base64::Engine;
use prost::Message;
use serde_json::{Map, Value, json};

use super::gojson;
use super::proto::{self, ObjectMeta, OwnerReference, Time};
use super::time::{parse_rfc3339, rfc3339};

/// What the JSON view does not show, carried into a re-encode.
#[derive(Clone, Debug)]
pub(super) enum Carry {
    /// Stored as JSON: everything is in the object.
    Json,
    /// Protobuf Secret or ConfigMap: their managedFields entries.
    Modeled { managed_fields: Vec<Vec<u8>> },
    /// Protobuf of a kind not modeled: the fields after `metadata`, and managedFields.
    Opaque { rest: Vec<u8>, managed_fields: Vec<Vec<u8>> },
}

pub(super) struct Decoded {
    pub object: Value,
    pub carry: Carry,
}

/// The media type a re-encode writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Media {
    Protobuf,
    Json,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub(super) fn decode(plaintext: &[u8]) -> Result<Decoded, String> {
    if plaintext.starts_with(proto::MAGIC) {
        return decode_protobuf(plaintext);
    }
    match plaintext.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {
            let object: Value =
                serde_json::from_slice(plaintext).map_err(|e| format!("stored JSON: {e}"))?;
            Ok(Decoded { object, carry: Carry::Json })
        }
        _ if plaintext.starts_with(&[0xd9, 0xd9, 0xf7]) => {
            Err("CBOR payloads are not decoded by the test apiserver".into())
        }
        _ => Err("stored value is neither protobuf nor JSON".into()),
    }
}

fn decode_protobuf(plaintext: &[u8]) -> Result<Decoded, String> {
    let (api_version, kind, raw) = proto::unwrap(plaintext)?;
    let mut object = Map::new();
    object.insert("kind".into(), json!(kind));
    object.insert("apiVersion".into(), json!(api_version));
    let carry = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => {
            let s = proto::Secret::decode(raw.as_slice()).map_err(|e| format!("v1.Secret: {e}"))?;
            let meta = s.metadata.unwrap_or_default();
            object.insert("metadata".into(), meta_to_json(&meta));
            if let Some(b) = s.immutable {
                object.insert("immutable".into(), json!(b));
            }
            if !s.data.is_empty() {
                let data: Map<String, Value> = s
                    .data
                    .iter()
                    .map(|e| {
                        (key(&e.key), json!(B64.encode(e.value.as_deref().unwrap_or_default())))
                    })
                    .collect();
                object.insert("data".into(), Value::Object(data));
            }
            if let Some(t) = s.r#type.filter(|t| !t.is_empty()) {
                object.insert("type".into(), json!(t));
            }
            Carry::Modeled { managed_fields: meta.managed_fields }
        }
        ("v1", "ConfigMap") => {
            let c = proto::ConfigMap::decode(raw.as_slice())
                .map_err(|e| format!("v1.ConfigMap: {e}"))?;
            let meta = c.metadata.unwrap_or_default();
            object.insert("metadata".into(), meta_to_json(&meta));
            if let Some(b) = c.immutable {
                object.insert("immutable".into(), json!(b));
            }
            if !c.data.is_empty() {
                let data: Map<String, Value> = c
                    .data
                    .iter()
                    .map(|e| (key(&e.key), json!(e.value.clone().unwrap_or_default())))
                    .collect();
                object.insert("data".into(), Value::Object(data));
            }
            if !c.binary_data.is_empty() {
                let data: Map<String, Value> = c
                    .binary_data
                    .iter()
                    .map(|e| {
                        (key(&e.key), json!(B64.encode(e.value.as_deref().unwrap_or_default())))
                    })
                    .collect();
                object.insert("binaryData".into(), Value::Object(data));
            }
            Carry::Modeled { managed_fields: meta.managed_fields }
        }
        _ => {
            let (meta_bytes, rest) = proto::split_metadata(&raw)?;
            let meta = ObjectMeta::decode(meta_bytes.as_slice())
                .map_err(|e| format!("{kind} metadata: {e}"))?;
            object.insert("metadata".into(), meta_to_json(&meta));
            Carry::Opaque { rest, managed_fields: meta.managed_fields }
        }
    };
    Ok(Decoded { object: Value::Object(object), carry })
}

/// Re-encodes `object` (its `apiVersion` is the storage version) as `media`.
pub(super) fn encode(object: &Value, carry: &Carry, media: Media) -> Result<Vec<u8>, String> {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        // PrepareObjectForStorage.
        meta.remove("resourceVersion");
        meta.remove("selfLink");
    }
    if media == Media::Json {
        let mut bytes = gojson::sorted(&object);
        bytes.push(b'\n');
        return Ok(bytes);
    }
    let api_version = str_field(&object, "apiVersion");
    let kind = str_field(&object, "kind");
    let managed = match carry {
        Carry::Modeled { managed_fields } | Carry::Opaque { managed_fields, .. } => {
            managed_fields.clone()
        }
        Carry::Json => Vec::new(),
    };
    let meta = meta_from_json(object.get("metadata").unwrap_or(&Value::Null), managed)?;
    let raw = match (api_version.as_str(), kind.as_str(), carry) {
        ("v1", "Secret", _) => secret_from_json(&object, meta)?.encode_to_vec(),
        ("v1", "ConfigMap", _) => configmap_from_json(&object, meta)?.encode_to_vec(),
        (_, _, Carry::Opaque { rest, .. }) => {
            let extra: Vec<&String> = object
                .as_object()
                .into_iter()
                .flat_map(|m| m.keys())
                .filter(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                .collect();
            if !extra.is_empty() {
                return Err(format!(
                    "the test apiserver cannot change {extra:?} of a {kind} (only metadata of \
                     kinds other than Secret and ConfigMap)"
                ));
            }
            proto::join_metadata(&meta.encode_to_vec(), rest)
        }
        _ => {
            return Err(format!(
                "the test apiserver cannot encode {api_version} {kind} as protobuf"
            ));
        }
    };
    Ok(proto::wrap(&api_version, &kind, raw))
}

/// What the apiserver does to a written object before storing it, for the modeled kinds:
/// a Secret's write-only `stringData` is folded into `data`, its `type` defaults to `Opaque`.
pub(super) fn normalize(object: &mut Value) {
    if object["kind"] != "Secret" {
        return;
    }
    let Some(map) = object.as_object_mut() else { return };
    if let Some(Value::Object(strings)) = map.remove("stringData") {
        let data = map.entry("data").or_insert_with(|| json!({}));
        if !data.is_object() {
            *data = json!({});
        }
        for (k, v) in strings {
            data[k.as_str()] = json!(B64.encode(v.as_str().unwrap_or_default()));
        }
    }
    if map.get("type").and_then(Value::as_str).unwrap_or_default().is_empty() {
        map.insert("type".into(), json!("Opaque"));
    }
}

fn secret_from_json(object: &Value, metadata: ObjectMeta) -> Result<proto::Secret, String> {
    let mut data: Vec<(String, Vec<u8>)> = Vec::new();
    for (k, v) in object.get("data").and_then(Value::as_object).into_iter().flatten() {
        let text = v.as_str().unwrap_or_default();
        let bytes = B64.decode(text).map_err(|e| format!("data[{k}]: illegal base64: {e}"))?;
        data.push((k.clone(), bytes));
    }
    // stringData is write-only: merged into data on write (v1 → internal conversion).
    for (k, v) in object.get("stringData").and_then(Value::as_object).into_iter().flatten() {
        data.retain(|(dk, _)| dk != k);
        data.push((k.clone(), v.as_str().unwrap_or_default().as_bytes().to_vec()));
    }
    let secret_type = object.get("type").and_then(Value::as_str).filter(|t| !t.is_empty());
    Ok(proto::Secret {
        metadata: Some(metadata),
        data: proto::bytes_entries(data.iter().map(|(k, v)| (k.as_str(), v.as_slice()))),
        // SetDefaults_Secret.
        r#type: Some(secret_type.unwrap_or("Opaque").into()),
        string_data: Vec::new(),
        immutable: object.get("immutable").and_then(Value::as_bool),
    })
}

fn configmap_from_json(object: &Value, metadata: ObjectMeta) -> Result<proto::ConfigMap, String> {
    let data = string_map(object.get("data"));
    let mut binary: Vec<(String, Vec<u8>)> = Vec::new();
    for (k, v) in object.get("binaryData").and_then(Value::as_object).into_iter().flatten() {
        let bytes = B64
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| format!("binaryData[{k}]: illegal base64: {e}"))?;
        binary.push((k.clone(), bytes));
    }
    Ok(proto::ConfigMap {
        metadata: Some(metadata),
        data: proto::string_entries(data.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        binary_data: proto::bytes_entries(binary.iter().map(|(k, v)| (k.as_str(), v.as_slice()))),
        immutable: object.get("immutable").and_then(Value::as_bool),
    })
}

/// ObjectMeta as its JSON (omitempty fields left out; `creationTimestamp: null` when zero).
fn meta_to_json(m: &ObjectMeta) -> Value {
    let mut out = Map::new();
    let mut text = |name: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            out.insert(name.into(), json!(v));
        }
    };
    text("name", &m.name);
    text("generateName", &m.generate_name);
    text("namespace", &m.namespace);
    text("uid", &m.uid);
    if let Some(g) = m.generation.filter(|g| *g != 0) {
        out.insert("generation".into(), json!(g));
    }
    let created = m.creation_timestamp.as_ref().and_then(Time::unix);
    out.insert("creationTimestamp".into(), created.map_or(Value::Null, |t| json!(rfc3339(t))));
    if let Some(t) = m.deletion_timestamp.as_ref().and_then(Time::unix) {
        out.insert("deletionTimestamp".into(), json!(rfc3339(t)));
    }
    if let Some(s) = m.deletion_grace_period_seconds {
        out.insert("deletionGracePeriodSeconds".into(), json!(s));
    }
    for (name, entries) in [("labels", &m.labels), ("annotations", &m.annotations)] {
        if !entries.is_empty() {
            let map: Map<String, Value> = entries
                .iter()
                .map(|e| (key(&e.key), json!(e.value.clone().unwrap_or_default())))
                .collect();
            out.insert(name.into(), Value::Object(map));
        }
    }
    if !m.owner_references.is_empty() {
        let refs: Vec<Value> = m.owner_references.iter().map(owner_to_json).collect();
        out.insert("ownerReferences".into(), Value::Array(refs));
    }
    if !m.finalizers.is_empty() {
        out.insert("finalizers".into(), json!(m.finalizers));
    }
    Value::Object(out)
}

fn owner_to_json(o: &OwnerReference) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(o.api_version.clone().unwrap_or_default()));
    out.insert("kind".into(), json!(o.kind.clone().unwrap_or_default()));
    out.insert("name".into(), json!(o.name.clone().unwrap_or_default()));
    out.insert("uid".into(), json!(o.uid.clone().unwrap_or_default()));
    if let Some(c) = o.controller {
        out.insert("controller".into(), json!(c));
    }
    if let Some(b) = o.block_owner_deletion {
        out.insert("blockOwnerDeletion".into(), json!(b));
    }
    Value::Object(out)
}

fn meta_from_json(m: &Value, managed_fields: Vec<Vec<u8>>) -> Result<ObjectMeta, String> {
    let text =
        |name: &str| Some(m.get(name).and_then(Value::as_str).unwrap_or_default().to_owned());
    let time = |name: &str| -> Result<Option<i64>, String> {
        match m.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_rfc3339(s)
                .map(Some)
                .ok_or_else(|| format!("metadata.{name}: not an RFC 3339 time: {s:?}")),
            Some(other) => Err(format!("metadata.{name}: not a time: {other}")),
        }
    };
    let labels = string_map(m.get("labels"));
    let annotations = string_map(m.get("annotations"));
    let owner_references = m
        .get("ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|o| OwnerReference {
            kind: Some(str_field(o, "kind")),
            name: Some(str_field(o, "name")),
            uid: Some(str_field(o, "uid")),
            api_version: Some(str_field(o, "apiVersion")),
            controller: o.get("controller").and_then(Value::as_bool),
            block_owner_deletion: o.get("blockOwnerDeletion").and_then(Value::as_bool),
        })
        .collect();
    let finalizers = m
        .get("finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| f.as_str().unwrap_or_default().to_owned())
        .collect();
    Ok(ObjectMeta {
        name: text("name"),
        generate_name: text("generateName"),
        namespace: text("namespace"),
        self_link: Some(String::new()),
        uid: text("uid"),
        resource_version: Some(String::new()),
        generation: Some(m.get("generation").and_then(Value::as_i64).unwrap_or(0)),
        creation_timestamp: Some(Time::at(time("creationTimestamp")?.unwrap_or(0))),
        deletion_timestamp: time("deletionTimestamp")?.map(Time::at),
        deletion_grace_period_seconds: m.get("deletionGracePeriodSeconds").and_then(Value::as_i64),
        labels: proto::string_entries(labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        annotations: proto::string_entries(
            annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ),
        owner_references,
        finalizers,
        managed_fields,
    })
}

fn string_map(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

fn str_field(v: &Value, name: &str) -> String {
    v.get(name).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn key(k: &Option<String>) -> String {
    k.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::apiserver::objects;

    #[test]
    fn decode_then_encode_gives_the_same_bytes() {
        let secret =
            objects::secret_pb("ns", "s", "u-1", 1_700_000_000, &[("a", b""), ("k", b"v")]);
        let configmap = objects::configmap_pb("ns", "c", "u-2", 1_700_000_000, &[("x", "")]);
        for stored in [secret, configmap] {
            let d = decode(&stored).unwrap();
            assert_eq!(encode(&d.object, &d.carry, Media::Protobuf).unwrap(), stored);
        }
        let cr = objects::cr_json("example.com/v1", "Widget", None, "w", "u", 5, json!({"a": [1]}));
        let d = decode(&cr).unwrap();
        assert_eq!(encode(&d.object, &d.carry, Media::Json).unwrap(), cr);
    }

    #[test]
    fn other_kinds_keep_their_body_and_take_metadata_changes() {
        let meta = ObjectMeta { name: Some("d".into()), ..ObjectMeta::empty() };
        let mut raw = vec![0x0a];
        let meta_bytes = meta.encode_to_vec();
        raw.push(meta_bytes.len() as u8);
        raw.extend_from_slice(&meta_bytes);
        raw.extend_from_slice(&[0x12, 0x02, 0x08, 0x03]); // spec {replicas: 3}
        let stored = proto::wrap("apps/v1", "Deployment", raw);
        let d = decode(&stored).unwrap();
        assert_eq!(d.object["metadata"]["name"], "d");
        assert_eq!(encode(&d.object, &d.carry, Media::Protobuf).unwrap(), stored);
        let mut labelled = d.object.clone();
        labelled["metadata"]["labels"] = json!({"a": "b"});
        let again = decode(&encode(&labelled, &d.carry, Media::Protobuf).unwrap()).unwrap();
        assert_eq!(again.object["metadata"]["labels"], json!({"a": "b"}));
        let mut specced = d.object;
        specced["spec"] = json!({"replicas": 4});
        assert!(encode(&specced, &d.carry, Media::Protobuf).is_err());
    }
}
