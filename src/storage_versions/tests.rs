//! Table-driven checks of the storage-version table: switches by release, overrides,
//! cohabitation, unknowns, version parsing, and the table's own invariants.
#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;

/// `(group, resource, minor, expected)`; `None` = not established / unknown.
const CASES: &[(&str, &str, u32, Option<&str>)] = &[
    // HPA: v1 until 1.25, the switch lies in the 1.26 cycle (unknown), v2 from 1.27.
    ("autoscaling", "horizontalpodautoscalers", 24, Some("autoscaling/v1")),
    ("autoscaling", "horizontalpodautoscalers", 25, Some("autoscaling/v1")),
    ("autoscaling", "horizontalpodautoscalers", 26, None),
    ("autoscaling", "horizontalpodautoscalers", 27, Some("autoscaling/v2")),
    ("autoscaling", "horizontalpodautoscalers", 31, Some("autoscaling/v2")),
    ("autoscaling", "horizontalpodautoscalers", 37, Some("autoscaling/v2")),
    // FlowSchema / PriorityLevelConfiguration: v1beta3 in 1.27–1.28, v1 from 1.30.
    ("flowcontrol.apiserver.k8s.io", "flowschemas", 26, None),
    (
        "flowcontrol.apiserver.k8s.io",
        "flowschemas",
        27,
        Some("flowcontrol.apiserver.k8s.io/v1beta3"),
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "flowschemas",
        28,
        Some("flowcontrol.apiserver.k8s.io/v1beta3"),
    ),
    ("flowcontrol.apiserver.k8s.io", "flowschemas", 29, None),
    ("flowcontrol.apiserver.k8s.io", "flowschemas", 30, Some("flowcontrol.apiserver.k8s.io/v1")),
    (
        "flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations",
        28,
        Some("flowcontrol.apiserver.k8s.io/v1beta3"),
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "prioritylevelconfigurations",
        36,
        Some("flowcontrol.apiserver.k8s.io/v1"),
    ),
    // CRDs: always v1beta1 (JSON); APIServices v1.
    ("apiextensions.k8s.io", "customresourcedefinitions", 24, Some("apiextensions.k8s.io/v1beta1")),
    ("apiextensions.k8s.io", "customresourcedefinitions", 31, Some("apiextensions.k8s.io/v1beta1")),
    ("apiextensions.k8s.io", "customresourcedefinitions", 37, Some("apiextensions.k8s.io/v1beta1")),
    ("apiregistration.k8s.io", "apiservices", 31, Some("apiregistration.k8s.io/v1")),
    // Events: both groups store core v1.
    ("", "events", 24, Some("v1")),
    ("", "events", 37, Some("v1")),
    ("events.k8s.io", "events", 24, Some("v1")),
    ("events.k8s.io", "events", 33, Some("v1")),
    // Core and other stable resources.
    ("", "secrets", 30, Some("v1")),
    ("", "nodes", 24, Some("v1")),
    ("", "services", 37, Some("v1")),
    ("apps", "deployments", 24, Some("apps/v1")),
    ("rbac.authorization.k8s.io", "clusterroles", 29, Some("rbac.authorization.k8s.io/v1")),
    ("batch", "jobs", 24, Some("batch/v1")),
    ("batch", "cronjobs", 25, None),
    ("batch", "cronjobs", 26, Some("batch/v1")),
    // PDB: v1beta1 until 1.25, v1 from 1.27.
    ("policy", "poddisruptionbudgets", 24, Some("policy/v1beta1")),
    ("policy", "poddisruptionbudgets", 27, Some("policy/v1")),
    ("policy", "podsecuritypolicies", 24, Some("policy/v1beta1")),
    ("policy", "podsecuritypolicies", 25, None),
    // CSIStorageCapacity: the 1.24 override, v1 afterwards.
    ("storage.k8s.io", "csistoragecapacities", 24, Some("storage.k8s.io/v1beta1")),
    ("storage.k8s.io", "csistoragecapacities", 26, Some("storage.k8s.io/v1")),
    // One release after GA: IPAddress/ServiceCIDR v1 is served in 1.33, written from 1.34.
    ("networking.k8s.io", "ipaddresses", 30, Some("networking.k8s.io/v1alpha1")),
    ("networking.k8s.io", "ipaddresses", 33, Some("networking.k8s.io/v1beta1")),
    ("networking.k8s.io", "ipaddresses", 34, Some("networking.k8s.io/v1")),
    ("networking.k8s.io", "servicecidrs", 31, Some("networking.k8s.io/v1beta1")),
    ("storage.k8s.io", "volumeattributesclasses", 34, Some("storage.k8s.io/v1beta1")),
    ("storage.k8s.io", "volumeattributesclasses", 35, Some("storage.k8s.io/v1")),
    // ValidatingAdmissionPolicy: alpha in 1.26–1.27, v1 from 1.30.
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
        26,
        Some("admissionregistration.k8s.io/v1alpha1"),
    ),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies", 28, None),
    (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
        30,
        Some("admissionregistration.k8s.io/v1"),
    ),
    // MutatingAdmissionPolicy: v1beta1 although v1 is served (override) in 1.36.
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicies",
        32,
        Some("admissionregistration.k8s.io/v1alpha1"),
    ),
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicies",
        35,
        Some("admissionregistration.k8s.io/v1beta1"),
    ),
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicies",
        36,
        Some("admissionregistration.k8s.io/v1beta1"),
    ),
    (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicybindings",
        36,
        Some("admissionregistration.k8s.io/v1beta1"),
    ),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies", 37, None),
    // DeviceTaintRule: v1alpha3 although v1beta2 is served (override).
    ("resource.k8s.io", "devicetaintrules", 33, Some("resource.k8s.io/v1alpha3")),
    ("resource.k8s.io", "devicetaintrules", 36, Some("resource.k8s.io/v1alpha3")),
    ("resource.k8s.io", "devicetaintrules", 37, Some("resource.k8s.io/v1alpha3")),
    ("resource.k8s.io", "devicetaintrules", 32, None),
    ("resource.k8s.io", "resourceclaims", 31, Some("resource.k8s.io/v1alpha3")),
    ("resource.k8s.io", "resourceclaims", 33, Some("resource.k8s.io/v1beta1")),
    ("resource.k8s.io", "resourceslices", 34, Some("resource.k8s.io/v1beta2")),
    ("resource.k8s.io", "deviceclasses", 35, Some("resource.k8s.io/v1")),
    // Other overrides.
    ("coordination.k8s.io", "leasecandidates", 33, Some("coordination.k8s.io/v1beta1")),
    ("certificates.k8s.io", "clustertrustbundles", 31, Some("certificates.k8s.io/v1alpha1")),
    ("certificates.k8s.io", "clustertrustbundles", 36, Some("certificates.k8s.io/v1beta1")),
    (
        "storagemigration.k8s.io",
        "storageversionmigrations",
        34,
        Some("storagemigration.k8s.io/v1alpha1"),
    ),
    (
        "storagemigration.k8s.io",
        "storageversionmigrations",
        36,
        Some("storagemigration.k8s.io/v1beta1"),
    ),
    (
        "internal.apiserver.k8s.io",
        "storageversions",
        28,
        Some("internal.apiserver.k8s.io/v1alpha1"),
    ),
    // Unknown resources, wrong groups and out-of-range minors.
    ("", "widgets", 31, None),
    ("example.com", "widgets", 31, None),
    ("apps", "pods", 31, None),
    ("", "rangeallocations", 31, None),
    ("", "pods", 23, None),
    ("", "pods", 38, None),
    ("", "pods", 0, None),
    ("", "pods", u32::MAX, None),
];

#[test]
fn expected_versions_by_release() {
    let mut failures = Vec::new();
    for &(group, resource, minor, want) in CASES {
        let got = expected_api_version(group, resource, minor);
        if got != want {
            failures.push(format!("{group}/{resource} @1.{minor}: got {got:?}, want {want:?}"));
        }
        // A source exists exactly when a version does.
        assert_eq!(
            source_of(group, resource, minor).is_some(),
            want.is_some(),
            "{group}/{resource} @1.{minor}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn brief_examples() {
    assert_eq!(
        expected_api_version("autoscaling", "horizontalpodautoscalers", 31),
        Some("autoscaling/v2")
    );
    assert_eq!(expected_api_version("events.k8s.io", "events", 31), Some("v1"));
    assert_eq!(expected_api_version("", "events", 31), Some("v1"));
    assert_eq!(
        expected_api_version("apiextensions.k8s.io", "customresourcedefinitions", 31),
        Some("apiextensions.k8s.io/v1beta1")
    );
    assert_eq!(
        expected_api_version("apiregistration.k8s.io", "apiservices", 31),
        Some("apiregistration.k8s.io/v1")
    );
}

#[test]
fn parse_kube_version_cases() {
    let cases: &[(&str, Option<u32>)] = &[
        ("1.31", Some(31)),
        ("v1.31", Some(31)),
        ("v1.31.4", Some(31)),
        ("1.31.0-rc.1", Some(31)),
        ("v1.31.4+k3s1", Some(31)),
        ("1.31+", Some(31)),
        (" v1.24.0 ", Some(24)),
        ("1.37.0-alpha.0", Some(37)),
        ("V1.30", Some(30)),
        ("1.23", None),
        ("1.38", None),
        ("v1.9", None),
        ("2.31", None),
        ("v2.31.0", None),
        ("1.", None),
        ("1", None),
        ("", None),
        ("v", None),
        ("1.x", None),
        ("1.31x", None),
        ("11.31", None),
        ("1.3100", None),
        ("1.-31", None),
        ("vv1.31", None),
        ("1.99999999999999999999", None),
    ];
    for &(input, want) in cases {
        assert_eq!(parse_kube_version(input), want, "{input:?}");
    }
}

#[test]
fn every_row_is_well_formed() {
    for (group, resources, from, to, api_version, source) in TABLE {
        let name = format!("{group}/{resources:?} {from}..={to}");
        assert!(!source.trim().is_empty(), "{name}: empty source");
        assert!(!resources.is_empty(), "{name}: no resources");
        assert!(OLDEST_MINOR <= *from && from <= to && *to <= NEWEST_MINOR, "{name}: bad range");
        // Core and events.k8s.io (cohabiting with core) store core v1; everything else its group.
        let want_prefix = match *group {
            "" | "events.k8s.io" => None,
            g => Some(format!("{g}/")),
        };
        match want_prefix {
            None => assert_eq!(*api_version, "v1", "{name}"),
            Some(prefix) => {
                let version = api_version
                    .strip_prefix(&prefix)
                    .unwrap_or_else(|| panic!("{name}: {api_version} is not in group {group}"));
                assert!(
                    version.starts_with('v') && !version.contains('/'),
                    "{name}: {api_version}"
                );
            }
        }
    }
}

#[test]
fn rows_of_one_resource_never_overlap() {
    for (i, (g1, r1, from1, to1, ..)) in TABLE.iter().enumerate() {
        for (g2, r2, from2, to2, ..) in TABLE.iter().skip(i + 1) {
            if g1 != g2 {
                continue;
            }
            for r in r1.iter().filter(|r| r2.contains(r)) {
                assert!(
                    to1 < from2 || to2 < from1,
                    "{g1}/{r}: {from1}..={to1} overlaps {from2}..={to2}"
                );
            }
        }
    }
}

/// Every table resource is one the keyspace knows (same names as `keyspace::BUILTIN`), apart
/// from the `services/*` prefixes, events.k8s.io (cohabits with core events) and the two
/// servers that use `<group>/<resource>` keys.
#[test]
fn table_resources_are_known_to_the_keyspace() {
    for (group, resources, ..) in TABLE {
        for resource in *resources {
            let known = crate::keyspace::BUILTIN
                .iter()
                .any(|(_, g, r)| g == group && r == resource)
                || (group.is_empty() && matches!(*resource, "services" | "endpoints"))
                || (*group == "events.k8s.io" && *resource == "events")
                || (*group == "apiextensions.k8s.io" && *resource == "customresourcedefinitions")
                || (*group == "apiregistration.k8s.io" && *resource == "apiservices");
            assert!(known, "{group}/{resource} is not a keyspace built-in");
        }
    }
}

/// Every covered (resource, minor) answers with a source, and answers are the same for every
/// query of that pair (the lookup is deterministic and total over the table).
#[test]
fn sources_cover_every_answer() {
    for (group, resources, ..) in TABLE {
        for resource in *resources {
            for minor in 0..=u32::from(u8::MAX) {
                let version = expected_api_version(group, resource, minor);
                let source = source_of(group, resource, minor);
                assert_eq!(version.is_some(), source.is_some(), "{group}/{resource} @1.{minor}");
                if version.is_some() {
                    assert!((OLDEST_MINOR..=NEWEST_MINOR).contains(&minor));
                    assert!(!source.unwrap_or_default().is_empty());
                }
            }
        }
    }
}
