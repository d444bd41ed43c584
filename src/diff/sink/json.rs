//! `-o json`: the atrest/v1 `Diff` document, changes streamed as they come.

use std::io::{self, Write};

use serde::Serialize;

use super::DiffSink;
use crate::diff::{Change, DiffSummary, Side};

fn to_io(e: serde_json::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// `-o json`: `{"apiVersion":"atrest/v1","kind":"Diff","old":…,"new":…,"changes":[…],
/// "summary":…}`, changes written as they come.
pub struct JsonDiffSink<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> JsonDiffSink<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Self { out, first: true }
    }
}

impl<W: Write> DiffSink for JsonDiffSink<W> {
    fn begin(&mut self, old: &Side, new: &Side) -> io::Result<()> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Head<'a> {
            api_version: &'static str,
            kind: &'static str,
            old: &'a Side,
            new: &'a Side,
        }
        let head = Head { api_version: "atrest/v1", kind: "Diff", old, new };
        let head = serde_json::to_string(&head).map_err(to_io)?;
        // Reopen the head object to append the streamed "changes" array.
        let head = head.strip_suffix('}').unwrap_or(&head);
        write!(self.out, "{head},\"changes\":[")
    }

    fn change(&mut self, change: &Change<'_>) -> io::Result<()> {
        self.out.write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        serde_json::to_writer(&mut self.out, change).map_err(to_io)
    }

    fn finish(&mut self, summary: &DiffSummary) -> io::Result<()> {
        self.out.write_all(b"\n],\"summary\":")?;
        serde_json::to_writer(&mut self.out, summary).map_err(to_io)?;
        self.out.write_all(b"}\n")?;
        self.out.flush()
    }
}
