//! `atrest diff` (in progress).
use std::path::PathBuf;

use clap::Args;

use crate::exit::{Exit, Failure};

/// `atrest diff OLD NEW`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older report.
    pub old: PathBuf,
    /// The newer report.
    pub new: PathBuf,
}

/// Runs `atrest diff`.
pub fn run_diff(args: DiffArgs) -> Result<Exit, Failure> {
    Err(Failure::usage(anyhow::anyhow!(
        "diff of {} and {}: in progress",
        args.old.display(),
        args.new.display()
    )))
}
