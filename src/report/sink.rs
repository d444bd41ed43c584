//! The interface every report format implements.

use std::io;

use super::{Header, Summary};
use crate::verdict::Record;

/// A report format. Records arrive in key order, each exactly once.
pub trait ReportSink {
    /// Called once, before the first record.
    fn begin(&mut self, header: &Header) -> io::Result<()>;
    /// Called for every key.
    fn record(&mut self, rec: &Record) -> io::Result<()>;
    /// Called once after the last record, only when the scan finished.
    fn finish(&mut self, summary: &Summary) -> io::Result<()>;
}
