//! Diff outputs: the JSON document (streamed) and the table for people.

mod json;
mod table;

use std::io;

use super::{Change, DiffSummary, Side};

pub use json::JsonDiffSink;
pub use table::{DEFAULT_ROWS, TableDiffSink};

/// A diff output format. Changes arrive in key order.
pub trait DiffSink {
    /// Once, before the first change.
    fn begin(&mut self, old: &Side, new: &Side) -> io::Result<()>;
    /// Every listed change.
    fn change(&mut self, change: &Change<'_>) -> io::Result<()>;
    /// Once, when both reports were read to the end.
    fn finish(&mut self, summary: &DiffSummary) -> io::Result<()>;
}
