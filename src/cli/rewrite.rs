//! `atrest rewrite`: scan (pinned revision) → plan the stale objects → no-op applies through the
//! API server → verify every touched key in etcd → report and exit code (4 if still stale).

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;

use super::SourceArgs;
use super::progress::Ui;
use crate::exit::{Exit, Failure};
use atrest::report::{Header, ReportSink, Summary};
use atrest::rewrite::api::{ApiClient, ApiError};
use atrest::rewrite::engine::{Engine, Stop};
use atrest::rewrite::journal::JournalHeader;
use atrest::rewrite::plan::Plan;
use atrest::rewrite::repair::{RepairError, Repaired, repair};
use atrest::rewrite::report::{self, Finished};
use atrest::scan::SessionOptions;
use atrest::source::live::KeyReader;
use atrest::verdict::{Filter, Judge, Record};

/// `atrest rewrite`.
#[derive(Debug, Args)]
pub struct RewriteArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
    /// The EncryptionConfiguration the API server runs with (its write key decides "stale").
    #[arg(long)]
    pub encryption_config: PathBuf,
    /// kubeconfig for the API server (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long)]
    pub context: Option<String>,
    /// Print the plan (counts per resource, the first objects, warnings) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this resource (`secrets`, `widgets.example.com`); repeatable.
    #[arg(long = "resource")]
    pub resources: Vec<String>,
    /// Only objects in this namespace.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Writes in flight at most.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Writes started per second at most (0: no limit).
    #[arg(long, default_value_t = 50.0)]
    pub qps: f64,
    /// Record each object's outcome here (JSON lines, fsync'd); rerun with the same file to
    /// resume without redoing work.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// kube-apiserver's --etcd-prefix (default: detect).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Kubernetes release for built-in storage versions (default: from Node objects).
    #[arg(long, value_name = "1.NN")]
    pub kube_version: Option<String>,
    /// Output format (default: table on a terminal, json otherwise).
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<RewriteFormat>,
}

/// `rewrite -o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RewriteFormat {
    /// For people.
    Table,
    /// One JSON document.
    Json,
}

/// A scan sink that builds the plan.
#[derive(Default)]
struct Planning {
    plan: Plan,
    header: Header,
}

impl ReportSink for Planning {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.plan.revision = header.revision;
        self.header = header.clone();
        Ok(())
    }

    fn record(&mut self, rec: &Record) -> io::Result<()> {
        self.plan.add(rec);
        Ok(())
    }

    fn finish(&mut self, _: &Summary) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `atrest rewrite`.
pub fn run_rewrite(args: RewriteArgs, ui: Ui) -> Result<Exit, Failure> {
    if args.source.snapshot.is_some() {
        return Err(Failure::usage(anyhow!(
            "rewrite needs a live etcd (--endpoints): it verifies its writes there; a snapshot \
             can only be scanned"
        )));
    }
    if !(args.qps >= 0.0 && args.qps.is_finite()) {
        return Err(Failure::usage(anyhow!("--qps must be 0 (no limit) or a positive number")));
    }
    let config = super::load_config(&args.encryption_config)?;
    let config_sha256 = config.1.sha256_hex().to_owned();
    // The API server is asked first: bad credentials should not cost a full scan.
    let api_rt = super::runtime(2)?;
    let api = api_rt
        .block_on(ApiClient::connect(args.kubeconfig.as_deref(), args.context.as_deref()))
        .map_err(|e| match e {
            ApiError::Credentials { .. } | ApiError::Config(_) => Failure::usage(e.into()),
            other => Failure::source(other.into()),
        })?;
    let mut session = super::open_session(
        SessionOptions {
            source: args.source.spec()?,
            encryption_config: Some(config),
            prefix: args.prefix.clone(),
            kube_version: args.kube_version.clone(),
            rev: None,
            filter: Filter { resources: args.resources.clone(), namespace: args.namespace.clone() },
            kubeconfig: None,
        },
        ui,
    )?;
    let mut planning = Planning::default();
    super::progress::scan(&mut session, false, &mut planning, ui).map_err(super::scan_failure)?;
    let reader =
        session.reader().ok_or_else(|| Failure::usage(anyhow!("rewrite needs a live etcd")))?;
    let run = Run { args: &args, ui, api: &api, rt: &api_rt, config_sha256 };
    run.after_scan(&session.judge(), &reader, planning.plan, &planning.header)
}

struct Run<'r> {
    args: &'r RewriteArgs,
    ui: Ui,
    api: &'r ApiClient,
    rt: &'r tokio::runtime::Runtime,
    config_sha256: String,
}

impl Run<'_> {
    fn after_scan(
        &self,
        judge: &Judge<'_>,
        reader: &KeyReader,
        plan: Plan,
        header: &Header,
    ) -> Result<Exit, Failure> {
        let warnings = plan.warnings(&self.api.discovery);
        let format = self.args.output.unwrap_or(if io::stdout().is_terminal() {
            RewriteFormat::Table
        } else {
            RewriteFormat::Json
        });
        let mut out = BufWriter::new(io::stdout().lock());
        let written = |r: io::Result<()>| r.context("writing the report").map_err(Failure::source);
        if self.args.dry_run {
            written(match format {
                RewriteFormat::Table => report::plan_table(&mut out, &plan, &warnings),
                RewriteFormat::Json => report::plan_json(&mut out, header, &plan, &warnings),
            })?;
            written(out.flush())?;
            return Ok(Exit::Ok);
        }
        if !self.ui.quiet {
            for w in &warnings {
                eprintln!("atrest: warning: {w}");
            }
        }
        let stop = Arc::new(Stop::default());
        let _ctrl_c = self.rt.spawn(watch_ctrl_c(stop.clone(), self.ui));
        let engine = Engine::new(
            self.api,
            judge,
            reader,
            self.args.concurrency as usize,
            self.args.qps,
            stop.clone(),
        );
        let journal = self.args.journal.as_deref().map(|path| {
            let header = JournalHeader {
                atrest_journal: 1,
                prefix: header.prefix.clone(),
                encryption_config_sha256: self.config_sha256.clone(),
            };
            (path, header)
        });
        let bar = std::cell::OnceCell::new();
        let repaired = self.rt.block_on(repair(
            &engine,
            judge,
            reader,
            &plan,
            journal,
            |n| {
                let _ = bar.set(self.progress(n));
            },
            || {
                if let Some(Some(bar)) = bar.get() {
                    bar.inc(1);
                }
            },
        ));
        if let Some(Some(bar)) = bar.get() {
            bar.finish_and_clear();
        }
        let Repaired { done, counts, verified } = repaired.map_err(|e| match e {
            RepairError::JournalOpen(_) | RepairError::Denied(_) => Failure::usage(e.into()),
            other => Failure::source(other.into()),
        })?;
        tracing::info!(?counts, "rewrite finished");
        let finished = Finished {
            header,
            plan: &plan,
            warnings: &warnings,
            done: &done,
            verified: &verified,
            counts: &counts,
        };
        written(match format {
            RewriteFormat::Table => report::outcome_table(&mut out, &finished),
            RewriteFormat::Json => report::outcome_json(&mut out, &finished),
        })?;
        written(out.flush())?;
        Ok(if stop.is_stopped() {
            Exit::Interrupted
        } else if counts.still_stale > 0 {
            Exit::StillStale
        } else {
            Exit::Ok
        })
    }

    fn progress(&self, total: u64) -> Option<ProgressBar> {
        if total == 0 {
            return None;
        }
        let bar = self.ui.progress()?;
        super::progress::set_total(&bar, total, "objects rewritten");
        Some(bar)
    }
}

/// First Ctrl-C: stop after the requests in flight. Second: leave now.
async fn watch_ctrl_c(stop: Arc<Stop>, ui: Ui) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    stop.stop();
    if !ui.quiet {
        eprintln!("atrest: stopping after the requests in flight (Ctrl-C again to quit now)");
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}
