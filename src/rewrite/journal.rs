//! `--journal FILE`: one JSON line per finished object, fsync'd, so an interrupted rewrite
//! resumes without redoing work.
//!
//! The first line names the prefix and the EncryptionConfiguration's sha256; a journal of another
//! cluster or config is refused. Lines are written by one thread that drains everything queued,
//! writes it, and syncs once (group commit): a sync per line would cap the rewrite at the disk's
//! sync rate. A line cut short by a kill is ignored on resume; its object is simply judged again
//! by the new scan (a rewritten object is then current, so it is never written twice).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Reading or writing the file.
    #[error("journal {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not a journal, or belongs to another prefix or config.
    #[error("journal {path}: {message}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
}

/// The first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalHeader {
    /// Format version (1).
    pub atrest_journal: u32,
    /// The etcd prefix.
    pub prefix: String,
    /// sha256 of the EncryptionConfiguration file.
    pub encryption_config_sha256: String,
}

/// One finished object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The etcd key.
    pub key: String,
    /// The uid it was written as.
    pub uid: String,
    /// The resourceVersion (mod_revision) it was planned at.
    pub from_revision: i64,
    /// `rewritten`, `unchanged`, `alreadyCurrent`, `gone`, `failed`, `skipped`.
    pub outcome: String,
    /// The resourceVersion after the write, when it wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_revision: Option<i64>,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Entry {
    /// Whether a later run must leave this object alone (it was written, or needs no write).
    pub fn is_final(&self) -> bool {
        matches!(self.outcome.as_str(), "rewritten" | "unchanged" | "alreadyCurrent" | "gone")
    }
}

/// What an earlier run recorded: key → its last entry.
pub type Done = HashMap<String, Entry>;

/// Reads `path` if it exists (checking its header), and opens it for appending.
pub fn open(path: &Path, header: &JournalHeader) -> Result<(Done, Journal), JournalError> {
    let io_err = |source| JournalError::Io { path: path.to_owned(), source };
    let mut done = Done::new();
    let exists = path.exists();
    if exists {
        let file = File::open(path).map_err(io_err)?;
        let mut lines = BufReader::new(file).lines();
        match lines.next().transpose().map_err(io_err)? {
            None => {}
            Some(first) => {
                let found: JournalHeader =
                    serde_json::from_str(&first).map_err(|_| JournalError::Mismatch {
                        path: path.to_owned(),
                        message: "not an atrest journal".into(),
                    })?;
                if &found != header {
                    return Err(JournalError::Mismatch {
                        path: path.to_owned(),
                        message: format!(
                            "written for prefix {} and EncryptionConfiguration sha256 {}, not {} \
                             and {}; use a new --journal file",
                            found.prefix,
                            found.encryption_config_sha256,
                            header.prefix,
                            header.encryption_config_sha256
                        ),
                    });
                }
            }
        }
        for line in lines {
            let line = line.map_err(io_err)?;
            // A line cut short by a kill: its object is judged again by the new scan.
            if let Ok(entry) = serde_json::from_str::<Entry>(&line) {
                done.insert(entry.key.clone(), entry);
            }
        }
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path).map_err(io_err)?;
    if !exists || file.metadata().map_err(io_err)?.len() == 0 {
        let mut line = serde_json::to_vec(header).map_err(|e| io_err(e.into()))?;
        line.push(b'\n');
        file.write_all(&line).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
    } else {
        // A partial last line would glue onto the next entry.
        file.write_all(b"\n").map_err(io_err)?;
    }
    Ok((done, Journal::spawn(path.to_owned(), file)))
}

/// The appending side: entries go to a writer thread.
#[derive(Debug)]
pub struct Journal {
    tx: Option<mpsc::Sender<Entry>>,
    thread: Option<JoinHandle<Result<u64, JournalError>>>,
}

impl Journal {
    fn spawn(path: PathBuf, file: File) -> Self {
        let (tx, rx) = mpsc::channel::<Entry>();
        let thread = std::thread::Builder::new()
            .name("atrest-journal".into())
            .spawn(move || write_loop(&path, file, &rx))
            .ok();
        Self { tx: Some(tx), thread }
    }

    /// Queues `entry`; it is durable after the writer's next sync.
    pub fn append(&self, entry: Entry) {
        if let Some(tx) = &self.tx {
            // A send fails only if the writer died; `finish` reports its error.
            let _ = tx.send(entry);
        }
    }

    /// Flushes everything queued and returns how many entries were written.
    pub fn finish(mut self) -> Result<u64, JournalError> {
        self.tx = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) | None => Err(JournalError::Mismatch {
                path: PathBuf::new(),
                message: "the journal writer thread stopped".into(),
            }),
        }
    }
}

fn write_loop(path: &Path, file: File, rx: &mpsc::Receiver<Entry>) -> Result<u64, JournalError> {
    let io_err = |source| JournalError::Io { path: path.to_owned(), source };
    let mut out = io::BufWriter::new(file);
    let mut written = 0u64;
    // Blocks for the first entry, then takes whatever else is queued: one sync per batch.
    while let Ok(first) = rx.recv() {
        for entry in std::iter::once(first).chain(rx.try_iter()) {
            serde_json::to_writer(&mut out, &entry).map_err(|e| io_err(e.into()))?;
            out.write_all(b"\n").map_err(io_err)?;
            written += 1;
        }
        out.flush().map_err(io_err)?;
        out.get_ref().sync_data().map_err(io_err)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(sha: &str) -> JournalHeader {
        JournalHeader {
            atrest_journal: 1,
            prefix: "/registry/".into(),
            encryption_config_sha256: sha.into(),
        }
    }

    fn entry(key: &str, outcome: &str) -> Entry {
        Entry {
            key: key.into(),
            uid: "u".into(),
            from_revision: 5,
            outcome: outcome.into(),
            to_revision: Some(9),
            detail: None,
        }
    }

    #[test]
    fn entries_survive_a_restart_and_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let (done, j) = open(&path, &header("a")).unwrap();
        assert!(done.is_empty());
        j.append(entry("/registry/secrets/a/1", "rewritten"));
        j.append(entry("/registry/secrets/a/2", "failed"));
        assert_eq!(j.finish().unwrap(), 2);
        // A kill mid-line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"key\":\"/registry/secrets/a/3\",\"ui").unwrap();
        drop(f);
        let (done, j) = open(&path, &header("a")).unwrap();
        assert_eq!(done.len(), 2);
        assert!(done["/registry/secrets/a/1"].is_final());
        assert!(!done["/registry/secrets/a/2"].is_final());
        j.append(entry("/registry/secrets/a/3", "gone"));
        j.finish().unwrap();
        let (done, _j) = open(&path, &header("a")).unwrap();
        assert_eq!(done.len(), 3, "the torn line did not swallow the next entry");
    }

    #[test]
    fn another_config_or_a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        open(&path, &header("a")).unwrap().1.finish().unwrap();
        let err = open(&path, &header("b")).unwrap_err().to_string();
        assert!(err.contains("new --journal"), "{err}");
        std::fs::write(&path, "hello\n").unwrap();
        assert!(open(&path, &header("a")).unwrap_err().to_string().contains("not an atrest"));
    }
}
