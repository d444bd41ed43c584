//! Legacy (unaggregated) discovery, as kube-apiserver serves it:
//! - `GET /version` → `version.Info`;
//! - `GET /api` → `APIVersions`, no `apiVersion` (apiserver strips it for the legacy root);
//! - `GET /api/v1` → `APIResourceList`, no `apiVersion` (core is "unversioned");
//! - `GET /apis` → `APIGroupList`; `GET /apis/{g}` → `APIGroup`;
//! - `GET /apis/{g}/{v}` → `APIResourceList` with `apiVersion: v1`.
//!
//! Aggregated discovery (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;
//! as=APIGroupDiscoveryList`) is not offered: whatever the Accept, the answer is the legacy
//! document with
//! `Content-Type: application/json`, which is what a server without aggregated discovery does;
//! client-go (kubectl) sees the plain content type and reads the legacy shape.
//!
//! Versions of a group are listed by apimachinery's kube-aware priority (`version/helpers.go`
//! `CompareKubeAwareVersionStrings`: GA > beta > alpha, then higher numbers), and the first one
//! is `preferredVersion`. Resources of a group/version are sorted by name, as the installer does.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Resource;
use super::json::ok;
use super::state::State;
use super::status::not_found_status;

/// `base64std(sha256("<group>/<version>/<kind>")[0:8])`, group `""` for core, from the storage
/// version (kubernetes `staging/src/k8s.io/apiserver/pkg/endpoints/discovery/storageversionhash.go`).
pub fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    let digest = Sha256::digest(format!("{group}/{version}/{kind}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// Every verb a plain stored resource serves (secrets, deployments, CRs).
const VERBS: [&str; 8] =
    ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

pub(super) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/version", get(version))
        .route("/api", get(api_versions))
        .route("/api/{version}", get(core_resources))
        .route("/apis", get(group_list))
        .route("/apis/{group}", get(group))
        .route("/apis/{group}/{version}", get(group_resources))
}

// ---- wire types (metav1), fields in kube-apiserver's order ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionInfo {
    major: &'static str,
    minor: &'static str,
    git_version: &'static str,
    git_commit: &'static str,
    git_tree_state: &'static str,
    build_date: &'static str,
    go_version: &'static str,
    compiler: &'static str,
    platform: &'static str,
}

#[derive(Serialize)]
struct ApiVersions {
    kind: &'static str,
    versions: Vec<String>,
    #[serde(rename = "serverAddressByClientCIDRs")]
    server_address_by_client_cidrs: Vec<ServerAddressByClientCidr>,
}

#[derive(Serialize)]
struct ServerAddressByClientCidr {
    #[serde(rename = "clientCIDR")]
    client_cidr: &'static str,
    #[serde(rename = "serverAddress")]
    server_address: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroupList {
    kind: &'static str,
    api_version: &'static str,
    groups: Vec<ApiGroup>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroup {
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'static str>,
    name: String,
    versions: Vec<GroupVersionForDiscovery>,
    preferred_version: GroupVersionForDiscovery,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct GroupVersionForDiscovery {
    group_version: String,
    version: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiResourceList {
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'static str>,
    group_version: String,
    resources: Vec<ApiResource>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiResource {
    name: String,
    singular_name: String,
    namespaced: bool,
    kind: String,
    verbs: Vec<&'static str>,
    storage_version_hash: String,
}

// ---- handlers ----

async fn version() -> Response {
    ok(VersionInfo {
        major: "1",
        minor: "31",
        git_version: "v1.31.0",
        git_commit: "9edcffcde5595e8a5b1a35f88c421764e575afce",
        git_tree_state: "clean",
        build_date: "2024-08-13T07:28:49Z",
        go_version: "go1.22.5",
        compiler: "gc",
        platform: "linux/amd64",
    })
}

async fn api_versions(AxState(state): AxState<Arc<State>>) -> Response {
    let mut versions = versions_of(&state.resources, "");
    if versions.is_empty() {
        versions.push("v1".into());
    }
    ok(ApiVersions {
        kind: "APIVersions",
        versions,
        server_address_by_client_cidrs: vec![ServerAddressByClientCidr {
            client_cidr: "0.0.0.0/0",
            server_address: state.address.to_string(),
        }],
    })
}

async fn core_resources(
    AxState(state): AxState<Arc<State>>,
    Path(version): Path<String>,
) -> Response {
    // Core v1 always exists on a kube-apiserver, even with no core resource configured here.
    if version != "v1" && !versions_of(&state.resources, "").contains(&version) {
        return not_found_status().into_response();
    }
    ok(resource_list(&state.resources, "", &version))
}

async fn group_list(AxState(state): AxState<Arc<State>>) -> Response {
    let groups = group_names(&state.resources)
        .into_iter()
        .filter_map(|name| api_group(&state.resources, &name, false))
        .collect();
    ok(ApiGroupList { kind: "APIGroupList", api_version: "v1", groups })
}

async fn group(AxState(state): AxState<Arc<State>>, Path(group): Path<String>) -> Response {
    match api_group(&state.resources, &group, true) {
        Some(g) if !group.is_empty() => ok(g),
        _ => not_found_status().into_response(),
    }
}

async fn group_resources(
    AxState(state): AxState<Arc<State>>,
    Path((group, version)): Path<(String, String)>,
) -> Response {
    if group.is_empty() || !versions_of(&state.resources, &group).contains(&version) {
        return not_found_status().into_response();
    }
    ok(resource_list(&state.resources, &group, &version))
}

// ---- building the documents ----

/// Named groups in order of first appearance (core excluded).
fn group_names(resources: &[Resource]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in resources {
        if !r.group.is_empty() && !names.contains(&r.group) {
            names.push(r.group.clone());
        }
    }
    names
}

/// Served versions of `group`, highest priority first.
fn versions_of(resources: &[Resource], group: &str) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for r in resources.iter().filter(|r| r.group == group) {
        if !versions.contains(&r.version) {
            versions.push(r.version.clone());
        }
    }
    versions.sort_by(|a, b| compare_kube_aware(b, a));
    versions
}

fn api_group(resources: &[Resource], group: &str, typed: bool) -> Option<ApiGroup> {
    let versions: Vec<GroupVersionForDiscovery> = versions_of(resources, group)
        .into_iter()
        .map(|version| GroupVersionForDiscovery {
            group_version: format!("{group}/{version}"),
            version,
        })
        .collect();
    let preferred_version = versions.first()?.clone();
    Some(ApiGroup {
        kind: typed.then_some("APIGroup"),
        api_version: typed.then_some("v1"),
        name: group.into(),
        versions,
        preferred_version,
    })
}

fn resource_list(resources: &[Resource], group: &str, version: &str) -> ApiResourceList {
    let mut served: Vec<ApiResource> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| ApiResource {
            name: r.resource.clone(),
            singular_name: r.kind.to_lowercase(),
            namespaced: r.namespaced,
            kind: r.kind.clone(),
            verbs: VERBS.to_vec(),
            storage_version_hash: storage_version_hash(&r.group, &r.storage_version, &r.kind),
        })
        .collect();
    served.sort_by(|a, b| a.name.cmp(&b.name));
    ApiResourceList {
        kind: "APIResourceList",
        // Core ("unversioned" in apiserver's discovery) goes out without apiVersion.
        api_version: (!group.is_empty()).then_some("v1"),
        group_version: if group.is_empty() { version.into() } else { format!("{group}/{version}") },
        resources: served,
    }
}

/// `Greater` when `a` has the higher priority (apimachinery `CompareKubeAwareVersionStrings`).
fn compare_kube_aware(a: &str, b: &str) -> Ordering {
    match (parse_kube_version(a), parse_kube_version(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        // Neither looks like a Kubernetes version: alphabetical, earlier first.
        (None, None) => b.cmp(a),
    }
}

/// `v<major>[(alpha|beta)<minor>]` → (stage: alpha 0, beta 1, GA 2; major; minor).
fn parse_kube_version(v: &str) -> Option<(u8, u64, u64)> {
    let rest = v.strip_prefix('v')?;
    let split = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (major, tail) = rest.split_at(split);
    let major: u64 = major.parse().ok()?;
    if tail.is_empty() {
        return Some((2, major, 0));
    }
    let (stage, minor) = if let Some(m) = tail.strip_prefix("alpha") {
        (0, m)
    } else {
        (1, tail.strip_prefix("beta")?)
    };
    if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stage, major, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_aware_order() {
        let mut v: Vec<String> =
            ["v1beta1", "v2", "v1", "v1alpha1", "v2beta2", "foo", "v10", "bar"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        v.sort_by(|a, b| compare_kube_aware(b, a));
        assert_eq!(v, ["v10", "v2", "v1", "v2beta2", "v1beta1", "v1alpha1", "bar", "foo"]);
    }
}
