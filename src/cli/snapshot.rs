//! `atrest scan --snapshot FILE`: the same pipeline over an etcd backend file.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::thread::{Scope, ScopedJoinHandle};

use super::scan::{Plan, scan_failure};
use crate::exit::Failure;
use atrest::history::History;
use atrest::keyspace::normalize_prefix;
use atrest::report::{Backend, Header, ReportSink, Summary};
use atrest::scan::{Extras, KNOWN_PREFIXES, ScanError, run};
use atrest::source::SourceError;
use atrest::source::snapshot::{HashCheck, Integrity, KeyIndex, Snapshot, SnapshotError, diagnose};
use atrest::verdict::Judge;

fn failure(e: SnapshotError) -> Failure {
    Failure::source(SourceError::from(e).into())
}

/// The sha256 trailer check, on its own thread of a scope while the file is read: the key
/// bucket is indexed meanwhile, and the result is awaited before the report begins.
pub(super) struct Trailer<'scope> {
    handle: RefCell<Option<ScopedJoinHandle<'scope, Result<Integrity, SnapshotError>>>>,
    path: &'scope Path,
    quiet: bool,
}

impl<'scope> Trailer<'scope> {
    /// Starts the check of `snap` (at `path`); a mismatch is an error unless `check` skips it.
    pub(super) fn spawn<'env>(
        scope: &'scope Scope<'scope, 'env>,
        snap: &'env Snapshot,
        path: &'env Path,
        check: HashCheck,
        quiet: bool,
    ) -> Self {
        let handle = scope.spawn(move || snap.check_integrity(check));
        Self { handle: RefCell::new(Some(handle)), path, quiet }
    }

    /// Waits for the check, the first time it is called (later calls: `None`): the integrity
    /// and what the report must warn about it (also printed on stderr unless `-q`), or the
    /// error ([`SnapshotError::HashMismatch`] unless skipped).
    pub(super) fn wait(&self) -> Option<Result<(Integrity, Option<String>), SourceError>> {
        let handle = self.handle.borrow_mut().take()?;
        let integrity = match handle.join() {
            Ok(r) => r.map_err(SourceError::from),
            Err(_) => Err(SourceError::Options("the checksum thread panicked".into())),
        };
        Some(integrity.map(|i| {
            let warning = i.warning();
            if let Some(w) = warning.as_deref().filter(|_| !self.quiet) {
                eprintln!("atrest: warning: snapshot {}: {w}", self.path.display());
            }
            (i, warning)
        }))
    }

    /// The outcome of a read of the file: when it failed before the report began and the
    /// trailer does not match either, the damaged file is the error (the read error follows
    /// as a note). A mismatch gets the hint to `--skip-hash-check`.
    pub(super) fn settle<T>(&self, result: Result<T, Failure>) -> Result<T, Failure> {
        let failure = match result {
            Ok(v) => {
                // Not awaited (e.g. a scan that ended before its first page): await it now, so
                // that no verdict on the file goes unsaid.
                return match self.wait() {
                    Some(Err(e)) => Err(mismatch(e)),
                    _ => Ok(v),
                };
            }
            Err(f) => f,
        };
        match self.wait() {
            Some(Err(e)) => {
                if !self.quiet {
                    eprintln!("atrest: note: reading the file failed too: {:#}", failure.error);
                }
                Err(mismatch(e))
            }
            _ if is_mismatch(&failure.error) => {
                Err(Failure { code: failure.code, error: failure.error.context(SKIP_HINT) })
            }
            _ => Err(failure),
        }
    }
}

const SKIP_HINT: &str =
    "refusing a snapshot that fails its hash check (--skip-hash-check reads it anyway)";

fn is_mismatch(e: &anyhow::Error) -> bool {
    let source =
        |e: &SourceError| matches!(e, SourceError::Snapshot(SnapshotError::HashMismatch { .. }));
    e.chain().any(|c| {
        c.downcast_ref::<SnapshotError>()
            .is_some_and(|e| matches!(e, SnapshotError::HashMismatch { .. }))
            || c.downcast_ref::<SourceError>().is_some_and(source)
            || c.downcast_ref::<ScanError>()
                .is_some_and(|e| matches!(e, ScanError::Source(s) if source(s)))
    })
}

fn mismatch(e: SourceError) -> Failure {
    let error = anyhow::Error::from(e);
    let error = if is_mismatch(&error) { error.context(SKIP_HINT) } else { error };
    Failure::source(error)
}

/// Opens `path` without waiting for its hash ([`Trailer`] checks it meanwhile); a file that
/// cannot be read and fails its hash check too is refused for the latter.
pub(super) fn open(path: &Path, check: HashCheck) -> Result<Snapshot, Failure> {
    Snapshot::open_unverified(path).map_err(|e| mismatch(diagnose(path, e, check).into()))
}

pub(super) fn scan(
    plan: &Plan<'_>,
    path: &Path,
    sink: &mut dyn ReportSink,
) -> Result<Summary, Failure> {
    let check = super::hash_check(&plan.args.source);
    let snap = open(path, check)?;
    std::thread::scope(|scope| {
        let trailer = Trailer::spawn(scope, &snap, path, check, plan.ui.quiet);
        trailer.settle(scan_file(plan, &snap, path, &trailer, sink))
    })
}

fn scan_file(
    plan: &Plan<'_>,
    snap: &Snapshot,
    path: &Path,
    trailer: &Trailer<'_>,
    sink: &mut dyn ReportSink,
) -> Result<Summary, Failure> {
    let args = plan.args;
    let info = snap.info().clone();
    let rev = snap.checked_revision(args.rev).map_err(failure)?;
    // One pass over the key bucket serves prefix detection, the CRD/Node pre-pass and the
    // scan itself.
    let index = snap
        .index(
            args.prefix.as_deref().map(normalize_prefix).unwrap_or_default().as_bytes(),
            Some(rev),
        )
        .map_err(failure)?;
    let prefix = match &args.prefix {
        Some(p) => normalize_prefix(p),
        None => detect_prefix(&index).map_err(scan_failure)?,
    };
    let basis = {
        let judge = plan.judge(&prefix, None);
        super::versions::plan(&judge, &prefix, args.kube_version.as_deref(), &mut |p, tx| {
            snap.send(&index, &p, tx).map_err(|e| ScanError::Source(e.into()))
        })
        .map_err(scan_failure)?
    };
    let judge = plan.judge(&prefix, Some(&basis.versions));
    let history =
        if args.history { Some(history(snap, &judge, rev).map_err(failure)?) } else { None };
    let header = || {
        let (integrity, warning) = trailer.wait().unwrap_or_else(|| {
            Err(SourceError::Options("the checksum was awaited twice".into()))
        })?;
        Ok(Header {
            source_kind: "snapshot",
            endpoints: Vec::new(),
            path: Some(path.display().to_string()),
            revision: rev,
            prefix: prefix.clone(),
            compacted_revision: info.compacted_revision,
            integrity: Some(integrity.as_str()),
            backend: Some(Backend {
                storage_version: info.storage_version.clone(),
                cluster_version: info.cluster_version.clone(),
                consistent_index: info.consistent_index,
                term: info.term,
            }),
            kms: plan.kms_statuses.clone(),
            kube_version: Some((basis.versions.minor, basis.basis.clone())),
            encryption_config: plan.config_info.clone(),
            source_warnings: warning.into_iter().collect(),
            config_warnings: plan
                .config
                .map(atrest::config::EncryptionConfig::warnings)
                .unwrap_or_default(),
        })
    };
    let extras = Extras { history, server: plan.server.clone() };
    run(&judge, header, extras, sink, |tx| {
        snap.send(&index, prefix.as_bytes(), tx).map_err(|e| ScanError::Source(e.into()))
    })
    .map_err(scan_failure)
}

fn detect_prefix(index: &KeyIndex) -> Result<String, ScanError> {
    let found: Vec<(&str, u64)> = KNOWN_PREFIXES
        .iter()
        .map(|p| (*p, index.count_under(p.as_bytes())))
        .filter(|(_, n)| *n > 0)
        .collect();
    atrest::scan::choose_prefix(&found)
}

/// Superseded revisions at `rev`: every value of a key under the prefix older than the key's
/// newest revision `<= rev` (including the last value before a delete). Two streaming passes;
/// the map holds one revision number per key, and only in `--history` mode.
fn history(snap: &Snapshot, judge: &Judge<'_>, rev: i64) -> Result<History, SnapshotError> {
    let mut newest: HashMap<Vec<u8>, i64> = HashMap::new();
    snap.for_each_revision(&mut |e| {
        if e.main > rev {
            return ControlFlow::Break(());
        }
        if e.kv.key.starts_with(judge.prefix) {
            newest.insert(e.kv.key, e.main);
        }
        ControlFlow::Continue(())
    })?;
    let mut history = History::default();
    snap.for_each_revision(&mut |e| {
        if e.main > rev {
            return ControlFlow::Break(());
        }
        if !e.tombstone && newest.get(&e.kv.key).is_some_and(|&n| e.main < n) {
            history.add_superseded(judge, &e.kv);
        }
        ControlFlow::Continue(())
    })?;
    history.free_pages = Some(snap.scan_free_pages(&[b"k8s:enc:", b"k8s\0"])?);
    Ok(history)
}
