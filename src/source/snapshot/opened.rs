//! A snapshot opened for a session: the file, its key index at the pinned revision, and the
//! verdict of its sha256 trailer, checked on its own thread while the index is built.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::{HashCheck, Integrity, KeyIndex, Snapshot, SnapshotError, diagnose};
use crate::source::{Page, RawKv, ScanStats, SourceError};

/// An indexed snapshot whose trailer was checked (or skipped, with a warning).
pub struct SnapshotSource {
    snap: Snapshot,
    path: PathBuf,
    index: KeyIndex,
    revision: i64,
    integrity: Integrity,
    warning: Option<String>,
}

impl SnapshotSource {
    /// Opens `path` and indexes the keys under `prefix` (empty: all) at `rev` (default: the
    /// newest), checking the trailer meanwhile. A file that fails its hash check is
    /// [`SourceError::HashRefused`] unless `check` skips it; when reading failed too, that
    /// failure is kept as the mismatch's source.
    pub fn open(
        path: &Path,
        check: HashCheck,
        prefix: &[u8],
        rev: Option<i64>,
    ) -> Result<Self, SourceError> {
        let snap =
            Snapshot::open_unverified(path).map_err(|e| refusal(diagnose(path, e, check)))?;
        let (indexed, integrity) = std::thread::scope(|scope| {
            let trailer = scope.spawn(|| snap.check_integrity(check));
            let indexed = snap
                .checked_revision(rev)
                .and_then(|revision| Ok((revision, snap.index(prefix, Some(revision))?)));
            let integrity =
                trailer.join().map_err(|_| SourceError::Panicked { what: "the checksum" });
            (indexed, integrity)
        });
        let integrity = match (indexed.as_ref(), integrity?) {
            (Err(_), Err(SnapshotError::HashMismatch { path, expected, actual, also: None })) => {
                let also = indexed.err().map(Box::new);
                return Err(refusal(SnapshotError::HashMismatch { path, expected, actual, also }));
            }
            (_, Err(e)) => return Err(refusal(e)),
            (_, Ok(i)) => i,
        };
        let (revision, index) = indexed?;
        let warning = integrity.warning();
        Ok(Self { snap, path: path.to_owned(), index, revision, integrity, warning })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The revision every read of this source is at.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The trailer check.
    pub fn integrity(&self) -> Integrity {
        self.integrity
    }

    /// What the report must say about the file's integrity (a skipped mismatch, a member db).
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// The open file.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// Indexed keys under `sub_prefix`.
    pub fn count(&self, sub_prefix: &[u8]) -> u64 {
        self.index.count_under(sub_prefix)
    }

    /// The values of the indexed keys under `sub_prefix`, in pages (see [`Snapshot::send`]).
    pub fn send(
        &self,
        sub_prefix: &[u8],
        tx: mpsc::Sender<Page>,
    ) -> Result<ScanStats, SourceError> {
        Ok(self.snap.send(&self.index, sub_prefix, tx)?)
    }

    /// Streams the superseded values under `prefix` (see [`Snapshot::superseded`]).
    pub fn superseded(&self, prefix: &[u8], f: &mut dyn FnMut(&RawKv)) -> Result<(), SourceError> {
        Ok(self.snap.superseded(prefix, self.revision, f)?)
    }
}

/// A hash mismatch becomes a refusal; other errors stay as they are.
fn refusal(e: SnapshotError) -> SourceError {
    match e {
        e @ SnapshotError::HashMismatch { .. } => SourceError::HashRefused(e),
        e => SourceError::Snapshot(e),
    }
}
