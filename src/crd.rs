//! CustomResourceDefinitions as kube-apiserver stores them (JSON, `apiextensions.k8s.io/v1beta1`,
//! possibly encrypted), read from etcd so that each custom resource can be judged against its
//! CRD's storage version and `status.storedVersions` (layout doc §6).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::source::RawKv;

/// Why a stored value is not a CRD. It never quotes the value: serde's own message may (`invalid
/// type: string "…"`), so that error is not kept as a source, only its category and position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrdError {
    /// The JSON does not decode into a CRD's shape.
    #[error("not a CustomResourceDefinition ({category:?} at line {line}, column {column})")]
    NotACrd {
        /// Syntax, data (a missing or mistyped field), EOF or I/O.
        category: serde_json::error::Category,
        /// 1-based line of the failure.
        line: usize,
        /// 1-based column of the failure.
        column: usize,
    },
}

/// One CRD, as far as storage versions are concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Crd {
    /// `<plural>.<group>`.
    pub name: String,
    /// `spec.group`.
    pub group: String,
    /// `spec.names.plural`.
    pub plural: String,
    /// Every version in `spec.versions` (or the deprecated `spec.version`).
    pub versions: Vec<String>,
    /// The one version with `storage: true`; None when there is not exactly one.
    pub storage_version: Option<String>,
    /// `status.storedVersions`.
    pub stored_versions: Vec<String>,
    /// What is wrong with this CRD, if anything (no or several storage versions).
    pub problem: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    metadata: Option<RawMeta>,
    spec: RawSpec,
    #[serde(default)]
    status: RawStatus,
}

#[derive(Deserialize)]
struct RawMeta {
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawSpec {
    group: String,
    names: RawNames,
    #[serde(default)]
    versions: Vec<RawVersion>,
    /// v1beta1's deprecated single version.
    version: Option<String>,
}

#[derive(Deserialize)]
struct RawNames {
    plural: String,
}

#[derive(Deserialize)]
struct RawVersion {
    name: String,
    #[serde(default)]
    storage: bool,
}

#[derive(Default, Deserialize)]
struct RawStatus {
    #[serde(default, rename = "storedVersions")]
    stored_versions: Vec<String>,
}

impl Crd {
    /// Parses a stored CRD (the decrypted JSON value). The error says what is missing, never
    /// more of the value than field names.
    pub fn parse(json: &[u8]) -> Result<Self, CrdError> {
        let raw: Raw = serde_json::from_slice(json).map_err(|e| CrdError::NotACrd {
            category: e.classify(),
            line: e.line(),
            column: e.column(),
        })?;
        let mut versions: Vec<String> = raw.spec.versions.iter().map(|v| v.name.clone()).collect();
        let mut storage: Vec<String> =
            raw.spec.versions.iter().filter(|v| v.storage).map(|v| v.name.clone()).collect();
        if versions.is_empty()
            && let Some(v) = raw.spec.version
        {
            versions.push(v.clone());
            storage.push(v);
        }
        let name = raw
            .metadata
            .and_then(|m| m.name)
            .unwrap_or_else(|| format!("{}.{}", raw.spec.names.plural, raw.spec.group));
        let (storage_version, problem) = match storage.as_slice() {
            [one] => (Some(one.clone()), None),
            [] => (None, Some("no version has storage: true".to_owned())),
            many => (
                None,
                Some(format!("{} versions have storage: true ({})", many.len(), many.join(", "))),
            ),
        };
        Ok(Self {
            name,
            group: raw.spec.group,
            plural: raw.spec.names.plural,
            versions,
            storage_version,
            stored_versions: raw.status.stored_versions,
            problem,
        })
    }
}

/// The finding for a CRD that names a built-in group/resource, if it does.
pub fn shadowing_problem(crd: &Crd) -> Option<String> {
    crate::builtin::is_builtin(&crd.group, &crd.plural).then(|| {
        format!(
            "defines {}, which kube-apiserver also serves as a built-in: the built-in handler \
             wins, so this CRD's objects cannot be read or rewritten through the API",
            crate::keyspace::group_resource(&crd.group, &crd.plural)
        )
    })
}

/// The CRDs of one scan, by (group, plural).
#[derive(Clone, Debug, Default)]
pub struct CrdIndex {
    by_resource: HashMap<(String, String), Crd>,
    /// CRD keys whose value could not be read or parsed: (etcd key, why).
    pub unreadable: Vec<(String, String)>,
}

impl CrdIndex {
    /// Adds a parsed CRD; one that names a built-in group/resource gets that as its problem
    /// ([`shadowing_problem`]).
    pub fn insert(&mut self, mut crd: Crd) {
        if let Some(shadow) = shadowing_problem(&crd) {
            crd.problem = Some(match crd.problem.take() {
                Some(p) => format!("{p}; {shadow}"),
                None => shadow,
            });
        }
        self.by_resource.insert((crd.group.clone(), crd.plural.clone()), crd);
    }

    /// The CRD that defines `<plural>.<group>`.
    pub fn get(&self, group: &str, plural: &str) -> Option<&Crd> {
        self.by_resource.get(&(group.to_owned(), plural.to_owned()))
    }

    /// All CRDs, sorted by name.
    pub fn all(&self) -> Vec<&Crd> {
        let mut v: Vec<&Crd> = self.by_resource.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Whether no CRD was found.
    pub fn is_empty(&self) -> bool {
        self.by_resource.is_empty()
    }
}

impl CrdIndex {
    /// Reads the CRD values of a scan's pre-pass (`<prefix>apiextensions.k8s.io/
    /// customresourcedefinitions/`); `plaintext` opens one value as the scan would (the
    /// caller's decryption: this module knows CRDs, not envelopes). Why a value is unreadable is
    /// kept as the error's text.
    pub fn load<E: std::error::Error>(
        kvs: &[RawKv],
        plaintext: impl Fn(&RawKv) -> Result<Vec<u8>, E>,
    ) -> Self {
        let mut index = Self::default();
        for kv in kvs {
            let parsed = plaintext(kv)
                .map_err(|e| e.to_string())
                .and_then(|p| Crd::parse(&p).map_err(|e| e.to_string()));
            match parsed {
                Ok(crd) => index.insert(crd),
                Err(why) => {
                    index.unreadable.push((String::from_utf8_lossy(&kv.key).into_owned(), why))
                }
            }
        }
        index
    }
}

/// Per CRD: which versions its objects are stored at, and what that means for
/// `status.storedVersions`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrdUsage {
    /// Stored apiVersion's version part → objects.
    pub versions_in_use: BTreeMap<String, u64>,
}

impl CrdUsage {
    /// `storedVersions` entries no object uses: safe to trim (the storage version always stays).
    pub fn trimmable(&self, crd: &Crd) -> Vec<String> {
        crd.stored_versions
            .iter()
            .filter(|v| {
                !self.versions_in_use.contains_key(*v) && Some(*v) != crd.storage_version.as_ref()
            })
            .cloned()
            .collect()
    }

    /// Versions objects are stored at that `storedVersions` does not list: the dangerous case
    /// (a migrator may drop the version from the CRD while objects still use it).
    pub fn unlisted(&self, crd: &Crd) -> Vec<String> {
        self.versions_in_use.keys().filter(|v| !crd.stored_versions.contains(v)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1beta1","kind":"CustomResourceDefinition","metadata":{"name":"selfierequests.example.com"},"spec":{"group":"example.com","names":{"plural":"selfierequests","kind":"SelfieRequest"},"scope":"Namespaced","versions":[{"name":"v1","served":true,"storage":false},{"name":"v2","served":true,"storage":true}]},"status":{"storedVersions":["v1","v2"]}}"#;

    #[test]
    fn parses_storage_and_stored_versions() {
        let crd = Crd::parse(CRD.as_bytes()).unwrap();
        assert_eq!(crd.name, "selfierequests.example.com");
        assert_eq!((crd.group.as_str(), crd.plural.as_str()), ("example.com", "selfierequests"));
        assert_eq!(crd.storage_version.as_deref(), Some("v2"));
        assert_eq!(crd.stored_versions, ["v1", "v2"]);
        assert_eq!(crd.problem, None);
        let mut usage = CrdUsage::default();
        usage.versions_in_use.insert("v2".into(), 3);
        assert_eq!(usage.trimmable(&crd), ["v1"]);
        usage.versions_in_use.insert("v3".into(), 1);
        assert_eq!(usage.unlisted(&crd), ["v3"]);
    }

    #[test]
    fn zero_or_two_storage_versions_and_garbage() {
        let none = CRD.replace(r#""storage":true"#, r#""storage":false"#);
        assert!(Crd::parse(none.as_bytes()).unwrap().problem.unwrap().contains("no version"));
        let two = CRD.replace(r#""storage":false"#, r#""storage":true"#);
        assert!(Crd::parse(two.as_bytes()).unwrap().problem.unwrap().contains("2 versions"));
        let legacy = r#"{"spec":{"group":"a.io","names":{"plural":"bs"},"version":"v1alpha1"}}"#;
        assert_eq!(
            Crd::parse(legacy.as_bytes()).unwrap().storage_version.as_deref(),
            Some("v1alpha1")
        );
        let err = Crd::parse(br#"{"spec":{"secretValue":1}}"#).unwrap_err().to_string();
        assert!(!err.contains("secretValue"), "{err}");
        assert!(
            err.starts_with("not a CustomResourceDefinition (Data at line 1, column "),
            "{err}"
        );
        assert!(Crd::parse(b"\x00\x01").is_err());
    }
}
