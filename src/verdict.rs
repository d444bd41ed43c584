//! The verdict for one etcd key: what kube-apiserver's read path would make of it.
//!
//! keyspace (which resource) → envelope (which provider and key; stale per
//! kubernetes/apiserver pkg/storage/value/transformer.go) → codec (apiVersion, kind, metadata).
//! Per-object failures never stop a scan: they become `unreadable` with a reason.

use crate::codec::{self, Encoding, ObjectFacts};
use crate::config::EncryptionConfig;
use crate::crd::{Crd, CrdIndex};
use crate::origin::Origin;
use std::fmt;

use crate::envelope::kms::{KmsPlugin, NoKmsPlugin};
use crate::envelope::{self, Encryption, EnvelopeError, KmsApiVersion, Transformer};
use crate::keyspace::{self, KeyInfo};
use crate::source::RawKv;

/// Why a value's plaintext could not be had (`inspect`, and the CRDs and Nodes read before a
/// scan).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlaintextError {
    /// The value is enveloped and there is no configuration to open it with.
    #[error("encrypted, and no --encryption-config was given")]
    NoConfig,
    /// The read path refused it.
    #[error(transparent)]
    Envelope(EnvelopeError),
}

/// The four outcomes; every key gets exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Read with the write provider and key; nothing to do.
    Current,
    /// Readable, but a rewrite would change it (old key, provider or form).
    Stale,
    /// No configured provider could read it, or the payload is not a Kubernetes object.
    Unreadable,
    /// Not an API object, or excluded by a filter.
    Skipped,
}

impl Status {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Stale => "stale",
            Self::Unreadable => "unreadable",
            Self::Skipped => "skipped",
        }
    }

    /// current < stale < unreadable; skipped is not ranked.
    pub fn rank(self) -> Option<u8> {
        match self {
            Self::Current => Some(0),
            Self::Stale => Some(1),
            Self::Unreadable => Some(2),
            Self::Skipped => None,
        }
    }
}

/// One judged key: everything a report needs, and nothing secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The etcd key and its mvcc metadata.
    pub key: Vec<u8>,
    /// etcd mod_revision.
    pub mod_revision: i64,
    /// etcd create_revision.
    pub create_revision: i64,
    /// etcd version.
    pub version: i64,
    /// etcd lease.
    pub lease: i64,
    /// group/resource/namespace/name from the key.
    pub info: KeyInfo,
    /// Provider and key that wrote it, when known.
    pub encryption: Option<Encryption>,
    /// Payload encoding, when decoded.
    pub encoding: Option<Encoding>,
    /// Payload facts, when decoded.
    pub facts: ObjectFacts,
    /// The storage version the object should have (storage-version issue; None for now).
    pub expected_api_version: Option<String>,
    /// The verdict.
    pub status: Status,
    /// kube-apiserver's transformer would call this read stale (old key or provider, plaintext
    /// under a non-first identity, KMS keyID or legacy data): a write re-encrypts it whatever the
    /// storage version.
    pub envelope_stale: bool,
    /// Why: stale reasons, the unreadable cause, or why it was skipped.
    pub reasons: Vec<String>,
}

/// Which keys the user asked about (`--resource`, `--namespace`); the rest are skipped.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `resource` or `resource.group`, like kubectl.
    pub resources: Vec<String>,
    /// Only this namespace (cluster-scoped objects are excluded).
    pub namespace: Option<String>,
}

impl Filter {
    fn excludes(&self, info: &KeyInfo) -> Option<String> {
        if !self.resources.is_empty()
            && !self.resources.iter().any(|r| match r.split_once('.') {
                Some((res, group)) => res == info.resource && group == info.group,
                None => r == &info.resource,
            })
        {
            return Some(format!("excluded by --resource {}", self.resources.join(",")));
        }
        if let Some(ns) = &self.namespace
            && info.namespace.as_deref() != Some(ns.as_str())
        {
            return Some(format!("excluded by --namespace {ns}"));
        }
        None
    }
}

/// Why a current KMS v1 object may still be under a retired KEK (layout doc §5.1, trap 13).
pub const KMS_V1_NOTE: &str = "KMS v1: a KEK rotation inside the plugin is invisible to \
    kube-apiserver, so a rewrite will not re-encrypt this object; to move it, put a new KMS \
    provider (new name) first in the EncryptionConfiguration, then rewrite";

/// No KMS plugin: KMS values are recognised, not decrypted.
pub static NO_KMS: NoKmsPlugin = NoKmsPlugin;

/// Everything the verdict depends on, shared read-only by all decoding threads.
#[derive(Debug)]
pub struct Judge<'a> {
    /// Normalized etcd prefix, with a trailing '/'.
    pub prefix: &'a [u8],
    /// The cluster's EncryptionConfiguration, if given.
    pub config: Option<&'a EncryptionConfig>,
    /// Filters.
    pub filter: &'a Filter,
    /// Where KMS DEKs come from (the cluster's plugins, or [`NoKmsPlugin`]).
    pub kms: &'a dyn KmsPlugin,
    /// Storage-version policy; None judges encryption only.
    pub versions: Option<&'a Versions>,
}

/// What storage version each object should have: the built-in table for one Kubernetes minor
/// release, and the CRDs found in etcd.
#[derive(Debug, Default)]
pub struct Versions {
    /// Kubernetes `1.<minor>` whose storage versions are expected.
    pub minor: u32,
    /// CRDs read from etcd before the scan.
    pub crds: CrdIndex,
}

impl Versions {
    /// Sets `expected_api_version` and turns a wrong stored version into a finding. Only
    /// records that decoded are judged.
    fn judge(&self, rec: &mut Record) {
        if !matches!(rec.status, Status::Current | Status::Stale) {
            return;
        }
        // Decide with borrows first, then write: this runs for every decoded key.
        let Some(stored) = rec.facts.api_version.as_deref() else { return };
        let (group, resource) = (rec.info.group.as_str(), rec.info.resource.as_str());
        match crate::origin::origin(&rec.info, &self.crds) {
            Origin::BuiltIn => {}
            Origin::Custom { crd, shadows_builtin } => {
                let stored = stored.to_owned();
                self.judge_custom(rec, &stored, crd, shadows_builtin);
                return;
            }
            Origin::CustomWithoutCrd => {
                let reason = format!(
                    "no CustomResourceDefinition {resource}.{group} in etcd: the API server does \
                     not serve this object"
                );
                rec.reasons.push(reason);
                return;
            }
        }
        let Some(expected) =
            crate::storage_versions::expected_api_version(group, resource, self.minor)
        else {
            return;
        };
        let stale = (stored != expected).then(|| {
            format!("stored as {stored}, but kube-apiserver 1.{} writes {expected}", self.minor)
        });
        // CRDs and APIServices are always JSON; other built-ins are written as protobuf.
        let json = rec.encoding == Some(crate::codec::Encoding::Json)
            && !matches!(resource, "customresourcedefinitions" | "apiservices");
        rec.expected_api_version = Some(expected.to_owned());
        if let Some(reason) = stale {
            rec.status = Status::Stale;
            rec.reasons.push(reason);
        }
        if json {
            rec.reasons.push("stored as JSON; a rewrite stores it as protobuf".to_owned());
        }
    }

    /// Opens and decodes one value of `group/resource` as the scan would (for CRDs and Nodes
    /// read before the scan).
    pub fn plaintext_of(
        judge: &Judge<'_>,
        kv: &RawKv,
        group: &str,
        resource: &str,
    ) -> Result<Vec<u8>, PlaintextError> {
        let transformer = match judge.config.and_then(|c| c.providers_for(group, resource)) {
            Some(chain) => Transformer::Chain(chain),
            None if judge.config.is_some() => Transformer::Bare,
            None if envelope::is_enveloped(&kv.value) => return Err(PlaintextError::NoConfig),
            None => return Ok(kv.value.clone()),
        };
        envelope::open_with_kms(&kv.value, &kv.key, transformer, judge.kms)
            .map(|o| o.plaintext.to_vec())
            .map_err(|u| PlaintextError::Envelope(u.error))
    }

    fn judge_custom(&self, rec: &mut Record, stored: &str, crd: &Crd, shadows_builtin: bool) {
        let group = rec.info.group.clone();
        if shadows_builtin {
            rec.reasons.push(format!(
                "the CRD {} names a resource kube-apiserver also serves as a built-in: the \
                 built-in wins, so this object cannot be read or rewritten through the API",
                crd.name
            ));
        }
        let version = stored.rsplit_once('/').map_or(stored, |(_, v)| v).to_owned();
        if let Some(storage) = &crd.storage_version {
            let expected = format!("{group}/{storage}");
            if stored != expected {
                rec.status = Status::Stale;
                rec.reasons.push(format!(
                    "stored as {stored}, but the CRD's storage version is {storage}"
                ));
            }
            rec.expected_api_version = Some(expected);
        }
        if !crd.versions.contains(&version) {
            rec.status = Status::Unreadable;
            rec.reasons.push(format!(
                "the CRD {} no longer has version {version}: the API server cannot convert this object",
                crd.name
            ));
        } else if !crd.stored_versions.contains(&version) {
            rec.reasons.push(format!(
                "version {version} is missing from the CRD's status.storedVersions: a migrator may drop it while this object still uses it"
            ));
        }
        // CBOR and JSON are both readable; a rewrite uses the server's current media type.
        if rec.encoding == Some(crate::codec::Encoding::Cbor) {
            rec.reasons.push(
                "stored as CBOR; a rewrite stores JSON unless CBORServingAndStorage is on"
                    .to_owned(),
            );
        }
    }
}

impl fmt::Debug for dyn KmsPlugin + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KmsPlugin")
    }
}

impl Judge<'_> {
    /// Judges one key. Never fails and never panics: problems become the record's reasons.
    pub fn judge(&self, kv: RawKv) -> Record {
        let info = keyspace::classify(&kv.key, self.prefix);
        let mut rec = Record {
            mod_revision: kv.mod_revision,
            create_revision: kv.create_revision,
            version: kv.version,
            lease: kv.lease,
            info,
            encryption: None,
            encoding: None,
            facts: ObjectFacts::default(),
            expected_api_version: None,
            status: Status::Current,
            envelope_stale: false,
            reasons: Vec::new(),
            key: Vec::new(),
        };
        let skip =
            rec.info.not_an_object.map(str::to_owned).or_else(|| self.filter.excludes(&rec.info));
        if let Some(reason) = skip {
            rec.encryption = identify(&kv.value);
            rec.status = Status::Skipped;
            rec.reasons.push(reason);
            rec.key = kv.key;
            return rec;
        }
        match self.config {
            None => self.judge_without_config(&kv, &mut rec),
            Some(config) => {
                let transformer = match config.providers_for(&rec.info.group, &rec.info.resource) {
                    Some(chain) => Transformer::Chain(chain),
                    None => Transformer::Bare,
                };
                match envelope::open_with_kms(&kv.value, &kv.key, transformer, self.kms) {
                    Ok(opened) => {
                        let kms_v1 = opened.encryption.kms_api_version == Some(KmsApiVersion::V1);
                        rec.encryption = Some(opened.encryption);
                        decode_into(&opened.plaintext, &mut rec);
                        if rec.status == Status::Current && !opened.stale.is_empty() {
                            rec.status = Status::Stale;
                            rec.envelope_stale = true;
                            rec.reasons = opened.stale;
                        } else if rec.status == Status::Current && kms_v1 {
                            rec.reasons.push(KMS_V1_NOTE.to_owned());
                        }
                    }
                    Err(unreadable) => {
                        rec.encryption = unreadable.encryption;
                        rec.status = Status::Unreadable;
                        rec.reasons.push(unreadable.error.to_string());
                    }
                }
            }
        }
        if let Some(versions) = self.versions {
            versions.judge(&mut rec);
        }
        rec.key = kv.key;
        rec
    }

    fn judge_without_config(&self, kv: &RawKv, rec: &mut Record) {
        match envelope::identify(&kv.value) {
            Some(enc) => {
                rec.reasons.push(format!(
                    "not decrypted: no --encryption-config given, so the {} key is not judged",
                    enc.provider.as_str()
                ));
                rec.encryption = Some(enc);
            }
            None if envelope::is_enveloped(&kv.value) => {
                rec.status = Status::Unreadable;
                rec.reasons.push("encrypted by an unknown provider (k8s:enc: prefix)".to_owned());
            }
            None => {
                rec.encryption = Some(Encryption::identity());
                decode_into(&kv.value, rec);
            }
        }
    }
}

/// The envelope as its prefix names it (plaintext when there is no `k8s:enc:` prefix; None for
/// an unknown provider).
fn identify(value: &[u8]) -> Option<Encryption> {
    envelope::identify(value)
        .or_else(|| (!envelope::is_enveloped(value)).then(Encryption::identity))
}

fn decode_into(plaintext: &[u8], rec: &mut Record) {
    match codec::decode(plaintext) {
        Ok(decoded) => {
            rec.encoding = Some(decoded.encoding);
            rec.facts = decoded.facts;
        }
        Err(e) => {
            rec.status = Status::Unreadable;
            rec.reasons.push(format!("cannot decode the payload: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_errors_read_as_before() {
        assert_eq!(
            PlaintextError::NoConfig.to_string(),
            "encrypted, and no --encryption-config was given"
        );
        let uncovered = || EnvelopeError::Uncovered { found: "aescbc key key1".to_owned() };
        assert_eq!(PlaintextError::Envelope(uncovered()).to_string(), uncovered().to_string());
    }
}
