//! `atrest diff`: what changed between two scan reports (`-o json` documents or `-o jsonl`
//! files), as a streaming merge-join by etcd key, so memory stays flat however many records.
//!
//! Both formats list records in etcd key order (report/json.rs). Each input is parsed on its own
//! reader thread (a serde `Visitor` over `serde_json::Deserializer::from_reader` for documents,
//! line by line for jsonl) and handed over in batches through a bounded channel; [`diff`] walks
//! both in step, classifies each key and pushes the changes into a [`DiffSink`].
//!
//! OLD is read twice: a first pass collects the resources that had encrypted objects, because a
//! new plaintext object of such a resource is a regression wherever its key sorts. That pass also
//! checks OLD completely (order, summary count) before anything is written.
//!
//! Everything printed comes from the two reports, which by contract hold no secrets.
//!
//! `read` parses the inputs, `compare` classifies one key, `join` walks both inputs, `sink`
//! renders; `change`, `side` and `error` are the types they hand each other.

mod change;
mod compare;
mod error;
mod join;
mod read;
mod side;
mod sink;
#[cfg(test)]
mod tests;

pub use change::{Change, ChangeKind, Delta, DiffSummary, Fields};
pub use compare::{EncryptedResources, classify};
pub use error::DiffError;
pub use join::{DiffOptions, diff};
pub use side::{InputFormat, Side};
pub use sink::{DEFAULT_ROWS, DiffSink, JsonDiffSink, TableDiffSink};

/// A record's status: the verdict's own type, read back from a report.
pub use crate::verdict::Status;

/// One record as a diff reads it: the contract's record, owning its text.
pub type Record = crate::report::wire::Record<'static>;

/// `encryption` of a [`Record`].
pub type Encryption = crate::report::wire::Encryption<'static>;
