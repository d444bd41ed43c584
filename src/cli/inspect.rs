//! `atrest inspect SOURCE KEY`: every layer of one stored object (the hexdump replacement), and
//! `--list PREFIX`: keys with provider, key and apiVersion, one per line.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::SourceArgs;
use super::progress::Ui;
use crate::exit::{Exit, Failure};
use atrest::inspect::render::{self, RawOptions};
use atrest::inspect::{Inspector, Reveal};
use atrest::scan::{SessionOptions, prefix};
use atrest::verdict::{Filter, Status};

/// `atrest inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
    /// The etcd key (e.g. /registry/secrets/default/db); with --list, a key prefix.
    #[arg(value_name = "KEY")]
    pub etcd_key: String,
    /// The cluster's EncryptionConfiguration; without it, encrypted values are only identified.
    #[arg(long)]
    pub encryption_config: Option<PathBuf>,
    /// yaml (default): the layers as a header, then the object; json: one document with every
    /// layer and the object; raw: `hexdump -C` of the stored value with the layers marked.
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    pub output: InspectFormat,
    /// Print Secret data (and --redact fields) as they are. A warning goes to stderr.
    #[arg(long)]
    pub reveal: bool,
    /// With -o raw: dump the decrypted payload instead of the stored bytes.
    #[arg(long)]
    pub decrypted: bool,
    /// Also redact this top-level field of the object (e.g. data, for ConfigMaps); repeatable.
    #[arg(long, value_name = "FIELD")]
    pub redact: Vec<String>,
    /// List the keys under KEY (a prefix) with provider, key name, apiVersion and status.
    #[arg(long)]
    pub list: bool,
    /// Read at this etcd revision.
    #[arg(long)]
    pub rev: Option<i64>,
    /// kube-apiserver's --etcd-prefix (default: /registry or /kubernetes.io, from the key).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Kubernetes release for the expected storage version (default: from Node objects).
    #[arg(long, value_name = "1.NN")]
    pub kube_version: Option<String>,
}

/// `inspect -o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InspectFormat {
    /// Layers as a header, then the object as YAML.
    Yaml,
    /// One JSON document.
    Json,
    /// hexdump -C of the value, layers marked.
    Raw,
}

/// Runs `atrest inspect`.
pub fn run_inspect(args: InspectArgs, ui: Ui) -> Result<Exit, Failure> {
    let config = args.encryption_config.as_deref().map(super::load_config).transpose()?;
    let prefix = match &args.prefix {
        Some(p) => p.clone(),
        None => prefix::of_key(&args.etcd_key).map_err(|e| Failure::usage(e.into()))?,
    };
    if args.reveal && !ui.quiet {
        eprintln!("atrest: warning: --reveal prints secret values; mind your terminal and logs");
    }
    let mut session = super::open_session(
        SessionOptions {
            source: args.source.spec()?,
            encryption_config: config,
            prefix: Some(prefix),
            kube_version: args.kube_version.clone(),
            rev: args.rev,
            filter: Filter::default(),
            kubeconfig: None,
        },
        ui,
    )?;
    let key = args.etcd_key.as_bytes();
    let mut out = BufWriter::new(io::stdout().lock());
    if args.list {
        let kvs = session.list(key).map_err(super::scan_failure)?;
        let judge = session.judge();
        for kv in kvs {
            written(render::list_line(&mut out, &judge.judge(kv)))?;
        }
        written(out.flush())?;
        return Ok(Exit::Ok);
    }
    let (found, revision, ttl) = session.get(key).map_err(super::scan_failure)?;
    let Some(kv) = found else {
        eprintln!("atrest: {} not found at revision {revision}", args.etcd_key);
        return Ok(Exit::Findings);
    };
    let judge = session.judge();
    let reveal = if args.reveal { Reveal::Yes } else { Reveal::No };
    let inspector = Inspector { judge: &judge, redact_fields: &args.redact, reveal };
    let (ins, opened) = inspector.inspect(&kv, revision, ttl);
    match args.output {
        InspectFormat::Json => {
            written(serde_json::to_writer_pretty(&mut out, &ins).map_err(io::Error::other))?;
            written(out.write_all(b"\n"))?;
        }
        InspectFormat::Yaml => written(render::yaml(&mut out, &ins))?,
        InspectFormat::Raw => {
            let opts = RawOptions { decrypted: args.decrypted, reveal: args.reveal };
            let opened = opened.as_ref().map_err(|e| e as &dyn std::fmt::Display);
            written(render::raw(&mut out, &kv, &ins, opened, opts))?;
        }
    }
    written(out.flush())?;
    Ok(if ins.status == Status::Unreadable.as_str() { Exit::Findings } else { Exit::Ok })
}

fn written(r: io::Result<()>) -> Result<(), Failure> {
    r.context("writing the output").map_err(Failure::source)
}
