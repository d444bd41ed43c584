//! The `atrest/v1` JSON contract (shared/docs/cli-contract.md) as serde types, and nothing else.
//! Field names and shapes here are what scripts rely on: change them only with the contract.
//!
//! Records are also read back (`atrest diff`), so [`Record`] and [`Encryption`] deserialize too:
//! their text is `Cow` so that a record read from a stream owns its strings while one written by a
//! scan still borrows them, and every field a diff does not need defaults when absent.

use std::borrow::Cow;

use serde::{Deserialize, Serialize, Serializer};

use crate::verdict::Status;

/// `source` of the document.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source<'a> {
    /// "etcd" or "snapshot".
    pub kind: &'a str,
    /// Live etcd endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<&'a [String]>,
    /// Snapshot path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a str>,
    /// The pinned revision.
    pub revision: i64,
    /// The etcd prefix scanned, with its trailing '/'.
    pub prefix: &'a str,
    /// Snapshot: the revision etcd had compacted to when it was saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compacted_revision: Option<i64>,
    /// Snapshot: "sha256 ok" | "sha256 mismatch" | "absent (member db)".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<&'a str>,
    /// Snapshot: the etcd backend schema version (`meta` bucket, etcd 3.6+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_storage_version: Option<&'a str>,
    /// Snapshot: the etcd cluster version (`cluster` bucket, etcd 3.5+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_cluster_version: Option<&'a str>,
    /// Snapshot: the raft index the backend had applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistent_index: Option<u64>,
    /// Snapshot: the raft term of that index (etcd 3.5+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    /// Kubernetes release whose storage versions are expected ("1.31").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// Why that release (flag, Node objects, or the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kube_version_basis: Option<&'a str>,
    /// KMS plugins: name, apiVersion, endpoint, healthz, version, keyId, error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms: Option<&'a [crate::envelope::kms_plugin::PluginStatus]>,
    /// What the reader must know about the source (an unverified snapshot, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<&'a [String]>,
}

/// `encryptionConfig` of the document.
#[derive(Clone, Debug, Serialize)]
pub struct EncryptionConfig<'a> {
    /// Path as given.
    pub path: &'a str,
    /// Hex sha256 of the file bytes (kube-apiserver's reload hash, without `sha256:`).
    pub sha256: &'a str,
    /// What kube-apiserver would say of it (KMS v1 without the `KMSv1` gate, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<&'a [String]>,
}

/// `encryption` of a record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encryption<'a> {
    /// "aescbc" | "aesgcm" | "secretbox" | "kms" | "identity"; null when no known provider.
    pub provider: Option<Cow<'a, str>>,
    /// "v1" | "v2" for kms.
    pub kms_api_version: Option<Cow<'a, str>>,
    /// Key name, or the KMS provider name.
    pub key_name: Option<Cow<'a, str>>,
    /// KMS v2 keyID.
    pub key_id: Option<Cow<'a, str>>,
}

/// One object record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record<'a> {
    /// The etcd key (lossy UTF-8).
    pub key: Cow<'a, str>,
    /// The exact key bytes, base64 (standard), only when the key is not UTF-8: two such keys
    /// can share one lossy `key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_base64: Option<String>,
    /// etcd mod_revision.
    pub mod_revision: i64,
    /// etcd create_revision.
    #[serde(default)]
    pub create_revision: i64,
    /// etcd version.
    #[serde(default)]
    pub version: i64,
    /// etcd lease.
    #[serde(default)]
    pub lease: i64,
    /// API group, "" for core.
    #[serde(default)]
    pub group: Cow<'a, str>,
    /// Resource (plural).
    #[serde(default)]
    pub resource: Cow<'a, str>,
    /// Namespace from the key.
    pub namespace: Option<Cow<'a, str>>,
    /// Name from the key.
    pub name: Option<Cow<'a, str>>,
    /// Envelope.
    #[serde(default)]
    pub encryption: Encryption<'a>,
    /// Payload encoding.
    pub encoding: Option<Cow<'a, str>>,
    /// Stored apiVersion.
    pub api_version: Option<Cow<'a, str>>,
    /// Stored kind.
    pub kind: Option<Cow<'a, str>>,
    /// metadata.uid.
    pub uid: Option<Cow<'a, str>>,
    /// The storage version it should have.
    pub expected_api_version: Option<Cow<'a, str>>,
    /// current | stale | unreadable | skipped.
    #[serde(serialize_with = "status_str")]
    pub status: Status,
    /// Why.
    #[serde(default)]
    pub reasons: Cow<'a, [String]>,
}

// `Status` has no `Serialize` of its own (crate::verdict); the contract spells it `as_str`.
fn status_str<S: Serializer>(status: &Status, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

/// One `byResource` row.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group<'a> {
    /// API group.
    pub group: &'a str,
    /// Resource.
    pub resource: &'a str,
    /// Provider, null when unknown.
    pub provider: Option<&'a str>,
    /// Key name.
    pub key_name: Option<&'a str>,
    /// Stored apiVersion.
    pub api_version: Option<&'a str>,
    /// Stored kind.
    pub kind: Option<&'a str>,
    /// Status.
    pub status: &'a str,
    /// Number of keys.
    pub count: u64,
}

/// A compaction restart.
#[derive(Clone, Debug, Serialize)]
pub struct Restart {
    /// Compacted revision.
    pub from: i64,
    /// Revision resumed at.
    pub to: i64,
}

/// `summary` of the document.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    /// Keys under the prefix: current + stale + unreadable + skipped.
    pub keys: u64,
    /// Current.
    pub current: u64,
    /// Stale.
    pub stale: u64,
    /// Unreadable.
    pub unreadable: u64,
    /// Skipped.
    pub skipped: u64,
    /// Grouped counts.
    pub by_resource: Vec<Group<'a>>,
    /// CRDs found in etcd: storage version, storedVersions, versions in use, what can be trimmed.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub crds: &'a [super::CrdReport],
    /// `--kubeconfig`: the comparison with the API server's storageVersionHash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery<'a>>,
    /// What the operator should know beyond the counts (e.g. KMS v1 KEK rotations).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// `--history`: what etcd's retained history still holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<History<'a>>,
    /// Restarts after the pinned revision was compacted (records after a restart were read at
    /// the newer revision).
    pub compaction_restarts: Vec<Restart>,
}

/// One `history.byResource` row.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryGroup<'a> {
    /// API group.
    pub group: &'a str,
    /// Resource.
    pub resource: &'a str,
    /// Provider named by the stored prefix; null for an unknown `k8s:enc:` provider.
    pub provider: Option<&'a str>,
    /// Key name.
    pub key_name: Option<&'a str>,
    /// Superseded revisions.
    pub revisions: u64,
    /// Oldest of them.
    pub oldest_revision: i64,
    /// Newest of them.
    pub newest_revision: i64,
    /// Why they matter under the current config; null when they do not.
    pub exposure: Option<&'a str>,
}

/// Free bbolt pages (snapshot only).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FreePages {
    /// Pages not reachable from the tree.
    pub scanned: u64,
    /// Of those, pages still holding `k8s:enc:` or `k8s\0` bytes.
    pub with_object_bytes: u64,
}

/// `summary.history`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History<'a> {
    /// Revisions examined.
    pub retained_revisions: u64,
    /// Revisions superseded by a later write or a delete.
    pub superseded_revisions: u64,
    /// Superseded revisions that expose plaintext or retired keys.
    pub exposed_revisions: u64,
    /// Per resource × envelope.
    pub by_resource: Vec<HistoryGroup<'a>>,
    /// Snapshot only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_pages: Option<FreePages>,
    /// What removes them.
    pub remediation: Vec<String>,
}

/// `summary.discovery`.
#[derive(Clone, Debug, Serialize)]
pub struct Discovery<'a> {
    /// Per resource the server publishes a storageVersionHash for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<&'a [crate::discovery::Comparison]>,
    /// Why discovery could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}
