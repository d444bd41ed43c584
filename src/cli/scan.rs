//! `atrest scan`: flags → session → sinks (the chosen output, the metrics file, the policy) →
//! exit code.

use std::io::{self, BufWriter, IsTerminal, Write};

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::progress::Ui;
use super::{FailOn, OutputFormat, ScanArgs};
use crate::exit::{Exit, Failure};
use atrest::codec::rfc3339_from_unix;
use atrest::policy::{Policy, PolicySink};
use atrest::report::ReportSink;
use atrest::report::html::HtmlSink;
use atrest::report::json::{JsonSink, JsonlSink, YamlSink};
use atrest::report::prometheus::{MetricsFile, PrometheusSink, Tee};
use atrest::report::table::{DEFAULT_FINDINGS, TableSink};
use atrest::scan::{ScanError, SessionOptions};
use atrest::verdict::Filter;

/// Runs `atrest scan` and returns the exit code.
pub fn run_scan(args: ScanArgs, ui: Ui) -> Result<Exit, Failure> {
    let started = Instant::now();
    let config = args.encryption_config.as_deref().map(super::load_config).transpose()?;
    let policy = Policy {
        require_encrypted: args.require_encrypted.clone(),
        forbid_keys: args
            .forbid_key
            .iter()
            .map(|k| {
                Policy::parse_key(k).ok_or_else(|| {
                    Failure::usage(anyhow::anyhow!("--forbid-key {k}: expected PROVIDER:KEYNAME"))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let filter = Filter { resources: args.resources.clone(), namespace: args.namespace.clone() };
    let stdout = io::stdout();
    let format = args.output.unwrap_or(if stdout.is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Json
    });
    let out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut main_sink: Box<dyn ReportSink> = match format {
        OutputFormat::Table => {
            Box::new(TableSink::new(out, (!args.all).then_some(DEFAULT_FINDINGS)))
        }
        OutputFormat::Json => Box::new(JsonSink::new(out)),
        OutputFormat::Jsonl => Box::new(JsonlSink::new(out)),
        OutputFormat::Yaml => Box::new(YamlSink::new(out)),
        OutputFormat::Prometheus => Box::new(PrometheusSink::new(out, started)),
        OutputFormat::Html => Box::new(HtmlSink::new(out, now_rfc3339())),
    };
    let mut metrics = args.metrics_file.as_deref().map(|p| MetricsFile::new(p, started));
    let mut sinks: Vec<&mut dyn ReportSink> = vec![main_sink.as_mut()];
    if let Some(m) = metrics.as_mut() {
        sinks.push(m);
    }
    let mut tee = Tee(sinks);
    let mut checked = PolicySink::new(&policy, &mut tee);
    let mut session = super::open_session(
        SessionOptions {
            source: args.source.spec()?,
            encryption_config: config,
            prefix: args.prefix.clone(),
            kube_version: args.kube_version.clone(),
            rev: args.rev,
            filter,
            kubeconfig: args.kubeconfig.clone().map(|k| (k, args.context.clone())),
        },
        ui,
    )?;
    let summary = match super::progress::scan(&mut session, args.history, &mut checked, ui) {
        Ok(s) => s,
        Err(ScanError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(Exit::Ok),
        Err(e) => return Err(super::scan_failure(e)),
    };
    let (violations, examples) = (checked.violations, std::mem::take(&mut checked.examples));
    drop(checked);
    drop(tee);
    drop(main_sink);
    tracing::info!(
        keys = summary.keys,
        stale = summary.stale,
        unreadable = summary.unreadable,
        seconds = started.elapsed().as_secs_f64(),
        "scan finished"
    );
    if violations > 0 {
        eprintln!("atrest: policy: {violations} objects violate the policy:");
        for (key, why) in &examples {
            eprintln!("  {key}: {why}");
        }
        if violations > examples.len() as u64 {
            eprintln!("  … and {} more", violations - examples.len() as u64);
        }
    }
    let _ = io::stderr().flush();
    let failing = match args.fail_on {
        FailOn::Stale => summary.stale + summary.unreadable,
        FailOn::Unreadable => summary.unreadable,
        FailOn::Never => 0,
    };
    Ok(if failing > 0 || violations > 0 { Exit::Findings } else { Exit::Ok })
}

fn now_rfc3339() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    rfc3339_from_unix(i64::try_from(secs).unwrap_or(0)).unwrap_or_default()
}
