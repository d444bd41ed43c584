//! Reports: every judged record is pushed into a [`ReportSink`] as it is produced (nothing
//! collects the keyspace); the [`Summary`] is accumulated alongside and handed over at the end.

mod contract;
mod findings;
mod header;
pub mod html;
pub mod json;
pub mod prometheus;
mod sections;
mod sink;
mod summary;
pub mod table;
pub mod wire;

pub use contract::{remediation, wire_record};
pub use findings::{Findings, provider_key};
pub use header::{Backend, Header};
pub use sink::ReportSink;
pub use summary::{CrdReport, GroupKey, Summary};
