//! `atrest inspect SOURCE KEY`: every layer of one stored object (the hexdump replacement), and
//! `--list PREFIX`: keys with provider, key and apiVersion, one per line.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};

use super::progress::Ui;
use super::scan::scan_failure;
use super::snapshot::Trailer;
use super::{SourceArgs, has_kms, live_options};
use crate::exit::{Exit, Failure};
use atrest::config::EncryptionConfig;
use atrest::envelope::kms::KmsPlugin;
use atrest::envelope::kms_plugin::GrpcKms;
use atrest::inspect::hexdump::hexdump;
use atrest::inspect::redact::placeholder;
use atrest::inspect::{Inspection, Inspector, OpenedValue, Reveal, payload_regions, value_regions};
use atrest::keyspace::normalize_prefix;
use atrest::scan::{KNOWN_PREFIXES, ScanError, collect};
use atrest::source::RawKv;
use atrest::source::live::LiveSource;
use atrest::verdict::{Filter, Judge, Status};

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
    let config = match &args.encryption_config {
        Some(p) => Some(EncryptionConfig::load(p).map_err(|e| Failure::usage(e.into()))?),
        None => None,
    };
    let prefix = match &args.prefix {
        Some(p) => normalize_prefix(p),
        None => KNOWN_PREFIXES
            .iter()
            .find(|p| args.etcd_key.starts_with(*p) || format!("{}/", args.etcd_key) == **p)
            .map(|p| (*p).to_owned())
            .ok_or_else(|| {
                Failure::usage(anyhow!(
                    "{} is not under {}: pass --prefix (kube-apiserver's --etcd-prefix)",
                    args.etcd_key,
                    KNOWN_PREFIXES.join(" or ")
                ))
            })?,
    };
    if args.reveal && !ui.quiet {
        eprintln!("atrest: warning: --reveal prints secret values; mind your terminal and logs");
    }
    let rt = super::runtime(1)?;
    let kms = config.as_ref().filter(|c| has_kms(c)).map(|c| GrpcKms::connect(c, rt.handle()));
    let kms_ref = kms.as_ref().map_or(&atrest::verdict::NO_KMS as &dyn KmsPlugin, |k| k as _);
    let filter = Filter::default();
    let judge_for = |versions| Judge {
        prefix: prefix.as_bytes(),
        config: config.as_ref(),
        filter: &filter,
        kms: kms_ref,
        versions,
    };
    let key = args.etcd_key.as_bytes().to_vec();
    let mut out = BufWriter::new(io::stdout().lock());
    let written = |r: io::Result<()>| r.context("writing the output").map_err(Failure::source);
    if let Some(path) = &args.source.snapshot {
        let check = super::hash_check(&args.source);
        let snap = super::snapshot::open(path, check)?;
        return std::thread::scope(|scope| {
            let trailer = Trailer::spawn(scope, &snap, path, check, ui.quiet);
            let shown = (|| {
                let index =
                    snap.index(prefix.as_bytes(), args.rev).map_err(|e| source_err(e.into()))?;
                let read = |sub: &[u8]| {
                    collect(|tx| {
                        snap.send(&index, sub, tx).map_err(|e| ScanError::Source(e.into()))
                    })
                    .map_err(scan_failure)
                };
                let basis = super::versions::plan(
                    &judge_for(None),
                    &prefix,
                    args.kube_version.as_deref(),
                    &mut |p, tx| snap.send(&index, &p, tx).map_err(|e| ScanError::Source(e.into())),
                )
                .map_err(scan_failure)?;
                let judge = Judge { versions: Some(&basis.versions), ..judge_for(None) };
                let revision = snap.checked_revision(args.rev).map_err(|e| source_err(e.into()))?;
                let kvs = read(&key)?;
                // Nothing is shown from a file that fails its hash check (unless skipped).
                if let Some(Err(e)) = trailer.wait() {
                    return Err(source_err(e.into()));
                }
                if args.list {
                    return written(list(&mut out, &judge, &kvs)).map(|()| Exit::Ok);
                }
                let found = kvs.into_iter().find(|kv| kv.key == key);
                show(&args, &judge, found, revision, None, &mut out)
            })();
            trailer.settle(shown)
        });
    }
    let opts = live_options(&args.source)?;
    let mut source = rt.block_on(LiveSource::connect(opts)).map_err(|e| source_err(e.into()))?;
    let basis = super::versions::plan(
        &judge_for(None),
        &prefix,
        args.kube_version.as_deref(),
        &mut |p, tx| Ok(rt.block_on(source.scan(&p, args.rev, tx))?),
    )
    .map_err(scan_failure)?;
    let judge = judge_for(Some(&basis.versions));
    if args.list {
        let kvs = collect(|tx| Ok(rt.block_on(source.scan(&key, args.rev, tx))?))
            .map_err(scan_failure)?;
        return written(list(&mut out, &judge, &kvs)).map(|()| Exit::Ok);
    }
    let reader = source.reader();
    let (found, revision) =
        rt.block_on(reader.get(&key, args.rev.unwrap_or(0))).map_err(|e| source_err(e.into()))?;
    let ttl = match found.as_ref().filter(|kv| kv.lease != 0) {
        Some(kv) => rt.block_on(source.lease_ttl(kv.lease)).ok(),
        None => None,
    };
    show(&args, &judge, found, revision, ttl, &mut out)
}

fn source_err(e: anyhow::Error) -> Failure {
    Failure::source(e)
}

/// `--list`: one line per key.
fn list(out: &mut dyn Write, judge: &Judge<'_>, kvs: &[RawKv]) -> io::Result<()> {
    for kv in kvs {
        let rec = judge.judge(kv.clone());
        let enc = rec.encryption.as_ref().map_or_else(
            || "?".to_owned(),
            |e| match (&e.key_name, e.kms_api_version) {
                (Some(name), Some(v)) => format!("kms{}:{name}", v.as_str()),
                (Some(name), None) => format!("{}:{name}", e.provider.as_str()),
                (None, _) => e.provider.as_str().to_owned(),
            },
        );
        writeln!(
            out,
            "{}\t{enc}\t{}\t{}",
            String::from_utf8_lossy(&kv.key),
            rec.facts.api_version.as_deref().unwrap_or("-"),
            rec.status.as_str()
        )?;
    }
    out.flush()
}

fn show(
    args: &InspectArgs,
    judge: &Judge<'_>,
    found: Option<RawKv>,
    revision: i64,
    ttl: Option<i64>,
    out: &mut dyn Write,
) -> Result<Exit, Failure> {
    let Some(kv) = found else {
        eprintln!("atrest: {} not found at revision {revision}", args.etcd_key);
        return Ok(Exit::Findings);
    };
    let reveal = if args.reveal { Reveal::Yes } else { Reveal::No };
    let inspector = Inspector { judge, redact_fields: &args.redact, reveal };
    let (ins, opened) = inspector.inspect(&kv, revision, ttl);
    let written = |r: io::Result<()>| r.context("writing the output").map_err(Failure::source);
    match args.output {
        InspectFormat::Json => {
            written(serde_json::to_writer_pretty(&mut *out, &ins).map_err(io::Error::other))?;
            written(out.write_all(b"\n"))?;
        }
        InspectFormat::Yaml => written(yaml(out, &ins))?,
        InspectFormat::Raw => written(raw(out, &kv, &ins, opened.as_ref(), args))?,
    }
    written(out.flush())?;
    Ok(if ins.status == Status::Unreadable.as_str() { Exit::Findings } else { Exit::Ok })
}

/// The layers as `#` lines, then the object as YAML.
fn yaml(out: &mut dyn Write, ins: &Inspection) -> io::Result<()> {
    let e = &ins.etcd;
    writeln!(out, "# key:       {}", ins.key)?;
    let lease = match (e.lease, e.lease_ttl_seconds) {
        (0, _) => "none".to_owned(),
        (id, Some(ttl)) => format!("{id:x} ({ttl}s left)"),
        (id, None) => format!("{id:x}"),
    };
    writeln!(
        out,
        "# etcd:      read at revision {}; created {}, modified {}, version {}, lease {lease}; {} bytes",
        e.revision, e.create_revision, e.mod_revision, e.version, e.value_bytes
    )?;
    let env = &ins.envelope;
    let mut who = env.provider.unwrap_or("unknown provider").to_owned();
    if let Some(v) = env.kms_api_version {
        who.push_str(&format!(" {v}"));
    }
    if let Some(k) = &env.key_name {
        who.push_str(&format!(" key {k:?}"));
    }
    if let Some(id) = &env.key_id {
        who.push_str(&format!(" keyID {id:?}"));
    }
    if let Some(t) = env.dek_source_type {
        who.push_str(&format!(" DEK source {t}"));
    }
    if let Some(c) = &env.config_entry {
        let key = c.key.map(|k| format!(".keys[{k}]")).unwrap_or_default();
        who.push_str(&format!(
            " (config resources[{}] {:?}, providers[{}]{key})",
            c.rule, c.matched, c.provider
        ));
    }
    let verdict = if env.reasons.is_empty() {
        "current".to_owned()
    } else if env.stale {
        format!("stale: {}", env.reasons.join("; "))
    } else {
        env.reasons.join("; ")
    };
    writeln!(out, "# envelope:  {who}; {verdict}")?;
    let sizes = match env.plaintext_bytes {
        Some(p) => format!("{} header + {} body → {p} plaintext", env.header_bytes, env.body_bytes),
        None => format!("{} header + {} body", env.header_bytes, env.body_bytes),
    };
    writeln!(out, "# sizes:     {sizes}")?;
    if let Some(p) = &ins.payload {
        writeln!(
            out,
            "# payload:   {} {} {} (expected storage version {})",
            p.encoding.unwrap_or("?"),
            p.api_version.as_deref().unwrap_or("?"),
            p.kind.as_deref().unwrap_or("?"),
            p.expected_api_version.as_deref().unwrap_or("unknown")
        )?;
    }
    writeln!(out, "# verdict:   {}{}", ins.status, join_reasons(&ins.reasons))?;
    writeln!(
        out,
        "# object:    {}{}",
        ins.object_completeness,
        if ins.redacted { "; secret values redacted (--reveal shows them)" } else { "" }
    )?;
    if let Some(obj) = &ins.object {
        let text = serde_saphyr::to_string(obj).map_err(io::Error::other)?;
        out.write_all(text.as_bytes())?;
    }
    Ok(())
}

fn join_reasons(r: &[String]) -> String {
    if r.is_empty() { String::new() } else { format!(": {}", r.join("; ")) }
}

/// `-o raw`: the stored value, or with --decrypted the payload, as `hexdump -C`.
fn raw(
    out: &mut dyn Write,
    kv: &RawKv,
    ins: &Inspection,
    opened: Result<&OpenedValue, &atrest::verdict::PlaintextError>,
    args: &InspectArgs,
) -> io::Result<()> {
    let secret = ins.resource == "secrets";
    let hidden = |out: &mut dyn Write, what: &str, bytes: &[u8]| {
        writeln!(out, "# {what} of a Secret: {} (--reveal dumps it)", placeholder(bytes))
    };
    if args.decrypted {
        return match opened {
            Ok(o) if secret && !args.reveal => hidden(out, "plaintext", &o.plaintext),
            Ok(o) => out.write_all(
                hexdump(&o.plaintext, &payload_regions(&o.plaintext, 0, ins)).as_bytes(),
            ),
            Err(why) => writeln!(out, "# cannot decrypt: {why}"),
        };
    }
    // An identity Secret's stored bytes are its plaintext.
    if secret && !args.reveal && ins.envelope.header_bytes == 0 {
        return hidden(out, "stored plaintext", &kv.value);
    }
    out.write_all(hexdump(&kv.value, &value_regions(&kv.value, ins)).as_bytes())
}
