//! `atrest check SOURCE can-remove-key PROVIDER:KEYNAME | can-remove-version GROUP/RESOURCE V`:
//! a scan that answers one question with its exit code (0 yes, 1 no), for runbooks and CI.

use clap::{Args, Subcommand};

use super::SourceArgs;
use super::progress::Ui;
use crate::exit::{Exit, Failure};
use atrest::check::{Blockers, LISTED, Removal};
use atrest::scan::SessionOptions;
use atrest::verdict::Filter;

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

/// Runs `atrest check`.
pub fn run_check(args: CheckArgs, ui: Ui) -> Result<Exit, Failure> {
    let removal = match &args.question {
        Question::CanRemoveKey { key } => {
            Removal::key(key).map_err(|e| Failure::usage(e.into()))?
        }
        Question::CanRemoveVersion { resource, api_version } => {
            Removal::version(resource, api_version)
        }
    };
    let config = args.encryption_config.as_deref().map(super::load_config).transpose()?;
    let mut session = super::open_session(
        SessionOptions {
            source: args.source.spec()?,
            encryption_config: config,
            prefix: args.prefix,
            kube_version: args.kube_version,
            rev: args.rev,
            filter: Filter::default(),
            kubeconfig: None,
        },
        ui,
    )?;
    let mut blockers = Blockers::new(removal);
    let summary = super::progress::scan(&mut session, false, &mut blockers, ui)
        .map_err(super::scan_failure)?;
    let what = blockers.removal.describe();
    if !blockers.safe() {
        println!("no: the {what} cannot be removed yet");
        if blockers.blocking > 0 {
            println!(
                "{} objects still use it{}:",
                blockers.blocking,
                if blockers.blocking > LISTED as u64 {
                    format!(" (first {LISTED})")
                } else {
                    String::new()
                }
            );
            for k in &blockers.keys {
                println!("  {k}");
            }
        }
        if blockers.uncertain > 0 {
            println!("{} unreadable objects might use it (see `atrest scan`)", blockers.uncertain);
        }
        return Ok(Exit::Findings);
    }
    println!("yes: no object under the prefix uses the {what} ({} keys checked)", summary.keys);
    if let (Some((name, keep)), Removal::Version { version, .. }) =
        (blockers.removal.stored_versions_to_keep(&summary), &blockers.removal)
    {
        let list = keep.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(",");
        println!("status.storedVersions of {name} still lists {version}; trim it with:");
        println!(
            "  kubectl patch customresourcedefinitions {name} --subresource=status --type=merge -p '{{\"status\":{{\"storedVersions\":[{list}]}}}}'"
        );
    }
    Ok(Exit::Ok)
}
