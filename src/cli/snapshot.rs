//! `atrest scan --snapshot FILE`: the same pipeline over an etcd backend file.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;

use super::scan::{Plan, scan_failure};
use crate::exit::Failure;
use atrest::history::History;
use atrest::keyspace::normalize_prefix;
use atrest::report::{Backend, Header, ReportSink, Summary};
use atrest::scan::{Extras, KNOWN_PREFIXES, ScanError, run};
use atrest::source::SourceError;
use atrest::source::snapshot::{KeyIndex, Snapshot, SnapshotError};
use atrest::verdict::Judge;

fn failure(e: SnapshotError) -> Failure {
    Failure::source(SourceError::from(e).into())
}

pub(super) fn scan(
    plan: &Plan<'_>,
    path: &Path,
    sink: &mut dyn ReportSink,
) -> Result<Summary, Failure> {
    let args = plan.args;
    let snap = Snapshot::open_unverified(path).map_err(failure)?;
    let info = snap.info().clone();
    let rev = snap.checked_revision(args.rev).map_err(failure)?;
    std::thread::scope(|scope| {
        // The sha256 trailer check runs on its own thread while the key bucket is indexed.
        let integrity = scope.spawn(|| snap.verify_integrity());
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
            if args.history { Some(history(&snap, &judge, rev).map_err(failure)?) } else { None };
        let header = || {
            let integrity = integrity
                .join()
                .map_err(|_| SourceError::Options("the checksum thread panicked".into()))?
                .map_err(SourceError::from)?;
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
                source_warnings: Vec::new(),
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
    })
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
