//! Everything a command opens before it reads its first object, opened the same way for `scan`,
//! `check`, `inspect` and `rewrite`: the EncryptionConfiguration and its KMS plugins, the source
//! (live or snapshot) at its pinned revision, the prefix, the Kubernetes release and the CRDs the
//! objects are judged against, and optionally the API server's discovery.

use std::path::PathBuf;

use tokio::runtime::Runtime;

use super::{Extras, ScanError, prefix, run};
use crate::codec::node::kubelet_version;
use crate::config::{EncryptionConfig, Provider};
use crate::crd::CrdIndex;
use crate::discovery::ServerDiscovery;
use crate::envelope::kms::KmsPlugin;
use crate::envelope::kms_plugin::{GrpcKms, PluginStatus};
use crate::history::History;
use crate::keyspace::normalize_prefix;
use crate::report::{Backend, Header, ReportSink, Summary};
use crate::source::live::KeyReader;
use crate::source::{RawKv, Source, SourceSpec};
use crate::storage_versions::release;
use crate::verdict::{Filter, Judge, NO_KMS, Versions};

/// What to open.
#[derive(Debug)]
pub struct SessionOptions {
    /// Live etcd or a snapshot.
    pub source: SourceSpec,
    /// The cluster's EncryptionConfiguration and the file it was read from.
    pub encryption_config: Option<(PathBuf, EncryptionConfig)>,
    /// `--prefix` (default: detected).
    pub prefix: Option<String>,
    /// `--kube-version` (default: from the Node objects).
    pub kube_version: Option<String>,
    /// `--rev` (default: the current revision).
    pub rev: Option<i64>,
    /// `--resource`, `--namespace`.
    pub filter: Filter,
    /// `--kubeconfig`, `--context`: cross-check storage versions with discovery.
    pub kubeconfig: Option<(PathBuf, Option<String>)>,
}

/// An open session; see the module docs.
pub struct Session {
    source: Source,
    config: Option<EncryptionConfig>,
    config_info: Option<(String, String)>,
    kms: Option<GrpcKms>,
    kms_statuses: Vec<PluginStatus>,
    filter: Filter,
    prefix: String,
    versions: Versions,
    basis: String,
    server: Option<Result<ServerDiscovery, String>>,
    // Last: the connections above are dropped while their runtime still runs.
    rt: Runtime,
}

/// A judge over a session's parts, borrowed field by field so the source stays free to read.
fn judge<'a>(
    prefix: &'a str,
    config: Option<&'a EncryptionConfig>,
    filter: &'a Filter,
    kms: Option<&'a GrpcKms>,
    versions: Option<&'a Versions>,
) -> Judge<'a> {
    Judge {
        prefix: prefix.as_bytes(),
        config,
        filter,
        kms: kms.map_or(&NO_KMS as &dyn KmsPlugin, |k| k as &dyn KmsPlugin),
        versions,
    }
}

impl Session {
    /// Opens everything in `opts`. What the user should know but that does not stop the work
    /// (an unreachable KMS plugin, no discovery, an unverifiable snapshot) goes to `warn`.
    pub fn open(opts: SessionOptions, warn: &dyn Fn(&str)) -> Result<Self, ScanError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(ScanError::Runtime)?;
        let (config_info, config) = match opts.encryption_config {
            Some((path, c)) => {
                (Some((path.display().to_string(), c.sha256_hex().to_owned())), Some(c))
            }
            None => (None, None),
        };
        // KMS plugins are asked for their Status once, before any object is read.
        let kms = config.as_ref().filter(|c| uses_kms(c)).map(|c| GrpcKms::connect(c, rt.handle()));
        let kms_statuses = kms.as_ref().map(GrpcKms::statuses).unwrap_or_default();
        for s in kms_statuses.iter() {
            if let Some(e) = &s.error {
                warn(&format!(
                    "KMS plugin {} at {}: {e}; its objects will be unreadable",
                    s.name, s.endpoint
                ));
            }
        }
        let server = opts.kubeconfig.as_ref().map(|(path, context)| {
            rt.block_on(crate::discovery::fetch(path, context.as_deref())).map_err(|e| {
                warn(&format!("no discovery cross-check: {e}"));
                e.to_string()
            })
        });
        let hint = opts.prefix.as_deref().map(normalize_prefix).unwrap_or_default();
        let mut source = Source::open(&opts.source, rt.handle(), hint.as_bytes(), opts.rev)?;
        if let (Some(s), SourceSpec::Snapshot { path, .. }) = (source.snapshot(), &opts.source)
            && let Some(w) = s.warning()
        {
            warn(&format!("snapshot {}: {w}", path.display()));
        }
        let prefix = match opts.prefix {
            Some(_) => hint,
            None => prefix::detect(&mut source)??,
        };
        let (versions, basis) = {
            let judge = judge(&prefix, config.as_ref(), &opts.filter, kms.as_ref(), None);
            expected_versions(&mut source, &judge, &prefix, opts.kube_version.as_deref())?
        };
        Ok(Self {
            source,
            config,
            config_info,
            kms,
            kms_statuses,
            filter: opts.filter,
            prefix,
            versions,
            basis,
            server,
            rt,
        })
    }

    /// The judge every object of this session is judged by.
    pub fn judge(&self) -> Judge<'_> {
        judge(
            &self.prefix,
            self.config.as_ref(),
            &self.filter,
            self.kms.as_ref(),
            Some(&self.versions),
        )
    }

    /// The normalized prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The EncryptionConfiguration, if one was given.
    pub fn config(&self) -> Option<&EncryptionConfig> {
        self.config.as_ref()
    }

    /// The runtime the session's connections run on.
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Keys under the prefix (for a progress bar; a live etcd counts without values).
    pub fn count(&mut self) -> Result<u64, ScanError> {
        Ok(self.source.count(self.prefix.as_bytes())?)
    }

    /// Scans every key under the prefix into `sink`, with `--history` if `history`.
    pub fn scan(&mut self, history: bool, sink: &mut dyn ReportSink) -> Result<Summary, ScanError> {
        let header = self.header();
        let judge = judge(
            &self.prefix,
            self.config.as_ref(),
            &self.filter,
            self.kms.as_ref(),
            Some(&self.versions),
        );
        let history = if history { Some(History::read(&mut self.source, &judge)?) } else { None };
        let extras = Extras { history, server: self.server.clone() };
        let (source, prefix) = (&mut self.source, self.prefix.as_bytes());
        run(&judge, move || Ok(header), extras, sink, move |tx| Ok(source.scan(prefix, tx)?))
    }

    /// One key: found or not, the revision read at, its lease's TTL (live etcd).
    pub fn get(&mut self, key: &[u8]) -> Result<(Option<RawKv>, i64, Option<i64>), ScanError> {
        Ok(self.source.get(key)?)
    }

    /// Every key under `prefix` (a sub-prefix of the session's), gathered.
    pub fn list(&mut self, prefix: &[u8]) -> Result<Vec<RawKv>, ScanError> {
        Ok(self.source.collect(prefix)?)
    }

    /// Point reads on the live connection (rewrite); `None` for a snapshot.
    pub fn reader(&self) -> Option<KeyReader> {
        self.source.reader()
    }

    /// The report header: the source, the config and what the objects are judged against.
    fn header(&self) -> Header {
        let mut header = Header {
            source_kind: "etcd",
            prefix: self.prefix.clone(),
            kms: self.kms_statuses.clone(),
            kube_version: Some((self.versions.minor, self.basis.clone())),
            encryption_config: self.config_info.clone(),
            config_warnings: self
                .config
                .as_ref()
                .map(EncryptionConfig::warnings)
                .unwrap_or_default(),
            ..Header::default()
        };
        match &self.source {
            Source::Live { endpoints, .. } => header.endpoints = endpoints.clone(),
            Source::Snapshot(s) => {
                let info = s.snapshot().info();
                header.source_kind = "snapshot";
                header.path = Some(s.path().display().to_string());
                header.revision = s.revision();
                header.compacted_revision = info.compacted_revision;
                header.integrity = Some(s.integrity().as_str());
                header.backend = Some(Backend {
                    storage_version: info.storage_version.clone(),
                    cluster_version: info.cluster_version.clone(),
                    consistent_index: info.consistent_index,
                    term: info.term,
                });
                header.source_warnings = s.warning().map(str::to_owned).into_iter().collect();
            }
        }
        header
    }
}

fn uses_kms(config: &EncryptionConfig) -> bool {
    config.rules().iter().flat_map(|r| &r.providers).any(|p| matches!(p, Provider::Kms(_)))
}

/// Reads the CRDs and (without `--kube-version`) the Nodes under `prefix` (the judge's), and
/// decides what storage version each object should have.
fn expected_versions(
    source: &mut Source,
    judge: &Judge<'_>,
    prefix: &str,
    kube_version: Option<&str>,
) -> Result<(Versions, String), ScanError> {
    let crds = source
        .collect(format!("{prefix}apiextensions.k8s.io/customresourcedefinitions/").as_bytes())?;
    let crds = CrdIndex::load(&crds, |kv| {
        Versions::plaintext_of(judge, kv, "apiextensions.k8s.io", "customresourcedefinitions")
    });
    let nodes = match kube_version {
        Some(_) => Vec::new(),
        None => source.collect(format!("{prefix}minions/").as_bytes())?,
    };
    let kubelets = nodes
        .iter()
        .filter_map(|kv| Versions::plaintext_of(judge, kv, "", "nodes").ok())
        .filter_map(|p| kubelet_version(&p));
    let release = release::choose(kube_version, kubelets)?;
    Ok((Versions { minor: release.minor, crds }, release.basis))
}
