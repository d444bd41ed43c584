//! `atrest diff`: what changed between two scan reports (`-o json` documents or `-o jsonl`
//! files), as a streaming merge-join by etcd key, so memory stays flat however many records.
//!
//! Both formats list records in etcd key order (report/json.rs). Each input is parsed on its own
//! reader thread (a serde `Visitor` over `serde_json::Deserializer::from_reader` for documents,
//! line by line for jsonl) and handed over in batches through a bounded channel; [`diff`] walks
//! both in step, classifies each key and pushes the changes into a [`DiffSink`].
//!
//! OLD is read twice: a first pass collects the resources that had encrypted objects, because a
//! new plaintext object of such a resource is a regression wherever its key sorts. That pass also
//! checks OLD completely (order, summary count) before anything is written.
//!
//! Everything printed comes from the two reports, which by contract hold no secrets.

mod read;
mod sink;
#[cfg(test)]
mod tests;

use read::Stream;
pub use sink::{JsonDiffSink, TableDiffSink};

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Records per message between a reader thread and the join.
const BATCH: usize = 512;
/// Messages in flight per input (so at most `BATCH * CHANNEL` records are buffered).
const CHANNEL: usize = 8;
/// At most this much of the first line is read to tell a document from JSON lines.
const SNIFF: u64 = 1 << 20;
/// Table rows shown without `--all`.
pub const DEFAULT_ROWS: usize = 50;

/// What can stop a diff. Every variant names the file it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// The file could not be opened.
    #[error("cannot open {}", .path.display())]
    Open {
        /// The input.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Reading failed.
    #[error("reading {}", .path.display())]
    Read {
        /// The input.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// OLD is read twice, so it must be a regular file.
    #[error("{}: not a regular file (diff reads OLD twice; save the report to a file first)", .path.display())]
    NotAFile {
        /// The input.
        path: PathBuf,
    },
    /// Not an atrest scan report at all.
    #[error("{}: not an atrest scan report: {what}", .path.display())]
    NotAReport {
        /// The input.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// The JSON document is invalid (serde_json's message has the line and column).
    #[error("{}: invalid atrest/v1 report", .path.display())]
    Document {
        /// The input.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A JSON line is invalid.
    #[error("{}: line {line}: invalid record", .path.display())]
    Line {
        /// The input.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A jsonl line after the summary line.
    #[error("{}: line {line}: record after the summary line", .path.display())]
    AfterSummary {
        /// The input.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
    },
    /// Keys not in etcd key order: a merge-join would give a wrong diff.
    #[error("{}: keys out of order at record {index}: {key:?} comes after {previous:?} (reports list keys in etcd key order)", .path.display())]
    OutOfOrder {
        /// The input.
        path: PathBuf,
        /// 1-based record number.
        index: u64,
        /// The offending key.
        key: String,
        /// The key before it.
        previous: String,
    },
    /// The same key twice.
    #[error("{}: key {key:?} appears twice (record {index})", .path.display())]
    DuplicateKey {
        /// The input.
        path: PathBuf,
        /// 1-based record number.
        index: u64,
        /// The key.
        key: String,
    },
    /// No summary: the report was cut short.
    #[error("{}: no summary at the end: the report is truncated (did the scan finish?)", .path.display())]
    MissingSummary {
        /// The input.
        path: PathBuf,
    },
    /// The summary's key count disagrees with the records.
    #[error("{}: the summary counts {expected} keys but the report lists {found} records (truncated or edited?)", .path.display())]
    CountMismatch {
        /// The input.
        path: PathBuf,
        /// `summary.keys`.
        expected: u64,
        /// Records read.
        found: u64,
    },
    /// A reader thread could not start or died.
    #[error("{}: reader thread failed", .path.display())]
    Thread {
        /// The input.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Writing the output failed.
    #[error("writing the diff")]
    Output(#[source] io::Error),
}

// ---------------------------------------------------------------------------------------------
// The record model: the fields of an atrest/v1 record that a diff compares.

/// A record's status: the verdict's own type, read back from a report.
pub use crate::verdict::Status;

/// `encryption` of a record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encryption {
    /// Provider; None when unknown.
    pub provider: Option<String>,
    /// KMS API version.
    pub kms_api_version: Option<String>,
    /// Key name.
    pub key_name: Option<String>,
    /// KMS v2 key id.
    pub key_id: Option<String>,
}

impl Encryption {
    fn is_plaintext(&self) -> bool {
        self.provider.as_deref() == Some("identity")
    }

    /// A known provider other than identity.
    fn is_encrypted(&self) -> bool {
        self.provider.as_deref().is_some_and(|p| p != "identity")
    }
}

/// One record as a diff sees it; other record fields are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// etcd key.
    pub key: String,
    /// etcd mod_revision.
    pub mod_revision: i64,
    /// API group.
    #[serde(default)]
    pub group: String,
    /// Resource.
    #[serde(default)]
    pub resource: String,
    /// Envelope.
    #[serde(default)]
    pub encryption: Encryption,
    /// Payload encoding.
    pub encoding: Option<String>,
    /// Stored apiVersion.
    pub api_version: Option<String>,
    /// Stored kind.
    pub kind: Option<String>,
    /// Verdict.
    pub status: Status,
}

/// `-o json` or `-o jsonl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// One atrest/v1 document.
    Json,
    /// JSON lines.
    Jsonl,
}

/// One input as the output describes it: only what the report itself says.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    /// The file as given.
    pub path: String,
    /// Its format.
    pub format: InputFormat,
    /// The document's `source` (jsonl has none).
    pub source: Option<Value>,
    /// The document's `encryptionConfig`.
    pub encryption_config: Option<Value>,
}

impl Side {
    /// `source.revision`.
    pub fn revision(&self) -> Option<i64> {
        self.source.as_ref()?.get("revision")?.as_i64()
    }

    /// `encryptionConfig.sha256`.
    pub fn config_sha256(&self) -> Option<&str> {
        self.encryption_config.as_ref()?.get("sha256")?.as_str()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading: one thread per input, batches through a bounded channel.

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
        if rec.encryption.is_encrypted() && !self.contains(&rec.group, &rec.resource) {
            self.0.entry(rec.group.clone()).or_default().insert(rec.resource.clone());
        }
    }

    /// Did OLD have an encrypted object of this resource?
    pub fn contains(&self, group: &str, resource: &str) -> bool {
        self.0.get(group).is_some_and(|r| r.contains(resource))
    }
}

/// The kind of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Only in NEW.
    Appeared,
    /// Only in OLD.
    Disappeared,
    /// Provider, key, apiVersion, kind, encoding or status differ.
    Changed,
    /// Only modRevision differs (listed only on request).
    Rewritten,
}

impl ChangeKind {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appeared => "appeared",
            Self::Disappeared => "disappeared",
            Self::Changed => "changed",
            Self::Rewritten => "rewritten",
        }
    }
}

/// One field, old → new (null on the side where the object does not exist or has no value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Delta<T> {
    /// In OLD.
    pub old: T,
    /// In NEW.
    pub new: T,
}

/// The fields that differ (changed), or that the one existing side has (appeared/disappeared).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fields<'a> {
    /// `encryption.provider`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Delta<Option<&'a str>>>,
    /// `encryption.kmsApiVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_api_version: Option<Delta<Option<&'a str>>>,
    /// `encryption.keyName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_name: Option<Delta<Option<&'a str>>>,
    /// `encryption.keyId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Delta<Option<&'a str>>>,
    /// `apiVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<Delta<Option<&'a str>>>,
    /// `kind`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Delta<Option<&'a str>>>,
    /// `encoding`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Delta<Option<&'a str>>>,
    /// `status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Delta<Option<&'a str>>>,
    /// `modRevision` (shown whenever it differs, never a reason for "changed" on its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mod_revision: Option<Delta<Option<i64>>>,
}

impl<'a> Fields<'a> {
    /// `(name, old, new)` of the text fields present, in contract order.
    pub fn texts(&self) -> impl Iterator<Item = (&'static str, Option<&'a str>, Option<&'a str>)> {
        [
            ("provider", self.provider),
            ("kmsApiVersion", self.kms_api_version),
            ("keyName", self.key_name),
            ("keyId", self.key_id),
            ("apiVersion", self.api_version),
            ("kind", self.kind),
            ("encoding", self.encoding),
            ("status", self.status),
        ]
        .into_iter()
        .filter_map(|(name, d)| d.map(|d| (name, d.old, d.new)))
    }

    fn has_text(&self) -> bool {
        self.texts().next().is_some()
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

/// One listed change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change<'a> {
    /// etcd key.
    pub key: &'a str,
    /// What happened.
    pub change: ChangeKind,
    /// Worse than before: exit 1 under `--fail-on regression`.
    pub regression: bool,
    /// Better than before.
    pub improvement: bool,
    /// Field by field.
    pub fields: Fields<'a>,
    /// Why it is a regression or an improvement.
    pub reasons: Vec<String>,
}

/// Compares the two sides of one key; None when nothing differs. `encrypted` answers whether
/// OLD had an encrypted object of a resource.
pub fn classify<'a>(
    old: Option<&'a Record>,
    new: Option<&'a Record>,
    encrypted: &EncryptedResources,
) -> Option<Change<'a>> {
    let key = new.or(old)?.key.as_str();
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
            if n.encryption.is_plaintext() && encrypted.contains(&n.group, &n.resource) {
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
            if o.encryption.is_encrypted() && n.encryption.is_plaintext() {
                regression(&mut c, format!("encrypted ({}) → plaintext", provider(o)));
            } else if o.encryption.is_plaintext() && n.encryption.is_encrypted() {
                c.improvement = true;
                c.reasons.push(format!("plaintext → encrypted ({})", provider(n)));
            }
        }
    }
    Some(c)
}

fn resource(r: &Record) -> String {
    if r.group.is_empty() { r.resource.clone() } else { format!("{}.{}", r.resource, r.group) }
}

// ---------------------------------------------------------------------------------------------
// The join.

/// Counts; `regressions` and `improvements` count listed changes (one change may be both).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    /// Keys only in NEW.
    pub appeared: u64,
    /// Keys only in OLD.
    pub disappeared: u64,
    /// Keys whose compared fields differ.
    pub changed: u64,
    /// Keys whose modRevision alone differs.
    pub rewritten: u64,
    /// Keys that are identical.
    pub unchanged: u64,
    /// Changes for the worse.
    pub regressions: u64,
    /// Changes for the better.
    pub improvements: u64,
}

impl DiffSummary {
    fn count(&mut self, c: &Change<'_>) {
        match c.change {
            ChangeKind::Appeared => self.appeared += 1,
            ChangeKind::Disappeared => self.disappeared += 1,
            ChangeKind::Changed => self.changed += 1,
            ChangeKind::Rewritten => self.rewritten += 1,
        }
        self.regressions += u64::from(c.regression);
        self.improvements += u64::from(c.improvement);
    }
}

/// Options of [`diff`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DiffOptions {
    /// Also hand modRevision-only changes to the sink (`--all`).
    pub list_rewritten: bool,
}

/// A diff output format. Changes arrive in key order.
pub trait DiffSink {
    /// Once, before the first change.
    fn begin(&mut self, old: &Side, new: &Side) -> io::Result<()>;
    /// Every listed change.
    fn change(&mut self, change: &Change<'_>) -> io::Result<()>;
    /// Once, when both reports were read to the end.
    fn finish(&mut self, summary: &DiffSummary) -> io::Result<()>;
}

/// Diffs two report files into `sink`: OLD is checked in full first, then both are merged by key.
pub fn diff(
    old: &Path,
    new: &Path,
    opts: DiffOptions,
    sink: &mut dyn DiffSink,
) -> Result<DiffSummary, DiffError> {
    let is_file = std::fs::metadata(old)
        .map_err(|source| DiffError::Open { path: old.to_owned(), source })?
        .is_file();
    if !is_file {
        return Err(DiffError::NotAFile { path: old.to_owned() });
    }
    let encrypted = EncryptedResources::collect(old)?;
    let (mut o, mut n) = (Stream::open(old)?, Stream::open(new)?);
    let (old_side, new_side) = (o.side()?, n.side()?);
    sink.begin(&old_side, &new_side).map_err(DiffError::Output)?;
    let mut summary = DiffSummary::default();
    let (mut a, mut b) = (o.next()?, n.next()?);
    loop {
        // The smaller key goes alone; the other record waits for the next round.
        let (x, y) = match (a.take(), b.take()) {
            (None, None) => break,
            (Some(x), Some(y)) if x.key < y.key => {
                b = Some(y);
                (Some(x), None)
            }
            (Some(x), Some(y)) if x.key > y.key => {
                a = Some(x);
                (None, Some(y))
            }
            pair => pair,
        };
        match classify(x.as_ref(), y.as_ref(), &encrypted) {
            None => summary.unchanged += 1,
            Some(c) => {
                summary.count(&c);
                if c.change != ChangeKind::Rewritten || opts.list_rewritten {
                    sink.change(&c).map_err(DiffError::Output)?;
                }
            }
        }
        if x.is_some() {
            a = o.next()?;
        }
        if y.is_some() {
            b = n.next()?;
        }
    }
    sink.finish(&summary).map_err(DiffError::Output)?;
    Ok(summary)
}

// ---------------------------------------------------------------------------------------------
// Sinks.
