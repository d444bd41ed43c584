//! `atrest scan --snapshot FILE`: the same pipeline over a bbolt file.

use std::path::Path;

use super::scan::{Plan, scan_failure};
use crate::exit::Failure;
use atrest::report::{ReportSink, Summary};

pub(super) fn scan(
    plan: &Plan<'_>,
    path: &Path,
    sink: &mut dyn ReportSink,
) -> Result<Summary, Failure> {
    let _ = (plan, sink, scan_failure);
    Err(Failure::source(anyhow::anyhow!(
        "{}: reading snapshots is not implemented yet",
        path.display()
    )))
}
