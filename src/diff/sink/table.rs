//! `-o table`: the diff for people.

use std::io::{self, Write};

use serde_json::Value;

use super::DiffSink;
use crate::diff::{Change, ChangeKind, Delta, DiffSummary, Fields, Side};

/// Table rows shown without `--all`.
pub const DEFAULT_ROWS: usize = 50;

/// `-o table`: header, a count per category, then `KEY  CHANGE  OLD → NEW` rows. Holds up to
/// `limit` rows until the end (all of them with `--all`).
pub struct TableDiffSink<W: Write> {
    out: W,
    limit: Option<usize>,
    sides: Option<(Side, Side)>,
    rows: Vec<[String; 3]>,
    listed: u64,
}

impl<W: Write> TableDiffSink<W> {
    /// `limit` None shows every row.
    pub fn new(out: W, limit: Option<usize>) -> Self {
        Self { out, limit, sides: None, rows: Vec::new(), listed: 0 }
    }
}

fn or_dash(v: Option<&str>) -> &str {
    v.unwrap_or("-")
}

fn describe(side: &Side) -> String {
    let Some(src) = &side.source else {
        return format!("{} (jsonl: no source recorded)", side.path);
    };
    let text = |k: &str| src.get(k).and_then(Value::as_str);
    let mut s = format!("{}: {}", side.path, text("kind").unwrap_or("?"));
    if let Some(p) = text("path") {
        s.push_str(&format!(" {p}"));
    }
    if let Some(rev) = side.revision() {
        s.push_str(&format!(", revision {rev}"));
    }
    if let Some(prefix) = text("prefix") {
        s.push_str(&format!(", prefix {prefix}"));
    }
    match side.config_sha256() {
        Some(sha) => s.push_str(&format!(", encryptionConfig sha256 {sha}")),
        None => s.push_str(", no encryptionConfig"),
    }
    s
}

/// One side of an appeared/disappeared object: `provider:keyName apiVersion/kind status`.
fn state<'a>(f: &Fields<'a>, new: bool) -> String {
    let get = |d: Option<Delta<Option<&'a str>>>| d.and_then(|d| if new { d.new } else { d.old });
    let mut s = or_dash(get(f.provider)).to_owned();
    if let Some(k) = get(f.key_name) {
        s.push(':');
        s.push_str(k);
    }
    let kind = [get(f.api_version), get(f.kind)].into_iter().flatten().collect::<Vec<_>>();
    if !kind.is_empty() {
        s.push(' ');
        s.push_str(&kind.join("/"));
    }
    s.push(' ');
    s.push_str(or_dash(get(f.status)));
    s
}

/// The OLD → NEW cell.
fn detail(c: &Change<'_>) -> String {
    let mut s = match c.change {
        ChangeKind::Appeared => format!("- → {}", state(&c.fields, true)),
        ChangeKind::Disappeared => format!("{} → -", state(&c.fields, false)),
        ChangeKind::Changed | ChangeKind::Rewritten => {
            let mut parts: Vec<String> = c
                .fields
                .texts()
                .map(|(name, o, n)| format!("{name} {} → {}", or_dash(o), or_dash(n)))
                .collect();
            if let Some(d) = c.fields.mod_revision {
                let rev = |r: Option<i64>| r.map_or_else(|| "-".to_owned(), |r| r.to_string());
                parts.push(format!("modRevision {} → {}", rev(d.old), rev(d.new)));
            }
            parts.join(", ")
        }
    };
    if c.regression && c.change == ChangeKind::Appeared {
        s.push_str(&format!(" ({})", c.reasons.join("; ")));
    }
    s
}

impl<W: Write> DiffSink for TableDiffSink<W> {
    fn begin(&mut self, old: &Side, new: &Side) -> io::Result<()> {
        self.sides = Some((old.clone(), new.clone()));
        Ok(())
    }

    fn change(&mut self, c: &Change<'_>) -> io::Result<()> {
        self.listed += 1;
        if self.limit.is_some_and(|l| self.rows.len() >= l) {
            return Ok(());
        }
        let mut tags = Vec::new();
        if c.regression {
            tags.push("regression");
        }
        if c.improvement {
            tags.push("improvement");
        }
        let change = if tags.is_empty() {
            c.change.as_str().to_owned()
        } else {
            format!("{} ({})", c.change.as_str(), tags.join(", "))
        };
        self.rows.push([c.key.to_owned(), change, detail(c)]);
        Ok(())
    }

    fn finish(&mut self, s: &DiffSummary) -> io::Result<()> {
        let out = &mut self.out;
        if let Some((old, new)) = &self.sides {
            writeln!(out, "OLD  {}", describe(old))?;
            writeln!(out, "NEW  {}", describe(new))?;
            if let (Some(a), Some(b)) = (old.revision(), new.revision())
                && a != b
            {
                writeln!(out, "revision changed: {a} → {b}")?;
            }
            if old.source.is_some() && new.source.is_some() {
                let (a, b) = (old.config_sha256(), new.config_sha256());
                if a != b {
                    writeln!(
                        out,
                        "encryptionConfig changed: sha256 {} → {}",
                        or_dash(a),
                        or_dash(b)
                    )?;
                }
            }
            writeln!(out)?;
        }
        let counts = [
            ("appeared", s.appeared),
            ("disappeared", s.disappeared),
            ("changed", s.changed),
            ("rewritten", s.rewritten),
            ("unchanged", s.unchanged),
            ("regressions", s.regressions),
            ("improvements", s.improvements),
        ];
        let width = counts.iter().map(|(_, n)| n.to_string().len()).max().unwrap_or(1);
        for (name, n) in counts {
            writeln!(out, "{name:<13}{n:>width$}")?;
        }
        if !self.rows.is_empty() {
            let w0 = self.rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0).max(3);
            let w1 = self.rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0).max(6);
            writeln!(out, "\n{:<w0$}   {:<w1$}   OLD → NEW", "KEY", "CHANGE")?;
            for [key, change, detail] in &self.rows {
                writeln!(out, "{key:<w0$}   {change:<w1$}   {detail}")?;
            }
        }
        let hidden = self.listed.saturating_sub(self.rows.len() as u64);
        if hidden > 0 {
            writeln!(out, "… {hidden} more (--all lists every change)")?;
        }
        if s.rewritten > 0 && self.limit.is_some() {
            writeln!(
                out,
                "{} rewritten (modRevision only) not listed; --all lists them",
                s.rewritten
            )?;
        }
        out.flush()
    }
}
