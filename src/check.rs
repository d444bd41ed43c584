//! Can a key be dropped from the EncryptionConfiguration, or a version from a resource? The
//! rules `atrest check` answers by: a scan sink that counts the objects that block the removal
//! (stored with it) and those that might (unreadable, so nobody can tell).

use std::io;

use crate::policy::Policy;
use crate::report::{Header, ReportSink, Summary};
use crate::verdict::{Record, Status};

/// Keys listed when the answer is no.
pub const LISTED: usize = 20;

/// What is to be removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    /// A key: `aescbc:key1`, `secretbox:box-2`, `kms:<provider name>`.
    Key {
        /// As the user wrote it.
        given: String,
        /// The provider.
        provider: String,
        /// The key's (or KMS provider's) name.
        name: String,
    },
    /// A version of a resource (from a CRD's spec.versions / status.storedVersions).
    Version {
        /// `GROUP/RESOURCE` as the user wrote it (`core/pods`, `example.com/widgets`).
        given: String,
        /// The API group ("" for core).
        group: String,
        /// The resource (plural).
        resource: String,
        /// The version, e.g. `v1`.
        version: String,
    },
}

/// `can-remove-key` was not given `PROVIDER:KEYNAME`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{given}: expected PROVIDER:KEYNAME, e.g. aescbc:key1")]
pub struct BadKey {
    /// What was given.
    pub given: String,
}

impl Removal {
    /// The removal of a key, `PROVIDER:KEYNAME`.
    pub fn key(given: &str) -> Result<Self, BadKey> {
        let (provider, name) =
            Policy::parse_key(given).ok_or_else(|| BadKey { given: given.to_owned() })?;
        Ok(Self::Key { given: given.to_owned(), provider, name })
    }

    /// The removal of `version` from `GROUP/RESOURCE` (`core/` or no group: the core group).
    pub fn version(given: &str, version: &str) -> Self {
        let (group, resource) = match given.split_once('/') {
            Some(("core" | "", r)) => ("", r),
            Some((g, r)) => (g, r),
            None => ("", given),
        };
        Self::Version {
            given: given.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            version: version.to_owned(),
        }
    }

    /// "key aescbc:key1", "version v1 of example.com/widgets".
    pub fn describe(&self) -> String {
        match self {
            Self::Key { given, .. } => format!("key {given}"),
            Self::Version { given, version, .. } => format!("version {version} of {given}"),
        }
    }

    /// Whether `rec` keeps the removal from being safe.
    pub fn blocked_by(&self, rec: &Record) -> Blocking {
        if rec.status == Status::Skipped {
            return Blocking::No;
        }
        match self {
            Self::Key { provider, name, .. } => match &rec.encryption {
                Some(e)
                    if e.provider.as_str() == provider && e.key_name.as_deref() == Some(name) =>
                {
                    Blocking::Yes
                }
                // The prefix names another key: this object does not depend on ours.
                Some(e) if e.key_name.is_some() || e.provider.as_str() == "identity" => {
                    Blocking::No
                }
                _ if rec.status == Status::Unreadable => Blocking::Maybe,
                _ => Blocking::No,
            },
            Self::Version { group, resource, version, .. } => {
                if rec.info.group != *group || rec.info.resource != *resource {
                    return Blocking::No;
                }
                let api_version =
                    if group.is_empty() { version.clone() } else { format!("{group}/{version}") };
                match rec.facts.api_version.as_deref() {
                    Some(v) if v == api_version => Blocking::Yes,
                    _ if rec.status == Status::Unreadable => Blocking::Maybe,
                    _ => Blocking::No,
                }
            }
        }
    }

    /// After a "yes" for a CRD's version that `status.storedVersions` still lists: the CRD's
    /// name and the versions to keep there.
    pub fn stored_versions_to_keep(&self, summary: &Summary) -> Option<(String, Vec<String>)> {
        let Self::Version { group, resource, version, .. } = self else { return None };
        let name = format!("{resource}.{group}");
        let crd = summary.crds.iter().find(|c| c.name == name)?;
        let keep: Vec<String> =
            crd.stored_versions.iter().filter(|v| *v != version).cloned().collect();
        (crd.stored_versions.contains(version) && !keep.is_empty()).then_some((name, keep))
    }
}

/// How one object bears on a removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocking {
    /// It does not depend on what is removed.
    No,
    /// It is stored with it.
    Yes,
    /// It is unreadable: it might be.
    Maybe,
}

/// A scan sink that counts what blocks a removal.
#[derive(Debug)]
pub struct Blockers {
    /// The question.
    pub removal: Removal,
    /// Objects stored with what is removed.
    pub blocking: u64,
    /// Unreadable objects that might be.
    pub uncertain: u64,
    /// The first [`LISTED`] blocking keys.
    pub keys: Vec<String>,
}

impl Blockers {
    /// Nothing counted yet.
    pub fn new(removal: Removal) -> Self {
        Self { removal, blocking: 0, uncertain: 0, keys: Vec::new() }
    }

    /// Safe: nothing blocks, and nothing might.
    pub fn safe(&self) -> bool {
        self.blocking == 0 && self.uncertain == 0
    }
}

impl ReportSink for Blockers {
    fn begin(&mut self, _: &Header) -> io::Result<()> {
        Ok(())
    }

    fn record(&mut self, rec: &Record) -> io::Result<()> {
        match self.removal.blocked_by(rec) {
            Blocking::No => {}
            Blocking::Yes => {
                self.blocking += 1;
                if self.keys.len() < LISTED {
                    self.keys.push(String::from_utf8_lossy(&rec.key).into_owned());
                }
            }
            Blocking::Maybe => self.uncertain += 1,
        }
        Ok(())
    }

    fn finish(&mut self, _: &Summary) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_parse_as_the_cli_writes_them() {
        assert!(
            matches!(Removal::key("aescbc:key1"), Ok(Removal::Key { ref name, .. }) if name == "key1")
        );
        assert_eq!(
            Removal::key("aescbc").unwrap_err().to_string(),
            "aescbc: expected PROVIDER:KEYNAME, e.g. aescbc:key1"
        );
        for (given, group, resource) in [
            ("core/pods", "", "pods"),
            ("pods", "", "pods"),
            ("/pods", "", "pods"),
            ("example.com/widgets", "example.com", "widgets"),
        ] {
            let Removal::Version { group: g, resource: r, .. } = Removal::version(given, "v1")
            else {
                panic!()
            };
            assert_eq!((g.as_str(), r.as_str()), (group, resource), "{given}");
        }
        assert_eq!(
            Removal::version("example.com/widgets", "v1").describe(),
            "version v1 of example.com/widgets"
        );
    }
}
