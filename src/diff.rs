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

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess};
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

/// A record's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Current.
    Current,
    /// Stale.
    Stale,
    /// Unreadable.
    Unreadable,
    /// Skipped.
    Skipped,
}

impl Status {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Stale => "stale",
            Self::Unreadable => "unreadable",
            Self::Skipped => "skipped",
        }
    }

    /// current < stale < unreadable; skipped is not ranked.
    fn rank(self) -> Option<u8> {
        match self {
            Self::Current => Some(0),
            Self::Stale => Some(1),
            Self::Unreadable => Some(2),
            Self::Skipped => None,
        }
    }
}

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

enum Msg {
    Header { source: Option<Value>, encryption_config: Option<Value> },
    Records(Vec<Record>),
    End { keys: u64 },
    Failed(DiffError),
}

/// What the first non-blank line says: a complete JSON object is a jsonl record or summary
/// (unless it is a one-line document with `objects`); anything longer is a document.
fn sniff(head: &[u8]) -> Result<InputFormat, &'static str> {
    #[derive(Deserialize)]
    struct Probe {
        objects: Option<IgnoredAny>,
    }
    let line = head.trim_ascii();
    match line.first() {
        None => return Err("the file is empty"),
        Some(b'{') => {}
        Some(_) => return Err("not JSON (expected `atrest scan -o json` or `-o jsonl` output)"),
    }
    Ok(match serde_json::from_slice::<Probe>(line) {
        Ok(Probe { objects: None }) => InputFormat::Jsonl,
        _ => InputFormat::Json,
    })
}

/// The record stream of one report, checked for key order and completeness.
struct Stream {
    path: PathBuf,
    format: InputFormat,
    rx: Option<Receiver<Msg>>,
    thread: Option<JoinHandle<()>>,
    batch: std::vec::IntoIter<Record>,
    header: Option<(Option<Value>, Option<Value>)>,
    last_key: Option<String>,
    count: u64,
    finished: bool,
}

impl Stream {
    fn open(path: &Path) -> Result<Self, DiffError> {
        let file =
            File::open(path).map_err(|source| DiffError::Open { path: path.to_owned(), source })?;
        let mut file = BufReader::with_capacity(1 << 16, file);
        let mut head = Vec::new();
        while head.trim_ascii().is_empty() && (head.len() as u64) < SNIFF {
            let limit = SNIFF - head.len() as u64;
            let n = (&mut file)
                .take(limit)
                .read_until(b'\n', &mut head)
                .map_err(|source| DiffError::Read { path: path.to_owned(), source })?;
            if n == 0 {
                break;
            }
        }
        let format =
            sniff(&head).map_err(|what| DiffError::NotAReport { path: path.to_owned(), what })?;
        let reader = io::Cursor::new(head).chain(file);
        let (tx, rx) = sync_channel(CHANNEL);
        let owned = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("atrest-diff-read".into())
            .spawn(move || {
                let result = match format {
                    InputFormat::Json => read_document(reader, &owned, &tx),
                    InputFormat::Jsonl => read_lines(reader, &owned, &tx),
                };
                // The receiver may be gone (the diff stopped early): nothing left to tell.
                let _ = tx.send(match result {
                    Ok(keys) => Msg::End { keys },
                    Err(e) => Msg::Failed(e),
                });
            })
            .map_err(|source| DiffError::Thread { path: path.to_owned(), source })?;
        Ok(Self {
            path: path.to_owned(),
            format,
            rx: Some(rx),
            thread: Some(thread),
            batch: Vec::new().into_iter(),
            header: None,
            last_key: None,
            count: 0,
            finished: false,
        })
    }

    fn recv(&mut self) -> Result<(), DiffError> {
        let msg = self.rx.as_ref().and_then(|rx| rx.recv().ok());
        match msg {
            Some(Msg::Header { source, encryption_config }) => {
                self.header = Some((source, encryption_config));
            }
            Some(Msg::Records(records)) => self.batch = records.into_iter(),
            Some(Msg::End { keys }) => {
                self.finished = true;
                if keys != self.count {
                    return Err(DiffError::CountMismatch {
                        path: self.path.clone(),
                        expected: keys,
                        found: self.count,
                    });
                }
            }
            Some(Msg::Failed(e)) => return Err(e),
            None => {
                return Err(DiffError::Thread {
                    path: self.path.clone(),
                    source: io::Error::other("stopped without a result"),
                });
            }
        }
        Ok(())
    }

    /// The report's own description; reads ahead only until the first records.
    fn side(&mut self) -> Result<Side, DiffError> {
        while self.format == InputFormat::Json
            && self.header.is_none()
            && self.batch.as_slice().is_empty()
            && !self.finished
        {
            self.recv()?;
        }
        let (source, encryption_config) = self.header.clone().unwrap_or_default();
        Ok(Side {
            path: self.path.display().to_string(),
            format: self.format,
            source,
            encryption_config,
        })
    }

    /// The next record in key order; an error if the report breaks that order.
    fn next(&mut self) -> Result<Option<Record>, DiffError> {
        loop {
            if let Some(rec) = self.batch.next() {
                self.count += 1;
                if let Some(last) = &mut self.last_key {
                    match rec.key.as_str().cmp(last.as_str()) {
                        Ordering::Greater => last.clone_from(&rec.key),
                        Ordering::Equal => {
                            return Err(DiffError::DuplicateKey {
                                path: self.path.clone(),
                                index: self.count,
                                key: rec.key,
                            });
                        }
                        Ordering::Less => {
                            return Err(DiffError::OutOfOrder {
                                path: self.path.clone(),
                                index: self.count,
                                key: rec.key,
                                previous: last.clone(),
                            });
                        }
                    }
                } else {
                    self.last_key = Some(rec.key.clone());
                }
                return Ok(Some(rec));
            }
            if self.finished {
                return Ok(None);
            }
            self.recv()?;
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // Dropping the receiver makes the reader's next send fail, so it stops promptly.
        self.rx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reader thread stops when the join has gone away.
const STOPPED: &str = "diff stopped";

fn send<E: de::Error>(tx: &SyncSender<Msg>, msg: Msg) -> Result<(), E> {
    tx.send(msg).map_err(|_| E::custom(STOPPED))
}

fn read_document(reader: impl Read, path: &Path, tx: &SyncSender<Msg>) -> Result<u64, DiffError> {
    let doc = |source| DiffError::Document { path: path.to_owned(), source };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let keys = (&mut de).deserialize_map(DocumentVisitor { tx }).map_err(doc)?;
    de.end().map_err(doc)?;
    Ok(keys)
}

/// The document: header fields, then `objects` streamed element by element, then `summary`.
struct DocumentVisitor<'a> {
    tx: &'a SyncSender<Msg>,
}

#[derive(Deserialize)]
struct SummaryKeys {
    keys: u64,
}

impl<'de> de::Visitor<'de> for DocumentVisitor<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an atrest/v1 scan report object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let (mut source, mut encryption_config) = (None, None);
        let (mut objects, mut keys) = (false, None);
        while let Some(name) = map.next_key::<String>()? {
            match name.as_str() {
                "apiVersion" => {
                    let v: String = map.next_value()?;
                    if v != "atrest/v1" {
                        return Err(de::Error::custom(format!(
                            "apiVersion {v:?}, expected \"atrest/v1\""
                        )));
                    }
                }
                "kind" => {
                    let v: String = map.next_value()?;
                    return Err(de::Error::custom(format!(
                        "kind {v:?}: expected a scan report (`atrest scan -o json`)"
                    )));
                }
                "source" => source = Some(map.next_value()?),
                "encryptionConfig" => encryption_config = map.next_value()?,
                "objects" => {
                    let header = Msg::Header {
                        source: source.take(),
                        encryption_config: encryption_config.take(),
                    };
                    send(self.tx, header)?;
                    map.next_value_seed(ObjectsSeed { tx: self.tx })?;
                    objects = true;
                }
                "summary" => keys = Some(map.next_value::<SummaryKeys>()?.keys),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !objects {
            return Err(de::Error::custom("no \"objects\" array"));
        }
        keys.ok_or_else(|| de::Error::custom("no \"summary\": the report is truncated"))
    }
}

/// `objects`: each element deserialized on its own and sent on in batches.
struct ObjectsSeed<'a> {
    tx: &'a SyncSender<Msg>,
}

impl<'de> DeserializeSeed<'de> for ObjectsSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> de::Visitor<'de> for ObjectsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(rec) = seq.next_element::<Record>()? {
            batch.push(rec);
            if batch.len() == BATCH {
                send(
                    self.tx,
                    Msg::Records(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))),
                )?;
            }
        }
        if !batch.is_empty() {
            send(self.tx, Msg::Records(batch))?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct SummaryLine {
    summary: SummaryKeys,
}

fn read_lines(
    mut reader: impl BufRead,
    path: &Path,
    tx: &SyncSender<Msg>,
) -> Result<u64, DiffError> {
    let stopped = || DiffError::Thread { path: path.to_owned(), source: io::Error::other(STOPPED) };
    let (mut line, mut number, mut keys) = (String::new(), 0u64, None);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|source| DiffError::Read { path: path.to_owned(), source })?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        if keys.is_some() {
            return Err(DiffError::AfterSummary { path: path.to_owned(), line: number });
        }
        match serde_json::from_str::<Record>(&line) {
            Ok(rec) => batch.push(rec),
            Err(e) => match serde_json::from_str::<SummaryLine>(&line) {
                Ok(s) => keys = Some(s.summary.keys),
                Err(_) => {
                    return Err(DiffError::Line { path: path.to_owned(), line: number, source: e });
                }
            },
        }
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            tx.send(Msg::Records(full)).map_err(|_| stopped())?;
        }
    }
    if !batch.is_empty() {
        tx.send(Msg::Records(batch)).map_err(|_| stopped())?;
    }
    keys.ok_or_else(|| DiffError::MissingSummary { path: path.to_owned() })
}

// ---------------------------------------------------------------------------------------------
// Classification.

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

fn to_io(e: serde_json::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// `-o json`: `{"apiVersion":"atrest/v1","kind":"Diff","old":…,"new":…,"changes":[…],
/// "summary":…}`, changes written as they come.
pub struct JsonDiffSink<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> JsonDiffSink<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Self { out, first: true }
    }
}

impl<W: Write> DiffSink for JsonDiffSink<W> {
    fn begin(&mut self, old: &Side, new: &Side) -> io::Result<()> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Head<'a> {
            api_version: &'static str,
            kind: &'static str,
            old: &'a Side,
            new: &'a Side,
        }
        let head = Head { api_version: "atrest/v1", kind: "Diff", old, new };
        let head = serde_json::to_string(&head).map_err(to_io)?;
        // Reopen the head object to append the streamed "changes" array.
        let head = head.strip_suffix('}').unwrap_or(&head);
        write!(self.out, "{head},\"changes\":[")
    }

    fn change(&mut self, change: &Change<'_>) -> io::Result<()> {
        self.out.write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        serde_json::to_writer(&mut self.out, change).map_err(to_io)
    }

    fn finish(&mut self, summary: &DiffSummary) -> io::Result<()> {
        self.out.write_all(b"\n],\"summary\":")?;
        serde_json::to_writer(&mut self.out, summary).map_err(to_io)?;
        self.out.write_all(b"}\n")?;
        self.out.flush()
    }
}

/// `-o table`: header, a count per category, then `KEY  CHANGE  OLD → NEW` rows. Holds up to
/// `limit` rows until the end (all of them with `--all`).
pub struct TableDiffSink<W: Write> {
    out: W,
    limit: Option<usize>,
    sides: Option<(Side, Side)>,
    rows: Vec<[String; 3]>,
    listed: u64,
}

impl<W: Write> TableDiffSink<W> {
    /// `limit` None shows every row.
    pub fn new(out: W, limit: Option<usize>) -> Self {
        Self { out, limit, sides: None, rows: Vec::new(), listed: 0 }
    }
}

fn or_dash(v: Option<&str>) -> &str {
    v.unwrap_or("-")
}

fn describe(side: &Side) -> String {
    let Some(src) = &side.source else {
        return format!("{} (jsonl: no source recorded)", side.path);
    };
    let text = |k: &str| src.get(k).and_then(Value::as_str);
    let mut s = format!("{}: {}", side.path, text("kind").unwrap_or("?"));
    if let Some(p) = text("path") {
        s.push_str(&format!(" {p}"));
    }
    if let Some(rev) = side.revision() {
        s.push_str(&format!(", revision {rev}"));
    }
    if let Some(prefix) = text("prefix") {
        s.push_str(&format!(", prefix {prefix}"));
    }
    match side.config_sha256() {
        Some(sha) => s.push_str(&format!(", encryptionConfig sha256 {sha}")),
        None => s.push_str(", no encryptionConfig"),
    }
    s
}

/// One side of an appeared/disappeared object: `provider:keyName apiVersion/kind status`.
fn state<'a>(f: &Fields<'a>, new: bool) -> String {
    let get = |d: Option<Delta<Option<&'a str>>>| d.and_then(|d| if new { d.new } else { d.old });
    let mut s = or_dash(get(f.provider)).to_owned();
    if let Some(k) = get(f.key_name) {
        s.push(':');
        s.push_str(k);
    }
    let kind = [get(f.api_version), get(f.kind)].into_iter().flatten().collect::<Vec<_>>();
    if !kind.is_empty() {
        s.push(' ');
        s.push_str(&kind.join("/"));
    }
    s.push(' ');
    s.push_str(or_dash(get(f.status)));
    s
}

/// The OLD → NEW cell.
fn detail(c: &Change<'_>) -> String {
    let mut s = match c.change {
        ChangeKind::Appeared => format!("- → {}", state(&c.fields, true)),
        ChangeKind::Disappeared => format!("{} → -", state(&c.fields, false)),
        ChangeKind::Changed | ChangeKind::Rewritten => {
            let mut parts: Vec<String> = c
                .fields
                .texts()
                .map(|(name, o, n)| format!("{name} {} → {}", or_dash(o), or_dash(n)))
                .collect();
            if let Some(d) = c.fields.mod_revision {
                let rev = |r: Option<i64>| r.map_or_else(|| "-".to_owned(), |r| r.to_string());
                parts.push(format!("modRevision {} → {}", rev(d.old), rev(d.new)));
            }
            parts.join(", ")
        }
    };
    if c.regression && c.change == ChangeKind::Appeared {
        s.push_str(&format!(" ({})", c.reasons.join("; ")));
    }
    s
}

impl<W: Write> DiffSink for TableDiffSink<W> {
    fn begin(&mut self, old: &Side, new: &Side) -> io::Result<()> {
        self.sides = Some((old.clone(), new.clone()));
        Ok(())
    }

    fn change(&mut self, c: &Change<'_>) -> io::Result<()> {
        self.listed += 1;
        if self.limit.is_some_and(|l| self.rows.len() >= l) {
            return Ok(());
        }
        let mut tags = Vec::new();
        if c.regression {
            tags.push("regression");
        }
        if c.improvement {
            tags.push("improvement");
        }
        let change = if tags.is_empty() {
            c.change.as_str().to_owned()
        } else {
            format!("{} ({})", c.change.as_str(), tags.join(", "))
        };
        self.rows.push([c.key.to_owned(), change, detail(c)]);
        Ok(())
    }

    fn finish(&mut self, s: &DiffSummary) -> io::Result<()> {
        let out = &mut self.out;
        if let Some((old, new)) = &self.sides {
            writeln!(out, "OLD  {}", describe(old))?;
            writeln!(out, "NEW  {}", describe(new))?;
            if let (Some(a), Some(b)) = (old.revision(), new.revision())
                && a != b
            {
                writeln!(out, "revision changed: {a} → {b}")?;
            }
            if old.source.is_some() && new.source.is_some() {
                let (a, b) = (old.config_sha256(), new.config_sha256());
                if a != b {
                    writeln!(
                        out,
                        "encryptionConfig changed: sha256 {} → {}",
                        or_dash(a),
                        or_dash(b)
                    )?;
                }
            }
            writeln!(out)?;
        }
        let counts = [
            ("appeared", s.appeared),
            ("disappeared", s.disappeared),
            ("changed", s.changed),
            ("rewritten", s.rewritten),
            ("unchanged", s.unchanged),
            ("regressions", s.regressions),
            ("improvements", s.improvements),
        ];
        let width = counts.iter().map(|(_, n)| n.to_string().len()).max().unwrap_or(1);
        for (name, n) in counts {
            writeln!(out, "{name:<13}{n:>width$}")?;
        }
        if !self.rows.is_empty() {
            let w0 = self.rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0).max(3);
            let w1 = self.rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0).max(6);
            writeln!(out, "\n{:<w0$}   {:<w1$}   OLD → NEW", "KEY", "CHANGE")?;
            for [key, change, detail] in &self.rows {
                writeln!(out, "{key:<w0$}   {change:<w1$}   {detail}")?;
            }
        }
        let hidden = self.listed.saturating_sub(self.rows.len() as u64);
        if hidden > 0 {
            writeln!(out, "… {hidden} more (--all lists every change)")?;
        }
        if s.rewritten > 0 && self.limit.is_some() {
            writeln!(
                out,
                "{} rewritten (modRevision only) not listed; --all lists them",
                s.rewritten
            )?;
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, provider: &str, key_name: Option<&str>, status: Status) -> Record {
        Record {
            key: key.to_owned(),
            mod_revision: 5,
            group: String::new(),
            resource: "secrets".to_owned(),
            encryption: Encryption {
                provider: Some(provider.to_owned()),
                key_name: key_name.map(str::to_owned),
                ..Encryption::default()
            },
            encoding: Some("protobuf".to_owned()),
            api_version: Some("v1".to_owned()),
            kind: Some("Secret".to_owned()),
            status,
        }
    }

    #[test]
    fn sniffs_the_format() {
        let doc = b"{\"apiVersion\":\"atrest/v1\",\"source\":{},\"objects\":[\n";
        assert_eq!(sniff(doc), Ok(InputFormat::Json));
        assert_eq!(sniff(b"{\"objects\":[],\"summary\":{\"keys\":0}}"), Ok(InputFormat::Json));
        assert_eq!(sniff(b"\n{\n"), Ok(InputFormat::Json), "pretty-printed");
        assert_eq!(sniff(b"{\"key\":\"/registry/a\"}\n"), Ok(InputFormat::Jsonl));
        assert_eq!(sniff(b"{\"apiVersion\":\"v1\",\"key\":\"/a\"}\n"), Ok(InputFormat::Jsonl));
        assert_eq!(sniff(b"{\"summary\":{\"keys\":0}}\n"), Ok(InputFormat::Jsonl));
        assert!(sniff(b"").is_err());
        assert!(sniff(b"  \n").is_err());
        assert!(sniff(b"apiVersion: atrest/v1").is_err());
    }

    #[test]
    fn classifies_status_and_provider_moves() {
        let none = EncryptedResources::default();
        let old = rec("/k", "aescbc", Some("k-old"), Status::Stale);
        let new = rec("/k", "aescbc", Some("k-new"), Status::Current);
        let c = classify(Some(&old), Some(&new), &none).unwrap();
        assert_eq!(c.change, ChangeKind::Changed);
        assert!(c.improvement && !c.regression);
        assert_eq!(c.fields.key_name, Some(Delta { old: Some("k-old"), new: Some("k-new") }));
        assert_eq!(c.fields.provider, None);
        let back = classify(Some(&new), Some(&old), &none).unwrap();
        assert!(back.regression && !back.improvement);

        let plain = rec("/k", "identity", None, Status::Current);
        let c = classify(Some(&new), Some(&plain), &none).unwrap();
        assert!(c.regression, "encrypted → plaintext even when the status stays current");
        assert!(classify(Some(&plain), Some(&new), &none).unwrap().improvement);

        let unreadable = rec("/k", "aescbc", Some("k-new"), Status::Unreadable);
        assert!(classify(Some(&old), Some(&unreadable), &none).unwrap().regression);
        assert!(classify(Some(&unreadable), Some(&old), &none).unwrap().improvement);

        assert_eq!(classify(Some(&new), Some(&new), &none), None);
        let mut moved = new.clone();
        moved.mod_revision = 9;
        let c = classify(Some(&new), Some(&moved), &none).unwrap();
        assert_eq!(c.change, ChangeKind::Rewritten);
        assert!(!c.regression && !c.improvement);
    }

    #[test]
    fn new_objects() {
        let mut encrypted = EncryptedResources::default();
        let plain = rec("/k", "identity", None, Status::Current);
        let c = classify(None, Some(&plain), &encrypted).unwrap();
        assert_eq!(c.change, ChangeKind::Appeared);
        assert!(!c.regression);
        encrypted.add(&rec("/j", "aescbc", Some("k"), Status::Current));
        assert!(classify(None, Some(&plain), &encrypted).unwrap().regression);
        let stale = rec("/k", "aescbc", Some("k"), Status::Stale);
        assert!(classify(None, Some(&stale), &EncryptedResources::default()).unwrap().regression);
        let gone = classify(Some(&stale), None, &encrypted).unwrap();
        assert_eq!(gone.change, ChangeKind::Disappeared);
        assert!(!gone.regression);
        assert_eq!(gone.fields.status, Some(Delta { old: Some("stale"), new: None }));
    }
}
