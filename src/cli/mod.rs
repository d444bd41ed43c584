//! Command line: clap structs spelled as in shared/docs/cli-contract.md (etcdctl's flags for the
//! source), turned into the library's session options; each command opens a session, picks its
//! sinks and maps the outcome to an exit code. The only place (with main.rs) that uses anyhow.

mod check;
mod diff;
mod inspect;
mod progress;
mod rewrite;
mod scan;

use std::path::{Path, PathBuf};
use std::time::Duration;

use atrest::config::EncryptionConfig;
use atrest::scan::{ScanError, Session, SessionOptions};
use atrest::source::SourceSpec;
use atrest::source::live::LiveOptions;
use atrest::source::snapshot::HashCheck;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::Failure;

pub use check::run_check;
pub use diff::run_diff;
pub use inspect::run_inspect;
pub use progress::Ui;
pub use rewrite::run_rewrite;
pub use scan::run_scan;

/// Audit Kubernetes data at rest in etcd: which key encrypts each object, and is it stale.
#[derive(Debug, Parser)]
#[command(name = "atrest", version, about, propagate_version = true)]
pub struct Cli {
    /// No progress bar and no warnings on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log what atrest does to stderr (-v info, -vv debug); never keys or payloads.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan every key under the Kubernetes prefix and report provider, key, apiVersion and verdict.
    Scan(Box<ScanArgs>),
    /// Compare two scan reports (-o json or -o jsonl): what moved, appeared, disappeared or
    /// regressed.
    Diff(diff::DiffArgs),
    /// Answer one question with the exit code: can-remove-key PROVIDER:KEYNAME,
    /// can-remove-version GROUP/RESOURCE VERSION.
    Check(Box<check::CheckArgs>),
    /// Rewrite only the stale objects through the API server (no-op server-side apply with uid
    /// and resourceVersion preconditions), then verify in etcd that they moved.
    Rewrite(Box<rewrite::RewriteArgs>),
    /// Every layer of one key (etcd metadata, envelope, payload, the whole object), or
    /// `--list` the keys under a prefix.
    Inspect(Box<inspect::InspectArgs>),
}

/// A multi-thread tokio runtime with `workers` threads (API I/O for `rewrite`).
fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, Failure> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(Failure::source)
}

/// `--encryption-config FILE`, read strictly (exit 2 if kube-apiserver would refuse it).
fn load_config(path: &Path) -> Result<(PathBuf, EncryptionConfig), Failure> {
    let config = EncryptionConfig::load(path).map_err(|e| Failure::usage(e.into()))?;
    Ok((path.to_owned(), config))
}

/// Opens a session; warnings go to stderr unless `-q`.
fn open_session(opts: SessionOptions, ui: Ui) -> Result<Session, Failure> {
    let warn = |w: &str| {
        if !ui.quiet {
            eprintln!("atrest: warning: {w}");
        }
    };
    Session::open(opts, &warn).map_err(scan_failure)
}

/// The exit code of a scan error: 2 when the user must say more, 3 for the source.
fn scan_failure(e: ScanError) -> Failure {
    match e {
        ScanError::Prefix(_) | ScanError::Release(_) => Failure::usage(e.into()),
        other => Failure::source(other.into()),
    }
}

impl SourceArgs {
    /// etcdctl's flags, or `--snapshot`, as the library's source.
    fn spec(&self) -> Result<SourceSpec, Failure> {
        if let Some(path) = &self.snapshot {
            let check = if self.skip_hash_check { HashCheck::Skip } else { HashCheck::Enforce };
            return Ok(SourceSpec::Snapshot { path: path.clone(), check });
        }
        let user = match (&self.user, &self.password) {
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
        Ok(SourceSpec::Live(LiveOptions {
            endpoints: self.endpoints.clone(),
            cacert: self.cacert.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            user,
            dial_timeout: self.dial_timeout,
            command_timeout: self.command_timeout,
        }))
    }
}

/// Where the data comes from: a live etcd, with etcdctl's flags and environment.
#[derive(Clone, Debug, Args)]
pub struct SourceArgs {
    /// etcd endpoints, comma-separated.
    #[arg(
        long,
        env = "ETCDCTL_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,
    /// Verify the etcd server's certificate with this CA bundle.
    #[arg(long, env = "ETCDCTL_CACERT")]
    pub cacert: Option<PathBuf>,
    /// Client certificate for TLS client authentication.
    #[arg(long, env = "ETCDCTL_CERT")]
    pub cert: Option<PathBuf>,
    /// Client key for TLS client authentication.
    #[arg(long, env = "ETCDCTL_KEY")]
    pub key: Option<PathBuf>,
    /// etcd user, as name:password (or name, with --password).
    #[arg(long, env = "ETCDCTL_USER")]
    pub user: Option<String>,
    /// Password for --user.
    #[arg(long, env = "ETCDCTL_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Read this `etcdctl snapshot save` file (or a member's `member/snap/db`) instead of a live
    /// etcd. Opened read-only.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Read a --snapshot whose sha256 trailer does not match (a damaged or altered file),
    /// with a warning, instead of refusing it with exit 3 (as `etcdutl snapshot restore`).
    #[arg(long, requires = "snapshot")]
    pub skip_hash_check: bool,
    /// Timeout for connecting to etcd (e.g. 2s, 500ms).
    #[arg(long, env = "ETCDCTL_DIAL_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub dial_timeout: Duration,
    /// Timeout for each etcd request.
    #[arg(long, env = "ETCDCTL_COMMAND_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub command_timeout: Duration,
}

/// `atrest scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
    /// The cluster's EncryptionConfiguration (kube-apiserver --encryption-provider-config).
    /// Without it, envelopes are identified from their prefix but not decrypted.
    #[arg(long)]
    pub encryption_config: Option<PathBuf>,
    /// kube-apiserver's --etcd-prefix (default: detect /registry or /kubernetes.io).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Output format (default: table on a terminal, json otherwise).
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
    /// Exit 1 when findings at or above this level exist.
    #[arg(long, value_enum, default_value = "stale")]
    pub fail_on: FailOn,
    /// Only this resource (`secrets`, `deployments.apps`, `widgets.example.com`); repeatable.
    /// Other keys are reported as skipped.
    #[arg(long = "resource")]
    pub resources: Vec<String>,
    /// Only objects in this namespace; other keys are reported as skipped.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Judge built-in storage versions as kube-apiserver 1.NN writes them (default: the newest
    /// kubelet version in the Node objects, else the newest release atrest knows).
    #[arg(long, value_name = "1.NN")]
    pub kube_version: Option<String>,
    /// Cross-check the storage versions with the live API server's discovery
    /// (storageVersionHash) through this kubeconfig.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, requires = "kubeconfig")]
    pub context: Option<String>,
    /// Scan at this etcd revision instead of the current one (no restart if it is compacted).
    #[arg(long)]
    pub rev: Option<i64>,
    /// Table: show every finding, not just the first 50.
    #[arg(long)]
    pub all: bool,
    /// Also examine every retained revision: how many superseded values (plaintext, or under a
    /// retired key) etcd's history still holds, and what removes them. Snapshot: reads every
    /// revision in the file. Live: replays all history since the last compaction through one
    /// watch (as much data as the history itself), and pins the scan to the revision it read.
    #[arg(long)]
    pub history: bool,
    /// Also write the scan as Prometheus text to this file, atomically (for node-exporter's
    /// textfile collector); only when the scan finishes.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// Exit 1 if any object of these resources is stored in plaintext (e.g. secrets,configmaps).
    #[arg(long, value_name = "RESOURCE,...", value_delimiter = ',')]
    pub require_encrypted: Vec<String>,
    /// Exit 1 if any object is still encrypted with this key (e.g. aescbc:key1); repeatable.
    #[arg(long, value_name = "PROVIDER:KEYNAME")]
    pub forbid_key: Vec<String>,
}

/// `-o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Summary and findings for people.
    Table,
    /// One atrest/v1 JSON document.
    Json,
    /// One record per line, then a summary line.
    Jsonl,
    /// The JSON document as YAML.
    Yaml,
    /// Prometheus text exposition (node-exporter textfile collector).
    Prometheus,
    /// One self-contained HTML audit report.
    Html,
}

/// `--fail-on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Stale or unreadable objects fail.
    Stale,
    /// Only unreadable objects fail.
    Unreadable,
    /// Never fail on findings.
    Never,
}

/// "2s", "500ms", "1m", "1h", or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?} (e.g. 2s, 500ms)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?} (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("2x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
