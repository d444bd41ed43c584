//! `atrest check SOURCE can-remove-key PROVIDER:KEYNAME | can-remove-version GROUP/RESOURCE V`:
//! a scan that answers one question with its exit code (0 yes, 1 no), for runbooks and CI.

use std::io;

use clap::{Args, Subcommand};

use super::progress::Ui;
use super::{FailOn, ScanArgs, SourceArgs};
use crate::exit::{Exit, Failure};
use atrest::config::EncryptionConfig;
use atrest::policy::Policy;
use atrest::report::{Header, ReportSink, Summary};
use atrest::verdict::{Filter, Record, Status};

/// Keys listed when the answer is no.
const LISTED: usize = 20;

/// `atrest check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
    /// The cluster's EncryptionConfiguration.
    #[arg(long)]
    pub encryption_config: Option<std::path::PathBuf>,
    /// kube-apiserver's --etcd-prefix (default: detect).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Kubernetes release for built-in storage versions (default: from Node objects).
    #[arg(long, value_name = "1.NN")]
    pub kube_version: Option<String>,
    /// Check at this etcd revision.
    #[arg(long)]
    pub rev: Option<i64>,
    /// The question.
    #[command(subcommand)]
    pub question: Question,
}

/// What `check` answers.
#[derive(Debug, Subcommand)]
pub enum Question {
    /// Can this key be removed from the EncryptionConfiguration? Yes only when no object is
    /// encrypted with it and no unreadable object might be.
    CanRemoveKey {
        /// `aescbc:key1`, `secretbox:box-2`, `kms:<provider name>`.
        key: String,
    },
    /// Can this version be dropped (from a CRD's spec.versions / status.storedVersions)? Yes only
    /// when no object of the resource is stored at it and none is unreadable.
    CanRemoveVersion {
        /// `GROUP/RESOURCE`, e.g. `example.com/selfierequests`, `autoscaling/horizontalpodautoscalers`, `core/pods`.
        resource: String,
        /// The version, e.g. `v1`.
        #[arg(value_name = "VERSION")]
        api_version: String,
    },
}

/// Counts what blocks the removal.
struct Check {
    matches: fn(&Question, &Record) -> Blocking,
    question: Question,
    blocking: u64,
    uncertain: u64,
    keys: Vec<String>,
}

enum Blocking {
    No,
    Yes,
    Maybe,
}

fn key_blocks(q: &Question, rec: &Record) -> Blocking {
    let Question::CanRemoveKey { key } = q else { return Blocking::No };
    let Some((provider, name)) = Policy::parse_key(key) else { return Blocking::No };
    if rec.status == Status::Skipped {
        return Blocking::No;
    }
    match &rec.encryption {
        Some(e)
            if e.provider.as_str() == provider && e.key_name.as_deref() == Some(name.as_str()) =>
        {
            Blocking::Yes
        }
        // The prefix names another key: this object does not depend on ours.
        Some(e) if e.key_name.is_some() || e.provider.as_str() == "identity" => Blocking::No,
        _ if rec.status == Status::Unreadable => Blocking::Maybe,
        _ => Blocking::No,
    }
}

fn version_blocks(q: &Question, rec: &Record) -> Blocking {
    let Question::CanRemoveVersion { resource, api_version: version } = q else {
        return Blocking::No;
    };
    let (group, res) = split_resource(resource);
    if rec.status == Status::Skipped || rec.info.group != group || rec.info.resource != res {
        return Blocking::No;
    }
    let api_version = if group.is_empty() { version.clone() } else { format!("{group}/{version}") };
    match rec.facts.api_version.as_deref() {
        Some(v) if v == api_version => Blocking::Yes,
        _ if rec.status == Status::Unreadable => Blocking::Maybe,
        _ => Blocking::No,
    }
}

fn split_resource(s: &str) -> (&str, &str) {
    match s.split_once('/') {
        Some(("core" | "", r)) => ("", r),
        Some((g, r)) => (g, r),
        None => ("", s),
    }
}

impl ReportSink for Check {
    fn begin(&mut self, _: &Header) -> io::Result<()> {
        Ok(())
    }

    fn record(&mut self, rec: &Record) -> io::Result<()> {
        match (self.matches)(&self.question, rec) {
            Blocking::No => {}
            Blocking::Yes => {
                self.blocking += 1;
                if self.keys.len() < LISTED {
                    self.keys.push(String::from_utf8_lossy(&rec.key).into_owned());
                }
            }
            Blocking::Maybe => self.uncertain += 1,
        }
        Ok(())
    }

    fn finish(&mut self, _: &Summary) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `atrest check`.
pub fn run_check(args: CheckArgs, ui: Ui) -> Result<Exit, Failure> {
    if let Question::CanRemoveKey { key } = &args.question
        && Policy::parse_key(key).is_none()
    {
        return Err(Failure::usage(anyhow::anyhow!(
            "{key}: expected PROVIDER:KEYNAME, e.g. aescbc:key1"
        )));
    }
    let config = match &args.encryption_config {
        Some(path) => Some(EncryptionConfig::load(path).map_err(|e| Failure::usage(e.into()))?),
        None => None,
    };
    let scan = ScanArgs {
        source: args.source,
        encryption_config: args.encryption_config,
        prefix: args.prefix,
        output: None,
        fail_on: FailOn::Never,
        resources: Vec::new(),
        namespace: None,
        kube_version: args.kube_version,
        kubeconfig: None,
        context: None,
        rev: args.rev,
        all: false,
        history: false,
        metrics_file: None,
        require_encrypted: Vec::new(),
        forbid_key: Vec::new(),
    };
    let matches = match args.question {
        Question::CanRemoveKey { .. } => key_blocks,
        Question::CanRemoveVersion { .. } => version_blocks,
    };
    let mut check =
        Check { matches, question: args.question, blocking: 0, uncertain: 0, keys: Vec::new() };
    let config_info = None;
    let summary = super::scan::scan_into(
        &scan,
        config.as_ref(),
        config_info,
        &Filter::default(),
        ui,
        &mut check,
        None,
    )?;
    let what = match &check.question {
        Question::CanRemoveKey { key } => format!("key {key}"),
        Question::CanRemoveVersion { resource, api_version: version } => {
            format!("version {version} of {resource}")
        }
    };
    if check.blocking > 0 || check.uncertain > 0 {
        println!("no: the {what} cannot be removed yet");
        if check.blocking > 0 {
            println!(
                "{} objects still use it{}:",
                check.blocking,
                if check.blocking > LISTED as u64 {
                    format!(" (first {LISTED})")
                } else {
                    String::new()
                }
            );
            for k in &check.keys {
                println!("  {k}");
            }
        }
        if check.uncertain > 0 {
            println!("{} unreadable objects might use it (see `atrest scan`)", check.uncertain);
        }
        return Ok(Exit::Findings);
    }
    println!("yes: no object under the prefix uses the {what} ({} keys checked)", summary.keys);
    if let Question::CanRemoveVersion { resource, api_version: version } = &check.question {
        let (group, plural) = split_resource(resource);
        let name = format!("{plural}.{group}");
        if let Some(crd) = summary.crds.iter().find(|c| c.name == name) {
            let keep: Vec<&String> = crd.stored_versions.iter().filter(|v| *v != version).collect();
            if crd.stored_versions.contains(version) && !keep.is_empty() {
                let list = keep.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(",");
                println!("status.storedVersions of {name} still lists {version}; trim it with:");
                println!(
                    "  kubectl patch customresourcedefinitions {name} --subresource=status --type=merge -p '{{\"status\":{{\"storedVersions\":[{list}]}}}}'"
                );
            }
        }
    }
    Ok(Exit::Ok)
}
