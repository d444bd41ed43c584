//! Reading reports: format sniffing, one reader thread per input, streamed in key order.

use std::cmp::Ordering;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess};
use serde_json::Value;

use super::{DiffError, InputFormat, Record, Side};

/// Records per message between a reader thread and the join.
const BATCH: usize = 512;
/// Messages in flight per input (so at most `BATCH * CHANNEL` records are buffered).
const CHANNEL: usize = 8;
/// At most this much of the first line is read to tell a document from JSON lines.
const SNIFF: u64 = 1 << 20;

enum Msg {
    Header { source: Option<Value>, encryption_config: Option<Value> },
    Records(Vec<Record>),
    End { keys: u64 },
    Failed(DiffError),
}

/// What the first non-blank line says: a complete JSON object is a jsonl record or summary
/// (unless it is a one-line document with `objects`); anything longer is a document.
pub(super) fn sniff(head: &[u8]) -> Result<InputFormat, &'static str> {
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
pub(super) struct Stream {
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
    pub(super) fn open(path: &Path) -> Result<Self, DiffError> {
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
    pub(super) fn side(&mut self) -> Result<Side, DiffError> {
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
    pub(super) fn next(&mut self) -> Result<Option<Record>, DiffError> {
        loop {
            if let Some(rec) = self.batch.next() {
                self.count += 1;
                if let Some(last) = &mut self.last_key {
                    match (*rec.key).cmp(last.as_str()) {
                        Ordering::Greater => {
                            last.clear();
                            last.push_str(&rec.key);
                        }
                        Ordering::Equal => {
                            return Err(DiffError::DuplicateKey {
                                path: self.path.clone(),
                                index: self.count,
                                key: rec.key.into_owned(),
                            });
                        }
                        Ordering::Less => {
                            return Err(DiffError::OutOfOrder {
                                path: self.path.clone(),
                                index: self.count,
                                key: rec.key.into_owned(),
                                previous: last.clone(),
                            });
                        }
                    }
                } else {
                    self.last_key = Some(rec.key.to_string());
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
