//! The summary sections filled in at the end of a scan from what was read besides the records:
//! the CRDs, and the API server's discovery.

use std::collections::BTreeMap;

use super::{CrdReport, Summary};
use crate::crd::CrdIndex;
use crate::discovery::{Found, ServerDiscovery, compare};
use crate::verdict::Judge;

impl Summary {
    /// Compares what the scan found with the API server's storageVersionHash per resource.
    pub fn set_discovery(&mut self, server: Result<ServerDiscovery, String>, judge: &Judge<'_>) {
        self.discovery = Some(server.map(|server| {
            let mut found: Found = BTreeMap::new();
            for (k, n) in &self.groups {
                if let (Some(v), Some(kind)) = (&k.api_version, &k.kind) {
                    *found
                        .entry((k.group.clone(), k.resource.clone()))
                        .or_default()
                        .entry((v.clone(), kind.clone()))
                        .or_default() += n;
                }
            }
            compare(&server, &found, |group, resource| {
                let versions = judge.versions?;
                match versions.crds.get(group, resource) {
                    Some(crd) => crd.storage_version.as_ref().map(|v| format!("{group}/{v}")),
                    None => crate::storage_versions::expected_api_version(
                        group,
                        resource,
                        versions.minor,
                    )
                    .map(str::to_owned),
                }
            })
        }));
    }

    /// Builds the CRD section from the CRDs read before the scan.
    pub fn set_crds(&mut self, index: &CrdIndex) {
        self.crds = index
            .all()
            .into_iter()
            .map(|crd| {
                let usage = self
                    .cr_versions
                    .get(&(crd.group.clone(), crd.plural.clone()))
                    .cloned()
                    .unwrap_or_default();
                CrdReport {
                    name: crd.name.clone(),
                    storage_version: crd.storage_version.clone(),
                    stored_versions: crd.stored_versions.clone(),
                    trimmable: usage.trimmable(crd),
                    unlisted_in_use: usage.unlisted(crd),
                    versions_in_use: usage.versions_in_use,
                    problem: crd.problem.clone(),
                }
            })
            .chain(index.unreadable.iter().map(|(key, why)| CrdReport {
                name: key.clone(),
                problem: Some(format!("cannot read this CRD: {why}")),
                ..CrdReport::default()
            }))
            .collect();
    }
}
