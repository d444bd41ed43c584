//! The protobuf messages the server reads and writes, hand-written for prost so that a decode
//! followed by an encode gives back the bytes kube-apiserver (gogo-protobuf) wrote.
//!
//! Field numbers: `kubernetes/api` `core/v1/generated.proto` (Secret: metadata 1, data 2, type 3,
//! stringData 4, immutable 5; ConfigMap: metadata 1, data 2, binaryData 3, immutable 4) and
//! `kubernetes/apimachinery` `pkg/apis/meta/v1/generated.proto` (ObjectMeta, Time,
//! OwnerReference) and `pkg/runtime/generated.proto` (Unknown, TypeMeta).
//!
//! Why not plain proto3-style fields and prost maps: gogo always emits the non-pointer fields
//! (strings, int64, the nested ObjectMeta, Time), even when empty, and emits both key and value
//! of every map entry; prost skips defaults, including empty map values. So every always-emitted
//! field is `optional` here (set to `Some` on encode) and maps are `repeated` entry messages
//! (the same wire format as a map), sorted by key as gogo sorts them. Fields the JSON view does
//! not show (managedFields) are kept as raw bytes, so they survive a rewrite unchanged.

use prost::Message;

/// `k8s\0`: the protobuf storage magic.
pub(crate) const MAGIC: &[u8] = b"k8s\0";

/// runtime.TypeMeta (apiVersion 1, kind 2) — not metav1.TypeMeta, whose numbers differ.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TypeMeta {
    #[prost(string, optional, tag = "1")]
    pub api_version: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub kind: Option<String>,
}

/// runtime.Unknown: the wrapper after the magic.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Unknown {
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub raw: Option<Vec<u8>>,
    #[prost(string, optional, tag = "3")]
    pub content_encoding: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub content_type: Option<String>,
}

/// metav1.Time / Timestamp. A zero time is an empty message (`42 00`); any other time has both
/// fields, nanos always 0 (time_proto.go drops them).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Time {
    #[prost(int64, optional, tag = "1")]
    pub seconds: Option<i64>,
    #[prost(int32, optional, tag = "2")]
    pub nanos: Option<i32>,
}

impl Time {
    pub fn at(seconds: i64) -> Self {
        if seconds == 0 {
            Self { seconds: None, nanos: None }
        } else {
            Self { seconds: Some(seconds), nanos: Some(0) }
        }
    }

    /// `None` for the zero time.
    pub fn unix(&self) -> Option<i64> {
        self.seconds.filter(|s| *s != 0)
    }
}

/// One `map<string,string>` entry.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct StringEntry {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// One `map<string,bytes>` entry.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct BytesEntry {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub value: Option<Vec<u8>>,
}

/// metav1.OwnerReference (kind 1, name 3, uid 4, apiVersion 5, controller 6,
/// blockOwnerDeletion 7).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct OwnerReference {
    #[prost(string, optional, tag = "1")]
    pub kind: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub uid: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub api_version: Option<String>,
    #[prost(bool, optional, tag = "6")]
    pub controller: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    pub block_owner_deletion: Option<bool>,
}

/// metav1.ObjectMeta. 15/16 (old clusterName/initializers) are dropped on decode, as a current
/// kube-apiserver drops them.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ObjectMeta {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub generate_name: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub namespace: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub self_link: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub uid: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub resource_version: Option<String>,
    #[prost(int64, optional, tag = "7")]
    pub generation: Option<i64>,
    #[prost(message, optional, tag = "8")]
    pub creation_timestamp: Option<Time>,
    #[prost(message, optional, tag = "9")]
    pub deletion_timestamp: Option<Time>,
    #[prost(int64, optional, tag = "10")]
    pub deletion_grace_period_seconds: Option<i64>,
    #[prost(message, repeated, tag = "11")]
    pub labels: Vec<StringEntry>,
    #[prost(message, repeated, tag = "12")]
    pub annotations: Vec<StringEntry>,
    #[prost(message, repeated, tag = "13")]
    pub owner_references: Vec<OwnerReference>,
    #[prost(string, repeated, tag = "14")]
    pub finalizers: Vec<String>,
    /// ManagedFieldsEntry messages, kept as bytes (not shown, not changed by this server).
    #[prost(bytes = "vec", repeated, tag = "17")]
    pub managed_fields: Vec<Vec<u8>>,
}

impl ObjectMeta {
    /// The fields generated.pb.go always writes, set to their empty values.
    pub fn empty() -> Self {
        Self {
            name: Some(String::new()),
            generate_name: Some(String::new()),
            namespace: Some(String::new()),
            self_link: Some(String::new()),
            uid: Some(String::new()),
            resource_version: Some(String::new()),
            generation: Some(0),
            creation_timestamp: Some(Time::at(0)),
            ..Default::default()
        }
    }
}

/// core/v1 Secret.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Secret {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, repeated, tag = "2")]
    pub data: Vec<BytesEntry>,
    #[prost(string, optional, tag = "3")]
    pub r#type: Option<String>,
    #[prost(message, repeated, tag = "4")]
    pub string_data: Vec<StringEntry>,
    #[prost(bool, optional, tag = "5")]
    pub immutable: Option<bool>,
}

/// core/v1 ConfigMap.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ConfigMap {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, repeated, tag = "2")]
    pub data: Vec<StringEntry>,
    #[prost(message, repeated, tag = "3")]
    pub binary_data: Vec<BytesEntry>,
    #[prost(bool, optional, tag = "4")]
    pub immutable: Option<bool>,
}

pub(crate) fn string_entries<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<StringEntry> {
    let mut entries: Vec<StringEntry> = pairs
        .into_iter()
        .map(|(k, v)| StringEntry { key: Some(k.into()), value: Some(v.into()) })
        .collect();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries
}

pub(crate) fn bytes_entries<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Vec<BytesEntry> {
    let mut entries: Vec<BytesEntry> = pairs
        .into_iter()
        .map(|(k, v)| BytesEntry { key: Some(k.into()), value: Some(v.to_vec()) })
        .collect();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries
}

/// `k8s\0` + Unknown{typeMeta{apiVersion, kind}, raw, "", ""}.
pub(crate) fn wrap(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&unknown.encode_to_vec());
    out
}

/// (apiVersion, kind, raw) of a `k8s\0` value.
pub(crate) fn unwrap(plaintext: &[u8]) -> Result<(String, String, Vec<u8>), String> {
    let body = plaintext.strip_prefix(MAGIC).ok_or("not protobuf (no k8s\\0 magic)")?;
    let unknown = Unknown::decode(body).map_err(|e| format!("runtime.Unknown: {e}"))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    Ok((
        type_meta.api_version.unwrap_or_default(),
        type_meta.kind.unwrap_or_default(),
        unknown.raw.unwrap_or_default(),
    ))
}

/// Splits a message into its field 1 (the metadata bytes, without tag and length) and every
/// other field, verbatim. generated.pb.go writes fields in ascending order, so
/// `tag(1) + metadata + rest` rebuilds the message.
pub(crate) fn split_metadata(raw: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut metadata = Vec::new();
    let mut rest = Vec::new();
    let mut at = 0;
    while at < raw.len() {
        let start = at;
        let key = varint(raw, &mut at)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(raw, &mut at)?;
            }
            1 => at += 8,
            2 => {
                let len = usize::try_from(varint(raw, &mut at)?).map_err(|e| e.to_string())?;
                let data_start = at;
                at = at.checked_add(len).ok_or("length overflow")?;
                if field == 1 {
                    metadata = raw.get(data_start..at).ok_or("truncated message")?.to_vec();
                    continue;
                }
            }
            5 => at += 4,
            other => return Err(format!("unsupported wire type {other}")),
        }
        if at > raw.len() {
            return Err("truncated message".into());
        }
        rest.extend_from_slice(&raw[start..at]);
    }
    Ok((metadata, rest))
}

/// `tag(1, length-delimited) + len + metadata + rest`.
pub(crate) fn join_metadata(metadata: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = vec![0x0a];
    prost::encoding::encode_varint(metadata.len() as u64, &mut out);
    out.extend_from_slice(metadata);
    out.extend_from_slice(rest);
    out
}

fn varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at).ok_or("truncated varint")?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}
