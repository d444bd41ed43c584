//! `-o prometheus` and `--metrics-file`: the scan as Prometheus text exposition format, for the
//! node-exporter textfile collector. Labels are bounded by resource × provider:key × apiVersion ×
//! status (never per object), so cardinality does not grow with the number of objects.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::{Header, ReportSink, Summary};
use crate::verdict::Record;

/// Writes the exposition at `finish`; records are already aggregated in the summary.
pub struct PrometheusSink<W: Write> {
    out: W,
    header: Header,
    started: Instant,
}

impl<W: Write> PrometheusSink<W> {
    /// `started` is when the scan began (for `atrest_scan_duration_seconds`).
    pub fn new(out: W, started: Instant) -> Self {
        Self { out, header: Header::default(), started }
    }
}

/// Label value escaping of the text format: backslash, double quote and line feed.
fn label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn family(out: &mut impl Write, name: &str, kind: &str, help: &str) -> io::Result<()> {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} {kind}")
}

/// The whole exposition for one finished scan.
pub fn render(
    out: &mut impl Write,
    h: &Header,
    s: &Summary,
    duration: f64,
    now: f64,
) -> io::Result<()> {
    family(
        out,
        "atrest_objects",
        "gauge",
        "Objects under the etcd prefix by resource, encryption provider and key, stored apiVersion and verdict.",
    )?;
    for (k, n) in &s.groups {
        writeln!(
            out,
            "atrest_objects{{group=\"{}\",resource=\"{}\",provider=\"{}\",key_name=\"{}\",api_version=\"{}\",status=\"{}\"}} {n}",
            label(&k.group),
            label(&k.resource),
            label(k.provider.unwrap_or("unknown")),
            label(k.key_name.as_deref().unwrap_or("")),
            label(k.api_version.as_deref().unwrap_or("")),
            k.status.as_str(),
        )?;
    }
    family(
        out,
        "atrest_keys",
        "gauge",
        "Keys under the etcd prefix by verdict (skipped: not API objects or filtered out).",
    )?;
    for (status, n) in [
        ("current", s.current),
        ("stale", s.stale),
        ("unreadable", s.unreadable),
        ("skipped", s.skipped),
    ] {
        writeln!(out, "atrest_keys{{status=\"{status}\"}} {n}")?;
    }
    family(
        out,
        "atrest_unreadable_objects",
        "gauge",
        "Objects that no configured provider can read or that do not decode.",
    )?;
    writeln!(out, "atrest_unreadable_objects {}", s.unreadable)?;
    family(out, "atrest_scan_revision", "gauge", "The etcd revision the scan read.")?;
    writeln!(out, "atrest_scan_revision {}", s.revision)?;
    family(out, "atrest_scan_duration_seconds", "gauge", "How long the scan took.")?;
    writeln!(out, "atrest_scan_duration_seconds {duration:.3}")?;
    family(
        out,
        "atrest_scan_timestamp_seconds",
        "gauge",
        "When the scan finished, in Unix seconds.",
    )?;
    writeln!(out, "atrest_scan_timestamp_seconds {now:.3}")?;
    family(
        out,
        "atrest_compaction_restarts",
        "gauge",
        "Times the pinned revision was compacted during the scan.",
    )?;
    writeln!(out, "atrest_compaction_restarts {}", s.restarts.len())?;
    if let Some((_, sha)) = &h.encryption_config {
        family(
            out,
            "atrest_encryption_config_info",
            "gauge",
            "The EncryptionConfiguration the scan used (sha256 of the file).",
        )?;
        writeln!(out, "atrest_encryption_config_info{{sha256=\"{}\"}} 1", label(sha))?;
    }
    if let Some(hist) = &s.history {
        family(
            out,
            "atrest_history_exposed_revisions",
            "gauge",
            "Superseded revisions still in etcd history that hold plaintext or retired keys.",
        )?;
        writeln!(out, "atrest_history_exposed_revisions {}", hist.exposed_revisions)?;
        family(
            out,
            "atrest_history_superseded_revisions",
            "gauge",
            "Superseded revisions still in etcd history.",
        )?;
        writeln!(out, "atrest_history_superseded_revisions {}", hist.superseded_revisions)?;
    }
    Ok(())
}

impl<W: Write> ReportSink for PrometheusSink<W> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.header = header.clone();
        Ok(())
    }

    fn record(&mut self, _rec: &Record) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        render(&mut self.out, &self.header, summary, self.started.elapsed().as_secs_f64(), now)?;
        self.out.flush()
    }
}

/// `--metrics-file PATH`: the exposition written atomically (temp file in the same directory,
/// fsync, rename), so the textfile collector never reads half a file. Only after a finished
/// scan: a failed scan leaves the previous file in place (its timestamp then ages, which is
/// what a staleness alert should watch).
pub struct MetricsFile {
    path: PathBuf,
    inner: PrometheusSink<Vec<u8>>,
}

impl MetricsFile {
    /// Writes to `path` at the end of the scan.
    pub fn new(path: &Path, started: Instant) -> Self {
        Self { path: path.to_owned(), inner: PrometheusSink::new(Vec::new(), started) }
    }
}

impl ReportSink for MetricsFile {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.inner.begin(header)
    }

    fn record(&mut self, _rec: &Record) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.inner.finish(summary)?;
        let dir =
            self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name =
            self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let write = || -> io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&self.inner.out)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

/// Several sinks fed the same records (e.g. `-o table` plus `--metrics-file`).
pub struct Tee<'a>(pub Vec<&'a mut dyn ReportSink>);

impl ReportSink for Tee<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.begin(header))
    }

    fn record(&mut self, rec: &Record) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.record(rec))
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|s| s.finish(summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label("plain"), "plain");
    }
}
