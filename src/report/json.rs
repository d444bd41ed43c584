//! Machine formats: the `atrest/v1` JSON document, JSON lines, and the document as YAML.
//! All three are written record by record, so memory stays flat however many keys there are.

use std::io::{self, Write};

use serde::Serialize;

use super::{Header, ReportSink, Summary, wire, wire_record};
use crate::verdict::Record;

const API_VERSION: &str = "atrest/v1";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a> {
    api_version: &'static str,
    source: wire::Source<'a>,
    encryption_config: Option<wire::EncryptionConfig<'a>>,
}

fn to_io(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// `-o json`: one document, objects written as they come.
pub struct JsonSink<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> JsonSink<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Self { out, first: true }
    }
}

impl<W: Write> ReportSink for JsonSink<W> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        let head = Head {
            api_version: API_VERSION,
            source: header.wire_source(),
            encryption_config: header.wire_config(),
        };
        let head = serde_json::to_string(&head).map_err(to_io)?;
        // Reopen the head object to append the streamed "objects" array.
        let head = head.strip_suffix('}').unwrap_or(&head);
        write!(self.out, "{head},\"objects\":[")
    }

    fn record(&mut self, rec: &Record) -> io::Result<()> {
        let key = String::from_utf8_lossy(&rec.key);
        self.out.write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        serde_json::to_writer(&mut self.out, &wire_record(rec, &key)).map_err(to_io)
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.out.write_all(b"\n],\"summary\":")?;
        serde_json::to_writer(&mut self.out, &summary.to_wire()).map_err(to_io)?;
        self.out.write_all(b"}\n")?;
        self.out.flush()
    }
}

/// `-o jsonl`: one record per line, then `{"summary": {...}}`.
pub struct JsonlSink<W: Write> {
    out: W,
}

impl<W: Write> JsonlSink<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Self { out }
    }
}

impl<W: Write> ReportSink for JsonlSink<W> {
    fn begin(&mut self, _header: &Header) -> io::Result<()> {
        Ok(())
    }

    fn record(&mut self, rec: &Record) -> io::Result<()> {
        let key = String::from_utf8_lossy(&rec.key);
        serde_json::to_writer(&mut self.out, &wire_record(rec, &key)).map_err(to_io)?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        #[derive(Serialize)]
        struct Last<'a> {
            summary: wire::Summary<'a>,
        }
        serde_json::to_writer(&mut self.out, &Last { summary: summary.to_wire() })
            .map_err(to_io)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// `-o yaml`: the JSON document's structure as YAML.
pub struct YamlSink<W: Write> {
    out: W,
    records: u64,
}

impl<W: Write> YamlSink<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Self { out, records: 0 }
    }
}

impl<W: Write> ReportSink for YamlSink<W> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        let head = Head {
            api_version: API_VERSION,
            source: header.wire_source(),
            encryption_config: header.wire_config(),
        };
        self.out.write_all(serde_saphyr::to_string(&head).map_err(to_io)?.as_bytes())
    }

    fn record(&mut self, rec: &Record) -> io::Result<()> {
        if self.records == 0 {
            self.out.write_all(b"objects:\n")?;
        }
        self.records += 1;
        let key = String::from_utf8_lossy(&rec.key);
        let item = serde_saphyr::to_string(&[wire_record(rec, &key)]).map_err(to_io)?;
        self.out.write_all(item.as_bytes())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        if self.records == 0 {
            self.out.write_all(b"objects: []\n")?;
        }
        #[derive(Serialize)]
        struct Last<'a> {
            summary: wire::Summary<'a>,
        }
        let tail = serde_saphyr::to_string(&Last { summary: summary.to_wire() }).map_err(to_io)?;
        self.out.write_all(tail.as_bytes())?;
        self.out.flush()
    }
}
