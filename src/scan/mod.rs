//! The pipeline driver: pages from a source → parallel judge → report sink, in key order.
//!
//! The source runs on the tokio runtime and fills a bounded channel, so the next page is being
//! fetched while this thread's rayon pool decrypts and decodes the current one. Memory is bounded
//! by the channel capacity times the page size, whatever the number of keys.

use std::io;

pub mod prefix;
mod session;

pub use prefix::{KNOWN_PREFIXES, PrefixError};
pub use session::{Session, SessionOptions};

use rayon::prelude::*;
use tokio::sync::mpsc;

use crate::history::History;
use crate::report::{Header, ReportSink, Summary};
use crate::source::{Page, ScanStats, SourceError};
use crate::storage_versions::release::UnknownRelease;
use crate::verdict::{Judge, Record};

/// Pages buffered between the fetcher and the decoders.
const PAGES_IN_FLIGHT: usize = 2;

/// Why a scan did not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The source failed (exit 3).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Writing the report failed (a closed pipe is not an error for the user).
    #[error("writing the report")]
    Output(#[source] io::Error),
    /// The prefix must be given (exit 2).
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    /// The async runtime for etcd, KMS and API I/O could not start.
    #[error("starting the async runtime")]
    Runtime(#[source] io::Error),
    /// `--kube-version` names no known release (exit 2).
    #[error(transparent)]
    Release(#[from] UnknownRelease),
}

/// Report sections computed outside the per-key pipeline.
#[derive(Debug, Default)]
pub struct Extras {
    /// `--history`.
    pub history: Option<History>,
    /// `--kubeconfig`: the API server's discovery, or why it could not be read.
    pub server: Option<Result<crate::discovery::ServerDiscovery, String>>,
}

/// Runs the pipeline: `produce` (on its own thread) fills the channel with pages in key order;
/// this thread judges each page on the rayon pool and writes every record to `sink`.
/// The header is made when the first page arrives (so work such as a checksum can finish
/// meanwhile); its revision is the first page's (or the stats' when there are no keys).
pub fn run(
    judge: &Judge<'_>,
    header: impl FnOnce() -> Result<Header, ScanError>,
    extras: Extras,
    sink: &mut dyn ReportSink,
    produce: impl FnOnce(mpsc::Sender<Page>) -> Result<ScanStats, ScanError> + Send,
) -> Result<Summary, ScanError> {
    let (tx, mut rx) = mpsc::channel::<Page>(PAGES_IN_FLIGHT);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || produce(tx));
        let mut summary = Summary::default();
        let mut make_header = Some(header);
        let mut begin = |sink: &mut dyn ReportSink, revision: i64| -> Result<i64, ScanError> {
            match make_header.take() {
                Some(make) => {
                    let mut header = make()?;
                    header.revision = revision;
                    sink.begin(&header).map_err(ScanError::Output)?;
                    Ok(revision)
                }
                None => Ok(revision),
            }
        };
        let mut revision = None;
        let consumed = (|| -> Result<(), ScanError> {
            while let Some(page) = rx.blocking_recv() {
                if revision.is_none() {
                    revision = Some(begin(sink, page.revision)?);
                }
                let records: Vec<Record> =
                    page.kvs.into_par_iter().map(|kv| judge.judge(kv)).collect();
                for rec in &records {
                    summary.add(rec);
                    sink.record(rec).map_err(ScanError::Output)?;
                }
            }
            Ok(())
        })();
        // Closing the receiver stops a producer that is still sending.
        drop(rx);
        let produced = producer
            .join()
            .map_err(|_| ScanError::Source(SourceError::Panicked { what: "the source" }))?;
        consumed?;
        let stats = produced?;
        let revision = match revision {
            Some(r) => r,
            None => begin(sink, stats.revision)?,
        };
        debug_assert_eq!(summary.keys, stats.keys);
        summary.flush_run();
        if let Some(versions) = judge.versions {
            summary.set_crds(&versions.crds);
        }
        summary.restarts = stats.restarts;
        summary.revision = revision;
        if let Some(server) = extras.server {
            summary.set_discovery(server, judge);
        }
        summary.history = extras.history.map(|mut h| {
            h.finish(summary.keys);
            h
        });
        sink.finish(&summary).map_err(ScanError::Output)?;
        Ok(summary)
    })
}
