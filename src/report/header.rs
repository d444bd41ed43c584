//! What a scan was of: the source, its pinned revision and the EncryptionConfiguration.

use crate::envelope::kms_plugin::PluginStatus;

/// Snapshot: what etcd recorded in the backend file's `meta` and `cluster` buckets. Each field is
/// present only when that etcd release writes it (term and clusterVersion since 3.5,
/// storageVersion since 3.6).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backend {
    /// `meta/storageVersion`: the backend schema version ("3.6.0").
    pub storage_version: Option<String>,
    /// `cluster/clusterVersion`: the cluster version when it was written ("3.5.0").
    pub cluster_version: Option<String>,
    /// `meta/consistent_index`: the raft index applied.
    pub consistent_index: Option<u64>,
    /// `meta/term`: the raft term of that index.
    pub term: Option<u64>,
}

impl Backend {
    /// "storage version 3.6.0, cluster version 3.6.0, consistent index 9, term 2", omitting what
    /// is absent; `None` when nothing is known.
    pub fn describe(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.storage_version.as_ref().map(|v| format!("storage version {v}")),
            self.cluster_version.as_ref().map(|v| format!("cluster version {v}")),
            self.consistent_index.map(|i| format!("consistent index {i}")),
            self.term.map(|t| format!("term {t}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// What was scanned, known once the first page has pinned the revision.
#[derive(Clone, Debug, Default)]
pub struct Header {
    /// "etcd" or "snapshot".
    pub source_kind: &'static str,
    /// Live endpoints.
    pub endpoints: Vec<String>,
    /// Snapshot path.
    pub path: Option<String>,
    /// Pinned revision.
    pub revision: i64,
    /// Normalized prefix.
    pub prefix: String,
    /// (path, sha256 hex) of the EncryptionConfiguration.
    pub encryption_config: Option<(String, String)>,
    /// Snapshot: compacted revision.
    pub compacted_revision: Option<i64>,
    /// Snapshot: trailer check.
    pub integrity: Option<&'static str>,
    /// Snapshot: what the backend says of the etcd that wrote it.
    pub backend: Option<Backend>,
    /// KMS plugins' Status/Version at connect.
    pub kms: Vec<PluginStatus>,
    /// Kubernetes minor release whose storage versions were expected, and why that one.
    pub kube_version: Option<(u32, String)>,
    /// What the reader of the report must know about the source (e.g. an unverified snapshot):
    /// JSON `source.warnings`, one `Warning:` line each in the table header.
    pub source_warnings: Vec<String>,
    /// What kube-apiserver would say of the EncryptionConfiguration (e.g. KMS v1 needs the
    /// `KMSv1` gate): JSON `encryptionConfig.warnings`, `Warning:` lines in the table header.
    pub config_warnings: Vec<String>,
}
