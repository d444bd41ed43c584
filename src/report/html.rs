//! `-o html`: one self-contained audit report for people, the file an operator attaches to a
//! change ticket. Header (source, revision, prefix, EncryptionConfiguration fingerprint, time),
//! the totals, an inline SVG chart per resource of its objects by provider:key × status, every
//! summary group, the stale and unreadable objects in a sortable table, and `--history`.
//!
//! Self-contained means no reference to anything outside the file: the CSS, the SVG and the
//! small sort script are inline, and a Content-Security-Policy of `default-src 'none'` (the
//! script allowed by its sha256 only) makes a browser refuse any load the page could still try.
//! Every string that comes from the scan goes through [`escape`]. Records carry no key material
//! and no payloads, and this adds none. Memory is bounded: at most [`MAX_FINDINGS`] table rows
//! are kept; the charts come from the already aggregated [`Summary`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::provider_key;
use super::{Findings, Header, ReportSink, Summary};
use crate::history::History;
use crate::keyspace::group_resource;
use crate::verdict::{Record, Status};

/// Stale and unreadable objects kept for the findings table; the rest are counted as omitted.
pub const MAX_FINDINGS: usize = 10_000;

/// Self-contained HTML report. Holds the header and up to `limit` findings until the end.
pub struct HtmlSink<W: Write> {
    out: W,
    generated_at: String,
    header: Header,
    findings: Findings<Finding>,
}

/// One row of the findings table (names and reasons only, never payloads).
struct Finding {
    key: String,
    status: Status,
    provider_key: String,
    api_version: Option<String>,
    mod_revision: i64,
    reasons: String,
}

impl<W: Write> HtmlSink<W> {
    /// Writes to `out`; `generated_at` (an RFC 3339 time) is printed as the report's time.
    pub fn new(out: W, generated_at: String) -> Self {
        Self::with_limit(out, generated_at, MAX_FINDINGS)
    }

    /// Like [`HtmlSink::new`], keeping at most `limit` findings rows.
    pub fn with_limit(out: W, generated_at: String, limit: usize) -> Self {
        Self { out, generated_at, header: Header::default(), findings: Findings::new(Some(limit)) }
    }
}

impl<W: Write> ReportSink for HtmlSink<W> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.header = header.clone();
        Ok(())
    }

    fn record(&mut self, rec: &Record) -> io::Result<()> {
        self.findings.offer(rec, |rec| {
            let enc = rec.encryption.as_ref();
            Finding {
                key: String::from_utf8_lossy(&rec.key).into_owned(),
                status: rec.status,
                provider_key: provider_key(
                    enc.map(|e| e.provider.as_str()),
                    enc.and_then(|e| e.key_name.as_deref()),
                ),
                api_version: rec.facts.api_version.clone(),
                mod_revision: rec.mod_revision,
                reasons: rec.reasons.join("; "),
            }
        });
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        let out = &mut self.out;
        write_head(out, &self.header)?;
        write_top(out, &self.header, &self.generated_at)?;
        write_totals(out, s)?;
        write_charts(out, s)?;
        write_findings(out, &self.findings.rows, self.findings.total)?;
        if let Some(h) = &s.history {
            write_history(out, h, s.revision)?;
        }
        write_groups(out, s)?;
        writeln!(
            out,
            "<footer>atrest {} &middot; generated {} &middot; this report names objects, \
             providers and keys; it holds no key material and no object data.</footer>\n\
             </main>\n<script>{SCRIPT}</script>\n</body>\n</html>",
            env!("CARGO_PKG_VERSION"),
            Esc(&self.generated_at)
        )?;
        out.flush()
    }
}

/// `s` made safe as HTML text and as a quoted attribute value: `& < > " '` become references;
/// control characters other than tab and newline become visible (␀…␟, ␡) or U+FFFD.
pub fn escape(s: &str) -> String {
    Esc(s).to_string()
}

/// [`escape`] as a `Display`, to write without an intermediate `String`.
struct Esc<'a>(&'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let special = |c: char| {
            matches!(c, '&' | '<' | '>' | '"' | '\'')
                || (c.is_control() && !matches!(c, '\t' | '\n'))
        };
        let mut rest = self.0;
        while let Some(i) = rest.find(special) {
            let (plain, tail) = rest.split_at(i);
            f.write_str(plain)?;
            let mut chars = tail.chars();
            match chars.next() {
                Some('&') => f.write_str("&amp;")?,
                Some('<') => f.write_str("&lt;")?,
                Some('>') => f.write_str("&gt;")?,
                Some('"') => f.write_str("&quot;")?,
                Some('\'') => f.write_str("&#39;")?,
                // Control pictures: the auditor sees that a control byte was there.
                Some(c @ '\0'..='\x1f') => {
                    let picture = char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}');
                    write!(f, "{picture}")?;
                }
                Some('\x7f') => f.write_str("\u{2421}")?,
                Some(_) | None => f.write_str("\u{fffd}")?,
            }
            rest = chars.as_str();
        }
        f.write_str(rest)
    }
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 object`, `2 objects`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn percent(n: u64, total: u64) -> String {
    if total == 0 {
        return "0%".to_owned();
    }
    let p = n as f64 * 100.0 / total as f64;
    if n > 0 && p < 0.1 { "<0.1%".to_owned() } else { format!("{p:.1}%") }
}

fn status_rank(s: Status) -> u8 {
    match s {
        Status::Current => 0,
        Status::Stale => 1,
        Status::Unreadable => 2,
        Status::Skipped => 3,
    }
}

fn badge(s: Status) -> String {
    format!("<span class=\"badge {0}\">{0}</span>", s.as_str())
}

fn write_head(out: &mut impl Write, h: &Header) -> io::Result<()> {
    let script_hash =
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"atrest {}\">\n\
         <title>atrest audit: {} at revision {}</title>\n<style>{CSS}</style>\n</head>",
        env!("CARGO_PKG_VERSION"),
        Esc(&source_line(h)),
        h.revision
    )
}

fn source_line(h: &Header) -> String {
    match h.source_kind {
        "etcd" => format!("etcd {}", h.endpoints.join(", ")),
        _ => format!("snapshot {}", h.path.as_deref().unwrap_or("")),
    }
}

fn write_top(out: &mut impl Write, h: &Header, generated_at: &str) -> io::Result<()> {
    writeln!(
        out,
        "<body>\n<main>\n<header class=\"top\">\n<h1>Encryption at rest: audit report</h1>\n\
         <p class=\"sub\">Which provider and key protect each Kubernetes object stored in \
         etcd, and which objects a rewrite would still change.</p>\n<dl class=\"meta\">"
    )?;
    let source = match h.source_kind {
        "etcd" => format!("etcd <code>{}</code>", Esc(&h.endpoints.join(", "))),
        _ => format!("snapshot <code>{}</code>", Esc(h.path.as_deref().unwrap_or(""))),
    };
    writeln!(out, "<dt>Source</dt><dd>{source}</dd>")?;
    if let Some(integrity) = h.integrity {
        let compacted = h.compacted_revision.map_or("none".to_owned(), |r| r.to_string());
        writeln!(
            out,
            "<dt>Snapshot</dt><dd>integrity {}; compacted revision {}</dd>",
            Esc(integrity),
            Esc(&compacted)
        )?;
        if let Some(etcd) = h.backend.as_ref().and_then(|b| b.describe()) {
            writeln!(out, "<dt>Backend</dt><dd>etcd {}</dd>", Esc(&etcd))?;
        }
    }
    writeln!(
        out,
        "<dt>Revision</dt><dd><code>{}</code></dd>\n<dt>Prefix</dt><dd><code>{}</code></dd>",
        h.revision,
        Esc(&h.prefix)
    )?;
    match &h.encryption_config {
        Some((path, sha)) => writeln!(
            out,
            "<dt>EncryptionConfiguration</dt><dd><code>{}</code><br>\
             <span class=\"hash\">sha256 <code>{}</code></span></dd>",
            Esc(path),
            Esc(sha)
        )?,
        None => writeln!(
            out,
            "<dt>EncryptionConfiguration</dt><dd>none given: envelopes are named from their \
             prefix, not decrypted</dd>"
        )?,
    }
    for w in h.source_warnings.iter().chain(&h.config_warnings) {
        writeln!(out, "<dt>Warning</dt><dd>{}</dd>", Esc(w))?;
    }
    writeln!(out, "<dt>Generated</dt><dd>{}</dd>\n</dl>\n</header>", Esc(generated_at))
}

/// Big-number cards: (CSS class, label, count).
fn stat_cards(out: &mut impl Write, cards: &[(&str, &str, u64)]) -> io::Result<()> {
    for &(class, label, n) in cards {
        let zero = if n == 0 { " zero" } else { "" };
        writeln!(
            out,
            "<div class=\"stat {class}{zero}\"><div class=\"n\">{}</div>\
             <div class=\"l\">{label}</div></div>",
            thousands(n)
        )?;
    }
    Ok(())
}

fn write_totals(out: &mut impl Write, s: &Summary) -> io::Result<()> {
    out.write_all(b"<section class=\"totals\">\n")?;
    stat_cards(
        out,
        &[
            ("keys", "keys", s.keys),
            ("current", "current", s.current),
            ("stale", "stale", s.stale),
            ("unreadable", "unreadable", s.unreadable),
            ("skipped", "skipped", s.skipped),
        ],
    )?;
    out.write_all(b"</section>\n")?;
    let findings = s.stale + s.unreadable;
    if findings == 0 {
        writeln!(
            out,
            "<p class=\"verdict ok\"><b>Every object is current</b> ({}): each is stored \
             with its resource's write provider and key.</p>",
            thousands(s.current)
        )?;
    } else {
        let class = if s.unreadable > 0 { "bad" } else { "warn" };
        writeln!(
            out,
            "<p class=\"verdict {class}\"><b>Needs attention: {} of {}.</b> {} stale \
             (readable, but a rewrite would store them differently: old key, old provider or \
             plaintext) and {} unreadable (no configured provider reads them, or the data is \
             damaged).</p>",
            thousands(findings),
            count(s.current + findings, "object", "objects"),
            thousands(s.stale),
            thousands(s.unreadable)
        )?;
    }
    if s.skipped > 0 {
        writeln!(
            out,
            "<p class=\"note\">Skipped keys (not API objects, or excluded by a filter): {}; \
             counted in the totals, not charted.</p>",
            thousands(s.skipped)
        )?;
    }
    for r in &s.restarts {
        writeln!(
            out,
            "<p class=\"note\">Revision {} was compacted during the scan; it resumed at {}.</p>",
            r.from, r.to
        )?;
    }
    Ok(())
}

/// Bar colours per status; each provider:key keeps the same shade in every chart.
const PALETTE: [(Status, [&str; 6]); 3] = [
    (Status::Current, ["#2da44e", "#116329", "#8ddb9f", "#1a7f37", "#4ac26b", "#c6efd0"]),
    (Status::Stale, ["#fb8f44", "#9a4a00", "#ffc680", "#d16200", "#fdac54", "#ffe1bd"]),
    (Status::Unreadable, ["#cf222e", "#82071e", "#ff9492", "#a40e26", "#fa4549", "#ffd0ce"]),
];
const GREY: &str = "#8c959f";
const CHART_WIDTH: u32 = 1100;
const BAR_HEIGHT: u32 = 30;
const LEGEND_ROW: u32 = 22;

fn fill(status: Status, shade: usize) -> &'static str {
    PALETTE
        .iter()
        .find(|(s, _)| *s == status)
        .and_then(|(_, shades)| shades.get(shade % shades.len()).copied())
        .unwrap_or(GREY)
}

/// The class suffix for a label on `fill` (`#rrggbb`): dark text, or white on a dark fill.
fn ink(fill: &str) -> &'static str {
    let channel = |i: usize| {
        fill.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).map_or(0.0, f64::from)
    };
    let luma = 0.299 * channel(1) + 0.587 * channel(3) + 0.114 * channel(5);
    if luma > 150.0 { "" } else { " on-dark" }
}

type Segments = BTreeMap<(Status, String), u64>;

fn write_charts(out: &mut impl Write, s: &Summary) -> io::Result<()> {
    let mut resources: BTreeMap<(&str, &str), Segments> = BTreeMap::new();
    let mut shades: BTreeMap<String, usize> = BTreeMap::new();
    for (k, &count) in &s.groups {
        let pk = provider_key(k.provider, k.key_name.as_deref());
        shades.insert(pk.clone(), 0);
        *resources
            .entry((k.group.as_str(), k.resource.as_str()))
            .or_default()
            .entry((k.status, pk))
            .or_default() += count;
    }
    for (i, shade) in shades.values_mut().enumerate() {
        *shade = i;
    }
    out.write_all(b"<section>\n<h2>Objects per resource, by provider:key and status</h2>\n")?;
    if resources.is_empty() {
        out.write_all(b"<p class=\"note\">No API objects under the prefix.</p>\n")?;
    }
    for ((group, resource), segments) in &resources {
        write_chart(out, &group_resource(group, resource), segments, &shades)?;
    }
    out.write_all(b"</section>\n")
}

fn write_chart(
    out: &mut impl Write,
    name: &str,
    segments: &Segments,
    shades: &BTreeMap<String, usize>,
) -> io::Result<()> {
    let total: u64 = segments.values().sum();
    let mut by_status: BTreeMap<Status, u64> = BTreeMap::new();
    for ((status, _), n) in segments {
        *by_status.entry(*status).or_default() += n;
    }
    let counts: Vec<String> =
        by_status.iter().map(|(st, n)| format!("{} {}", thousands(*n), st.as_str())).collect();
    writeln!(
        out,
        "<figure class=\"chart\">\n<figcaption><b>{}</b><span>{}: {}</span>\
         </figcaption>",
        Esc(name),
        count(total, "object", "objects"),
        counts.join(" &middot; ")
    )?;
    let height = BAR_HEIGHT + 14 + LEGEND_ROW * segments.len() as u32;
    writeln!(
        out,
        "<svg class=\"bar\" width=\"{CHART_WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {CHART_WIDTH} {height}\" role=\"img\" aria-label=\"{}: {} objects by \
         provider:key and status\">",
        Esc(name),
        total
    )?;
    let scale = f64::from(CHART_WIDTH) / total.max(1) as f64;
    let mut done = 0u64;
    for ((status, pk), &n) in segments {
        let x = done as f64 * scale;
        // A sliver stays visible, even when it is one object in a million.
        let w = (n as f64 * scale).max(2.0);
        done += n;
        let color = fill(*status, shades.get(pk).copied().unwrap_or(0));
        let tip = format!("{pk} · {}: {} ({})", status.as_str(), thousands(n), percent(n, total));
        writeln!(
            out,
            "<rect x=\"{x:.2}\" y=\"0\" width=\"{w:.2}\" height=\"{BAR_HEIGHT}\" \
             fill=\"{color}\" stroke=\"#ffffff\" stroke-width=\"1\"><title>{}</title></rect>",
            Esc(&tip)
        )?;
        let label = thousands(n);
        if w >= 14.0 + 8.0 * label.len() as f64 {
            writeln!(
                out,
                "<text x=\"{:.2}\" y=\"{}\" text-anchor=\"middle\" class=\"in{}\">{label}</text>",
                x + w / 2.0,
                BAR_HEIGHT / 2 + 5,
                ink(color)
            )?;
        }
    }
    for (i, ((status, pk), &n)) in segments.iter().enumerate() {
        let y = BAR_HEIGHT + 14 + LEGEND_ROW * i as u32;
        let color = fill(*status, shades.get(pk).copied().unwrap_or(0));
        writeln!(
            out,
            "<rect x=\"0\" y=\"{}\" width=\"14\" height=\"14\" rx=\"3\" fill=\"{color}\"/>\
             <text x=\"86\" y=\"{}\" text-anchor=\"end\" class=\"n\">{}</text>\
             <text x=\"146\" y=\"{}\" text-anchor=\"end\" class=\"pct\">{}</text>\
             <text x=\"164\" y=\"{}\" class=\"st {}\">{}</text>\
             <text x=\"260\" y=\"{}\" class=\"pk\">{}</text>",
            y + 2,
            y + 14,
            thousands(n),
            y + 14,
            percent(n, total),
            y + 14,
            status.as_str(),
            status.as_str(),
            y + 14,
            Esc(pk)
        )?;
    }
    out.write_all(b"</svg>\n</figure>\n")
}

/// How a column sorts.
#[derive(Clone, Copy)]
enum Col {
    /// By text, numbers within it compared as numbers.
    Text,
    /// A right-aligned number.
    Num,
    /// By the cells' `data-v` rank (status severity), left-aligned.
    Rank,
}

/// A sortable header cell; `name` names the column for `#sort=`.
fn th(name: &str, label: &str, col: Col) -> String {
    let attrs = match col {
        Col::Text => "",
        Col::Num => " class=\"num\" data-type=\"num\"",
        Col::Rank => " data-type=\"num\"",
    };
    format!("<th{attrs} data-col=\"{name}\"><button type=\"button\">{label}</button></th>")
}

fn write_findings(out: &mut impl Write, findings: &[Finding], total: u64) -> io::Result<()> {
    writeln!(out, "<section>\n<h2>Stale and unreadable objects ({})</h2>", thousands(total))?;
    if total == 0 {
        return out.write_all(b"<p class=\"note\">None.</p>\n</section>\n");
    }
    let shown = findings.len() as u64;
    if shown < total {
        writeln!(
            out,
            "<p class=\"note\">The first {} in key order; {} more are omitted here. \
             <code>-o json</code> lists every object.</p>",
            thousands(shown),
            thousands(total - shown)
        )?;
    }
    writeln!(
        out,
        "<p class=\"note no-print\">Click a column header to sort.</p>\n\
         <table class=\"sortable\" id=\"findings\">\n<colgroup><col class=\"key\">\
         <col class=\"st\"><col class=\"pk\"><col class=\"av\"><col class=\"rev\"><col>\
         </colgroup>\n<thead><tr>{}{}{}{}{}{}</tr></thead>\n<tbody>",
        th("key", "Key", Col::Text),
        th("status", "Status", Col::Rank),
        th("provider", "Provider:key", Col::Text),
        th("apiversion", "apiVersion", Col::Text),
        th("revision", "Mod rev", Col::Num),
        th("reason", "Reason", Col::Text),
    )?;
    for f in findings {
        writeln!(
            out,
            "<tr><td class=\"key\"><code>{}</code></td><td data-v=\"{}\">{}</td>\
             <td><code>{}</code></td><td>{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            Esc(&f.key),
            status_rank(f.status),
            badge(f.status),
            Esc(&f.provider_key),
            Esc(f.api_version.as_deref().unwrap_or("<unknown>")),
            f.mod_revision,
            Esc(&f.reasons)
        )?;
    }
    out.write_all(b"</tbody>\n</table>\n</section>\n")
}

fn write_groups(out: &mut impl Write, s: &Summary) -> io::Result<()> {
    if s.groups.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "<section>\n<h2>All groups: resource &times; provider:key &times; apiVersion</h2>\n\
         <table class=\"sortable\" id=\"groups\">\n<thead><tr>{}{}{}{}{}</tr></thead>\n<tbody>",
        th("resource", "Resource", Col::Text),
        th("provider", "Provider:key", Col::Text),
        th("apiversion", "apiVersion", Col::Text),
        th("status", "Status", Col::Rank),
        th("count", "Count", Col::Num),
    )?;
    for (k, &count) in &s.groups {
        writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td data-v=\"{}\">{}</td>\
             <td class=\"num\" data-v=\"{count}\">{}</td></tr>",
            Esc(&group_resource(&k.group, &k.resource)),
            Esc(&provider_key(k.provider, k.key_name.as_deref())),
            Esc(k.api_version.as_deref().unwrap_or("<unknown>")),
            status_rank(k.status),
            badge(k.status),
            thousands(count)
        )?;
    }
    out.write_all(b"</tbody>\n</table>\n</section>\n")
}

fn write_history(out: &mut impl Write, h: &History, revision: i64) -> io::Result<()> {
    writeln!(
        out,
        "<section>\n<h2>History still held by etcd</h2>\n<p>Superseded values stay in etcd's \
         history until compaction, in free pages until defrag, and in every backup taken \
         before.</p>\n<div class=\"totals three\">"
    )?;
    stat_cards(
        out,
        &[
            ("keys", "retained revisions", h.retained_revisions),
            ("skipped", "superseded", h.superseded_revisions),
            ("unreadable", "exposing plaintext or retired keys", h.exposed_revisions),
        ],
    )?;
    out.write_all(b"</div>\n")?;
    if !h.groups.is_empty() {
        writeln!(
            out,
            "<table>\n<thead><tr><th>Resource</th><th>Provider:key</th><th class=\"num\">\
             Revisions</th><th class=\"num\">Oldest</th><th class=\"num\">Newest</th>\
             <th>Exposure</th></tr></thead>\n<tbody>"
        )?;
        for (k, v) in &h.groups {
            writeln!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                Esc(&group_resource(&k.group, &k.resource)),
                Esc(&provider_key(k.provider, k.key_name.as_deref())),
                thousands(v.revisions),
                v.oldest_revision,
                v.newest_revision,
                v.exposure.as_deref().map_or("&ndash;".to_owned(), escape)
            )?;
        }
        out.write_all(b"</tbody>\n</table>\n")?;
    }
    if let Some((scanned, hits)) = h.free_pages {
        writeln!(
            out,
            "<p>Free bbolt pages: {}, of which {} still hold object bytes.</p>",
            thousands(scanned),
            thousands(hits)
        )?;
    }
    let steps = super::remediation(h, revision);
    if !steps.is_empty() {
        out.write_all(b"<p>To remove them:</p>\n<ol>\n")?;
        for step in &steps {
            writeln!(out, "<li>{}</li>", Esc(step))?;
        }
        out.write_all(b"</ol>\n")?;
    }
    out.write_all(b"</section>\n")
}

// The leading newline keeps the page byte-identical to when the CSS was inline.
const CSS: &str = concat!("\n", include_str!("html/report.css"));

/// Click-to-sort table headers; `#sort=<column>` (or `#sort=-<column>` for descending) opens the
/// findings sorted. Sets `data-ready="1"` on `<body>` when done, so a test can tell it ran.
const SCRIPT: &str = concat!("\n", include_str!("html/report.js"));

#[cfg(test)]
mod tests;
