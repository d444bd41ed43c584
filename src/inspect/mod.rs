//! One key, every layer: etcd metadata → envelope (which config entry opened it, stale or not) →
//! payload (encoding, storage version) → the whole object. The `hexdump -C` replacement.
//!
//! Secret values never leave here unredacted unless the caller asks ([`Reveal::Yes`]).
//!
//! The value is untrusted bytes: its layers are located with checked reads and checked or
//! saturating offsets, never by indexing.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

pub mod hexdump;
pub mod redact;
pub mod render;

use serde::Serialize;

use crate::codec::object::{Completeness, decode_object};
use crate::config::{EncryptionConfig, KmsApiVersion, Provider};
use crate::envelope::{self, Encryption, ProviderKind, Transformer, scheme};
use crate::reader::Reader;
use crate::source::RawKv;
use crate::verdict::{Judge, PlaintextError, Record};
use hexdump::Region;
use zeroize::Zeroizing;

/// Whether secret values may be printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reveal {
    /// Print `<redacted: N bytes, sha256 …>` instead.
    No,
    /// `--reveal`.
    Yes,
}

/// etcd's metadata of the key.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EtcdLayer {
    /// The revision the key was read at.
    pub revision: i64,
    /// create_revision.
    pub create_revision: i64,
    /// mod_revision (the resourceVersion).
    pub mod_revision: i64,
    /// version (writes since creation).
    pub version: i64,
    /// Lease id, 0 for none.
    pub lease: i64,
    /// Seconds left on the lease (live etcd only; -1 if it expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_ttl_seconds: Option<i64>,
    /// Bytes of the stored value.
    pub value_bytes: usize,
}

/// Where in the EncryptionConfiguration the reading provider sits.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigEntry {
    /// Index of the `resources[]` rule that covers the resource (file order).
    pub rule: usize,
    /// The resource string of that rule that matched (`secrets`, `*.apps`, `*.*`).
    pub matched: String,
    /// Index of the provider in that rule (0 writes).
    pub provider: usize,
    /// Index of the key in that provider (0 writes), for keyed providers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<usize>,
}

/// The encryption envelope.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeLayer {
    /// identity, aescbc, aesgcm, secretbox, kms; None when the prefix names no known provider.
    pub provider: Option<&'static str>,
    /// KMS `v1`/`v2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_api_version: Option<&'static str>,
    /// Key name, or KMS provider name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// KMS v2 keyID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// KMS v2 DEK source type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dek_source_type: Option<&'static str>,
    /// Which config entry read it (with a config, when readable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_entry: Option<ConfigEntry>,
    /// Bytes of the `k8s:enc:…:<name>:` prefix (0 for identity).
    pub header_bytes: usize,
    /// Bytes after it.
    pub body_bytes: usize,
    /// Decrypted (or plain) payload bytes, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext_bytes: Option<usize>,
    /// kube-apiserver would call this read stale.
    pub stale: bool,
    /// Why (empty when current), or why it could not be read.
    pub reasons: Vec<String>,
}

/// The serialized object.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadLayer {
    /// protobuf, json, cbor, yaml.
    pub encoding: Option<&'static str>,
    /// Stored apiVersion.
    pub api_version: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// The storage version expected (release table or CRD).
    pub expected_api_version: Option<String>,
}

/// Every layer of one key.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    /// API version of this document.
    pub api_version: &'static str,
    /// `Inspection`.
    pub kind: &'static str,
    /// The etcd key.
    pub key: String,
    /// group/resource/namespace/name from the key.
    pub group: String,
    /// Resource.
    pub resource: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// etcd layer.
    pub etcd: EtcdLayer,
    /// Envelope layer.
    pub envelope: EnvelopeLayer,
    /// Payload layer (when it could be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<PayloadLayer>,
    /// The verdict, as `scan` gives it.
    pub status: &'static str,
    /// Why.
    pub reasons: Vec<String>,
    /// The whole object (Secret data redacted unless revealed).
    pub object: Option<serde_json::Value>,
    /// `full`, or `metadata only: why`, or why there is no object.
    pub object_completeness: String,
    /// Whether values were redacted.
    pub redacted: bool,
}

/// What `inspect` needs besides the key-value.
pub struct Inspector<'a> {
    /// The scan's judge (config, KMS plugins, storage versions).
    pub judge: &'a Judge<'a>,
    /// Extra top-level fields to redact (`--redact`), on top of Secret `data`/`stringData`.
    pub redact_fields: &'a [String],
    /// `--reveal`.
    pub reveal: Reveal,
}

impl Inspector<'_> {
    /// Every layer of `kv`, read at `revision`; also the decrypted value (for `-o raw
    /// --decrypted`), or why it could not be read.
    pub fn inspect(
        &self,
        kv: &RawKv,
        revision: i64,
        lease_ttl: Option<i64>,
    ) -> (Inspection, Result<OpenedValue, PlaintextError>) {
        let rec: Record = self.judge.judge(kv.clone());
        let opened = self.open(kv, &rec);
        let (encryption, plaintext, stale, open_error) = match &opened {
            Ok(o) => {
                (Some(o.encryption.clone()), Some(o.plaintext.as_slice()), o.stale.clone(), None)
            }
            Err(e) => (rec.encryption.clone(), None, Vec::new(), Some(e)),
        };
        let header_bytes = header_len(&kv.value, encryption.as_ref());
        let envelope = EnvelopeLayer {
            provider: encryption.as_ref().map(|e| e.provider.as_str()),
            kms_api_version: encryption
                .as_ref()
                .and_then(|e| e.kms_api_version)
                .map(KmsApiVersion::as_str),
            key_name: encryption.as_ref().and_then(|e| e.key_name.clone()),
            key_id: encryption.as_ref().and_then(|e| e.key_id.clone()),
            dek_source_type: dek_source_type(&kv.value, encryption.as_ref(), header_bytes),
            config_entry: encryption.as_ref().and_then(|e| {
                self.judge
                    .config
                    .and_then(|c| config_entry(c, &rec.info.group, &rec.info.resource, e))
            }),
            header_bytes,
            body_bytes: kv.value.len().saturating_sub(header_bytes),
            plaintext_bytes: plaintext.map(<[u8]>::len),
            stale: !stale.is_empty(),
            reasons: match &open_error {
                Some(e) => vec![e.to_string()],
                None => stale,
            },
        };
        let payload = rec.encoding.map(|e| PayloadLayer {
            encoding: Some(e.as_str()),
            api_version: rec.facts.api_version.clone(),
            kind: rec.facts.kind.clone(),
            expected_api_version: rec.expected_api_version.clone(),
        });
        let (object, completeness) = match plaintext.map(decode_object) {
            Some(Ok(o)) => (
                Some(o.value),
                match o.completeness {
                    Completeness::Full => "full".to_owned(),
                    Completeness::Partial(why) => format!("partial: {why}"),
                    Completeness::MetadataOnly(why) => format!("metadata only: {why}"),
                },
            ),
            Some(Err(e)) => (None, format!("none: cannot decode the payload: {e}")),
            None => (None, "none: the value could not be decrypted".to_owned()),
        };
        let mut object = object;
        let mut redacted = false;
        if let (Some(obj), Reveal::No) = (object.as_mut(), self.reveal) {
            redacted = redact::redact(obj, &rec.info.resource, self.redact_fields);
        }
        let inspection = Inspection {
            api_version: "atrest/v1",
            kind: "Inspection",
            key: String::from_utf8_lossy(&kv.key).into_owned(),
            group: rec.info.group.clone(),
            resource: rec.info.resource.clone(),
            namespace: rec.info.namespace.clone(),
            name: rec.info.name.clone(),
            etcd: EtcdLayer {
                revision,
                create_revision: kv.create_revision,
                mod_revision: kv.mod_revision,
                version: kv.version,
                lease: kv.lease,
                lease_ttl_seconds: lease_ttl,
                value_bytes: kv.value.len(),
            },
            envelope,
            payload,
            status: rec.status.as_str(),
            reasons: rec.reasons,
            object,
            object_completeness: completeness,
            redacted,
        };
        (inspection, opened)
    }

    /// The plaintext, who read it and why that read is stale, or why it could not be read.
    fn open(&self, kv: &RawKv, rec: &Record) -> Result<OpenedValue, PlaintextError> {
        let t = match self.judge.config {
            Some(c) => Transformer::for_resource(c, &rec.info.group, &rec.info.resource),
            None if envelope::is_enveloped(&kv.value) => return Err(PlaintextError::NoConfig),
            None => Transformer::Bare,
        };
        envelope::open_with_kms(&kv.value, &kv.key, t, self.judge.kms)
            .map(|o| OpenedValue {
                encryption: o.encryption,
                plaintext: Zeroizing::new(o.plaintext.to_vec()),
                stale: o.stale,
            })
            .map_err(|u| PlaintextError::Envelope(u.error))
    }
}

/// A value kube-apiserver could read.
pub struct OpenedValue {
    /// Who read it.
    pub encryption: Encryption,
    /// The payload (zeroized on drop: it may be a Secret).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// Why the transformer would call the read stale (empty: current).
    pub stale: Vec<String>,
}

/// Bytes of `k8s:enc:<provider>:v1:<name>:`.
fn header_len(value: &[u8], enc: Option<&Encryption>) -> usize {
    match enc {
        Some(Encryption { provider: ProviderKind::Identity, .. }) | None => 0,
        Some(Encryption { provider, kms_api_version, key_name, .. }) => {
            let family = match (provider, kms_api_version) {
                (ProviderKind::Kms, Some(KmsApiVersion::V2)) => "kms:v2".to_owned(),
                (ProviderKind::Kms, _) => "kms:v1".to_owned(),
                (p, _) => format!("{}:v1", p.as_str()),
            };
            let len = format!("k8s:enc:{family}:{}:", key_name.as_deref().unwrap_or("")).len();
            len.min(value.len())
        }
    }
}

fn dek_source_type(value: &[u8], enc: Option<&Encryption>, header: usize) -> Option<&'static str> {
    let enc = enc?;
    if enc.kms_api_version != Some(KmsApiVersion::V2) {
        return None;
    }
    let body = value.get(header..)?;
    envelope::kms::parse_v2(body).ok().map(|o| o.dek_source_type().as_str())
}

/// The rule of `config` that covers `group/resource` (kube's precedence: exact, `*.<group>`,
/// `*.*`), and where the provider and key that read `enc` sit in it.
pub fn config_entry(
    config: &EncryptionConfig,
    group: &str,
    resource: &str,
    enc: &Encryption,
) -> Option<ConfigEntry> {
    let exact = crate::keyspace::group_resource(group, resource);
    let wildcard = if group.is_empty() { "*.".to_owned() } else { format!("*.{group}") };
    let rules = config.rules();
    let (rule, matched) = [exact, wildcard, "*.*".to_owned()].into_iter().find_map(|want| {
        rules.iter().position(|r| r.resources.contains(&want)).map(|i| (i, want))
    })?;
    let chain = &rules.get(rule)?.providers;
    let (provider, key) = chain.iter().enumerate().find_map(|(i, p)| match (p, enc.provider) {
        (Provider::Identity, ProviderKind::Identity) => Some((i, None)),
        (Provider::Kms(k), ProviderKind::Kms) if Some(&k.name) == enc.key_name.as_ref() => {
            Some((i, None))
        }
        (p, kind) if p.kind() == kind && kind != ProviderKind::Kms => p
            .keys()
            .iter()
            .position(|k| Some(&k.name) == enc.key_name.as_ref())
            .map(|j| (i, Some(j))),
        _ => None,
    })?;
    Some(ConfigEntry { rule, matched, provider, key })
}

/// The layers of a stored value, for `-o raw`.
pub fn value_regions(value: &[u8], ins: &Inspection) -> Vec<Region> {
    let header = ins.envelope.header_bytes;
    let body = value.len().saturating_sub(header);
    let mut out = Vec::new();
    let push = |out: &mut Vec<Region>, start: usize, len: usize, label: String| {
        if len > 0 && start < value.len() {
            out.push(Region { start, len: len.min(value.len().saturating_sub(start)), label });
        }
    };
    match (ins.envelope.provider, ins.envelope.kms_api_version) {
        (Some("identity"), _) | (None, _) if header == 0 => {
            return payload_regions(value, 0, ins);
        }
        _ => {}
    }
    push(
        &mut out,
        0,
        header,
        format!(
            "envelope prefix {:?}",
            String::from_utf8_lossy(value.get(..header).unwrap_or(value))
        ),
    );
    let (h, b) = (header, body);
    // Offsets past the prefix; a region that would start beyond the value is not pushed.
    let at = |n: usize| h.saturating_add(n);
    let keyed = ins.envelope.provider.and_then(scheme::keyed_named);
    match (ins.envelope.provider, ins.envelope.kms_api_version) {
        _ if keyed.is_some() => {
            for (offset, len, label) in keyed.map(|k| (k.regions)(b)).unwrap_or_default() {
                push(&mut out, at(offset), len, label.into());
            }
        }
        (Some("kms"), Some("v1")) => {
            let dek =
                value.get(h..).and_then(|v| Reader::new(v).u16_be().ok()).map_or(0, usize::from);
            push(&mut out, h, 2.min(b), "encrypted DEK length (u16 BE)".into());
            push(
                &mut out,
                at(2),
                dek.min(b.saturating_sub(2)),
                "encrypted DEK (from the KMS plugin)".into(),
            );
            push(
                &mut out,
                at(dek.saturating_add(2)),
                b.saturating_sub(dek.saturating_add(2)),
                "AES-GCM nonce || ciphertext || tag (or legacy CBC)".into(),
            );
        }
        (Some("kms"), _) => push(&mut out, h, b, "KMS v2 EncryptedObject (protobuf)".into()),
        _ => push(&mut out, h, b, "body".into()),
    }
    out
}

/// The layers of a plaintext payload starting at `offset`.
pub fn payload_regions(bytes: &[u8], offset: usize, ins: &Inspection) -> Vec<Region> {
    let encoding = ins.payload.as_ref().and_then(|p| p.encoding);
    let n = bytes.len().saturating_sub(offset);
    match encoding {
        Some("protobuf") if bytes.get(offset..).is_some_and(|b| b.starts_with(b"k8s\0")) => vec![
            Region { start: offset, len: 4, label: "protobuf magic \"k8s\\0\"".into() },
            Region {
                start: offset.saturating_add(4),
                len: n.saturating_sub(4),
                label: "runtime.Unknown (typeMeta, raw object)".into(),
            },
        ],
        Some(e) => vec![Region { start: offset, len: n, label: format!("{e} payload") }],
        None if n > 0 => {
            vec![Region { start: offset, len: n, label: "payload (not decoded)".into() }]
        }
        None => vec![],
    }
}
