//! The descriptor pool (Kubernetes' go-to-protobuf `generated.proto` files, compiled by build.rs
//! from the `k8s-rs-pb` crate's `src/v1_35`), and which message a typeMeta names.
//!
//! go-to-protobuf puts API group `G` version `V` into the proto package `k8s.io.<module
//! path>.<pkg>.V` (k8s-rs-pb strips `k8s.io.`), where `<pkg>` is the Go package name of the
//! group: `api.apps.v1`, `api.core.v1`, `api.rbac.v1`,
//! `apiextensions_apiserver.pkg.apis.apiextensions.v1`,
//! `kube_aggregator.pkg.apis.apiregistration.v1`. The Go package name is the group's first DNS
//! label (`rbac.authorization.k8s.io` → `rbac`), `core` for the legacy group `""`, and in the few
//! groups where it is not, it is the first two labels joined, either way round
//! (`internal.apiserver.k8s.io` → `apiserverinternal`, `custom.metrics.k8s.io` →
//! `custom_metrics`). So the map below is built from the pool, not from a table of groups.

use std::collections::HashMap;
use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, MessageDescriptor};

/// The Kubernetes release whose descriptors are bundled (k8s-rs-pb `src/v1_35`, see build.rs).
pub const DESCRIPTORS_RELEASE: &str = "1.35";

/// The FileDescriptorSet build.rs wrote.
static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/k8s_descriptors.bin"));

/// Every bundled message. build.rs produced the set with protox from complete sources, so it
/// always decodes; if it ever did not, the pool is empty and every kind is metadata-only.
static POOL: LazyLock<DescriptorPool> =
    LazyLock::new(|| DescriptorPool::decode(DESCRIPTORS).unwrap_or_else(|_| DescriptorPool::new()));

type KindIndex = HashMap<(String, String), Vec<(String, MessageDescriptor)>>;

/// `(version, Kind)` → the top-level messages of that name, with the Go package name of their
/// proto package (`("v1", "Deployment")` → `[("apps", api.apps.v1.Deployment), ("extensions",
/// …)]`). Only messages whose field 1 is `metadata` count: every stored kind has one.
static BY_VERSION_KIND: LazyLock<KindIndex> = LazyLock::new(|| {
    let mut map = KindIndex::new();
    for message in POOL.all_messages() {
        if message.parent_message().is_some()
            || message.get_field(1).is_none_or(|f| f.name() != "metadata")
        {
            continue;
        }
        let mut segments = message.package_name().rsplit('.');
        let (Some(version), Some(go_package)) = (segments.next(), segments.next()) else {
            continue;
        };
        map.entry((version.to_owned(), message.name().to_owned()))
            .or_default()
            .push((go_package.to_owned(), message));
    }
    map
});

/// The message stored for `apiVersion` (`v1`, `apps/v1`, `rbac.authorization.k8s.io/v1`) and
/// `kind`, if the bundled descriptors have it.
pub(super) fn message_for(api_version: &str, kind: &str) -> Option<MessageDescriptor> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let candidates = BY_VERSION_KIND.get(&(version.to_owned(), kind.to_owned()))?;
    candidates
        .iter()
        .filter_map(|(go_package, m)| go_package_rank(group, go_package).map(|rank| (rank, m)))
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, m)| m.clone())
}

/// How well the Go package name `go_package` fits API group `group`: `Some(0)` for the usual
/// rule (first DNS label; `core` for `""`), `Some(1)` for the first two labels joined in
/// either order (underscores ignored), `None` otherwise or for a group outside Kubernetes'
/// own.
pub(super) fn go_package_rank(group: &str, go_package: &str) -> Option<u8> {
    if group.is_empty() {
        return (go_package == "core").then_some(0);
    }
    // Custom resource groups (Gateway API's `gateway.networking.k8s.io`, or
    // `policy.networking.k8s.io`, whose first label would match the `policy` package) are stored
    // as JSON/CBOR and never in these packages: `builtin` knows which groups are Kubernetes' own.
    if !crate::builtin::is_builtin_group(group) {
        return None;
    }
    let mut labels = group.split('.');
    let first = labels.next().unwrap_or_default();
    if go_package == first {
        return Some(0);
    }
    let second = labels.next()?;
    let squashed: String = go_package.chars().filter(|c| *c != '_').collect();
    let joined = |a: &str, b: &str| squashed.strip_prefix(a).is_some_and(|rest| rest == b);
    (joined(first, second) || joined(second, first)).then_some(1)
}

/// A bundled message by its full name.
pub(super) fn message_by_name(name: &str) -> Option<MessageDescriptor> {
    POOL.get_message_by_name(name)
}

/// `meta.v1.PartialObjectMetadata`: `metadata` (field 1) alone; every other field of an object
/// is kept as an unknown field and not shown.
pub(super) fn partial_object_metadata() -> Option<MessageDescriptor> {
    POOL.get_message_by_name("apimachinery.pkg.apis.meta.v1.PartialObjectMetadata")
}

/// The bundled pool (tests list it).
#[cfg(test)]
pub(super) fn pool() -> &'static DescriptorPool {
    &POOL
}
