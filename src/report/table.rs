//! `-o table`: the summary grouped by resource × provider:key × apiVersion, then the findings
//! (stale and unreadable keys), kubectl-style columns.

use std::io::{self, Write};

use super::provider_key;
use super::{Findings, Header, ReportSink, Summary};
use crate::history::History;
use crate::keyspace::group_resource;
use crate::verdict::Record;

/// Findings shown without `--all`.
pub const DEFAULT_FINDINGS: usize = 50;

/// Human table. Holds the header and up to `limit` findings until the end.
pub struct TableSink<W: Write> {
    out: W,
    header: Header,
    findings: Findings<[String; 3]>,
}

impl<W: Write> TableSink<W> {
    /// `limit` None shows every finding (`--all`).
    pub fn new(out: W, limit: Option<usize>) -> Self {
        Self { out, header: Header::default(), findings: Findings::new(limit) }
    }
}

fn write_rows<W: Write>(
    out: &mut W,
    rows: &[Vec<String>],
    right_align_last: bool,
) -> io::Result<()> {
    let cols = rows.first().map_or(0, Vec::len);
    let mut widths = vec![0usize; cols];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            let last = i + 1 == cols;
            if last && right_align_last {
                line.push_str(&format!("{cell:>w$}"));
            } else if last {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn write_history<W: Write>(out: &mut W, h: &History, revision: i64) -> io::Result<()> {
    writeln!(
        out,
        "\nHISTORY: {} retained revisions, {} superseded, {} exposing plaintext or retired keys",
        h.retained_revisions, h.superseded_revisions, h.exposed_revisions
    )?;
    if !h.groups.is_empty() {
        let mut rows = vec![
            ["RESOURCE", "PROVIDER:KEY", "REVISIONS", "OLDEST", "NEWEST", "EXPOSURE"]
                .map(String::from)
                .to_vec(),
        ];
        for (k, v) in &h.groups {
            rows.push(vec![
                group_resource(&k.group, &k.resource),
                provider_key(k.provider, k.key_name.as_deref()),
                v.revisions.to_string(),
                v.oldest_revision.to_string(),
                v.newest_revision.to_string(),
                v.exposure.clone().unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        write_rows(out, &rows, false)?;
    }
    if let Some((scanned, hits)) = h.free_pages {
        writeln!(out, "free bbolt pages: {scanned}, of which {hits} still hold object bytes")?;
    }
    for step in super::remediation(h, revision) {
        writeln!(out, "  to remove: {step}")?;
    }
    Ok(())
}

impl<W: Write> ReportSink for TableSink<W> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.header = header.clone();
        Ok(())
    }

    fn record(&mut self, rec: &Record) -> io::Result<()> {
        self.findings.offer(rec, |rec| {
            [
                String::from_utf8_lossy(&rec.key).into_owned(),
                rec.status.as_str().to_owned(),
                rec.reasons.join("; "),
            ]
        });
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        let h = &self.header;
        let source = match h.source_kind {
            "etcd" => format!("etcd {}", h.endpoints.join(",")),
            _ => format!("snapshot {}", h.path.as_deref().unwrap_or("")),
        };
        let config = match &h.encryption_config {
            Some((path, sha)) => format!("{path} (sha256 {})", sha.get(..12).unwrap_or(sha)),
            None => "none (envelopes identified, not decrypted)".to_owned(),
        };
        writeln!(self.out, "Source:     {source} at revision {}, prefix {}", h.revision, h.prefix)?;
        if let Some(integrity) = h.integrity {
            let compacted = h.compacted_revision.map_or("none".to_owned(), |r| r.to_string());
            writeln!(
                self.out,
                "Snapshot:   integrity {integrity}; compacted revision {compacted}"
            )?;
            if let Some(etcd) = h.backend.as_ref().and_then(|b| b.describe()) {
                writeln!(self.out, "Backend:    etcd {etcd}")?;
            }
        }
        writeln!(self.out, "Encryption: {config}")?;
        for w in h.source_warnings.iter().chain(&h.config_warnings) {
            writeln!(self.out, "Warning:    {w}")?;
        }
        if let Some((minor, basis)) = &h.kube_version {
            writeln!(self.out, "Versions:   as kube-apiserver 1.{minor} stores them ({basis})")?;
        }
        for k in &h.kms {
            let state = match (&k.error, &k.key_id) {
                (Some(e), _) => format!("unreachable: {e}"),
                (None, Some(id)) => {
                    format!("healthz {}, key_id {id}", k.healthz.as_deref().unwrap_or("-"))
                }
                (None, None) => format!("version {}", k.version.as_deref().unwrap_or("-")),
            };
            writeln!(
                self.out,
                "KMS:        {} ({}) at {}: {state}",
                k.name, k.api_version, k.endpoint
            )?;
        }
        for r in &s.restarts {
            writeln!(
                self.out,
                "Note:       revision {} was compacted; resumed at {}",
                r.from, r.to
            )?;
        }
        writeln!(self.out)?;
        let mut rows = vec![
            ["RESOURCE", "PROVIDER:KEY", "APIVERSION", "STATUS", "COUNT"]
                .map(String::from)
                .to_vec(),
        ];
        for (k, count) in &s.groups {
            rows.push(vec![
                group_resource(&k.group, &k.resource),
                provider_key(k.provider, k.key_name.as_deref()),
                k.api_version.clone().unwrap_or_else(|| "<unknown>".to_owned()),
                k.status.as_str().to_owned(),
                count.to_string(),
            ]);
        }
        write_rows(&mut self.out, &rows, true)?;
        writeln!(
            self.out,
            "\n{} keys: {} current, {} stale, {} unreadable, {} skipped",
            s.keys, s.current, s.stale, s.unreadable, s.skipped
        )?;
        match &s.discovery {
            Some(Err(e)) => writeln!(self.out, "\nDISCOVERY: not checked: {e}")?,
            Some(Ok(list)) => {
                let differ: Vec<_> = list
                    .iter()
                    .filter(|c| {
                        c.table_agrees == Some(false) || c.stored.iter().any(|x| !x.matches_server)
                    })
                    .collect();
                writeln!(
                    self.out,
                    "\nDISCOVERY: {} resources compared with the API server's storageVersionHash, {} differ",
                    list.len(),
                    differ.len()
                )?;
                for c in differ {
                    let old: Vec<String> = c
                        .stored
                        .iter()
                        .filter(|x| !x.matches_server)
                        .map(|x| format!("{} {} stored as {}", x.count, x.kind, x.api_version))
                        .collect();
                    let table = match (c.table_agrees, &c.expected_api_version) {
                        (Some(false), Some(e)) => {
                            format!("; the server does not store {e} as atrest's table expects")
                        }
                        _ => String::new(),
                    };
                    writeln!(
                        self.out,
                        "  {}: {}{table}",
                        group_resource(&c.group, &c.resource),
                        if old.is_empty() {
                            "all objects as the server stores them".to_owned()
                        } else {
                            old.join(", ")
                        }
                    )?;
                }
            }
            None => {}
        }
        for note in s.notes() {
            writeln!(self.out, "Note: {note}")?;
        }
        if let Some(hist) = &s.history {
            write_history(&mut self.out, hist, s.revision)?;
        }
        if self.findings.total > 0 {
            writeln!(
                self.out,
                "\nFINDINGS ({} of {} stale or unreadable{})",
                self.findings.rows.len(),
                self.findings.total,
                if (self.findings.rows.len() as u64) < self.findings.total {
                    "; --all shows all"
                } else {
                    ""
                }
            )?;
            let mut rows = vec![["KEY", "STATUS", "REASON"].map(String::from).to_vec()];
            rows.extend(self.findings.rows.iter().map(|f| f.to_vec()));
            write_rows(&mut self.out, &rows, false)?;
        }
        self.out.flush()
    }
}
