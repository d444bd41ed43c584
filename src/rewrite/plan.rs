//! What to rewrite: the stale objects of a scan, and what a no-op write cannot fix.

use std::collections::BTreeMap;

use crate::discovery::{ServerDiscovery, storage_version_hash};
use crate::keyspace::group_resource;
use crate::verdict::{Record, Status};

/// One object to rewrite, as etcd had it when planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The etcd key.
    pub key: Vec<u8>,
    /// API group (`""` for core).
    pub group: String,
    /// Resource (plural).
    pub resource: String,
    /// Namespace, for namespaced objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// `metadata.uid`: the apply's precondition (a recreated object is not ours to touch).
    pub uid: String,
    /// etcd mod_revision = the resourceVersion precondition.
    pub resource_version: i64,
    /// The stored apiVersion and kind, for the storage-version check against discovery.
    pub api_version: Option<String>,
    /// Stored kind.
    pub kind: Option<String>,
    /// The storage version expected, when known.
    pub expected_api_version: Option<String>,
    /// The envelope is stale (a write re-encrypts it whatever the version).
    pub envelope_stale: bool,
    /// Why it is stale.
    pub reasons: Vec<String>,
}

impl Target {
    /// The etcd key as text (keys are ASCII in practice; lossy otherwise).
    pub fn key_str(&self) -> String {
        String::from_utf8_lossy(&self.key).into_owned()
    }

    /// `resource.group` (or `resource` for core), as kubectl names it.
    pub fn group_resource(&self) -> String {
        group_resource(&self.group, &self.resource)
    }
}

/// A finding of the plan: an object a rewrite cannot move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfixable {
    /// The etcd key.
    pub key: String,
    /// Why.
    pub reason: String,
}

/// The plan: stale objects to write, and the ones no write can fix.
#[derive(Debug, Default)]
pub struct Plan {
    /// The revision the plan was scanned at.
    pub revision: i64,
    /// Keys scanned.
    pub keys: u64,
    /// Stale objects, in key order.
    pub targets: Vec<Target>,
    /// Unreadable objects, and stale ones without a uid.
    pub unfixable: Vec<Unfixable>,
    /// Objects read through KMS v1 and judged current: a KEK rotation is invisible to them.
    pub kms_v1_current: u64,
}

impl Plan {
    /// Targets per `resource.group`, in name order.
    pub fn by_resource(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for t in &self.targets {
            *out.entry(t.group_resource()).or_insert(0) += 1;
        }
        out
    }

    /// Adds one scanned record.
    pub fn add(&mut self, rec: &Record) {
        self.keys += 1;
        let key = String::from_utf8_lossy(&rec.key).into_owned();
        match rec.status {
            Status::Stale => match (&rec.facts.uid, &rec.info.name) {
                (Some(uid), Some(name)) => self.targets.push(Target {
                    key: rec.key.clone(),
                    group: rec.info.group.clone(),
                    resource: rec.info.resource.clone(),
                    namespace: rec.info.namespace.clone(),
                    name: name.clone(),
                    uid: uid.clone(),
                    resource_version: rec.mod_revision,
                    api_version: rec.facts.api_version.clone(),
                    kind: rec.facts.kind.clone(),
                    expected_api_version: rec.expected_api_version.clone(),
                    envelope_stale: rec.envelope_stale,
                    reasons: rec.reasons.clone(),
                }),
                _ => self.unfixable.push(Unfixable {
                    key,
                    reason: "stale, but the object has no metadata.uid or name to send a \
                             precondition with"
                        .into(),
                }),
            },
            Status::Unreadable => self.unfixable.push(Unfixable {
                key,
                reason: format!(
                    "unreadable ({}): kube-apiserver cannot read it either, so a write fails; \
                     restore the key it needs to the EncryptionConfiguration, or delete the object",
                    rec.reasons.join("; ")
                ),
            }),
            Status::Current => {
                if rec
                    .encryption
                    .as_ref()
                    .is_some_and(|e| e.kms_api_version == Some(crate::config::KmsApiVersion::V1))
                {
                    self.kms_v1_current += 1;
                }
            }
            Status::Skipped => {}
        }
    }

    /// Warnings for objects a no-op write will not migrate (storage-layout doc §5.1), checked
    /// against the API server's discovery: a resource it does not serve (removed API, or served
    /// by an aggregated server) cannot be written; a version-stale object the server already
    /// stores at its stored version is not re-encoded differently.
    pub fn warnings(&self, server: &ServerDiscovery) -> Vec<String> {
        let mut not_served: BTreeMap<String, u64> = BTreeMap::new();
        let mut not_patchable: BTreeMap<String, u64> = BTreeMap::new();
        let mut same_version: BTreeMap<(String, String), u64> = BTreeMap::new();
        for t in &self.targets {
            let gr = (t.group.clone(), t.resource.clone());
            let Some(served) = server.served.get(&gr) else {
                *not_served.entry(t.group_resource()).or_insert(0) += 1;
                continue;
            };
            if !served.verbs.iter().any(|v| v == "patch") {
                *not_patchable.entry(t.group_resource()).or_insert(0) += 1;
            }
            let version_stale =
                t.expected_api_version.is_some() && t.expected_api_version != t.api_version;
            if let (true, false, Some(Some(hash)), Some(av), Some(kind)) =
                (version_stale, t.envelope_stale, server.hashes.get(&gr), &t.api_version, &t.kind)
            {
                let (g, v) = av.rsplit_once('/').unwrap_or(("", av));
                if &storage_version_hash(g, v, kind) == hash {
                    *same_version.entry((t.group_resource(), av.clone())).or_insert(0) += 1;
                }
            }
        }
        let mut out = Vec::new();
        for (gr, n) in not_served {
            out.push(format!(
                "{n} {gr}: the API server does not serve this resource (API removed, or an \
                 aggregated API); they cannot be rewritten and will stay stale"
            ));
        }
        for (gr, n) in not_patchable {
            out.push(format!("{n} {gr}: the API server does not allow patch on this resource"));
        }
        for ((gr, av), n) in same_version {
            out.push(format!(
                "{n} {gr}: stored as {av}, which is what the API server stores them as \
                 (storageVersionHash); a no-op write will not change their version (check \
                 --kube-version)"
            ));
        }
        if !self.unfixable.is_empty() {
            out.push(format!(
                "{} objects cannot be rewritten (unreadable, or no uid); they are listed in the \
                 plan",
                self.unfixable.len()
            ));
        }
        if self.kms_v1_current > 0 {
            out.push(format!(
                "{} objects are current under KMS v1: {}",
                self.kms_v1_current,
                crate::verdict::KMS_V1_NOTE
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::Served;

    fn target(api_version: &str, expected: &str, envelope_stale: bool) -> Target {
        Target {
            key: b"/registry/horizontalpodautoscalers/a/b".to_vec(),
            group: "autoscaling".into(),
            resource: "horizontalpodautoscalers".into(),
            namespace: Some("a".into()),
            name: "b".into(),
            uid: "u".into(),
            resource_version: 3,
            api_version: Some(api_version.into()),
            kind: Some("HorizontalPodAutoscaler".into()),
            expected_api_version: Some(expected.into()),
            envelope_stale,
            reasons: vec!["why".into()],
        }
    }

    #[test]
    fn warns_only_where_a_no_op_write_cannot_move_the_object() {
        let gr = ("autoscaling".to_owned(), "horizontalpodautoscalers".to_owned());
        let mut server = ServerDiscovery::default();
        // The server stores v1: atrest's table (v2) disagrees with it.
        let hash = storage_version_hash("autoscaling", "v1", "HorizontalPodAutoscaler");
        server.hashes.insert(gr.clone(), Some(hash));
        server.served.insert(
            gr,
            Served {
                group_version: "autoscaling/v2".into(),
                kind: "HorizontalPodAutoscaler".into(),
                namespaced: true,
                verbs: vec!["patch".into()],
            },
        );
        let version_only = Plan {
            targets: vec![target("autoscaling/v1", "autoscaling/v2", false)],
            ..Plan::default()
        };
        let w = version_only.warnings(&server);
        assert!(w.len() == 1 && w[0].contains("a no-op write will not change"), "{w:?}");
        // Stale envelope too: the write re-encrypts it, so no warning.
        let both = Plan {
            targets: vec![target("autoscaling/v1", "autoscaling/v2", true)],
            ..Plan::default()
        };
        assert!(both.warnings(&server).is_empty());
        // Not served at all.
        let mut other = target("autoscaling/v1", "autoscaling/v2", true);
        other.group = "gone.example.com".into();
        let unserved = Plan { targets: vec![other], ..Plan::default() };
        assert!(unserved.warnings(&server)[0].contains("does not serve"));
    }
}
