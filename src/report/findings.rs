//! What the reports for people (table, HTML) list besides the counts.

use crate::verdict::{Record, Status};

/// The stale and unreadable records a report for people lists: the first `limit` as rows, and
/// how many there were in all.
#[derive(Debug)]
pub struct Findings<T> {
    /// The rows kept, in key order.
    pub rows: Vec<T>,
    /// Stale and unreadable records seen.
    pub total: u64,
    limit: Option<usize>,
}

impl<T> Findings<T> {
    /// Keeps at most `limit` rows (None: all).
    pub fn new(limit: Option<usize>) -> Self {
        Self { rows: Vec::new(), total: 0, limit }
    }

    /// Counts `rec` if it is a finding, and keeps `row(rec)` while there is room.
    pub fn offer(&mut self, rec: &Record, row: impl FnOnce(&Record) -> T) {
        if !matches!(rec.status, Status::Stale | Status::Unreadable) {
            return;
        }
        self.total += 1;
        if self.limit.is_none_or(|l| self.rows.len() < l) {
            self.rows.push(row(rec));
        }
    }
}

/// `provider:key` as reports print it (`aescbc:key1`, `identity`, `<unknown>`).
pub fn provider_key(provider: Option<&str>, key_name: Option<&str>) -> String {
    match (provider, key_name) {
        (Some(p), Some(name)) => format!("{p}:{name}"),
        (Some(p), None) => p.to_owned(),
        (None, _) => "<unknown>".to_owned(),
    }
}
