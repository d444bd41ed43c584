//! Live etcd or a snapshot file behind one type: what every command opens and reads the same way
//! (count, scan at the pinned revision, get one key, the history still retained).

use std::path::PathBuf;

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::live::{KeyReader, LiveOptions, LiveSource};
use super::snapshot::{HashCheck, SnapshotSource};
use super::{Page, RawKv, ScanStats, SourceError};

/// Where the data comes from.
#[derive(Clone, Debug)]
pub enum SourceSpec {
    /// A live etcd, with etcdctl's connection options.
    Live(LiveOptions),
    /// An `etcdctl snapshot save` file or a member's db.
    Snapshot {
        /// The file.
        path: PathBuf,
        /// `--skip-hash-check`.
        check: HashCheck,
    },
}

/// An opened source. Reads block the calling thread (live ones on the runtime given at open),
/// so the pipeline can call them from its producer thread.
pub enum Source {
    /// A live etcd.
    Live {
        /// The connection.
        source: Box<LiveSource>,
        /// The runtime its futures run on.
        rt: Handle,
        /// The endpoints, for the report.
        endpoints: Vec<String>,
        /// `--rev`, or the current revision (`None`).
        rev: Option<i64>,
    },
    /// A snapshot, indexed at its pinned revision.
    Snapshot(Box<SnapshotSource>),
}

impl Source {
    /// Connects or opens. A snapshot is indexed for the keys under `prefix` (empty: all) at
    /// `rev`; a live etcd is read at `rev` (default: the current revision of each read).
    pub fn open(
        spec: &SourceSpec,
        rt: &Handle,
        prefix: &[u8],
        rev: Option<i64>,
    ) -> Result<Self, SourceError> {
        match spec {
            SourceSpec::Live(opts) => {
                let source = Box::new(rt.block_on(LiveSource::connect(opts.clone()))?);
                Ok(Self::Live { source, rt: rt.clone(), endpoints: opts.endpoints.clone(), rev })
            }
            SourceSpec::Snapshot { path, check } => {
                Ok(Self::Snapshot(Box::new(SnapshotSource::open(path, *check, prefix, rev)?)))
            }
        }
    }

    /// Keys under `prefix`; a live etcd counts without sending values.
    pub fn count(&mut self, prefix: &[u8]) -> Result<u64, SourceError> {
        match self {
            Self::Live { source, rt, .. } => {
                Ok(u64::try_from(rt.block_on(source.count(prefix))?).unwrap_or(0))
            }
            Self::Snapshot(s) => Ok(s.count(prefix)),
        }
    }

    /// Sends every key under `prefix` to `tx` in pages, in key order, at the source's revision.
    pub fn scan(
        &mut self,
        prefix: &[u8],
        tx: mpsc::Sender<Page>,
    ) -> Result<ScanStats, SourceError> {
        match self {
            Self::Live { source, rt, rev, .. } => rt.block_on(source.scan(prefix, *rev, tx)),
            Self::Snapshot(s) => s.send(prefix, tx),
        }
    }

    /// Every key under `prefix`, gathered (for the small ranges read before a scan).
    pub fn collect(&mut self, prefix: &[u8]) -> Result<Vec<RawKv>, SourceError> {
        let (tx, mut rx) = mpsc::channel::<Page>(2);
        std::thread::scope(|scope| {
            let producer = scope.spawn(move || self.scan(prefix, tx));
            let mut kvs = Vec::new();
            while let Some(page) = rx.blocking_recv() {
                kvs.extend(page.kvs);
            }
            producer.join().map_err(|_| SourceError::Panicked { what: "the source" })??;
            Ok(kvs)
        })
    }

    /// One key at the source's revision: the key-value if it exists, the revision read at, and
    /// the seconds left on its lease (live etcd only).
    pub fn get(&mut self, key: &[u8]) -> Result<(Option<RawKv>, i64, Option<i64>), SourceError> {
        match self {
            Self::Live { source, rt, rev, .. } => {
                let (found, revision) = rt.block_on(source.reader().get(key, rev.unwrap_or(0)))?;
                let ttl = match found.as_ref().filter(|kv| kv.lease != 0) {
                    // A lease that cannot be read leaves the TTL unsaid, not the key unread.
                    Some(kv) => rt.block_on(source.lease_ttl(kv.lease)).ok(),
                    None => None,
                };
                Ok((found, revision, ttl))
            }
            Self::Snapshot(s) => {
                let revision = s.revision();
                let found = self.collect(key)?.into_iter().find(|kv| kv.key == key);
                Ok((found, revision, None))
            }
        }
    }

    /// Streams every superseded value under `prefix` at the source's revision to `f` and
    /// returns that revision. A live etcd replays its history through one watch, and is pinned
    /// to the revision read (so that the scan that follows describes the same state).
    pub fn superseded(
        &mut self,
        prefix: &[u8],
        f: &mut (dyn FnMut(&RawKv) + Send),
    ) -> Result<i64, SourceError> {
        match self {
            Self::Live { source, rt, rev, .. } => {
                let until = match *rev {
                    Some(r) => r,
                    None => rt.block_on(source.current_revision())?,
                };
                *rev = Some(until);
                rt.block_on(source.history(prefix, until, &mut |kv| f(&kv)))?;
                Ok(until)
            }
            Self::Snapshot(s) => {
                s.superseded(prefix, f)?;
                Ok(s.revision())
            }
        }
    }

    /// Pages outside the file's tree that still hold any of `needles` (scanned, holding):
    /// snapshots only.
    pub fn free_pages(&self, needles: &[&[u8]]) -> Result<Option<(u64, u64)>, SourceError> {
        match self {
            Self::Live { .. } => Ok(None),
            Self::Snapshot(s) => Ok(Some(s.snapshot().scan_free_pages(needles)?)),
        }
    }

    /// Point reads on the live connection, for work after a scan (rewrite); `None` for a
    /// snapshot.
    pub fn reader(&self) -> Option<KeyReader> {
        match self {
            Self::Live { source, .. } => Some(source.reader()),
            Self::Snapshot(_) => None,
        }
    }

    /// The snapshot, when the source is one.
    pub fn snapshot(&self) -> Option<&SnapshotSource> {
        match self {
            Self::Live { .. } => None,
            Self::Snapshot(s) => Some(s),
        }
    }
}
