//! Reports: every judged record is pushed into a [`ReportSink`] as it is produced (nothing
//! collects the keyspace); the [`Summary`] is accumulated alongside and handed over at the end.

pub mod html;
pub mod json;
pub mod prometheus;
pub mod table;
pub mod wire;

use std::collections::BTreeMap;
use std::io;

use crate::crd::{CrdIndex, CrdUsage};
use crate::discovery::{Comparison, Found, ServerDiscovery, compare};
use crate::envelope::kms_plugin::PluginStatus;
use crate::history::History;
use crate::source::Restart;
use crate::verdict::Judge;
use crate::verdict::{Record, Status};

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

impl Header {
    /// The contract's `source` object.
    pub fn wire_source(&self) -> wire::Source<'_> {
        wire::Source {
            kind: self.source_kind,
            endpoints: (self.source_kind == "etcd").then_some(self.endpoints.as_slice()),
            path: self.path.as_deref(),
            revision: self.revision,
            prefix: &self.prefix,
            compacted_revision: self.compacted_revision,
            integrity: self.integrity,
            etcd_storage_version: self.backend.as_ref().and_then(|b| b.storage_version.as_deref()),
            etcd_cluster_version: self.backend.as_ref().and_then(|b| b.cluster_version.as_deref()),
            consistent_index: self.backend.as_ref().and_then(|b| b.consistent_index),
            term: self.backend.as_ref().and_then(|b| b.term),
            kms: (!self.kms.is_empty()).then_some(self.kms.as_slice()),
            kube_version: self.kube_version.as_ref().map(|(m, _)| format!("1.{m}")),
            kube_version_basis: self.kube_version.as_ref().map(|(_, b)| b.as_str()),
            warnings: (!self.source_warnings.is_empty()).then_some(self.source_warnings.as_slice()),
        }
    }

    /// The contract's `encryptionConfig` object.
    pub fn wire_config(&self) -> Option<wire::EncryptionConfig<'_>> {
        self.encryption_config.as_ref().map(|(path, sha256)| wire::EncryptionConfig {
            path,
            sha256,
            warnings: (!self.config_warnings.is_empty()).then_some(self.config_warnings.as_slice()),
        })
    }
}

/// The grouping of the summary: resource × provider:key × apiVersion × status.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    /// API group.
    pub group: String,
    /// Resource.
    pub resource: String,
    /// Provider.
    pub provider: Option<&'static str>,
    /// Key name.
    pub key_name: Option<String>,
    /// Stored apiVersion.
    pub api_version: Option<String>,
    /// Stored kind (with the apiVersion, what discovery's storageVersionHash is made of).
    pub kind: Option<String>,
    /// Status.
    pub status: Status,
}

impl GroupKey {
    fn matches(&self, rec: &Record) -> bool {
        let enc = rec.encryption.as_ref();
        self.status == rec.status
            && self.provider == enc.map(|e| e.provider.as_str())
            && self.key_name.as_deref() == enc.and_then(|e| e.key_name.as_deref())
            && self.api_version == rec.facts.api_version
            && self.kind == rec.facts.kind
            && self.resource == rec.info.resource
            && self.group == rec.info.group
    }
}

/// Totals and grouped counts. Invariant: `keys == current + stale + unreadable + skipped`.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Keys seen.
    pub keys: u64,
    /// Current.
    pub current: u64,
    /// Stale.
    pub stale: u64,
    /// Unreadable.
    pub unreadable: u64,
    /// Skipped.
    pub skipped: u64,
    /// Grouped counts (skipped keys are counted in the totals but not grouped). Complete after
    /// [`Summary::flush_run`].
    pub groups: BTreeMap<GroupKey, u64>,
    /// The group of the last records added, and how many.
    run: Option<(GroupKey, u64)>,
    /// Compaction restarts.
    pub restarts: Vec<Restart>,
    /// `--history` results.
    pub history: Option<History>,
    /// The revision scanned (for remediation advice).
    pub revision: i64,
    /// Objects read through a KMS v1 provider and judged current.
    pub kms_v1_current: u64,
    /// Custom resources per (group, plural) per stored version.
    pub cr_versions: BTreeMap<(String, String), CrdUsage>,
    /// The CRDs found in etcd and what their objects use (set at the end of a scan).
    pub crds: Vec<CrdReport>,
    /// `--kubeconfig`: the comparison with the API server's discovery, or why there is none.
    pub discovery: Option<Result<Vec<Comparison>, String>>,
}

/// One CRD in the summary: its versions and what its objects actually use.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdReport {
    /// `<plural>.<group>`.
    pub name: String,
    /// The `storage: true` version.
    pub storage_version: Option<String>,
    /// `status.storedVersions`.
    pub stored_versions: Vec<String>,
    /// Version → objects stored at it.
    pub versions_in_use: BTreeMap<String, u64>,
    /// storedVersions entries no object uses (safe to trim).
    pub trimmable: Vec<String>,
    /// Versions in use that storedVersions does not list (dangerous).
    pub unlisted_in_use: Vec<String>,
    /// What is wrong with the CRD itself.
    pub problem: Option<String>,
}

impl Summary {
    /// Compares what the scan found with the API server's storageVersionHash per resource.
    pub fn set_discovery(&mut self, server: Result<ServerDiscovery, String>, judge: &Judge<'_>) {
        self.discovery = Some(server.map(|server| {
            let mut found: Found = BTreeMap::new();
            for (k, n) in &self.groups {
                if let (Some(v), Some(kind)) = (&k.api_version, &k.kind) {
                    *found
                        .entry((k.group.clone(), k.resource.clone()))
                        .or_default()
                        .entry((v.clone(), kind.clone()))
                        .or_default() += n;
                }
            }
            compare(&server, &found, |group, resource| {
                let versions = judge.versions?;
                match versions.crds.get(group, resource) {
                    Some(crd) => crd.storage_version.as_ref().map(|v| format!("{group}/{v}")),
                    None => crate::storage_versions::expected_api_version(
                        group,
                        resource,
                        versions.minor,
                    )
                    .map(str::to_owned),
                }
            })
        }));
    }

    /// Builds the CRD section from the CRDs read before the scan.
    pub fn set_crds(&mut self, index: &CrdIndex) {
        self.crds = index
            .all()
            .into_iter()
            .map(|crd| {
                let usage = self
                    .cr_versions
                    .get(&(crd.group.clone(), crd.plural.clone()))
                    .cloned()
                    .unwrap_or_default();
                CrdReport {
                    name: crd.name.clone(),
                    storage_version: crd.storage_version.clone(),
                    stored_versions: crd.stored_versions.clone(),
                    trimmable: usage.trimmable(crd),
                    unlisted_in_use: usage.unlisted(crd),
                    versions_in_use: usage.versions_in_use,
                    problem: crd.problem.clone(),
                }
            })
            .chain(index.unreadable.iter().map(|(key, why)| CrdReport {
                name: key.clone(),
                problem: Some(format!("cannot read this CRD: {why}")),
                ..CrdReport::default()
            }))
            .collect();
    }
}

impl Summary {
    /// Counts one record.
    pub fn add(&mut self, rec: &Record) {
        self.keys += 1;
        match rec.status {
            Status::Current => self.current += 1,
            Status::Stale => self.stale += 1,
            Status::Unreadable => self.unreadable += 1,
            Status::Skipped => {
                self.skipped += 1;
                return;
            }
        }
        // Versions in use per custom resource (only CRDs' own resources are looked up).
        if rec.info.group_in_key
            && let Some((_, version)) =
                rec.facts.api_version.as_deref().and_then(|a| a.split_once('/'))
        {
            *self
                .cr_versions
                .entry((rec.info.group.clone(), rec.info.resource.clone()))
                .or_default()
                .versions_in_use
                .entry(version.to_owned())
                .or_default() += 1;
        }
        if rec.status == Status::Current
            && rec.encryption.as_ref().and_then(|e| e.kms_api_version)
                == Some(crate::envelope::KmsApiVersion::V1)
        {
            self.kms_v1_current += 1;
        }
        // Records arrive in key order, so neighbours mostly share a group: count runs and touch
        // the map only when the group changes (this runs on the one thread that writes output).
        if let Some((last, n)) = &mut self.run
            && last.matches(rec)
        {
            *n += 1;
            return;
        }
        self.flush_run();
        let key = GroupKey {
            group: rec.info.group.clone(),
            resource: rec.info.resource.clone(),
            provider: rec.encryption.as_ref().map(|e| e.provider.as_str()),
            key_name: rec.encryption.as_ref().and_then(|e| e.key_name.clone()),
            api_version: rec.facts.api_version.clone(),
            kind: rec.facts.kind.clone(),
            status: rec.status,
        };
        self.run = Some((key, 1));
    }

    /// Moves the current run of equal groups into `groups`; called by `add` and before reading.
    pub fn flush_run(&mut self) {
        if let Some((key, n)) = self.run.take() {
            *self.groups.entry(key).or_default() += n;
        }
    }

    /// What the operator should know beyond the counts.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.kms_v1_current > 0 {
            notes.push(format!(
                "{} objects are under KMS v1 and current: {}",
                self.kms_v1_current,
                crate::verdict::KMS_V1_NOTE
            ));
        }
        notes
    }

    /// The contract's `summary` object.
    pub fn to_wire(&self) -> wire::Summary<'_> {
        wire::Summary {
            keys: self.keys,
            current: self.current,
            stale: self.stale,
            unreadable: self.unreadable,
            skipped: self.skipped,
            by_resource: self
                .groups
                .iter()
                .map(|(k, &count)| wire::Group {
                    group: &k.group,
                    resource: &k.resource,
                    provider: k.provider,
                    key_name: k.key_name.as_deref(),
                    api_version: k.api_version.as_deref(),
                    kind: k.kind.as_deref(),
                    status: k.status.as_str(),
                    count,
                })
                .collect(),
            history: self.history.as_ref().map(|h| wire_history(h, self.revision)),
            notes: self.notes(),
            crds: &self.crds,
            discovery: self.discovery.as_ref().map(|d| match d {
                Ok(c) => wire::Discovery { resources: Some(c.as_slice()), error: None },
                Err(e) => wire::Discovery { resources: None, error: Some(e.as_str()) },
            }),
            compaction_restarts: self
                .restarts
                .iter()
                .map(|r| wire::Restart { from: r.from, to: r.to })
                .collect(),
        }
    }
}

/// What removes superseded revisions: compaction at the scanned revision drops every older
/// value that a later write replaced; defrag then returns the freed pages.
pub fn remediation(h: &History, revision: i64) -> Vec<String> {
    if h.superseded_revisions == 0 && h.free_pages.is_none_or(|(_, hits)| hits == 0) {
        return Vec::new();
    }
    let mut steps = Vec::new();
    if h.superseded_revisions > 0 {
        steps.push(format!(
            "etcdctl compact {revision}: drops the {} superseded revisions (kube-apiserver also compacts every 5 minutes)",
            h.superseded_revisions
        ));
    }
    steps.push(
        "etcdctl defrag (on every member): frees the pages that still hold the old bytes"
            .to_owned(),
    );
    steps.push(format!(
        "backups taken before that compaction still carry them; this source holds history up to revision {revision}"
    ));
    steps
}

fn wire_history(h: &History, revision: i64) -> wire::History<'_> {
    wire::History {
        retained_revisions: h.retained_revisions,
        superseded_revisions: h.superseded_revisions,
        exposed_revisions: h.exposed_revisions,
        by_resource: h
            .groups
            .iter()
            .map(|(k, v)| wire::HistoryGroup {
                group: &k.group,
                resource: &k.resource,
                provider: k.provider,
                key_name: k.key_name.as_deref(),
                revisions: v.revisions,
                oldest_revision: v.oldest_revision,
                newest_revision: v.newest_revision,
                exposure: v.exposure.as_deref(),
            })
            .collect(),
        free_pages: h
            .free_pages
            .map(|(scanned, hits)| wire::FreePages { scanned, with_object_bytes: hits }),
        remediation: remediation(h, revision),
    }
}

/// The stale and unreadable records a report for people lists: the first `limit` as rows, and
/// how many there were in all.
#[derive(Debug)]
pub struct Findings<T> {
    /// The rows kept, in key order.
    pub rows: Vec<T>,
    /// Stale and unreadable records seen.
    pub total: u64,
    limit: Option<usize>,
}

impl<T> Findings<T> {
    /// Keeps at most `limit` rows (None: all).
    pub fn new(limit: Option<usize>) -> Self {
        Self { rows: Vec::new(), total: 0, limit }
    }

    /// Counts `rec` if it is a finding, and keeps `row(rec)` while there is room.
    pub fn offer(&mut self, rec: &Record, row: impl FnOnce(&Record) -> T) {
        if !matches!(rec.status, Status::Stale | Status::Unreadable) {
            return;
        }
        self.total += 1;
        if self.limit.is_none_or(|l| self.rows.len() < l) {
            self.rows.push(row(rec));
        }
    }
}

/// `provider:key` as reports print it (`aescbc:key1`, `identity`, `<unknown>`).
pub fn provider_key(provider: Option<&str>, key_name: Option<&str>) -> String {
    match (provider, key_name) {
        (Some(p), Some(name)) => format!("{p}:{name}"),
        (Some(p), None) => p.to_owned(),
        (None, _) => "<unknown>".to_owned(),
    }
}

/// The contract's record, borrowing from `rec`; `key` must be the lossy UTF-8 of `rec.key`.
pub fn wire_record<'a>(rec: &'a Record, key: &'a str) -> wire::Record<'a> {
    let enc = rec.encryption.as_ref();
    wire::Record {
        key,
        key_base64: std::str::from_utf8(&rec.key).is_err().then(|| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&rec.key)
        }),
        mod_revision: rec.mod_revision,
        create_revision: rec.create_revision,
        version: rec.version,
        lease: rec.lease,
        group: &rec.info.group,
        resource: &rec.info.resource,
        namespace: rec.info.namespace.as_deref(),
        name: rec.info.name.as_deref(),
        encryption: wire::Encryption {
            provider: enc.map(|e| e.provider.as_str()),
            kms_api_version: enc.and_then(|e| e.kms_api_version).map(|v| v.as_str()),
            key_name: enc.and_then(|e| e.key_name.as_deref()),
            key_id: enc.and_then(|e| e.key_id.as_deref()),
        },
        encoding: rec.encoding.map(|e| e.as_str()),
        api_version: rec.facts.api_version.as_deref(),
        kind: rec.facts.kind.as_deref(),
        uid: rec.facts.uid.as_deref(),
        expected_api_version: rec.expected_api_version.as_deref(),
        status: rec.status.as_str(),
        reasons: &rec.reasons,
    }
}

/// A report format. Records arrive in key order, each exactly once.
pub trait ReportSink {
    /// Called once, before the first record.
    fn begin(&mut self, header: &Header) -> io::Result<()>;
    /// Called for every key.
    fn record(&mut self, rec: &Record) -> io::Result<()>;
    /// Called once after the last record, only when the scan finished.
    fn finish(&mut self, summary: &Summary) -> io::Result<()>;
}
