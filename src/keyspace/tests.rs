//! Keyspace tests: golden keys, data.go paths, odd shapes, proptests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use super::*;
use proptest::prelude::*;

const P: &[u8] = b"/registry/";

fn info(group: &str, resource: &str, ns: Option<&str>, name: Option<&str>) -> KeyInfo {
    KeyInfo {
        group: group.into(),
        resource: resource.into(),
        namespace: ns.map(Into::into),
        name: name.map(Into::into),
        not_an_object: None,
        // Keys name their group exactly when the resource is not one of the layout's built-ins.
        group_in_key: group.contains('.') && !builtin_resources().any(|gr| gr == (group, resource)),
    }
}

#[test]
fn envelope_manifest_keys() {
    let dir = crate::testkit::golden_dir().join("envelopes");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.jsonl")).unwrap();
    let mut n = 0;
    for line in manifest.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = row["key"].as_str().unwrap();
        let want = info(
            row["group"].as_str().unwrap(),
            row["resource"].as_str().unwrap(),
            row["namespace"].as_str(),
            row["name"].as_str(),
        );
        assert_eq!(classify(key.as_bytes(), P), want, "case {} key {key}", row["case"]);
        n += 1;
    }
    assert!(n >= 35, "only {n} manifest rows");
}

/// Every ExpectedEtcdPath in data.go @ 008b365 (namespace "ns"), plus older data.go leftovers.
#[test]
fn data_go_expected_paths() {
    let cases: &[(&str, &str, &str, Option<&str>, &str)] = &[
        ("configmaps/ns/cm1", "", "configmaps", Some("ns"), "cm1"),
        ("services/specs/ns/service1", "", "services", Some("ns"), "service1"),
        ("podtemplates/ns/pt1name", "", "podtemplates", Some("ns"), "pt1name"),
        ("pods/ns/pod1", "", "pods", Some("ns"), "pod1"),
        ("services/endpoints/ns/ep1name", "", "endpoints", Some("ns"), "ep1name"),
        ("resourcequotas/ns/rq1name", "", "resourcequotas", Some("ns"), "rq1name"),
        ("limitranges/ns/lr1name", "", "limitranges", Some("ns"), "lr1name"),
        ("namespaces/namespace1", "", "namespaces", None, "namespace1"),
        ("minions/node1", "", "nodes", None, "node1"),
        ("persistentvolumes/pv1name", "", "persistentvolumes", None, "pv1name"),
        ("events/ns/event1", "", "events", Some("ns"), "event1"),
        ("persistentvolumeclaims/ns/pvc1", "", "persistentvolumeclaims", Some("ns"), "pvc1"),
        ("serviceaccounts/ns/sa1name", "", "serviceaccounts", Some("ns"), "sa1name"),
        ("secrets/ns/secret1", "", "secrets", Some("ns"), "secret1"),
        ("controllers/ns/rc1", "", "replicationcontrollers", Some("ns"), "rc1"),
        ("daemonsets/ns/ds6", "apps", "daemonsets", Some("ns"), "ds6"),
        ("deployments/ns/deployment4", "apps", "deployments", Some("ns"), "deployment4"),
        ("statefulsets/ns/ss3", "apps", "statefulsets", Some("ns"), "ss3"),
        ("replicasets/ns/rs3", "apps", "replicasets", Some("ns"), "rs3"),
        ("controllerrevisions/ns/crs3", "apps", "controllerrevisions", Some("ns"), "crs3"),
        (
            "horizontalpodautoscalers/ns/hpa2",
            "autoscaling",
            "horizontalpodautoscalers",
            Some("ns"),
            "hpa2",
        ),
        ("jobs/ns/job1", "batch", "jobs", Some("ns"), "job1"),
        ("cronjobs/ns/cjv1", "batch", "cronjobs", Some("ns"), "cjv1"),
        (
            "certificatesigningrequests/csr2",
            "certificates.k8s.io",
            "certificatesigningrequests",
            None,
            "csr2",
        ),
        (
            "clustertrustbundles/example.com:signer:abc",
            "certificates.k8s.io",
            "clustertrustbundles",
            None,
            "example.com:signer:abc",
        ),
        (
            "podcertificaterequests/ns/req-1",
            "certificates.k8s.io",
            "podcertificaterequests",
            Some("ns"),
            "req-1",
        ),
        ("leases/ns/leasev1", "coordination.k8s.io", "leases", Some("ns"), "leasev1"),
        ("leasecandidates/ns/lc", "coordination.k8s.io", "leasecandidates", Some("ns"), "lc"),
        ("endpointslices/ns/slicev1", "discovery.k8s.io", "endpointslices", Some("ns"), "slicev1"),
        ("ingress/ns/ingress3", "networking.k8s.io", "ingresses", Some("ns"), "ingress3"),
        (
            "ingressclasses/ingressclass3",
            "networking.k8s.io",
            "ingressclasses",
            None,
            "ingressclass3",
        ),
        ("networkpolicies/ns/np2", "networking.k8s.io", "networkpolicies", Some("ns"), "np2"),
        ("ipaddresses/192.168.2.3", "networking.k8s.io", "ipaddresses", None, "192.168.2.3"),
        ("servicecidrs/range-b2", "networking.k8s.io", "servicecidrs", None, "range-b2"),
        ("poddisruptionbudgets/ns/pdbv1", "policy", "poddisruptionbudgets", Some("ns"), "pdbv1"),
        (
            "storageversionmigrations/test-migration",
            "storagemigration.k8s.io",
            "storageversionmigrations",
            None,
            "test-migration",
        ),
        ("flowschemas/fs-3", "flowcontrol.apiserver.k8s.io", "flowschemas", None, "fs-3"),
        (
            "prioritylevelconfigurations/conf5",
            "flowcontrol.apiserver.k8s.io",
            "prioritylevelconfigurations",
            None,
            "conf5",
        ),
        ("volumeattachments/va3", "storage.k8s.io", "volumeattachments", None, "va3"),
        ("volumeattributesclasses/vac3", "storage.k8s.io", "volumeattributesclasses", None, "vac3"),
        ("storageclasses/sc2", "storage.k8s.io", "storageclasses", None, "sc2"),
        (
            "csistoragecapacities/ns/csc-12345-3",
            "storage.k8s.io",
            "csistoragecapacities",
            Some("ns"),
            "csc-12345-3",
        ),
        ("csinodes/csini2", "storage.k8s.io", "csinodes", None, "csini2"),
        ("csidrivers/csid2", "storage.k8s.io", "csidrivers", None, "csid2"),
        ("roles/ns/role3", "rbac.authorization.k8s.io", "roles", Some("ns"), "role3"),
        ("clusterroles/crole3", "rbac.authorization.k8s.io", "clusterroles", None, "crole3"),
        (
            "rolebindings/ns/roleb3",
            "rbac.authorization.k8s.io",
            "rolebindings",
            Some("ns"),
            "roleb3",
        ),
        (
            "clusterrolebindings/croleb3",
            "rbac.authorization.k8s.io",
            "clusterrolebindings",
            None,
            "croleb3",
        ),
        (
            "validatingwebhookconfigurations/hook2",
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            None,
            "hook2",
        ),
        (
            "mutatingwebhookconfigurations/hook2",
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            None,
            "hook2",
        ),
        (
            "validatingadmissionpolicies/vap1",
            "admissionregistration.k8s.io",
            "validatingadmissionpolicies",
            None,
            "vap1",
        ),
        (
            "validatingadmissionpolicybindings/pb1",
            "admissionregistration.k8s.io",
            "validatingadmissionpolicybindings",
            None,
            "pb1",
        ),
        (
            "mutatingadmissionpolicies/map1v1",
            "admissionregistration.k8s.io",
            "mutatingadmissionpolicies",
            None,
            "map1v1",
        ),
        (
            "mutatingadmissionpolicybindings/mpb1v1",
            "admissionregistration.k8s.io",
            "mutatingadmissionpolicybindings",
            None,
            "mpb1v1",
        ),
        ("priorityclasses/pc3", "scheduling.k8s.io", "priorityclasses", None, "pc3"),
        ("workloads/ns/w1", "scheduling.k8s.io", "workloads", Some("ns"), "w1"),
        ("podgroups/ns/pg1", "scheduling.k8s.io", "podgroups", Some("ns"), "pg1"),
        (
            "apiregistration.k8s.io/apiservices/as2.foo.com",
            "apiregistration.k8s.io",
            "apiservices",
            None,
            "as2.foo.com",
        ),
        (
            "apiextensions.k8s.io/customresourcedefinitions/openshiftwebconsoleconfigs.webconsole2.operator.openshift.io",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            "openshiftwebconsoleconfigs.webconsole2.operator.openshift.io",
        ),
        ("cr.bar.com/foos/ns/cr1foo", "cr.bar.com", "foos", Some("ns"), "cr1foo"),
        ("custom.fancy.com/pants/cr2pant", "custom.fancy.com", "pants", None, "cr2pant"),
        ("awesome.bears.com/pandas/cr3panda", "awesome.bears.com", "pandas", None, "cr3panda"),
        (
            "random.numbers.com/integers/fortytwo",
            "random.numbers.com",
            "integers",
            None,
            "fortytwo",
        ),
        ("runtimeclasses/rc3", "node.k8s.io", "runtimeclasses", None, "rc3"),
        ("devicetaintrules/taint1name", "resource.k8s.io", "devicetaintrules", None, "taint1name"),
        (
            "resourcepoolstatusrequests/rpsr1name",
            "resource.k8s.io",
            "resourcepoolstatusrequests",
            None,
            "rpsr1name",
        ),
        ("deviceclasses/class4name", "resource.k8s.io", "deviceclasses", None, "class4name"),
        (
            "resourceclaims/ns/claim4name",
            "resource.k8s.io",
            "resourceclaims",
            Some("ns"),
            "claim4name",
        ),
        (
            "resourceclaimtemplates/ns/ct4",
            "resource.k8s.io",
            "resourceclaimtemplates",
            Some("ns"),
            "ct4",
        ),
        ("resourceslices/node4slice", "resource.k8s.io", "resourceslices", None, "node4slice"),
        (
            "storageversions/sv1.test",
            "internal.apiserver.k8s.io",
            "storageversions",
            None,
            "sv1.test",
        ),
        // Leftovers of removed APIs (older data.go).
        ("podsecuritypolicy/psp1", "policy", "podsecuritypolicies", None, "psp1"),
        ("podpresets/ns/podpre1", "settings.k8s.io", "podpresets", Some("ns"), "podpre1"),
        (
            "podschedulingcontexts/ns/pod1name",
            "resource.k8s.io",
            "podschedulingcontexts",
            Some("ns"),
            "pod1name",
        ),
        (
            "initializerconfigurations/ic1",
            "admissionregistration.k8s.io",
            "initializerconfigurations",
            None,
            "ic1",
        ),
    ];
    for (path, group, resource, ns, name) in cases {
        let key = format!("/registry/{path}");
        assert_eq!(classify(key.as_bytes(), P), info(group, resource, *ns, Some(name)), "{key}");
    }
}

#[test]
fn builtin_table_is_consistent() {
    for (i, (prefix, group, resource)) in BUILTIN.iter().enumerate() {
        assert!(!prefix.contains('.') && !prefix.contains('/'), "{prefix}");
        assert!(!resource.is_empty(), "{prefix}");
        assert!(group.is_empty() || group.contains('.') || !group.contains('/'), "{group}");
        assert!(BUILTIN[..i].iter().all(|(p, ..)| p != prefix), "duplicate {prefix}");
        assert!(NOT_OBJECTS.iter().all(|(p, _)| p != prefix), "{prefix} is also a non-object");
    }
}

#[test]
fn not_an_object_keys() {
    let c = classify(b"compact_rev_key", P);
    assert_eq!(c.resource, "compact_rev_key");
    assert_eq!((c.namespace, c.name), (None, None));
    assert!(c.not_an_object.is_some());
    for (key, resource, name) in [
        ("/registry/masterleases/10.0.0.1", "masterleases", Some("10.0.0.1")),
        (
            "/registry/peerserverleases/kube-apiserver-abc",
            "peerserverleases",
            Some("kube-apiserver-abc"),
        ),
        ("/registry/ranges/serviceips", "ranges", Some("serviceips")),
        ("/registry/ranges/secondaryserviceips", "ranges", Some("secondaryserviceips")),
        ("/registry/ranges/servicenodeports", "ranges", Some("servicenodeports")),
        ("/registry/health", "health", None),
    ] {
        let c = classify(key.as_bytes(), P);
        assert_eq!(c.group, "", "{key}");
        assert_eq!(c.resource, resource, "{key}");
        assert_eq!(c.name.as_deref(), name, "{key}");
        assert!(c.not_an_object.is_some(), "{key}");
    }
    // Real objects never get a reason.
    assert_eq!(classify(b"/registry/secrets/a/b", P).not_an_object, None);
    // compact_rev_key only at the root: under the prefix it is an ordinary unknown resource.
    assert_eq!(classify(b"/registry/compact_rev_key", P).not_an_object, None);
}

#[test]
fn custom_resources_by_segment_count() {
    assert_eq!(
        classify(b"/registry/example.com/widgets/team-a/w1", P),
        info("example.com", "widgets", Some("team-a"), Some("w1"))
    );
    assert_eq!(
        classify(b"/registry/example.com/clusterwidgets/w1", P),
        info("example.com", "clusterwidgets", None, Some("w1"))
    );
    // Names may contain dots and colons; only the first segment decides the group.
    assert_eq!(
        classify(b"/registry/example.com/widgets/ns/a.b:c", P),
        info("example.com", "widgets", Some("ns"), Some("a.b:c"))
    );
    assert_eq!(
        classify(b"/registry/apiregistration.k8s.io/apiservices/v1.apps", P),
        info("apiregistration.k8s.io", "apiservices", None, Some("v1.apps"))
    );
    // A built-in name with dots stays a built-in.
    assert_eq!(
        classify(b"/registry/storageversions/apps.deployments", P),
        info("internal.apiserver.k8s.io", "storageversions", None, Some("apps.deployments"))
    );
}

#[test]
fn odd_shapes() {
    assert_eq!(classify(b"/registry/", P), info("", "", None, None));
    assert_eq!(classify(b"/registry/x", P), info("", "x", None, None));
    assert_eq!(classify(b"/registry/secrets", P), info("", "secrets", None, None));
    assert_eq!(classify(b"/registry/secrets/", P), info("", "secrets", None, None));
    assert_eq!(classify(b"/registry/secrets/ns/", P), info("", "secrets", None, Some("ns")));
    assert_eq!(classify(b"/registry/secrets//n", P), info("", "secrets", Some(""), Some("n")));
    assert_eq!(classify(b"/registry/secrets/a/b/c", P), info("", "secrets", None, Some("a/b/c")));
    assert_eq!(classify(b"/registry/example.com", P), info("example.com", "", None, None));
    assert_eq!(
        classify(b"/registry/services/other/x", P),
        info("", "services", Some("other"), Some("x"))
    );
    assert_eq!(classify(b"/registry/services/specs", P), info("", "services", None, None));
    assert_eq!(classify(b"", P), info("", "", None, None));
    assert_eq!(classify(b"/", P), info("", "", None, None));
    // Outside the prefix: resource from the first segment.
    assert_eq!(classify(b"/other/secrets/ns/n", P), info("", "other", None, Some("secrets/ns/n")));
    assert_eq!(classify(b"/secrets/ns/n", P), info("", "secrets", Some("ns"), Some("n")));
    assert_eq!(classify(b"plain", P), info("", "plain", None, None));
    // "/registryX/..." is not under "/registry/".
    assert_eq!(classify(b"/registryX/secrets/a", P).resource, "registryX");
    // Non-UTF-8 bytes are kept as U+FFFD, never dropped.
    let c = classify(b"/registry/secrets/ns\xff/n\xfe", P);
    let want = info("", "secrets", Some("ns\u{fffd}"), Some("n\u{fffd}"));
    assert_eq!(
        (&c.group, &c.resource, &c.namespace, &c.name),
        (&want.group, &want.resource, &want.namespace, &want.name)
    );
    // …and such a key is no API object (kube-apiserver only writes UTF-8 keys).
    assert!(c.not_an_object.is_some_and(|r| r.contains("not UTF-8")));
    let c = classify(b"/registry/\xffgroup.io/things/x", P);
    assert_eq!((c.group.as_str(), c.resource.as_str()), ("\u{fffd}group.io", "things"));
}

#[test]
fn other_prefixes() {
    let p = normalize_prefix("kube");
    assert_eq!(p, "/kube/");
    assert_eq!(
        classify(b"/kube/deployments/a/b", p.as_bytes()),
        info("apps", "deployments", Some("a"), Some("b"))
    );
    // Lenient: a prefix without its trailing '/' still matches at a segment boundary.
    assert_eq!(classify(b"/kube/secrets/a/b", b"/kube"), info("", "secrets", Some("a"), Some("b")));
    assert_eq!(classify(b"/kubex/secrets/a", b"/kube").resource, "kubex");
    // --etcd-prefix=/ puts resources at the root.
    let root = normalize_prefix("/");
    assert_eq!(root, "/");
    assert_eq!(classify(b"/minions/n1", root.as_bytes()), info("", "nodes", None, Some("n1")));
    assert_eq!(classify(b"/minions/n1", b""), info("", "nodes", None, Some("n1")));
    // Nested prefix.
    assert_eq!(
        classify(b"/a/b/ingress/ns/i", normalize_prefix("a/b").as_bytes()),
        info("networking.k8s.io", "ingresses", Some("ns"), Some("i"))
    );
}

#[test]
fn normalize_like_path_join() {
    for (input, want) in [
        ("registry", "/registry/"),
        ("/registry", "/registry/"),
        ("/registry/", "/registry/"),
        ("//registry//", "/registry/"),
        ("", "/"),
        ("/", "/"),
        ("a/b", "/a/b/"),
        ("./a/./b/", "/a/b/"),
        ("a/../b", "/b/"),
        ("../../x", "/x/"),
        ("..", "/"),
    ] {
        assert_eq!(normalize_prefix(input), want, "{input:?}");
    }
}

fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.:-]{0,20}".prop_map(|s| s.replace('/', ""))
}

proptest! {
    #[test]
    fn never_panics(key in proptest::collection::vec(any::<u8>(), 0..200),
                    prefix in proptest::collection::vec(any::<u8>(), 0..20)) {
        let _ = classify(&key, &prefix);
        let _ = classify(&key, P);
        let _ = normalize_prefix(&String::from_utf8_lossy(&prefix));
    }

    #[test]
    fn slashy_keys_never_panic(key in "[/a-z.]{0,40}") {
        let c = classify(key.as_bytes(), P);
        prop_assert!(c.namespace.is_none() || c.name.is_some());
    }

    #[test]
    fn builtin_round_trip(i in 0..BUILTIN.len(), ns in segment(), name in segment()) {
        let (prefix, group, resource) = BUILTIN[i];
        let key = format!("/registry/{prefix}/{ns}/{name}");
        prop_assert_eq!(classify(key.as_bytes(), P), info(group, resource, Some(&ns), Some(&name)));
        let key = format!("/registry/{prefix}/{name}");
        prop_assert_eq!(classify(key.as_bytes(), P), info(group, resource, None, Some(&name)));
    }

    #[test]
    fn custom_resource_round_trip(g in "[a-z]{1,8}\\.[a-z]{1,8}", plural in "[a-z]{1,12}",
                                  ns in segment(), name in segment()) {
        let key = format!("/registry/{g}/{plural}/{ns}/{name}");
        prop_assert_eq!(classify(key.as_bytes(), P), info(&g, &plural, Some(&ns), Some(&name)));
    }

    #[test]
    fn normalized_prefix_shape(p in "[a-z./]{0,30}") {
        let n = normalize_prefix(&p);
        prop_assert!(n.starts_with('/') && n.ends_with('/'));
        prop_assert!(!n.contains("//") || n == "/");
        prop_assert_eq!(normalize_prefix(&n), n);
    }
}
