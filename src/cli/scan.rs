//! `atrest scan`: low args → plan (config opened, source connected, prefix chosen) → scan →
//! exit code.

use std::io::{self, BufWriter, IsTerminal, Write};

use anyhow::Context;

use super::{FailOn, OutputFormat, ScanArgs};
use crate::exit::{Exit, Failure};
use atrest::config::EncryptionConfig;
use atrest::keyspace::normalize_prefix;
use atrest::report::json::{JsonSink, JsonlSink, YamlSink};
use atrest::report::table::{DEFAULT_FINDINGS, TableSink};
use atrest::report::{Header, ReportSink};
use atrest::scan::{ScanError, detect_prefix, scan_live};
use atrest::source::live::{LiveOptions, LiveSource};
use atrest::verdict::{Filter, Judge};

/// Runs `atrest scan` and returns the exit code.
pub fn run_scan(args: ScanArgs) -> Result<Exit, Failure> {
    let config = match &args.encryption_config {
        Some(path) => Some(EncryptionConfig::load(path).map_err(|e| Failure::usage(e.into()))?),
        None => None,
    };
    let user = match (&args.source.user, &args.source.password) {
        (Some(u), Some(p)) => Some((u.clone(), p.clone())),
        (Some(u), None) => match u.split_once(':') {
            Some((name, pw)) => Some((name.to_owned(), pw.to_owned())),
            None => {
                return Err(Failure::usage(anyhow::anyhow!(
                    "--user {u} has no password: use --user name:password or --password"
                )));
            }
        },
        (None, Some(_)) => {
            return Err(Failure::usage(anyhow::anyhow!("--password needs --user")));
        }
        (None, None) => None,
    };
    let opts = LiveOptions {
        endpoints: args.source.endpoints.clone(),
        cacert: args.source.cacert.clone(),
        cert: args.source.cert.clone(),
        key: args.source.key.clone(),
        user,
        dial_timeout: args.source.dial_timeout,
        command_timeout: args.source.command_timeout,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(Failure::source)?;
    let mut source =
        rt.block_on(LiveSource::connect(opts)).map_err(|e| Failure::source(e.into()))?;
    let prefix = match &args.prefix {
        Some(p) => normalize_prefix(p),
        None => rt.block_on(detect_prefix(&mut source)).map_err(scan_failure)?,
    };
    let header = Header {
        source_kind: "etcd",
        endpoints: args.source.endpoints.clone(),
        path: None,
        revision: 0,
        prefix: prefix.clone(),
        encryption_config: config
            .as_ref()
            .zip(args.encryption_config.as_ref())
            .map(|(c, p)| (p.display().to_string(), c.sha256_hex().to_owned())),
    };
    let filter = Filter { resources: args.resources.clone(), namespace: args.namespace.clone() };
    let judge = Judge { prefix: prefix.as_bytes(), config: config.as_ref(), filter: &filter };

    let stdout = io::stdout();
    let format = args.output.unwrap_or(if stdout.is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Json
    });
    let out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut sink: Box<dyn ReportSink> = match format {
        OutputFormat::Table => {
            Box::new(TableSink::new(out, (!args.all).then_some(DEFAULT_FINDINGS)))
        }
        OutputFormat::Json => Box::new(JsonSink::new(out)),
        OutputFormat::Jsonl => Box::new(JsonlSink::new(out)),
        OutputFormat::Yaml => Box::new(YamlSink::new(out)),
    };
    let summary = match scan_live(&rt, source, args.rev, &judge, header, sink.as_mut()) {
        Ok(s) => s,
        Err(ScanError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(Exit::Ok),
        Err(e) => return Err(scan_failure(e)),
    };
    drop(sink);
    let _ = io::stderr().flush();
    let failing = match args.fail_on {
        FailOn::Stale => summary.stale + summary.unreadable,
        FailOn::Unreadable => summary.unreadable,
        FailOn::Never => 0,
    };
    Ok(if failing > 0 { Exit::Findings } else { Exit::Ok })
}

fn scan_failure(e: ScanError) -> Failure {
    match e {
        ScanError::Prefix(_) => Failure::usage(e.into()),
        other => Failure::source(other.into()),
    }
}
