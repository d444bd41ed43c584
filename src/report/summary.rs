//! The summary accumulated alongside the records: totals, grouped counts and what else the scan
//! found (custom resource versions, CRDs, the comparison with discovery).

use std::collections::BTreeMap;

use crate::crd::CrdUsage;
use crate::discovery::Comparison;
use crate::history::History;
use crate::source::Restart;
use crate::verdict::{Record, Status};

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
    pub(super) run: Option<(GroupKey, u64)>,
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
}
