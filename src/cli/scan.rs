//! `atrest scan`: low args → plan (config opened, source opened, prefix chosen) → scan →
//! exit code.

use std::io::{self, BufWriter, IsTerminal, Write};

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::progress::{ProgressSink, Ui};
use super::{FailOn, OutputFormat, ScanArgs, has_kms};
use crate::exit::{Exit, Failure};
use atrest::codec::rfc3339_from_unix;
use atrest::config::EncryptionConfig;
use atrest::envelope::kms::KmsPlugin;
use atrest::envelope::kms_plugin::{GrpcKms, PluginStatus};
use atrest::history::History;
use atrest::keyspace::normalize_prefix;
use atrest::policy::{Policy, PolicySink};
use atrest::report::html::HtmlSink;
use atrest::report::json::{JsonSink, JsonlSink, YamlSink};
use atrest::report::prometheus::{MetricsFile, PrometheusSink, Tee};
use atrest::report::table::{DEFAULT_FINDINGS, TableSink};
use atrest::report::{Header, ReportSink, Summary};
use atrest::scan::{Extras, ScanError, detect_prefix, scan_live};
use atrest::source::live::{KeyReader, LiveSource};
use atrest::verdict::{Filter, Judge, Versions};

/// Runs `atrest scan` and returns the exit code.
pub fn run_scan(args: ScanArgs, ui: Ui) -> Result<Exit, Failure> {
    let started = Instant::now();
    let config = match &args.encryption_config {
        Some(path) => Some(EncryptionConfig::load(path).map_err(|e| Failure::usage(e.into()))?),
        None => None,
    };
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
    let config_info = config
        .as_ref()
        .zip(args.encryption_config.as_ref())
        .map(|(c, p)| (p.display().to_string(), c.sha256_hex().to_owned()));
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
    let result = scan_into(&args, config.as_ref(), config_info, &filter, ui, &mut checked, None);
    let summary = match result {
        Ok(s) => s,
        Err(Failure { error, .. })
            if error.downcast_ref::<ScanError>().is_some_and(
                |e| matches!(e, ScanError::Output(io) if io.kind() == io::ErrorKind::BrokenPipe),
            ) =>
        {
            return Ok(Exit::Ok);
        }
        Err(f) => return Err(f),
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

/// What a live scan hands to the work that follows it (`rewrite`), while its judge, runtime and
/// etcd connection are alive.
pub(super) struct Followup<'f> {
    /// The judge the scan used (same config, KMS plugins, storage versions, filters).
    pub judge: &'f Judge<'f>,
    /// Point reads on the scan's etcd connection.
    pub reader: KeyReader,
}

/// Work to run after a live scan finished; see [`Followup`].
pub(super) type Then<'t> = &'t dyn Fn(Followup<'_>) -> Result<(), Failure>;

/// Runs one scan of `args`' source into `sink` (KMS plugins connected, progress shown), then
/// `then` (live sources only).
pub(super) fn scan_into(
    args: &ScanArgs,
    config: Option<&EncryptionConfig>,
    config_info: Option<(String, String)>,
    filter: &Filter,
    ui: Ui,
    sink: &mut dyn ReportSink,
    then: Option<Then<'_>>,
) -> Result<Summary, Failure> {
    let rt = super::runtime(1)?;
    // KMS plugins are asked for their Status once, before any object is read.
    let kms = config.filter(|c| has_kms(c)).map(|c| GrpcKms::connect(c, rt.handle()));
    let kms_statuses = kms.as_ref().map(GrpcKms::statuses).unwrap_or_default();
    for s in kms_statuses.iter().filter(|s| s.error.is_some()) {
        if !ui.quiet {
            eprintln!(
                "atrest: warning: KMS plugin {} at {}: {}; its objects will be unreadable",
                s.name,
                s.endpoint,
                s.error.as_deref().unwrap_or_default()
            );
        }
    }
    let server = args.kubeconfig.as_deref().map(|path| {
        rt.block_on(atrest::discovery::fetch(path, args.context.as_deref())).map_err(|e| {
            if !ui.quiet {
                eprintln!("atrest: warning: no discovery cross-check: {e}");
            }
            e.to_string()
        })
    });
    let bar = ui.progress();
    let mut progress = ProgressSink::new(sink, bar.clone());
    let plan = Plan {
        args,
        config,
        config_info,
        filter,
        kms: kms
            .as_ref()
            .map_or(&atrest::verdict::NO_KMS as &dyn KmsPlugin, |k| k as &dyn KmsPlugin),
        kms_statuses,
        rt: &rt,
        server,
        bar,
        then,
        ui,
    };
    let result = match &args.source.snapshot {
        Some(path) => super::snapshot::scan(&plan, path, &mut progress),
        None => scan_etcd(&plan, &mut progress),
    };
    progress.done();
    result
}

/// What every source needs to run a scan.
pub(super) struct Plan<'a> {
    pub args: &'a ScanArgs,
    pub config: Option<&'a EncryptionConfig>,
    pub config_info: Option<(String, String)>,
    pub filter: &'a Filter,
    /// KMS plugins for decryption.
    pub kms: &'a dyn KmsPlugin,
    /// What the KMS plugins said at connect, for the report header.
    pub kms_statuses: Vec<PluginStatus>,
    /// The runtime for etcd and KMS gRPC.
    pub rt: &'a tokio::runtime::Runtime,
    /// `--kubeconfig`: discovery read before the scan.
    pub server: Option<Result<atrest::discovery::ServerDiscovery, String>>,
    /// The progress bar, to set its total when the source can count cheaply.
    pub bar: Option<indicatif::ProgressBar>,
    /// Work after a live scan.
    pub then: Option<Then<'a>>,
    /// `-q`: no warnings on stderr.
    pub ui: Ui,
}

impl Plan<'_> {
    pub fn judge<'p>(&'p self, prefix: &'p str, versions: Option<&'p Versions>) -> Judge<'p> {
        Judge {
            prefix: prefix.as_bytes(),
            config: self.config,
            filter: self.filter,
            kms: self.kms,
            versions,
        }
    }
}

fn scan_etcd(plan: &Plan<'_>, sink: &mut dyn ReportSink) -> Result<Summary, Failure> {
    let args = plan.args;
    let opts = super::live_options(&args.source)?;
    let rt = plan.rt;
    let mut source =
        rt.block_on(LiveSource::connect(opts)).map_err(|e| Failure::source(e.into()))?;
    let prefix = match &args.prefix {
        Some(p) => normalize_prefix(p),
        None => rt.block_on(detect_prefix(&mut source)).map_err(scan_failure)?,
    };
    let basis = {
        let judge = plan.judge(&prefix, None);
        super::versions::plan(&judge, &prefix, args.kube_version.as_deref(), &mut |p, tx| {
            Ok(rt.block_on(source.scan(&p, args.rev, tx))?)
        })
        .map_err(scan_failure)?
    };
    let header = Header {
        source_kind: "etcd",
        endpoints: args.source.endpoints.clone(),
        path: None,
        revision: 0,
        prefix: prefix.clone(),
        compacted_revision: None,
        integrity: None,
        backend: None,
        kms: plan.kms_statuses.clone(),
        kube_version: Some((basis.versions.minor, basis.basis.clone())),
        encryption_config: plan.config_info.clone(),
        source_warnings: Vec::new(),
        config_warnings: plan.config.map(EncryptionConfig::warnings).unwrap_or_default(),
    };
    if let Some(bar) = &plan.bar {
        // A count-only range costs etcd an index walk, no values.
        if let Ok(total) = rt.block_on(source.count(prefix.as_bytes())) {
            super::progress::set_total(bar, u64::try_from(total).unwrap_or(0), "keys");
        }
    }
    let judge = plan.judge(&prefix, Some(&basis.versions));
    let mut rev = args.rev;
    let mut history = None;
    if args.history {
        // History and scan must describe the same revision, so pin it now.
        let until = match rev {
            Some(r) => r,
            None => {
                rt.block_on(source.current_revision()).map_err(|e| Failure::source(e.into()))?
            }
        };
        rev = Some(until);
        let mut h = History::default();
        rt.block_on(
            source.history(prefix.as_bytes(), until, &mut |kv| h.add_superseded(&judge, &kv)),
        )
        .map_err(|e| Failure::source(e.into()))?;
        history = Some(h);
    }
    let extras = Extras { history, server: plan.server.clone() };
    let reader = source.reader();
    let summary = scan_live(rt, source, rev, &judge, header, extras, sink).map_err(scan_failure)?;
    if let Some(then) = plan.then {
        then(Followup { judge: &judge, reader })?;
    }
    Ok(summary)
}

pub(super) fn scan_failure(e: ScanError) -> Failure {
    match e {
        ScanError::Usage(_) => Failure::usage(e.into()),
        other => Failure::source(other.into()),
    }
}
