//! Which Kubernetes release's storage versions a scan expects, and the CRDs it judges custom
//! resources against: both read from etcd before the scan.

use atrest::crd::CrdIndex;
use atrest::scan::{ScanError, collect};
use atrest::source::{Page, RawKv, ScanStats};
use atrest::verdict::{Judge, Versions};
use tokio::sync::mpsc;

/// The storage-version policy and what it was based on (for the report header).
pub struct Basis {
    pub versions: Versions,
    /// e.g. "--kube-version", "newest kubelet in Node objects (v1.31.4)".
    pub basis: String,
}

/// Reads CRDs and Nodes under `prefix` through `scan_prefix` (the source's own scan of a
/// sub-prefix) and decides the expected release.
pub fn plan(
    judge: &Judge<'_>,
    prefix: &str,
    kube_version: Option<&str>,
    scan_prefix: &mut (
             dyn FnMut(Vec<u8>, mpsc::Sender<Page>) -> Result<ScanStats, ScanError> + Send
         ),
) -> Result<Basis, ScanError> {
    let mut read = |sub: &str| -> Result<Vec<RawKv>, ScanError> {
        let p = format!("{prefix}{sub}").into_bytes();
        collect(|tx| scan_prefix(p, tx))
    };
    let crds = CrdIndex::load(&read("apiextensions.k8s.io/customresourcedefinitions/")?, |kv| {
        Versions::plaintext_of(judge, kv, "apiextensions.k8s.io", "customresourcedefinitions")
    });
    let (minor, basis) = match kube_version {
        Some(v) => (
            parse_minor(v).ok_or_else(|| {
                ScanError::Usage(format!(
                    "--kube-version {v}: expected 1.{}–1.{}",
                    OLDEST_MINOR, NEWEST_MINOR
                ))
            })?,
            "--kube-version".to_owned(),
        ),
        None => {
            let nodes = read("minions/")?;
            let newest = nodes
                .iter()
                .filter_map(|kv| Versions::plaintext_of(judge, kv, "", "nodes").ok())
                .filter_map(|p| kubelet_version(&p))
                .filter_map(|v| parse_minor(&v).map(|m| (m, v)))
                .max();
            match newest {
                Some((m, v)) => (m, format!("newest kubelet in Node objects ({v})")),
                None => (
                    NEWEST_MINOR,
                    format!(
                        "no Node objects with a known kubelet version: assuming the newest release atrest knows, 1.{}",
                        NEWEST_MINOR
                    ),
                ),
            }
        }
    };
    Ok(Basis { versions: Versions { minor, crds }, basis })
}

use atrest::codec::node::kubelet_version;
use atrest::storage_versions::{NEWEST_MINOR, OLDEST_MINOR, parse_kube_version as parse_minor};
