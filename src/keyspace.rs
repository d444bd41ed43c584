//! etcd key → the resource it belongs to: `{group, resource, namespace, name}`, or a reason
//! when the key is not an API object.
//!
//! Layout (shared/docs/k8s-storage-layout.md §3): `<prefix>/<resourcePrefix>/[<ns>/]<name>`.
//! Built-ins carry no group segment, so their resource prefix is looked up in [`BUILTIN`], taken
//! from `kubernetes/kubernetes:test/integration/etcd/data.go` (`ExpectedEtcdPath`, commit
//! 008b365) and `SpecialDefaultResourcePrefixes` in
//! `pkg/kubeapiserver/default_storage_factory_builder.go`. CRs, CRDs and APIServices use
//! `<group>/<plural>` (`kubernetes/apiserver:pkg/server/options/etcd.go`), and a CRD group always
//! contains a dot, which no built-in prefix does. Prefix normalization follows `etcd3.New`
//! (`kubernetes/apiserver:pkg/storage/etcd3/store.go`).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::borrow::Cow;

/// Where a key belongs. Every key gets one, however odd its shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// API group; `""` for core.
    pub group: String,
    /// Resource (plural), e.g. `secrets`, `deployments`, `widgets`.
    pub resource: String,
    /// Namespace, for namespaced keys (`<resource>/<ns>/<name>`).
    pub namespace: Option<String>,
    /// Object name (the last segment). For keys with more segments than a name and namespace
    /// allow, everything after the resource prefix.
    pub name: Option<String>,
    /// Some(reason) for keys that are not API objects (compact_rev_key, masterleases,
    /// peerserverleases, ranges/*, health)
    pub not_an_object: Option<&'static str>,
    /// The key names the group: `<group>/<plural>/…` (custom resources, CRDs, APIServices), not
    /// a built-in resource prefix. [`crate::origin`] decides what that means.
    pub group_in_key: bool,
}

/// Every built-in GroupResource of the key layout ([`BUILTIN`] and the `services/` prefixes).
pub fn builtin_resources() -> impl Iterator<Item = (&'static str, &'static str)> {
    BUILTIN.iter().map(|(_, g, r)| (*g, *r)).chain(SERVICES.iter().map(|(_, r)| ("", *r)))
}

/// `resource.group` as kubectl names a resource, `resource` for core (group "").
pub fn group_resource(group: &str, resource: &str) -> String {
    if group.is_empty() { resource.to_owned() } else { format!("{resource}.{group}") }
}

/// Built-in resource prefixes (first key segment after the etcd prefix) → GroupResource.
/// Cohabiting resources map to the GroupResource whose storage they share (events → core).
pub const BUILTIN: &[(&str, &str, &str)] = &[
    // core; the special prefixes come from SpecialDefaultResourcePrefixes.
    ("configmaps", "", "configmaps"),
    ("controllers", "", "replicationcontrollers"),
    ("events", "", "events"),
    ("limitranges", "", "limitranges"),
    ("minions", "", "nodes"),
    ("namespaces", "", "namespaces"),
    ("persistentvolumeclaims", "", "persistentvolumeclaims"),
    ("persistentvolumes", "", "persistentvolumes"),
    ("pods", "", "pods"),
    ("podtemplates", "", "podtemplates"),
    ("resourcequotas", "", "resourcequotas"),
    ("secrets", "", "secrets"),
    ("serviceaccounts", "", "serviceaccounts"),
    // `services/specs` and `services/endpoints` are two-segment prefixes, see `SERVICES`.
    // apps (extensions deployments/daemonsets/replicasets cohabit here)
    ("controllerrevisions", "apps", "controllerrevisions"),
    ("daemonsets", "apps", "daemonsets"),
    ("deployments", "apps", "deployments"),
    ("replicasets", "apps", "replicasets"),
    ("statefulsets", "apps", "statefulsets"),
    ("horizontalpodautoscalers", "autoscaling", "horizontalpodautoscalers"),
    ("cronjobs", "batch", "cronjobs"),
    ("jobs", "batch", "jobs"),
    ("poddisruptionbudgets", "policy", "poddisruptionbudgets"),
    // PSP API removed in 1.25; the key may survive as leftover data.
    ("podsecuritypolicy", "policy", "podsecuritypolicies"),
    ("clusterrolebindings", "rbac.authorization.k8s.io", "clusterrolebindings"),
    ("clusterroles", "rbac.authorization.k8s.io", "clusterroles"),
    ("rolebindings", "rbac.authorization.k8s.io", "rolebindings"),
    ("roles", "rbac.authorization.k8s.io", "roles"),
    ("ingress", "networking.k8s.io", "ingresses"),
    ("ingressclasses", "networking.k8s.io", "ingressclasses"),
    ("ipaddresses", "networking.k8s.io", "ipaddresses"),
    ("networkpolicies", "networking.k8s.io", "networkpolicies"),
    ("servicecidrs", "networking.k8s.io", "servicecidrs"),
    ("csidrivers", "storage.k8s.io", "csidrivers"),
    ("csinodes", "storage.k8s.io", "csinodes"),
    ("csistoragecapacities", "storage.k8s.io", "csistoragecapacities"),
    ("storageclasses", "storage.k8s.io", "storageclasses"),
    ("volumeattachments", "storage.k8s.io", "volumeattachments"),
    ("volumeattributesclasses", "storage.k8s.io", "volumeattributesclasses"),
    ("podgroups", "scheduling.k8s.io", "podgroups"),
    ("priorityclasses", "scheduling.k8s.io", "priorityclasses"),
    ("workloads", "scheduling.k8s.io", "workloads"),
    ("leasecandidates", "coordination.k8s.io", "leasecandidates"),
    ("leases", "coordination.k8s.io", "leases"),
    ("endpointslices", "discovery.k8s.io", "endpointslices"),
    ("runtimeclasses", "node.k8s.io", "runtimeclasses"),
    ("certificatesigningrequests", "certificates.k8s.io", "certificatesigningrequests"),
    ("clustertrustbundles", "certificates.k8s.io", "clustertrustbundles"),
    ("podcertificaterequests", "certificates.k8s.io", "podcertificaterequests"),
    ("mutatingadmissionpolicies", "admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    (
        "mutatingadmissionpolicybindings",
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicybindings",
    ),
    (
        "mutatingwebhookconfigurations",
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
    ),
    ("validatingadmissionpolicies", "admissionregistration.k8s.io", "validatingadmissionpolicies"),
    (
        "validatingadmissionpolicybindings",
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
    ),
    (
        "validatingwebhookconfigurations",
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
    // admissionregistration v1alpha1, removed in 1.14: leftover data only.
    ("initializerconfigurations", "admissionregistration.k8s.io", "initializerconfigurations"),
    ("flowschemas", "flowcontrol.apiserver.k8s.io", "flowschemas"),
    ("prioritylevelconfigurations", "flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"),
    ("deviceclasses", "resource.k8s.io", "deviceclasses"),
    ("devicetaintrules", "resource.k8s.io", "devicetaintrules"),
    ("resourceclaims", "resource.k8s.io", "resourceclaims"),
    ("resourceclaimtemplates", "resource.k8s.io", "resourceclaimtemplates"),
    ("resourcepoolstatusrequests", "resource.k8s.io", "resourcepoolstatusrequests"),
    ("resourceslices", "resource.k8s.io", "resourceslices"),
    // resource.k8s.io v1alpha3 PodSchedulingContext, removed in 1.32: leftover data only.
    ("podschedulingcontexts", "resource.k8s.io", "podschedulingcontexts"),
    ("storageversionmigrations", "storagemigration.k8s.io", "storageversionmigrations"),
    ("storageversions", "internal.apiserver.k8s.io", "storageversions"),
    // settings.k8s.io PodPreset, removed in 1.20: leftover data only.
    ("podpresets", "settings.k8s.io", "podpresets"),
];

/// The two-segment special prefixes under `services/`.
const SERVICES: &[(&str, &str)] = &[("specs", "services"), ("endpoints", "endpoints")];

/// Keys under the prefix that hold no REST API object (layout doc §3.2), with the reason given
/// in [`KeyInfo::not_an_object`].
const NOT_OBJECTS: &[(&str, &str)] = &[
    ("masterleases", "apiserver endpoint lease (lease reconciler), not an API object"),
    ("peerserverleases", "apiserver peer-proxy lease, not an API object"),
    ("ranges", "ClusterIP/NodePort range allocator state, not an API object"),
    ("health", "apiserver health-check key, not an API object"),
];

/// `compact_rev_key`: written at the etcd root by the apiserver's compactor.
const COMPACT_REV_KEY: &[u8] = b"compact_rev_key";
const COMPACT_REV_REASON: &str = "etcd compaction revision marker (compactor), not an API object";

/// `prefix` is the normalized etcd prefix with trailing '/', e.g. b"/registry/". Keys outside the
/// prefix or with non-UTF-8 bytes are still classified (never dropped): resource from the first
/// segment. Non-UTF-8 bytes become U+FFFD in the returned strings.
pub fn classify(key: &[u8], prefix: &[u8]) -> KeyInfo {
    if key == COMPACT_REV_KEY {
        return KeyInfo {
            group: String::new(),
            resource: text(key).into_owned(),
            namespace: None,
            name: None,
            not_an_object: Some(COMPACT_REV_REASON),
            group_in_key: false,
        };
    }
    let rest =
        strip_etcd_prefix(key, prefix).unwrap_or_else(|| key.strip_prefix(b"/").unwrap_or(key));
    let mut segments: Vec<&[u8]> = rest.split(|b| *b == b'/').collect();
    // A key ending in '/' has no empty last name.
    if segments.len() > 1 && segments.last().is_some_and(|s| s.is_empty()) {
        segments.pop();
    }
    let Some((&first, tail)) = segments.split_first() else {
        // `split` always yields at least one segment; kept total for the no-panic rule.
        return KeyInfo {
            group: String::new(),
            resource: String::new(),
            namespace: None,
            name: None,
            not_an_object: None,
            group_in_key: false,
        };
    };

    // Object names are DNS labels or paths of them: kube-apiserver never writes a key that is
    // not UTF-8, so whatever lives there is no API object.
    let mut not_an_object = std::str::from_utf8(key)
        .is_err()
        .then_some("the key is not UTF-8, so kube-apiserver cannot have written it");
    let group_in_key = first.contains(&b'.');
    let (group, resource, tail): (Cow<'_, str>, Cow<'_, str>, &[&[u8]]) = if group_in_key {
        // CRs, CRDs, APIServices: <group>/<plural>/...
        match tail.split_first() {
            Some((&plural, tail)) => (text(first), text(plural), tail),
            None => (text(first), Cow::Borrowed(""), tail),
        }
    } else if let Some((resource, tail)) = services(first, tail) {
        (Cow::Borrowed(""), Cow::Borrowed(resource), tail)
    } else if let Some((_, group, resource)) = BUILTIN.iter().find(|(p, ..)| p.as_bytes() == first)
    {
        (Cow::Borrowed(*group), Cow::Borrowed(*resource), tail)
    } else {
        not_an_object =
            NOT_OBJECTS.iter().find(|(p, _)| p.as_bytes() == first).map(|(_, reason)| *reason);
        (Cow::Borrowed(""), text(first), tail)
    };

    let (namespace, name) = match tail {
        [] => (None, None),
        [name] => (None, Some(text(name).into_owned())),
        [ns, name] => (Some(text(ns).into_owned()), Some(text(name).into_owned())),
        longer => (None, Some(text(&longer.join(&b'/')).into_owned())),
    };
    KeyInfo {
        group: group.into_owned(),
        resource: resource.into_owned(),
        namespace,
        name,
        not_an_object,
        group_in_key,
    }
}

/// `services/specs/...` → services, `services/endpoints/...` → endpoints.
fn services<'k>(first: &[u8], tail: &'k [&'k [u8]]) -> Option<(&'static str, &'k [&'k [u8]])> {
    if first != b"services" {
        return None;
    }
    let (&second, tail) = tail.split_first()?;
    SERVICES.iter().find(|(s, _)| s.as_bytes() == second).map(|(_, resource)| (*resource, tail))
}

/// The key after `prefix`, if it is under it. A prefix given without its trailing '/' is
/// matched as if it had one; an empty prefix matches every key that starts with '/'.
fn strip_etcd_prefix<'k>(key: &'k [u8], prefix: &[u8]) -> Option<&'k [u8]> {
    if prefix.is_empty() {
        return key.strip_prefix(b"/");
    }
    let rest = key.strip_prefix(prefix)?;
    if prefix.ends_with(b"/") { Some(rest) } else { rest.strip_prefix(b"/") }
}

fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Normalize an --etcd-prefix like kube-apiserver: path.Join("/", p) + "/" ("registry" →
/// "/registry/"). `path.Join` cleans the path: repeated slashes collapse, `.` is dropped and
/// `..` removes the previous element (never above the root).
pub fn normalize_prefix(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let mut out = String::with_capacity(p.len().saturating_add(2));
    out.push('/');
    for part in parts {
        out.push_str(part);
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests;
