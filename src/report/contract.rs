//! The internal report types as the `atrest/v1` contract types of [`wire`](super::wire), borrowing
//! rather than copying.

use std::borrow::Cow;

use super::{Header, Summary, wire};
use crate::history::History;
use crate::verdict::Record;

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

impl Summary {
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

/// The contract's record, borrowing from `rec`; `key` must be the lossy UTF-8 of `rec.key`.
pub fn wire_record<'a>(rec: &'a Record, key: &'a str) -> wire::Record<'a> {
    let enc = rec.encryption.as_ref();
    let text = |s: Option<&'a str>| s.map(Cow::Borrowed);
    wire::Record {
        key: Cow::Borrowed(key),
        key_base64: std::str::from_utf8(&rec.key).is_err().then(|| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&rec.key)
        }),
        mod_revision: rec.mod_revision,
        create_revision: rec.create_revision,
        version: rec.version,
        lease: rec.lease,
        group: Cow::Borrowed(&rec.info.group),
        resource: Cow::Borrowed(&rec.info.resource),
        namespace: text(rec.info.namespace.as_deref()),
        name: text(rec.info.name.as_deref()),
        encryption: wire::Encryption {
            provider: text(enc.map(|e| e.provider.as_str())),
            kms_api_version: text(enc.and_then(|e| e.kms_api_version).map(|v| v.as_str())),
            key_name: text(enc.and_then(|e| e.key_name.as_deref())),
            key_id: text(enc.and_then(|e| e.key_id.as_deref())),
        },
        encoding: text(rec.encoding.map(|e| e.as_str())),
        api_version: text(rec.facts.api_version.as_deref()),
        kind: text(rec.facts.kind.as_deref()),
        uid: text(rec.facts.uid.as_deref()),
        expected_api_version: text(rec.expected_api_version.as_deref()),
        status: rec.status,
        reasons: Cow::Borrowed(&rec.reasons),
    }
}
