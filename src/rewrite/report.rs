//! What `atrest rewrite` prints: the plan (`--dry-run`), and after the writes the contract's JSON
//! document of the verified objects, each with its rewrite outcome, plus the run's counts; or the
//! same as a table for people.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use serde::Serialize;

use super::engine::{Counts, Done};
use super::plan::{Plan, Target, Unfixable};
use super::verify::Verified;
use crate::keyspace::group_resource;
use crate::report::{Header, Summary, wire, wire_record};
use crate::verdict::Status;

/// Objects listed by name in table output (all of them in JSON).
pub const TABLE_EXAMPLES: usize = 20;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WirePlan<'a> {
    revision: i64,
    keys: u64,
    stale: usize,
    by_resource: Vec<ResourceCount>,
    unfixable: &'a [WireUnfixable<'a>],
    warnings: &'a [String],
}

#[derive(Serialize)]
struct ResourceCount {
    resource: String,
    count: u64,
}

#[derive(Serialize)]
struct WireUnfixable<'a> {
    key: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireTarget<'a> {
    key: String,
    group: &'a str,
    resource: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
    uid: &'a str,
    resource_version: i64,
    api_version: Option<&'a str>,
    kind: Option<&'a str>,
    reasons: &'a [String],
}

/// The documents `rewrite` prints: the plan (`RewritePlan`, no summary) and the outcome
/// (`Rewrite`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Doc<'a, O: Serialize> {
    api_version: &'static str,
    kind: &'static str,
    source: wire::Source<'a>,
    encryption_config: Option<wire::EncryptionConfig<'a>>,
    plan: WirePlan<'a>,
    objects: Vec<O>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<WireSummary<'a>>,
}

/// The contract's summary of the verified records, with the run's counts.
#[derive(Serialize)]
struct WireSummary<'a> {
    #[serde(flatten)]
    base: wire::Summary<'a>,
    rewrite: &'a Counts,
}

fn wire_plan<'a>(
    plan: &Plan,
    unfixable: &'a [WireUnfixable<'a>],
    warnings: &'a [String],
) -> WirePlan<'a> {
    WirePlan {
        revision: plan.revision,
        keys: plan.keys,
        stale: plan.targets.len(),
        by_resource: plan
            .by_resource()
            .into_iter()
            .map(|(resource, count)| ResourceCount { resource, count })
            .collect(),
        unfixable,
        warnings,
    }
}

fn wire_unfixable(list: &[Unfixable]) -> Vec<WireUnfixable<'_>> {
    list.iter().map(|u| WireUnfixable { key: &u.key, reason: &u.reason }).collect()
}

/// `--dry-run -o json`: `{"apiVersion","kind":"RewritePlan","source","encryptionConfig",
/// "plan","objects":[targets]}`.
pub fn plan_json(
    out: &mut dyn Write,
    header: &Header,
    plan: &Plan,
    warnings: &[String],
) -> io::Result<()> {
    let unfixable = wire_unfixable(&plan.unfixable);
    let doc = Doc {
        api_version: "atrest/v1",
        kind: "RewritePlan",
        source: header.wire_source(),
        encryption_config: header.wire_config(),
        plan: wire_plan(plan, &unfixable, warnings),
        objects: plan.targets.iter().map(wire_target).collect(),
        summary: None,
    };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

fn wire_target(t: &Target) -> WireTarget<'_> {
    WireTarget {
        key: t.key_str(),
        group: &t.group,
        resource: &t.resource,
        namespace: t.namespace.as_deref(),
        name: &t.name,
        uid: &t.uid,
        resource_version: t.resource_version,
        api_version: t.api_version.as_deref(),
        kind: t.kind.as_deref(),
        reasons: &t.reasons,
    }
}

/// `--dry-run`, for people.
pub fn plan_table(out: &mut dyn Write, plan: &Plan, warnings: &[String]) -> io::Result<()> {
    writeln!(
        out,
        "Plan at revision {}: {} stale objects to rewrite ({} keys scanned)",
        plan.revision,
        plan.targets.len(),
        plan.keys
    )?;
    let by = plan.by_resource();
    if !by.is_empty() {
        let width = by.keys().map(String::len).max().unwrap_or(8).max(8);
        writeln!(out, "\n  {:<width$}  OBJECTS", "RESOURCE")?;
        for (resource, n) in &by {
            writeln!(out, "  {resource:<width$}  {n}")?;
        }
        writeln!(out, "\nFirst objects:")?;
        for t in plan.targets.iter().take(TABLE_EXAMPLES) {
            writeln!(
                out,
                "  {}  rv {}  {}",
                t.key_str(),
                t.resource_version,
                t.reasons.join("; ")
            )?;
        }
        if plan.targets.len() > TABLE_EXAMPLES {
            writeln!(out, "  … and {} more", plan.targets.len() - TABLE_EXAMPLES)?;
        }
    }
    if !plan.unfixable.is_empty() {
        writeln!(out, "\nCannot be rewritten:")?;
        for u in plan.unfixable.iter().take(TABLE_EXAMPLES) {
            writeln!(out, "  {}  {}", u.key, u.reason)?;
        }
    }
    if !warnings.is_empty() {
        writeln!(out, "\nWarnings:")?;
        for w in warnings {
            writeln!(out, "  ! {w}")?;
        }
    }
    writeln!(out, "\nDry run: nothing was written.")
}

/// The finished run, for both formats.
pub struct Finished<'a> {
    /// The plan's scan header (its revision is replaced by the verification's).
    pub header: &'a Header,
    /// The plan.
    pub plan: &'a Plan,
    /// Plan warnings.
    pub warnings: &'a [String],
    /// Every object this run (and the journal's earlier runs) finished.
    pub done: &'a [Done],
    /// What etcd holds now.
    pub verified: &'a Verified,
    /// Totals.
    pub counts: &'a Counts,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireOutcome<'a> {
    outcome: &'static str,
    planned_revision: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_revision: Option<i64>,
    attempts: u32,
    conflicts: u32,
    retries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

#[derive(Serialize)]
struct WireObject<'a> {
    #[serde(flatten)]
    record: Option<wire::Record<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rewrite: Option<WireOutcome<'a>>,
}

/// `-o json`: the contract document of the verified objects, each with a `rewrite` member, and
/// `summary.rewrite` with the counts. A key that is gone has only `key` and `rewrite`.
pub fn outcome_json(out: &mut dyn Write, o: &Finished<'_>) -> io::Result<()> {
    let mut header = o.header.clone();
    header.revision = o.verified.revision;
    let by_key: HashMap<&[u8], &Done> =
        o.done.iter().map(|d| (d.target.key.as_slice(), d)).collect();
    let mut summary = Summary::default();
    let keys: Vec<String> =
        o.verified.records.iter().map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect();
    let mut objects = Vec::with_capacity(keys.len());
    for ((key, rec), text) in o.verified.records.iter().zip(&keys) {
        if let Some(rec) = rec {
            summary.add(rec);
        }
        let rewrite = by_key.get(key.as_slice()).map(|d| WireOutcome {
            outcome: d.outcome.name(),
            planned_revision: d.planned_revision,
            to_revision: match d.outcome {
                super::Outcome::Rewritten { to } => to,
                _ => None,
            },
            attempts: d.attempts,
            conflicts: d.conflicts,
            retries: d.retries,
            detail: d.outcome.detail(),
        });
        objects.push(WireObject {
            record: rec.as_ref().map(|r| wire_record(r, text)),
            key: rec.is_none().then_some(text.as_str()),
            rewrite,
        });
    }
    summary.flush_run();
    summary.revision = o.verified.revision;
    let unfixable = wire_unfixable(&o.plan.unfixable);
    let doc = Doc {
        api_version: "atrest/v1",
        kind: "Rewrite",
        source: header.wire_source(),
        encryption_config: header.wire_config(),
        plan: wire_plan(o.plan, &unfixable, o.warnings),
        objects,
        summary: Some(WireSummary { base: summary.to_wire(), rewrite: o.counts }),
    };
    serde_json::to_writer(&mut *out, &doc).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// The finished run, for people: outcomes per resource, the verification, what is still stale.
pub fn outcome_table(out: &mut dyn Write, o: &Finished<'_>) -> io::Result<()> {
    let c = o.counts;
    writeln!(
        out,
        "Rewrite of {} stale objects planned at revision {} ({} finished in an earlier run)",
        c.planned, o.plan.revision, c.resumed
    )?;
    let mut rows: BTreeMap<String, [u64; 7]> = BTreeMap::new();
    for d in o.done {
        let row = rows.entry(group_resource(&d.target.group, &d.target.resource)).or_default();
        let i = match d.outcome {
            super::Outcome::Rewritten { .. } => 0,
            super::Outcome::Unchanged => 1,
            super::Outcome::AlreadyCurrent => 2,
            super::Outcome::Gone => 3,
            super::Outcome::Failed(_) => 4,
            super::Outcome::Skipped(_) => 5,
            super::Outcome::Interrupted => 6,
        };
        row[i] += 1;
    }
    let width = rows.keys().map(String::len).max().unwrap_or(8).max(8);
    writeln!(
        out,
        "\n  {:<width$}  REWRITTEN  UNCHANGED  ALREADY-CURRENT  GONE  FAILED  SKIPPED  INTERRUPTED",
        "RESOURCE"
    )?;
    for (resource, r) in &rows {
        writeln!(
            out,
            "  {resource:<width$}  {:>9}  {:>9}  {:>15}  {:>4}  {:>6}  {:>7}  {:>11}",
            r[0], r[1], r[2], r[3], r[4], r[5], r[6]
        )?;
    }
    let rate = if c.seconds > 0.0 { (c.rewritten + c.unchanged) as f64 / c.seconds } else { 0.0 };
    writeln!(
        out,
        "\n{} conflicts, {} retries, {:.1} s ({rate:.0} objects/s)",
        c.conflicts, c.retries, c.seconds
    )?;
    writeln!(
        out,
        "Verified in etcd at revision {}: {} current, {} still stale, {} unreadable, {} gone",
        o.verified.revision,
        c.verified_current,
        c.still_stale,
        c.verified_unreadable,
        o.verified.records.iter().filter(|(_, r)| r.is_none()).count()
    )?;
    let by_key: HashMap<&[u8], &Done> =
        o.done.iter().map(|d| (d.target.key.as_slice(), d)).collect();
    let stale: Vec<_> = o
        .verified
        .records
        .iter()
        .filter_map(|(k, r)| r.as_ref().filter(|r| r.status != Status::Current).map(|r| (k, r)))
        .collect();
    if !stale.is_empty() {
        writeln!(out, "\nNot current:")?;
        for (key, rec) in stale.iter().take(TABLE_EXAMPLES) {
            // Failures and skips say why; the long note on `unchanged` is printed once below.
            let outcome = by_key.get(key.as_slice()).map(|d| match &d.outcome {
                super::Outcome::Failed(why) | super::Outcome::Skipped(why) => {
                    format!("{}: {why}", d.outcome.name())
                }
                other => other.name().to_owned(),
            });
            let why = outcome.into_iter().chain(rec.reasons.iter().cloned());
            let why = why.collect::<Vec<_>>().join("; ");
            writeln!(out, "  {}  {}  {}", String::from_utf8_lossy(key), rec.status.as_str(), why)?;
        }
        if stale.len() > TABLE_EXAMPLES {
            writeln!(out, "  … and {} more (-o json lists all)", stale.len() - TABLE_EXAMPLES)?;
        }
    }
    if c.unchanged > 0 {
        writeln!(out, "\n{} unchanged: {}.", c.unchanged, super::engine::UNCHANGED)?;
    }
    if !o.warnings.is_empty() {
        writeln!(out, "\nWarnings:")?;
        for w in o.warnings {
            writeln!(out, "  ! {w}")?;
        }
    }
    Ok(())
}
