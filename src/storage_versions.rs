//! The storage version (`apiVersion` in the etcd value) kube-apiserver 1.24 … 1.37 writes for each
//! built-in persisted resource, as a table of release ranges with the source of every row.
//!
//! How kube-apiserver chooses (layout doc §4.1, trap 12): an explicit override in
//! `kubernetes/kubernetes:pkg/kubeapiserver/default_storage_factory_builder.go` wins; otherwise
//! ≤1.30 takes the group's highest-priority version, 1.31+ the highest-priority version introduced
//! at or before the previous minor (so a new version is written one release after it is served).
//! Cohabitation stores `events.k8s.io` events as core `v1`; CRDs are always written as
//! `apiextensions.k8s.io/v1beta1` and APIServices as `apiregistration.k8s.io/v1` (JSON).
//!
//! Evidence is `test/integration/etcd/data.go` (`ExpectedGVK`, or the requested version when it
//! is unset; `IntroducedVersion` where present), read at these snapshots. The index holds no
//! release-branch commits of `kubernetes/kubernetes`, so most snapshots are GitHub forks whose
//! default branch froze at a point of upstream `master`; each is named by repository@commit and
//! the development cycle its content places it in:
//!
//! | tag | file @ commit | cycle |
//! |---|---|---|
//! | O11 | `openshift/origin` `vendor/k8s.io/kubernetes/test/integration/etcd/data.go` @ `9852058` | ≈1.11 |
//! | R17 | `robscott/kubernetes` data.go @ `18aa01b` | ≈1.17 |
//! | S19 | `SergeyKanzhelev/kubernetes` data.go @ `bda075f` | ≈1.19 |
//! | A26 | `maxsmythe/kubernetes` data.go @ `102a4dc` (also `ahmedtd/kubernetes` @ `9e04479`) | 1.26 dev |
//! | C27 | `klueska/kubernetes` data.go @ `b42fcd4`, `sanposhiho/kubernetes` @ `059ce4e` | 1.27 dev |
//! | D30 | `pohly/kubernetes` data.go @ `1d22f0a` | 1.30 dev |
//! | E31 | `kubernetes/kubernetes` data.go @ `4780fae`; default_storage_factory_builder.go @ `0260c7d` | 1.31 dev |
//! | F33 | `cici37/kubernetes` data.go @ `e6f4401` | 1.33 dev |
//! | G34 | `helayoty/kubernetes` data.go @ `e742326` | 1.34 dev |
//! | G35 | `Jefftree/kubernetes` data.go @ `fae8563`, `yangjunmyfm192085/kubernetes` @ `6d61d1d` | 1.35+ dev |
//! | H37 | `kubernetes/kubernetes` data.go and default_storage_factory_builder.go @ `008b365` | 1.37 dev |
//!
//! A release is filled only when it is pinned: two snapshots on either side of it agree (storage
//! versions only ever move forward), or only one version of the kind existed in that release
//! (`IntroducedVersion` in H37), or the documented rule plus the override list decides it.
//! Everything else is left out and [`expected_api_version`] answers `None` ("expected version
//! unknown"); nothing here is guessed. Known gaps: 1.24–1.25 for resources whose snapshots
//! before A26 still stored a beta or are missing (CSR, leases, webhooks, ingresses, ingress
//! classes, cronjobs, CSI drivers/nodes, runtime classes, priority classes, EndpointSlices,
//! APIServices); 1.25 for CSIStorageCapacity; 1.26 for HPA and PDB (the switch lies between A26
//! and C27); 1.27–1.29 for EndpointSlices; 1.28–1.29 for ValidatingAdmissionPolicy; 1.24–1.26
//! and 1.29 for flowcontrol; 1.29 for ServiceCIDRs; 1.32 for resource.k8s.io and
//! LeaseCandidates; 1.33 for ClusterTrustBundles; 1.34 and 1.37 for MutatingAdmissionPolicy
//! (the override at H37 is marked "TODO: remove in 1.37"); 1.35 for StorageVersionMigrations
//! and PodCertificateRequests; 1.36 for Workloads and PodGroups.

pub mod release;
#[cfg(test)]
mod tests;

/// Oldest Kubernetes minor (1.x) the table covers.
pub const OLDEST_MINOR: u32 = 24;
/// Newest Kubernetes minor (1.x) the table covers.
pub const NEWEST_MINOR: u32 = 37;

/// One row: `(group, resources, from_minor, to_minor, api_version, source)`, bounds inclusive.
type Row = (&'static str, &'static [&'static str], u32, u32, &'static str, &'static str);

/// Core resources: the core group has only `v1`, so there is no other version to store.
const CORE: &[&str] = &[
    "configmaps",
    "endpoints",
    "events",
    "limitranges",
    "namespaces",
    "nodes",
    "persistentvolumeclaims",
    "persistentvolumes",
    "pods",
    "podtemplates",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "serviceaccounts",
    "services",
];
const APPS: &[&str] =
    &["controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"];
const RBAC: &[&str] = &["clusterrolebindings", "clusterroles", "rolebindings", "roles"];
const WEBHOOKS: &[&str] = &["mutatingwebhookconfigurations", "validatingwebhookconfigurations"];
const VAP: &[&str] = &["validatingadmissionpolicies", "validatingadmissionpolicybindings"];
const MAP: &[&str] = &["mutatingadmissionpolicies", "mutatingadmissionpolicybindings"];
const FLOWCONTROL: &[&str] = &["flowschemas", "prioritylevelconfigurations"];
const DRA: &[&str] =
    &["deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices"];

const ADM: &str = "admissionregistration.k8s.io";
const CERT: &str = "certificates.k8s.io";
const COORD: &str = "coordination.k8s.io";
const FC: &str = "flowcontrol.apiserver.k8s.io";
const NET: &str = "networking.k8s.io";
const RES: &str = "resource.k8s.io";
const STOR: &str = "storage.k8s.io";

/// The table. Rows of one GroupResource never overlap (checked by the tests).
#[rustfmt::skip]
const TABLE: &[Row] = &[
    // core/v1 only; data.go@008b365, @4780fae and A26 expect v1 for every core resource.
    ("", CORE, 24, 37, "v1",
        "core group has only v1; data.go@008b365 (H37), data.go@4780fae (E31), A26"),
    // events.k8s.io cohabits with core events (AddCohabitatingResources): S19, A26, H37 all
    // expect ExpectedGVK core v1 Event.
    ("events.k8s.io", &["events"], 24, 37, "v1",
        "cohabitation with core events; data.go S19@bda075f, A26@102a4dc, H37@008b365: ExpectedGVK v1 Event"),
    // apps/v1: O11 already stores apps/v1; A26 and H37 agree.
    ("apps", APPS, 24, 37, "apps/v1",
        "data.go O11 openshift/origin vendor@9852058 .. A26@102a4dc .. H37@008b365: apps/v1"),
    // batch jobs: v1 in R17, A26, H37.
    ("batch", &["jobs"], 24, 37, "batch/v1",
        "data.go R17@18aa01b .. A26@102a4dc .. H37@008b365: batch/v1"),
    // cronjobs: S19 stored v1beta1; A26 (v1beta1 entry → ExpectedGVK v1) to H37 store v1.
    ("batch", &["cronjobs"], 26, 37, "batch/v1",
        "data.go A26@102a4dc (v1beta1 → ExpectedGVK v1) .. H37@008b365"),
    // HPA: R17 and A26 (v2 → ExpectedGVK v1) store v1; C27 (v1 → ExpectedGVK v2) onward v2.
    ("autoscaling", &["horizontalpodautoscalers"], 24, 25, "autoscaling/v1",
        "data.go R17@18aa01b and A26@102a4dc (autoscaling/v2 → ExpectedGVK v1)"),
    ("autoscaling", &["horizontalpodautoscalers"], 27, 37, "autoscaling/v2",
        "data.go C27 klueska@b42fcd4 (v1 → ExpectedGVK v2) .. D30@1d22f0a .. H37@008b365"),
    // PDB: R17 and A26 (policy/v1 → ExpectedGVK v1beta1) store v1beta1; C27 onward v1.
    ("policy", &["poddisruptionbudgets"], 24, 25, "policy/v1beta1",
        "data.go R17@18aa01b and A26@102a4dc (policy/v1 → ExpectedGVK v1beta1)"),
    ("policy", &["poddisruptionbudgets"], 27, 37, "policy/v1",
        "data.go C27 klueska@b42fcd4 (v1beta1 → ExpectedGVK v1) .. D30 .. H37@008b365"),
    // PSP: only policy/v1beta1 ever existed in policy (R17); the API was removed in 1.25.
    ("policy", &["podsecuritypolicies"], 24, 24, "policy/v1beta1",
        "data.go R17@18aa01b: PSP stored as policy/v1beta1, its only policy version; API removed in 1.25"),
    // RBAC: v1 in S19 (v1alpha1/v1beta1 → ExpectedGVK v1), A26, H37.
    ("rbac.authorization.k8s.io", RBAC, 24, 37, "rbac.authorization.k8s.io/v1",
        "data.go S19@bda075f .. A26@102a4dc .. H37@008b365: rbac/v1"),
    // networking
    ("networking.k8s.io", &["networkpolicies"], 24, 37, "networking.k8s.io/v1",
        "data.go S19@bda075f .. A26@102a4dc .. H37@008b365: networking.k8s.io/v1"),
    (NET, &["ingresses", "ingressclasses"], 26, 37, "networking.k8s.io/v1",
        "data.go A26@102a4dc .. H37@008b365 (S19 still stored v1beta1)"),
    (NET, &["ipaddresses"], 27, 30, "networking.k8s.io/v1alpha1",
        "data.go C27 sanposhiho@059ce4e and D30@1d22f0a; v1beta1 IntroducedVersion 1.31 (H37)"),
    (NET, &["servicecidrs"], 30, 30, "networking.k8s.io/v1alpha1",
        "data.go D30@1d22f0a; v1beta1 IntroducedVersion 1.31 (H37)"),
    (NET, &["ipaddresses", "servicecidrs"], 31, 33, "networking.k8s.io/v1beta1",
        "default_storage_factory_builder.go@0260c7d override v1beta1; data.go E31@4780fae, F33@e6f4401 (v1 → ExpectedGVK v1beta1)"),
    (NET, &["ipaddresses", "servicecidrs"], 34, 37, "networking.k8s.io/v1",
        "data.go G34 helayoty@e742326 .. H37@008b365: ExpectedGVK v1"),
    // storage.k8s.io
    (STOR, &["storageclasses", "volumeattachments"], 24, 37, "storage.k8s.io/v1",
        "data.go S19@bda075f .. A26@102a4dc .. H37@008b365: storage.k8s.io/v1"),
    (STOR, &["csidrivers", "csinodes"], 26, 37, "storage.k8s.io/v1",
        "data.go A26@102a4dc .. H37@008b365"),
    (STOR, &["csistoragecapacities"], 24, 24, "storage.k8s.io/v1beta1",
        "default_storage_factory_builder.go@0260c7d/@008b365 comment: 1.24 override csistoragecapacities v1beta1"),
    (STOR, &["csistoragecapacities"], 26, 37, "storage.k8s.io/v1",
        "data.go A26@102a4dc (v1alpha1/v1beta1 → ExpectedGVK v1) .. H37@008b365"),
    (STOR, &["volumeattributesclasses"], 29, 30, "storage.k8s.io/v1alpha1",
        "data.go F33@e6f4401 (v1alpha1 IntroducedVersion 1.29), D30@1d22f0a; v1beta1 IntroducedVersion 1.31"),
    (STOR, &["volumeattributesclasses"], 31, 34, "storage.k8s.io/v1beta1",
        "default_storage_factory_builder.go@0260c7d override v1beta1; data.go F33@e6f4401; v1 IntroducedVersion 1.34 (H37), not written before 1.35 (§4.1)"),
    (STOR, &["volumeattributesclasses"], 35, 37, "storage.k8s.io/v1",
        "data.go G35 Jefftree@fae8563 .. H37@008b365: ExpectedGVK v1"),
    // scheduling.k8s.io
    ("scheduling.k8s.io", &["priorityclasses"], 26, 37, "scheduling.k8s.io/v1",
        "data.go A26@102a4dc .. H37@008b365"),
    ("scheduling.k8s.io", &["podgroups", "workloads"], 37, 37, "scheduling.k8s.io/v1alpha2",
        "default_storage_factory_builder.go@008b365 override v1alpha2"),
    // coordination.k8s.io
    (COORD, &["leases"], 26, 37, "coordination.k8s.io/v1",
        "data.go A26@102a4dc .. H37@008b365 (S19 still stored v1beta1)"),
    (COORD, &["leasecandidates"], 31, 31, "coordination.k8s.io/v1alpha1",
        "data.go E31@4780fae; v1alpha2 IntroducedVersion 1.32 (H37)"),
    (COORD, &["leasecandidates"], 33, 37, "coordination.k8s.io/v1beta1",
        "default_storage_factory_builder.go@008b365 override v1beta1; data.go F33@e6f4401, G34, H37: ExpectedGVK v1beta1"),
    // discovery.k8s.io
    ("discovery.k8s.io", &["endpointslices"], 26, 26, "discovery.k8s.io/v1beta1",
        "data.go A26@102a4dc and C27@b42fcd4 (v1 → ExpectedGVK v1beta1)"),
    ("discovery.k8s.io", &["endpointslices"], 30, 37, "discovery.k8s.io/v1",
        "data.go D30@1d22f0a .. E31@4780fae .. H37@008b365"),
    // node.k8s.io
    ("node.k8s.io", &["runtimeclasses"], 26, 37, "node.k8s.io/v1",
        "data.go A26@102a4dc (v1beta1 → ExpectedGVK v1) .. H37@008b365"),
    // certificates.k8s.io
    (CERT, &["certificatesigningrequests"], 26, 37, "certificates.k8s.io/v1",
        "data.go A26@102a4dc .. H37@008b365 (S19 still stored v1beta1)"),
    (CERT, &["clustertrustbundles"], 27, 32, "certificates.k8s.io/v1alpha1",
        "data.go C27 sanposhiho@059ce4e .. E31@4780fae (+ override v1alpha1 @0260c7d) .. F33@e6f4401"),
    (CERT, &["clustertrustbundles"], 34, 37, "certificates.k8s.io/v1beta1",
        "default_storage_factory_builder.go@008b365 override v1beta1; data.go G34@e742326, H37: ExpectedGVK v1beta1"),
    (CERT, &["podcertificaterequests"], 34, 34, "certificates.k8s.io/v1alpha1",
        "data.go G34 helayoty@e742326; v1beta1 IntroducedVersion 1.35 (H37)"),
    (CERT, &["podcertificaterequests"], 36, 37, "certificates.k8s.io/v1beta1",
        "default_storage_factory_builder.go@008b365 override v1beta1; data.go H37@008b365"),
    // admissionregistration.k8s.io
    (ADM, WEBHOOKS, 26, 37, "admissionregistration.k8s.io/v1",
        "data.go A26@102a4dc .. H37@008b365 (S19 still stored v1beta1)"),
    (ADM, VAP, 26, 27, "admissionregistration.k8s.io/v1alpha1",
        "data.go A26@102a4dc, C27@b42fcd4: v1alpha1, the only version; v1beta1 IntroducedVersion 1.28 (H37)"),
    (ADM, VAP, 30, 37, "admissionregistration.k8s.io/v1",
        "data.go D30@1d22f0a (v1beta1 → ExpectedGVK v1) .. E31@4780fae .. H37@008b365"),
    (ADM, MAP, 32, 33, "admissionregistration.k8s.io/v1alpha1",
        "data.go F33@e6f4401: v1alpha1, the only version; v1beta1 IntroducedVersion 1.34 (H37)"),
    (ADM, MAP, 35, 36, "admissionregistration.k8s.io/v1beta1",
        "default_storage_factory_builder.go@008b365 override v1beta1; data.go H37: v1 (1.36) → ExpectedGVK v1beta1"),
    // flowcontrol.apiserver.k8s.io
    (FC, FLOWCONTROL, 27, 28, "flowcontrol.apiserver.k8s.io/v1beta3",
        "data.go C27 klueska@b42fcd4 (v1beta2 → ExpectedGVK v1beta3); v1 IntroducedVersion 1.29 (H37)"),
    (FC, FLOWCONTROL, 30, 37, "flowcontrol.apiserver.k8s.io/v1",
        "data.go D30@1d22f0a (v1beta3 → ExpectedGVK v1) .. E31@4780fae .. H37@008b365"),
    // resource.k8s.io
    (RES, DRA, 31, 31, "resource.k8s.io/v1alpha3",
        "data.go E31@4780fae: v1alpha3, the only version; v1beta1 IntroducedVersion 1.32 (H37)"),
    (RES, &["podschedulingcontexts"], 31, 31, "resource.k8s.io/v1alpha3",
        "data.go E31@4780fae: v1alpha3, the only version"),
    (RES, DRA, 33, 33, "resource.k8s.io/v1beta1",
        "data.go F33@e6f4401: v1beta2 (1.33) → ExpectedGVK v1beta1"),
    (RES, DRA, 34, 34, "resource.k8s.io/v1beta2",
        "data.go@008b365 comment on the v1beta2 entries (actual storage v1beta2 when v1 was new); v1 IntroducedVersion 1.34, §4.1 rule"),
    (RES, DRA, 35, 37, "resource.k8s.io/v1",
        "data.go H37@008b365: ExpectedGVK v1; v1 IntroducedVersion 1.34, §4.1 rule"),
    (RES, &["devicetaintrules"], 33, 37, "resource.k8s.io/v1alpha3",
        "data.go H37@008b365 (IntroducedVersion 1.33; v1beta2 1.36 → ExpectedGVK v1alpha3); override v1alpha3 @008b365"),
    (RES, &["resourcepoolstatusrequests"], 36, 37, "resource.k8s.io/v1alpha3",
        "data.go H37@008b365 (IntroducedVersion 1.36); override v1alpha3 @008b365"),
    // storagemigration.k8s.io
    ("storagemigration.k8s.io", &["storageversionmigrations"], 30, 34, "storagemigration.k8s.io/v1alpha1",
        "data.go D30@1d22f0a .. E31 (override v1alpha1 @0260c7d) .. F33 .. G34@e742326; v1beta1 IntroducedVersion 1.35"),
    ("storagemigration.k8s.io", &["storageversionmigrations"], 36, 37, "storagemigration.k8s.io/v1beta1",
        "data.go H37@008b365 (v1beta1 IntroducedVersion 1.35), §4.1 rule"),
    // internal.apiserver.k8s.io has only v1alpha1.
    ("internal.apiserver.k8s.io", &["storageversions"], 24, 37, "internal.apiserver.k8s.io/v1alpha1",
        "only version of the group; data.go A26@102a4dc, H37@008b365"),
    // CRDs: SimpleStorageFactory + LegacyCodec, always v1beta1 JSON (layout doc §2.2; issue
    // kubernetes/kubernetes#102855 shows it on 1.21).
    ("apiextensions.k8s.io", &["customresourcedefinitions"], 24, 37, "apiextensions.k8s.io/v1beta1",
        "pkg/controlplane/apiserver/apiextensions.go; data.go A26@102a4dc .. H37@008b365: ExpectedGVK v1beta1; kubernetes/kubernetes#102855 (1.21)"),
    // APIServices: aggregator LegacyCodec(v1), JSON.
    ("apiregistration.k8s.io", &["apiservices"], 26, 37, "apiregistration.k8s.io/v1",
        "data.go A26@102a4dc .. H37@008b365; pkg/controlplane/apiserver/aggregator.go"),
];

/// `"1.31"`, `"v1.31"`, `"v1.31.4"`, `"1.31.0-rc.1"`, `"v1.31+"` → `31`. `None` unless the major
/// is 1 and the minor lies in `OLDEST_MINOR..=NEWEST_MINOR`.
pub fn parse_kube_version(s: &str) -> Option<u32> {
    let s = s.trim();
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let rest = s.strip_prefix("1.")?;
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (digits, tail) = rest.split_at(end);
    if digits.is_empty() || digits.len() > 3 {
        return None;
    }
    if !(tail.is_empty() || tail.starts_with(['.', '-', '+'])) {
        return None;
    }
    let minor: u32 = digits.parse().ok()?;
    (OLDEST_MINOR..=NEWEST_MINOR).contains(&minor).then_some(minor)
}

/// The apiVersion kube-apiserver 1.`minor` writes for a built-in GroupResource (`group` `""` is
/// core), e.g. `("autoscaling", "horizontalpodautoscalers", 31)` → `Some("autoscaling/v2")`.
/// `None` when the row is not established (see the module docs) or the resource is not built in.
pub fn expected_api_version(group: &str, resource: &str, minor: u32) -> Option<&'static str> {
    row(group, resource, minor).map(|r| r.4)
}

/// Where the row for this GroupResource and release comes from (file@commit, or the rule that
/// pins it), for reports and docs. `None` exactly when [`expected_api_version`] is `None`.
pub fn source_of(group: &str, resource: &str, minor: u32) -> Option<&'static str> {
    row(group, resource, minor).map(|r| r.5)
}

/// Every GroupResource the table has a row for (any release).
pub fn builtin_resources() -> impl Iterator<Item = (&'static str, &'static str)> {
    TABLE.iter().flat_map(|(g, resources, ..)| resources.iter().map(move |r| (*g, *r)))
}

fn row(group: &str, resource: &str, minor: u32) -> Option<&'static Row> {
    TABLE.iter().find(|(g, resources, from, to, ..)| {
        *g == group && resources.contains(&resource) && (*from..=*to).contains(&minor)
    })
}
