//! Kubernetes' own resources and groups: what kube-apiserver (or an aggregated Kubernetes
//! server) serves itself, from the key layout table ([`keyspace::BUILTIN`]), the storage-version
//! table ([`storage_versions`]) and the two built-ins stored under their group path. No name
//! rule: `*.k8s.io` groups are CRDs unless listed here ([`crate::origin`] decides per key).

use crate::keyspace;
use crate::storage_versions;

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

/// Whether kube-apiserver serves `group/resource` itself: every GroupResource of the key layout
/// table, of the storage-version table, and the two stored under their group path.
pub fn is_builtin(group: &str, resource: &str) -> bool {
    GROUP_PATH_BUILTINS.contains(&(group, resource))
        || keyspace::builtin_resources().any(|gr| gr == (group, resource))
        || storage_versions::builtin_resources().any(|gr| gr == (group, resource))
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
        || storage_versions::builtin_resources().any(|(g, _)| g == group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_whatever_their_group_and_crd_groups_never() {
        for (g, r) in [
            ("networking.k8s.io", "ingresses"),
            ("flowcontrol.apiserver.k8s.io", "flowschemas"),
            ("apps", "deployments"),
            ("", "secrets"),
            ("events.k8s.io", "events"),
            ("apiextensions.k8s.io", "customresourcedefinitions"),
        ] {
            assert!(is_builtin(g, r), "{g}/{r}");
        }
        for (g, r) in [
            ("gateway.networking.k8s.io", "httproutes"),
            ("snapshot.storage.k8s.io", "volumesnapshots"),
            ("policy.networking.k8s.io", "adminnetworkpolicies"),
            ("multicluster.x-k8s.io", "serviceexports"),
        ] {
            assert!(!is_builtin(g, r) && !is_builtin_group(g), "{g}/{r}");
        }
        assert!(is_builtin_group("extensions") && is_builtin_group("storage.k8s.io"));
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
