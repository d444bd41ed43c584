//! Reading reports: format sniffing, one reader thread per input, streamed in key order.
//!
//! `document` parses `-o json` with a streaming visitor, `lines` parses `-o jsonl`; both send
//! batches to a [`Stream`], which checks key order and the summary count as the join pulls.

mod document;
mod lines;

use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use serde::Deserialize;
use serde::de::IgnoredAny;
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

/// The reader thread stops when the join has gone away.
const STOPPED: &str = "diff stopped";

#[derive(Deserialize)]
struct SummaryKeys {
    keys: u64,
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
                    InputFormat::Json => document::read(reader, &owned, &tx),
                    InputFormat::Jsonl => lines::read(reader, &owned, &tx),
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
