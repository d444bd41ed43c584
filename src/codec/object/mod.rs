//! The whole stored object as JSON, the way `kubectl get -o json` shows it, from any payload
//! [`super::decode`] recognizes: `k8s\0` protobuf (also base64-wrapped), JSON, YAML and CBOR.
//!
//! Protobuf built-ins are decoded field by field from descriptors: Kubernetes' go-to-protobuf
//! `generated.proto` files of release [`DESCRIPTORS_RELEASE`], compiled by build.rs into a
//! FileDescriptorSet and read with prost-reflect (`pool`). The message type comes from the
//! runtime.Unknown wrapper's typeMeta (layout doc §2.1); `proto_json` turns the message into
//! Kubernetes' JSON (Go's `encoding/json` of the API types, including their custom marshalers).
//! A kind the descriptors do not know still gets its apiVersion, kind and metadata
//! ([`Completeness::MetadataOnly`]): `metadata` is field 1 of every top-level object. So does an
//! object carrying fields the descriptors cannot name (written by a newer release): its
//! metadata is exact, the rest could not be shown whole.
//!
//! As in the rest of the codec, no error carries payload bytes.

mod pool;
mod proto_json;
mod selfdescribing;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use prost::Message as _;
use serde_json::{Map, Value};

use super::{DecodeError, Encoding, ObjectFacts};
use crate::pb::runtime::Unknown;

pub use pool::DESCRIPTORS_RELEASE;

/// A decoded object.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// The object as Kubernetes' JSON (apiVersion, kind, metadata, …).
    pub value: serde_json::Value,
    /// Whether `value` is the whole object.
    pub completeness: Completeness,
}

/// How much of the object [`decode_object`] could read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completeness {
    /// Every field.
    Full,
    /// Every field the bundled descriptors name; the reason lists the fields of a newer release
    /// they cannot name (where, by number), which `value` lacks.
    Partial(String),
    /// `value` holds apiVersion, kind and metadata only: a protobuf kind the bundled
    /// descriptors do not have (the reason says which).
    MetadataOnly(String),
}

/// Decode a plaintext payload into the full object.
///
/// JSON, YAML (serde-saphyr) and CBOR are read as they are (CBOR byte strings, which Kubernetes
/// writes for Go strings, become JSON strings; the 55799 self-describe tag is dropped). Protobuf
/// (`k8s\0` + runtime.Unknown) is decoded with the descriptor of the message named by typeMeta's
/// apiVersion and kind; the output has apiVersion and kind (inserted first; serde_json's map
/// sorts keys unless its `preserve_order` feature is on), then the message's fields.
///
/// # Errors
///
/// Whatever [`super::decode`] rejects, with the same error; a protobuf object whose bytes do not
/// parse against its descriptor ([`DecodeError::ProtobufTruncated`] /
/// [`DecodeError::ProtobufMalformed`]); a document that parses as a head but not as a whole
/// value. Never panics, whatever the input.
pub fn decode_object(plaintext: &[u8]) -> Result<Object, DecodeError> {
    let decoded = super::decode(plaintext)?;
    let value = match decoded.encoding {
        Encoding::Protobuf => return protobuf_object(&protobuf_body(plaintext)?, &decoded.facts),
        Encoding::Json => selfdescribing::json(plaintext)?,
        Encoding::Yaml => selfdescribing::yaml(plaintext)?,
        Encoding::Cbor => selfdescribing::cbor(plaintext)?,
    };
    Ok(Object { value, completeness: Completeness::Full })
}

/// The runtime.Unknown bytes after the magic, unwrapping the etcd2 base64 form (Go's
/// `base64.StdEncoding`, which ignores CR/LF), as [`super::decode`] does.
fn protobuf_body(plaintext: &[u8]) -> Result<Cow<'_, [u8]>, DecodeError> {
    if let Some(body) = plaintext.strip_prefix(super::PROTOBUF_MAGIC) {
        return Ok(Cow::Borrowed(body));
    }
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let cleaned: Vec<u8> =
        plaintext.iter().copied().filter(|b| *b != b'\r' && *b != b'\n').collect();
    let bytes = GO_STD.decode(cleaned).map_err(|_| DecodeError::Base64)?;
    bytes
        .strip_prefix(super::PROTOBUF_MAGIC)
        .map(|body| Cow::Owned(body.to_vec()))
        .ok_or(DecodeError::Base64NotProtobuf)
}

/// The bundled descriptor of runtime.Unknown (for telling why bytes do not decode).
pub(super) fn unknown_descriptor() -> Option<prost_reflect::MessageDescriptor> {
    pool::message_by_name("apimachinery.pkg.runtime.Unknown")
}

/// The bundled descriptor of an object's head as far as the codec reads it (field 1 metadata).
pub(super) fn head_descriptor() -> Option<prost_reflect::MessageDescriptor> {
    pool::partial_object_metadata()
}

/// The object in a runtime.Unknown whose wrapper [`super::decode`] already accepted.
fn protobuf_object(body: &[u8], facts: &ObjectFacts) -> Result<Object, DecodeError> {
    let unknown = Unknown::decode(body).map_err(|_| {
        crate::codec::wire::describe("runtime.Unknown", body, unknown_descriptor().as_ref())
    })?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let mut out = Map::new();
    out.insert("apiVersion".to_owned(), Value::String(api_version.clone()));
    out.insert("kind".to_owned(), Value::String(kind.clone()));
    const WHAT: &str = "object in Unknown.raw";
    let (fields, completeness) = match pool::message_for(&api_version, &kind) {
        Some(desc) => {
            let converted = proto_json::decode_message(desc, &raw, WHAT)?;
            if converted.unknown.is_empty() {
                (converted.value, Completeness::Full)
            } else {
                // Written by a newer release: everything the descriptors name is shown, and
                // the reason says what is missing.
                let why = unknown_fields_reason(&converted.unknown);
                (converted.value, Completeness::Partial(why))
            }
        }
        None => {
            let why = format!(
                "{api_version} {kind} is not in the Kubernetes {DESCRIPTORS_RELEASE} protobuf \
                 descriptors"
            );
            // PartialObjectMetadata: field 1 only; every other field is skipped unread.
            let metadata = match pool::partial_object_metadata() {
                Some(desc) => proto_json::decode_message(desc, &raw, WHAT)?.value,
                None => metadata_from_facts(facts),
            };
            (only_metadata(metadata), Completeness::MetadataOnly(why))
        }
    };
    let Value::Object(fields) = fields else {
        // Every top-level kind is a plain message (field 1 is metadata), so this cannot happen.
        return Err(DecodeError::ProtobufMalformed { what: WHAT, problem: "not an object" });
    };
    out.extend(fields);
    Ok(Object { value: Value::Object(out), completeness })
}

/// `{"metadata": …}` of a decoded object (nothing else).
fn only_metadata(mut object: Value) -> Value {
    let mut out = Map::new();
    if let Some(metadata) = object.get_mut("metadata") {
        out.insert("metadata".to_owned(), metadata.take());
    }
    Value::Object(out)
}

/// The first few places where fields unknown to the descriptors were skipped.
fn unknown_fields_reason(unknown: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut why = format!(
        "{} field(s) unknown to the Kubernetes {DESCRIPTORS_RELEASE} protobuf descriptors (from a \
         newer release?): ",
        unknown.len()
    );
    why.push_str(&unknown.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", "));
    if unknown.len() > SHOWN {
        why.push_str(", …");
    }
    why
}

/// `{"metadata": {name, namespace, uid, creationTimestamp}}` from the facts, should the bundled
/// descriptors ever fail to load.
fn metadata_from_facts(facts: &ObjectFacts) -> Value {
    let mut meta = Map::new();
    for (key, value) in [
        ("name", &facts.name),
        ("namespace", &facts.namespace),
        ("uid", &facts.uid),
        ("creationTimestamp", &facts.creation_timestamp),
    ] {
        if let Some(v) = value {
            meta.insert(key.to_owned(), Value::String(v.clone()));
        }
    }
    let mut out = Map::new();
    out.insert("metadata".to_owned(), Value::Object(meta));
    Value::Object(out)
}
