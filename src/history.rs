//! History exposure: what etcd's retained history still holds after a rewrite or a rotation.
//!
//! A rewrite leaves the previous bytes in etcd's MVCC history until `etcdctl compact`, and the
//! bbolt file may keep the pages until `etcdctl defrag`; backups keep all of it. This counts the
//! superseded revisions (older values of a key, and the last value before a delete) per resource
//! and envelope, and flags the ones that expose something the current config no longer allows:
//! plaintext of a resource that is now encrypted, or data under a key that is no longer the
//! write key.

use std::collections::BTreeMap;

use crate::envelope::{self, Encryption, ProviderKind};
use crate::keyspace;
use crate::source::{RawKv, Source, SourceError};
use crate::verdict::Judge;

/// One group of superseded revisions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HistoryKey {
    /// API group.
    pub group: String,
    /// Resource.
    pub resource: String,
    /// Provider named by the value's prefix (None: unknown `k8s:enc:` provider).
    pub provider: Option<&'static str>,
    /// Key name from the prefix.
    pub key_name: Option<String>,
}

/// Counts for one [`HistoryKey`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryStats {
    /// Superseded revisions.
    pub revisions: u64,
    /// Oldest of them (mod revision).
    pub oldest_revision: i64,
    /// Newest of them.
    pub newest_revision: i64,
    /// Why these revisions are an exposure under the current config, if they are.
    pub exposure: Option<String>,
}

/// Aggregated history of one source.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Revisions with a value under the prefix: the current ones plus the superseded ones.
    pub retained_revisions: u64,
    /// Revisions superseded by a later write or a delete.
    pub superseded_revisions: u64,
    /// Superseded revisions flagged as an exposure.
    pub exposed_revisions: u64,
    /// Per resource × envelope.
    pub groups: BTreeMap<HistoryKey, HistoryStats>,
    /// Snapshot only: (free pages scanned, free pages holding envelope or protobuf magic).
    pub free_pages: Option<(u64, u64)>,
}

impl History {
    /// Reads what `source` retains under the judge's prefix: every superseded value (a live
    /// etcd is pinned to the revision it replays up to) and, in a snapshot, the free pages
    /// that still hold object bytes.
    pub fn read(source: &mut Source, judge: &Judge<'_>) -> Result<Self, SourceError> {
        let mut history = Self::default();
        source.superseded(judge.prefix, &mut |kv| history.add_superseded(judge, kv))?;
        history.free_pages = source.free_pages(&[b"k8s:enc:", b"k8s\0"])?;
        Ok(history)
    }

    /// Counts one superseded revision: a value of a key under the judge's prefix that a later
    /// write or a delete replaced, but that etcd still retains.
    pub fn add_superseded(&mut self, judge: &Judge<'_>, kv: &RawKv) {
        let info = keyspace::classify(&kv.key, judge.prefix);
        if info.not_an_object.is_some() {
            return;
        }
        if !kv.key.starts_with(judge.prefix) {
            return;
        }
        self.superseded_revisions += 1;
        let enc = envelope::identify(&kv.value)
            .or_else(|| (!envelope::is_enveloped(&kv.value)).then(Encryption::identity));
        let exposure = exposure(judge, &info.group, &info.resource, enc.as_ref());
        if exposure.is_some() {
            self.exposed_revisions += 1;
        }
        let key = HistoryKey {
            group: info.group,
            resource: info.resource,
            provider: enc.as_ref().map(|e| e.provider.as_str()),
            key_name: enc.and_then(|e| e.key_name),
        };
        let stats = self.groups.entry(key).or_insert_with(|| HistoryStats {
            oldest_revision: kv.mod_revision,
            newest_revision: kv.mod_revision,
            ..HistoryStats::default()
        });
        stats.revisions += 1;
        stats.oldest_revision = stats.oldest_revision.min(kv.mod_revision);
        stats.newest_revision = stats.newest_revision.max(kv.mod_revision);
        stats.exposure = stats.exposure.take().or(exposure);
    }
}

impl History {
    /// Completes the counts once the scan knows how many current keys there are.
    pub fn finish(&mut self, current_keys: u64) {
        self.retained_revisions = self.superseded_revisions + current_keys;
    }
}

/// Why a superseded value is an exposure under the current config.
fn exposure(
    judge: &Judge<'_>,
    group: &str,
    resource: &str,
    enc: Option<&Encryption>,
) -> Option<String> {
    let Some(enc) = enc else {
        return Some("encrypted by an unknown provider".to_owned());
    };
    let Some(config) = judge.config else {
        // Without a config only plaintext Secrets are certain to be sensitive.
        return (enc.provider == ProviderKind::Identity
            && group.is_empty()
            && resource == "secrets")
            .then(|| "plaintext Secret data".to_owned());
    };
    let write = config.providers_for(group, resource).and_then(|chain| chain.first())?;
    let write_kind = write.kind();
    if enc.provider == ProviderKind::Identity {
        return (write_kind != ProviderKind::Identity).then(|| {
            format!("plaintext, but {resource} are now encrypted with {}", write.label())
        });
    }
    if enc.provider != write_kind {
        return Some(format!(
            "under {}, which is no longer the write provider",
            enc.provider.as_str()
        ));
    }
    match (enc.key_name.as_deref(), write.write_key_name()) {
        (Some(old), Some(current)) if old != current => {
            Some(format!("under key {old}, not the write key {current}"))
        }
        _ => None,
    }
}
