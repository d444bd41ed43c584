//! `atrest diff OLD NEW`: args → [`atrest::diff::diff`] → exit code (1 when something
//! regressed, unless `--fail-on never`).

use std::io::{self, BufWriter};
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::exit::{Exit, Failure};
use atrest::diff::{DEFAULT_ROWS, DiffError, DiffOptions, DiffSink, JsonDiffSink, TableDiffSink};

/// `atrest diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier report: `atrest scan -o json` or `-o jsonl` output (a regular file; it is
    /// read twice).
    pub old: PathBuf,
    /// The later report, in either format.
    pub new: PathBuf,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: DiffFormat,
    /// Exit 1 when an object got worse (status, encrypted → plaintext, a new stale or
    /// unreadable object, a new plaintext object of a resource that was encrypted).
    #[arg(long, value_enum, default_value = "regression")]
    pub fail_on: DiffFailOn,
    /// List every change, including modRevision-only rewrites (table: not just the first 50).
    #[arg(long)]
    pub all: bool,
}

/// `diff -o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// Counts per category, then one row per change.
    Table,
    /// One atrest/v1 `Diff` document, changes streamed.
    Json,
}

/// `diff --fail-on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFailOn {
    /// Regressions fail.
    Regression,
    /// Never fail on what changed.
    Never,
}

/// Runs `atrest diff` and returns the exit code.
pub fn run_diff(args: DiffArgs) -> Result<Exit, Failure> {
    let out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut sink: Box<dyn DiffSink> = match args.output {
        DiffFormat::Table => Box::new(TableDiffSink::new(out, (!args.all).then_some(DEFAULT_ROWS))),
        DiffFormat::Json => Box::new(JsonDiffSink::new(out)),
    };
    let opts = DiffOptions { list_rewritten: args.all };
    let summary = match atrest::diff::diff(&args.old, &args.new, opts, sink.as_mut()) {
        Ok(s) => s,
        Err(DiffError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(Exit::Ok),
        // Unreadable or invalid input, or output that cannot be written: exit 2.
        Err(e) => return Err(Failure::usage(anyhow::Error::new(e).context("diff"))),
    };
    Ok(match args.fail_on {
        DiffFailOn::Regression if summary.regressions > 0 => Exit::Findings,
        _ => Exit::Ok,
    })
}
