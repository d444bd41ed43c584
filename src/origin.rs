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
//!    are built-in ([`crate::builtin`]).
//! 2. For a `<group>/<plural>` key, the CRD found in etcd wins over every built-in table. A CRD
//!    that names a group/resource kube-apiserver also serves as a built-in is itself a finding:
//!    kube-apiserver's handler chain (aggregator → built-in → apiextensions) serves the built-in,
//!    so its objects cannot be read or rewritten through the API.
//! 3. A `<group>/<plural>` key without a CRD is a custom resource whose CRD was deleted (or is
//!    unreadable).

use crate::builtin::{GROUP_PATH_BUILTINS, is_builtin};
use crate::crd::{Crd, CrdIndex};
use crate::keyspace::KeyInfo;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace;

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
    }

    #[test]
    fn a_crd_for_a_builtin_wins_and_is_a_finding() {
        let mut crds = CrdIndex::default();
        crds.insert(crd("networking.k8s.io", "ingresses"));
        let cr = info("/registry/networking.k8s.io/ingresses/default/x");
        assert!(matches!(origin(&cr, &crds), Origin::Custom { shadows_builtin: true, .. }));
        // The built-in's own keys are still the built-in's.
        assert_eq!(origin(&info("/registry/ingress/default/x"), &crds), Origin::BuiltIn);
        let shadow = crds.get("networking.k8s.io", "ingresses").and_then(|c| c.problem.clone());
        assert!(shadow.unwrap_or_default().contains("also serves as a built-in"));
    }
}
