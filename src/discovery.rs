//! Cross-check with the live API server's discovery: each resource's `storageVersionHash` is
//! `base64(sha256("<group>/<version>/<kind>")[0..8])` of the version the server stores it at
//! (kubernetes/apiserver pkg/endpoints/discovery/storageversionhash.go). Hashing what etcd
//! holds, and what our release table expects, shows where either disagrees with the server.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Why discovery could not be read.
///
/// The kube errors are kept typed, and their text is part of this error's own text (a scan
/// prints it with `{}` as the reason there is no cross-check); they are deliberately not
/// [`std::error::Error::source`] too, or a cause-chain printer (`{:#}`) would repeat it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The kubeconfig could not be read, or names no usable context, cluster or user.
    #[error("kubeconfig {path}: {error}")]
    ReadKubeconfig {
        /// The file, or `(default)` for kubectl's search.
        path: String,
        /// What kube said.
        error: kube::config::KubeconfigError,
    },
    /// No client could be built from the kubeconfig (TLS, proxy or credentials setup).
    #[error("kubeconfig {path}: {error}")]
    Client {
        /// The file, or `(default)` for kubectl's search.
        path: String,
        /// What kube said.
        error: kube::Error,
    },
    /// A discovery request failed.
    #[error("discovery request to the API server failed: {message}")]
    Request {
        /// What the client or the server said.
        message: String,
        /// The HTTP status, when the server answered (401: credentials rejected).
        code: Option<u16>,
    },
}

/// The hash kube-apiserver advertises for a storage version.
pub fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    let digest = Sha256::digest(format!("{group}/{version}/{kind}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// What discovery says about each (group, resource): its storageVersionHash.
#[derive(Clone, Debug, Default)]
pub struct ServerDiscovery {
    /// (group, plural) → storageVersionHash (absent when the server does not publish one).
    pub hashes: BTreeMap<(String, String), Option<String>>,
    /// (group, plural) → where and how the server serves it, at the group's preferred version
    /// (or the first version that lists it).
    pub served: BTreeMap<(String, String), Served>,
    /// The server's version (`/version` gitVersion).
    pub server_version: Option<String>,
}

/// One served resource, as discovery lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// `v1`, `apps/v1`, `example.com/v2`: the path segment(s) and the apply body's apiVersion.
    pub group_version: String,
    /// Kind.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Verbs (`patch` is what a rewrite needs).
    pub verbs: Vec<String>,
}

/// The kube client configuration of a kubeconfig file (or, without one, what kubectl would use:
/// `$KUBECONFIG`, `~/.kube/config`, in-cluster), at `context` or the current context.
pub async fn client_config(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<kube::Config, DiscoveryError> {
    let opts = kube::config::KubeConfigOptions {
        context: context.map(str::to_owned),
        ..Default::default()
    };
    let Some(path) = kubeconfig else {
        return kube::Config::from_kubeconfig(&opts)
            .await
            .map_err(|error| DiscoveryError::ReadKubeconfig { path: "(default)".into(), error });
    };
    let kc_err = |error| DiscoveryError::ReadKubeconfig { path: path.display().to_string(), error };
    let kc = kube::config::Kubeconfig::read_from(path).map_err(kc_err)?;
    kube::Config::from_custom_kubeconfig(kc, &opts).await.map_err(kc_err)
}

/// Reads discovery through the kubeconfig's current (or given) context.
pub async fn fetch(
    kubeconfig: &Path,
    context: Option<&str>,
) -> Result<ServerDiscovery, DiscoveryError> {
    let config = client_config(Some(kubeconfig), context).await?;
    let client = kube::Client::try_from(config).map_err(|error| DiscoveryError::Client {
        path: kubeconfig.display().to_string(),
        error,
    })?;
    read(&client).await
}

/// Reads legacy discovery (every group, every version) with `client`.
pub async fn read(client: &kube::Client) -> Result<ServerDiscovery, DiscoveryError> {
    let req = |e: kube::Error| DiscoveryError::Request {
        code: match &e {
            kube::Error::Api(status) => Some(status.code),
            _ => None,
        },
        message: e.to_string(),
    };
    let mut out = ServerDiscovery {
        server_version: client.apiserver_version().await.ok().map(|v| v.git_version),
        ..ServerDiscovery::default()
    };
    let mut lists = Vec::new();
    for version in client.list_core_api_versions().await.map_err(req)?.versions {
        lists.push(client.list_core_api_resources(&version).await.map_err(req)?);
    }
    for group in client.list_api_groups().await.map_err(req)?.groups {
        // The preferred version first, so its listing is the one kept.
        let preferred = group.preferred_version.map(|p| p.group_version);
        let mut versions: Vec<String> =
            group.versions.into_iter().map(|v| v.group_version).collect();
        versions.sort_by_key(|gv| Some(gv) != preferred.as_ref());
        for gv in versions {
            lists.push(client.list_api_group_resources(&gv).await.map_err(req)?);
        }
    }
    for list in lists {
        let group = list.group_version.rsplit_once('/').map_or("", |(g, _)| g).to_owned();
        for r in list.resources.into_iter().filter(|r| !r.name.contains('/')) {
            let key = (group.clone(), r.name);
            // Every served version of a resource advertises the same storage hash.
            out.hashes.entry(key.clone()).or_insert(r.storage_version_hash);
            out.served.entry(key).or_insert(Served {
                group_version: list.group_version.clone(),
                kind: r.kind,
                namespaced: r.namespaced,
                verbs: r.verbs,
            });
        }
    }
    Ok(out)
}

/// One resource's comparison.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// API group.
    pub group: String,
    /// Resource.
    pub resource: String,
    /// The server's storageVersionHash.
    pub server_hash: String,
    /// (apiVersion, kind) found in etcd → objects, and whether that is what the server stores.
    pub stored: Vec<StoredAs>,
    /// Our table's expected apiVersion for the release, and whether the server agrees.
    pub expected_api_version: Option<String>,
    /// Whether our expectation hashes to the server's value (None without an expectation).
    pub table_agrees: Option<bool>,
}

/// One stored (apiVersion, kind).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredAs {
    /// Stored apiVersion.
    pub api_version: String,
    /// Stored kind.
    pub kind: String,
    /// Objects.
    pub count: u64,
    /// Whether the server stores new writes the same way.
    pub matches_server: bool,
}

fn split(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// What a scan found: (group, resource) → (apiVersion, kind) → objects.
pub type Found = BTreeMap<(String, String), BTreeMap<(String, String), u64>>;

/// Compares what the scan found (group, resource, apiVersion, kind → count) and what the table
/// expects with the server's hashes; only resources the server publishes a hash for.
pub fn compare(
    server: &ServerDiscovery,
    found: &Found,
    expected: impl Fn(&str, &str) -> Option<String>,
) -> Vec<Comparison> {
    let mut out = Vec::new();
    for ((group, resource), stored) in found {
        let Some(Some(server_hash)) = server.hashes.get(&(group.clone(), resource.clone())) else {
            continue;
        };
        let kinds: Vec<&String> = stored.keys().map(|(_, k)| k).collect();
        let expected_api_version = expected(group, resource);
        let table_agrees = expected_api_version.as_ref().map(|e| {
            let (g, v) = split(e);
            kinds.iter().any(|k| &storage_version_hash(g, v, k) == server_hash)
        });
        out.push(Comparison {
            group: group.clone(),
            resource: resource.clone(),
            server_hash: server_hash.clone(),
            stored: stored
                .iter()
                .map(|((api_version, kind), &count)| {
                    let (g, v) = split(api_version);
                    StoredAs {
                        api_version: api_version.clone(),
                        kind: kind.clone(),
                        count,
                        matches_server: &storage_version_hash(g, v, kind) == server_hash,
                    }
                })
                .collect(),
            expected_api_version,
            table_agrees,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_the_first_8_bytes_of_sha256_in_base64() {
        let h = storage_version_hash("apps", "v1", "Deployment");
        assert_eq!(h.len(), 12, "8 bytes in padded base64");
        let direct = Sha256::digest(b"apps/v1/Deployment");
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(&h).unwrap(), &direct[..8]);
        assert_ne!(
            storage_version_hash("", "v1", "Secret"),
            storage_version_hash("", "v1", "ConfigMap")
        );
    }

    #[test]
    fn comparison_flags_old_objects_and_table_disagreement() {
        let mut server = ServerDiscovery::default();
        let key = ("autoscaling".to_owned(), "horizontalpodautoscalers".to_owned());
        server.hashes.insert(
            key.clone(),
            Some(storage_version_hash("autoscaling", "v2", "HorizontalPodAutoscaler")),
        );
        let mut found = BTreeMap::new();
        let mut stored = BTreeMap::new();
        stored.insert(("autoscaling/v1".to_owned(), "HorizontalPodAutoscaler".to_owned()), 2);
        stored.insert(("autoscaling/v2".to_owned(), "HorizontalPodAutoscaler".to_owned()), 5);
        found.insert(key, stored);
        let c = compare(&server, &found, |_, _| Some("autoscaling/v1".into()));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].stored.iter().map(|s| s.matches_server).collect::<Vec<_>>(), [false, true]);
        assert_eq!(c[0].table_agrees, Some(false));
        let c = compare(&server, &found, |_, _| Some("autoscaling/v2".into()));
        assert_eq!(c[0].table_agrees, Some(true));
    }
}
