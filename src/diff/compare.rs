//! Comparing the two records of one key: which fields differ, and whether that is a regression
//! or an improvement.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::read::Stream;
use super::{Change, ChangeKind, Delta, DiffError, Encryption, Fields, Record, Status};

fn is_plaintext(e: &Encryption) -> bool {
    e.provider.as_deref() == Some("identity")
}

/// A known provider other than identity.
fn is_encrypted(e: &Encryption) -> bool {
    e.provider.as_deref().is_some_and(|p| p != "identity")
}

/// Resources (group, resource) with at least one encrypted object in OLD.
#[derive(Clone, Debug, Default)]
pub struct EncryptedResources(BTreeMap<String, BTreeSet<String>>);

impl EncryptedResources {
    /// Reads all of OLD once.
    pub fn collect(old: &Path) -> Result<Self, DiffError> {
        let mut stream = Stream::open(old)?;
        let mut set = Self::default();
        while let Some(rec) = stream.next()? {
            set.add(&rec);
        }
        Ok(set)
    }

    /// Counts `rec` if it is encrypted.
    pub fn add(&mut self, rec: &Record) {
        if is_encrypted(&rec.encryption) && !self.contains(&rec.group, &rec.resource) {
            self.0.entry(rec.group.to_string()).or_default().insert(rec.resource.to_string());
        }
    }

    /// Did OLD have an encrypted object of this resource?
    pub fn contains(&self, group: &str, resource: &str) -> bool {
        self.0.get(group).is_some_and(|r| r.contains(resource))
    }
}

/// The compared values of one record, in `Fields` order.
fn values(r: &Record) -> [Option<&str>; 8] {
    let e = &r.encryption;
    [
        e.provider.as_deref(),
        e.kms_api_version.as_deref(),
        e.key_name.as_deref(),
        e.key_id.as_deref(),
        r.api_version.as_deref(),
        r.kind.as_deref(),
        r.encoding.as_deref(),
        Some(r.status.as_str()),
    ]
}

fn fields<'a>(old: Option<&'a Record>, new: Option<&'a Record>) -> Fields<'a> {
    let none = [None; 8];
    let (o, n) = (old.map_or(none, values), new.map_or(none, values));
    let mut d = o.into_iter().zip(n).map(|(old, new)| (old != new).then_some(Delta { old, new }));
    let mut next = || d.next().flatten();
    let (om, nm) = (old.map(|r| r.mod_revision), new.map(|r| r.mod_revision));
    Fields {
        provider: next(),
        kms_api_version: next(),
        key_name: next(),
        key_id: next(),
        api_version: next(),
        kind: next(),
        encoding: next(),
        status: next(),
        mod_revision: (om != nm).then_some(Delta { old: om, new: nm }),
    }
}

/// Compares the two sides of one key; None when nothing differs. `encrypted` answers whether
/// OLD had an encrypted object of a resource.
pub fn classify<'a>(
    old: Option<&'a Record>,
    new: Option<&'a Record>,
    encrypted: &EncryptedResources,
) -> Option<Change<'a>> {
    let key: &str = &new.or(old)?.key;
    let fields = fields(old, new);
    let mut c = Change {
        key,
        change: ChangeKind::Changed,
        regression: false,
        improvement: false,
        fields,
        reasons: Vec::new(),
    };
    fn regression(c: &mut Change<'_>, why: String) {
        c.regression = true;
        c.reasons.push(why);
    }
    match (old, new) {
        (None, None) => return None,
        (Some(_), None) => c.change = ChangeKind::Disappeared,
        (None, Some(n)) => {
            c.change = ChangeKind::Appeared;
            if matches!(n.status, Status::Stale | Status::Unreadable) {
                regression(&mut c, format!("new object is {}", n.status.as_str()));
            }
            if is_plaintext(&n.encryption) && encrypted.contains(&n.group, &n.resource) {
                regression(
                    &mut c,
                    format!("new plaintext object; OLD had encrypted {}", resource(n)),
                );
            }
        }
        (Some(o), Some(n)) => {
            if !c.fields.has_text() {
                // Same envelope and payload facts: rewritten in place, or not touched at all.
                let rewritten = c.fields.mod_revision.is_some();
                return rewritten.then_some(Change { change: ChangeKind::Rewritten, ..c });
            }
            if let (Some(a), Some(b)) = (o.status.rank(), n.status.rank()) {
                let why = format!("status {} → {}", o.status.as_str(), n.status.as_str());
                match b.cmp(&a) {
                    Ordering::Greater => regression(&mut c, why),
                    Ordering::Less => {
                        c.improvement = true;
                        c.reasons.push(why);
                    }
                    Ordering::Equal => {}
                }
            }
            let provider = |r: &Record| r.encryption.provider.clone().unwrap_or_default();
            if is_encrypted(&o.encryption) && is_plaintext(&n.encryption) {
                regression(&mut c, format!("encrypted ({}) → plaintext", provider(o)));
            } else if is_plaintext(&o.encryption) && is_encrypted(&n.encryption) {
                c.improvement = true;
                c.reasons.push(format!("plaintext → encrypted ({})", provider(n)));
            }
        }
    }
    Some(c)
}

fn resource(r: &Record) -> String {
    if r.group.is_empty() { r.resource.to_string() } else { format!("{}.{}", r.resource, r.group) }
}
