//! Who stores a group/resource: kube-apiserver's own (built-in) storage, or a
//! CustomResourceDefinition. Decided here and nowhere else.
//!
//! The decision never looks at the group's *name*: Gateway API (`gateway.networking.k8s.io`),
//! VolumeSnapshots (`snapshot.storage.k8s.io`), `policy.networking.k8s.io` and many more are CRDs
//! in `*.k8s.io` groups. What decides (layout doc §3, `kubernetes/apiserver:
//! pkg/server/storage/storage_factory.go` and `pkg/server/options/etcd.go`):
//! 1. The key's shape. Built-ins live under a resource prefix without the group
//!    (`/registry/deployments/…`, [`keyspace::BUILTIN`]); CRs, CRDs and APIServices under
//!    `<group>/<plural>/…` ([`KeyInfo::group_in_key`]). Of the latter only CRDs and APIServices
//!    are built-in ([`GROUP_PATH_BUILTINS`]).
//! 2. For a `<group>/<plural>` key, the CRD found in etcd wins over every built-in table. A CRD
//!    that names a group/resource kube-apiserver also serves as a built-in is itself a finding:
//!    kube-apiserver's handler chain (aggregator → built-in → apiextensions) serves the built-in,
//!    so its objects cannot be read or rewritten through the API.
//! 3. A `<group>/<plural>` key without a CRD is a custom resource whose CRD was deleted (or is
//!    unreadable).

use crate::crd::{Crd, CrdIndex};
use crate::keyspace::{self, KeyInfo};

/// Built-ins that kube-apiserver stores under `<group>/<resource>` (`SimpleStorageFactory`).
pub const GROUP_PATH_BUILTINS: &[(&str, &str)] = &[
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("apiregistration.k8s.io", "apiservices"),
];

/// Kubernetes' own API groups (`k8s.io/api`, `k8s.io/metrics`) that neither key table lists,
/// because kube-apiserver never stores their types (reviews, discovery, aggregated metrics) or
/// atrest has no storage row for them yet. Their protobuf types are in the bundled pool, so a
/// payload naming them decodes.
pub const OTHER_KUBERNETES_GROUPS: &[&str] = &[
    "admission.k8s.io",
    "apidiscovery.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "imagepolicy.k8s.io",
    "lifecycle.k8s.io",
    "metrics.k8s.io",
    "custom.metrics.k8s.io",
    "external.metrics.k8s.io",
];

/// Where the objects of one key come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin<'a> {
    /// kube-apiserver's own storage (including CRDs and APIServices themselves).
    BuiltIn,
    /// A custom resource of the CRD found in etcd.
    Custom {
        /// Its CRD.
        crd: &'a Crd,
        /// The CRD names a group/resource that is also built in (see the module docs).
        shadows_builtin: bool,
    },
    /// Stored like a custom resource, but no CRD in etcd defines it.
    CustomWithoutCrd,
}

/// Decides for one classified key (the one function: see the module docs).
pub fn origin<'a>(info: &KeyInfo, crds: &'a CrdIndex) -> Origin<'a> {
    let (group, resource) = (info.group.as_str(), info.resource.as_str());
    if !info.group_in_key || GROUP_PATH_BUILTINS.contains(&(group, resource)) {
        return Origin::BuiltIn;
    }
    match crds.get(group, resource) {
        Some(crd) => Origin::Custom { crd, shadows_builtin: is_builtin(group, resource) },
        None => Origin::CustomWithoutCrd,
    }
}

/// Whether kube-apiserver serves `group/resource` itself: every GroupResource of the key layout
/// table, of the storage-version table, and the two stored under their group path.
pub fn is_builtin(group: &str, resource: &str) -> bool {
    GROUP_PATH_BUILTINS.contains(&(group, resource))
        || keyspace::builtin_resources().any(|gr| gr == (group, resource))
        || crate::storage_versions::builtin_resources().any(|gr| gr == (group, resource))
}

/// Whether `group` is one of Kubernetes' own API groups, for payloads judged by their stored
/// apiVersion alone (which protobuf descriptors may decode them). CRD groups always contain a dot
/// (`apiextensions-apiserver` validation), so a group without one is built in (legacy groups such
/// as `extensions` included); a dotted group only if a built-in GroupResource uses it.
pub fn is_builtin_group(group: &str) -> bool {
    !group.contains('.')
        || OTHER_KUBERNETES_GROUPS.contains(&group)
        || GROUP_PATH_BUILTINS.iter().any(|(g, _)| *g == group)
        || keyspace::builtin_resources().any(|(g, _)| g == group)
        || crate::storage_versions::builtin_resources().any(|(g, _)| g == group)
}

/// The finding for a CRD that names a built-in group/resource, if it does.
pub fn shadowing_problem(crd: &Crd) -> Option<String> {
    is_builtin(&crd.group, &crd.plural).then(|| {
        format!(
            "defines {}, which kube-apiserver also serves as a built-in: the built-in handler \
             wins, so this CRD's objects cannot be read or rewritten through the API",
            keyspace::group_resource(&crd.group, &crd.plural)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(group: &str, plural: &str) -> Crd {
        Crd {
            name: format!("{plural}.{group}"),
            group: group.into(),
            plural: plural.into(),
            versions: vec!["v1".into()],
            storage_version: Some("v1".into()),
            stored_versions: vec!["v1".into()],
            problem: None,
        }
    }

    fn info(key: &str) -> KeyInfo {
        keyspace::classify(key.as_bytes(), b"/registry/")
    }

    #[test]
    fn crds_in_k8s_io_groups_are_custom_resources() {
        let mut crds = CrdIndex::default();
        for (g, p) in [
            ("gateway.networking.k8s.io", "httproutes"),
            ("snapshot.storage.k8s.io", "volumesnapshots"),
            ("policy.networking.k8s.io", "adminnetworkpolicies"),
            ("multicluster.x-k8s.io", "serviceexports"),
        ] {
            crds.insert(crd(g, p));
            let o = origin(&info(&format!("/registry/{g}/{p}/default/x")), &crds);
            assert!(
                matches!(o, Origin::Custom { shadows_builtin: false, crd } if crd.group == g),
                "{g}: {o:?}"
            );
            assert!(!is_builtin(g, p), "{g}/{p}");
        }
        // Its CRD deleted: still a custom resource, never a built-in.
        let gone = info("/registry/gateway.networking.k8s.io/grpcroutes/default/x");
        assert_eq!(origin(&gone, &crds), Origin::CustomWithoutCrd);
    }

    #[test]
    fn builtins_stay_builtin_whatever_their_group() {
        let crds = CrdIndex::default();
        for key in [
            "/registry/deployments/default/d",
            "/registry/ingress/default/i",
            "/registry/flowschemas/f",
            "/registry/storageclasses/s",
            "/registry/apiextensions.k8s.io/customresourcedefinitions/a.example.com",
            "/registry/apiregistration.k8s.io/apiservices/v1.apps",
        ] {
            assert_eq!(origin(&info(key), &crds), Origin::BuiltIn, "{key}");
        }
        for (g, r) in [
            ("networking.k8s.io", "ingresses"),
            ("flowcontrol.apiserver.k8s.io", "flowschemas"),
            ("apps", "deployments"),
            ("", "secrets"),
            ("events.k8s.io", "events"),
        ] {
            assert!(is_builtin(g, r), "{g}/{r}");
        }
        assert!(is_builtin_group("extensions") && is_builtin_group("storage.k8s.io"));
        assert!(!is_builtin_group("policy.networking.k8s.io"));
        assert!(!is_builtin_group("gateway.networking.k8s.io"));
    }

    #[test]
    fn a_crd_for_a_builtin_wins_and_is_a_finding() {
        let mut crds = CrdIndex::default();
        crds.insert(crd("networking.k8s.io", "ingresses"));
        let cr = info("/registry/networking.k8s.io/ingresses/default/x");
        assert!(matches!(origin(&cr, &crds), Origin::Custom { shadows_builtin: true, .. }));
        // The built-in's own keys are still the built-in's.
        assert_eq!(origin(&info("/registry/ingress/default/x"), &crds), Origin::BuiltIn);
        let c = crd("networking.k8s.io", "ingresses");
        assert!(shadowing_problem(&c).unwrap().contains("ingresses.networking.k8s.io"));
        assert_eq!(shadowing_problem(&crd("gateway.networking.k8s.io", "httproutes")), None);
    }

    #[test]
    fn every_group_of_the_golden_kubernetes_payloads_is_kubernetes_own() {
        // Real serializer output of k8s.io/api (shared golden payloads): all Kubernetes' groups.
        let path = crate::testkit::golden_dir().join("payloads/MANIFEST.jsonl");
        let manifest = std::fs::read_to_string(&path).unwrap_or_default();
        let mut n = 0;
        for line in manifest.lines().filter(|l| !l.trim().is_empty()) {
            let row: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            let api_version = row["apiVersion"].as_str().unwrap_or_default();
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            assert!(is_builtin_group(group), "{api_version}");
            n += 1;
        }
        assert!(n > 100, "{} has {n} payloads", path.display());
    }
}
