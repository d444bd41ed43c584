//! Why a diff stops: every error names the input it is about.

use std::io;
use std::path::PathBuf;

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
