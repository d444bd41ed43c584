//! The storage layer: a real etcd, read and written as kube-apiserver's etcd3 store does
//! (`kubernetes/apiserver:pkg/storage/etcd3/store.go`): keys `<prefix>/<resource prefix>/[<ns>/]
//! <name>` (layout doc §3), values through the EncryptionConfiguration's transformer (read: every
//! provider in order, `stale` unless provider 0 / key 0; write: provider 0 / key 0), writes as
//! an OptimisticPut (a transaction comparing mod_revision; 0 = create). Every write is logged.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use atrest::config::EncryptionConfig;
use atrest::envelope::{Transformer, open};
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp};

use super::Resource;
use super::seal::seal_for;

/// Where the objects live and how they are encrypted.
#[derive(Clone, Debug)]
pub struct Backend {
    /// etcd client URL, e.g. `http://127.0.0.1:23456`.
    pub endpoint: String,
    /// kube-apiserver's `--etcd-prefix`, e.g. `/registry`.
    pub prefix: String,
    /// The EncryptionConfiguration YAML the server reads and writes with.
    pub encryption_config: PathBuf,
}

/// One etcd put the server did: the key, its mod_revision before (0 = created) and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdWrite {
    pub key: String,
    pub from_revision: i64,
    pub to_revision: i64,
}

/// A value as read: bytes and mod_revision.
pub(super) struct Found {
    pub value: Vec<u8>,
    pub mod_revision: i64,
}

pub(super) struct Store {
    endpoint: String,
    /// Normalized like `etcd3.New`: `/registry/`.
    prefix: String,
    pub config: EncryptionConfig,
    client: tokio::sync::OnceCell<Client>,
    writes: Mutex<Vec<EtcdWrite>>,
}

impl Store {
    pub fn new(backend: &Backend) -> Result<Self, String> {
        let config = super::seal::load_encryption_config(&backend.encryption_config)?;
        Ok(Self {
            endpoint: backend.endpoint.clone(),
            prefix: atrest::keyspace::normalize_prefix(&backend.prefix),
            config,
            client: tokio::sync::OnceCell::new(),
            writes: Mutex::new(Vec::new()),
        })
    }

    /// `<prefix><resource prefix>/[<ns>/]<name>`.
    pub fn key(&self, r: &Resource, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) => format!("{}{}/{ns}/{name}", self.prefix, resource_prefix(r)),
            None => format!("{}{}/{name}", self.prefix, resource_prefix(r)),
        }
    }

    /// The range a LIST reads (all namespaces when `namespace` is None).
    pub fn list_prefix(&self, r: &Resource, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) => format!("{}{}/{ns}/", self.prefix, resource_prefix(r)),
            None => format!("{}{}/", self.prefix, resource_prefix(r)),
        }
    }

    async fn client(&self) -> Result<Client, String> {
        let client = self
            .client
            .get_or_try_init(|| async {
                let options = ConnectOptions::new()
                    .with_connect_timeout(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(10));
                Client::connect([self.endpoint.as_str()], Some(options)).await
            })
            .await
            .map_err(|e| format!("etcd connect: {e}"))?;
        Ok(client.clone())
    }

    pub async fn get(&self, key: &str) -> Result<Option<Found>, String> {
        let response = self.client().await?.get(key, None).await.map_err(|e| e.to_string())?;
        Ok(response
            .kvs()
            .first()
            .map(|kv| Found { value: kv.value().to_vec(), mod_revision: kv.mod_revision() }))
    }

    /// Every (key, value, mod_revision) under `prefix`, by key, and the header revision.
    pub async fn list(&self, prefix: &str) -> Result<(Vec<(String, Found)>, i64), String> {
        let response = self
            .client()
            .await?
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(|e| e.to_string())?;
        let revision = response.header().map_or(0, |h| h.revision());
        let items = response
            .kvs()
            .iter()
            .map(|kv| {
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                (key, Found { value: kv.value().to_vec(), mod_revision: kv.mod_revision() })
            })
            .collect();
        Ok((items, revision))
    }

    /// OptimisticPut: writes iff the key's mod_revision is still `expected` (0: absent). The new
    /// mod_revision, or None when someone else wrote first.
    pub async fn put_if(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: i64,
    ) -> Result<Option<i64>, String> {
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::put(key, value, None)]);
        let response = self.client().await?.txn(txn).await.map_err(|e| e.to_string())?;
        if !response.succeeded() {
            return Ok(None);
        }
        let revision = response.header().map_or(0, |h| h.revision());
        self.writes.lock().unwrap_or_else(|e| e.into_inner()).push(EtcdWrite {
            key: key.into(),
            from_revision: expected,
            to_revision: revision,
        });
        Ok(Some(revision))
    }

    /// kube's read: the plaintext and whether the read was stale.
    pub fn open(&self, r: &Resource, key: &str, value: &[u8]) -> Result<(Vec<u8>, bool), String> {
        let transformer = Transformer::for_resource(&self.config, &r.group, &r.resource);
        let opened = open(value, key.as_bytes(), transformer).map_err(|u| u.error.to_string())?;
        Ok((opened.plaintext.to_vec(), !opened.stale.is_empty()))
    }

    /// kube's write: provider 0 / key 0.
    pub fn seal(&self, r: &Resource, key: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        seal_for(&self.config, &r.group, &r.resource, key, plaintext)
    }

    pub fn writes(&self) -> Vec<EtcdWrite> {
        self.writes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The resource prefix under the etcd prefix (layout doc §3.1): built-ins by their registry
/// name (special prefixes from atrest's table), CRs, CRDs and APIServices as `<group>/<plural>`.
pub(super) fn resource_prefix(r: &Resource) -> String {
    if let Some((prefix, _, _)) =
        atrest::keyspace::BUILTIN.iter().find(|(_, g, res)| *g == r.group && *res == r.resource)
    {
        return (*prefix).to_owned();
    }
    match (r.group.as_str(), r.resource.as_str()) {
        ("", "services") => "services/specs".into(),
        // Cohabitation: events.k8s.io events are stored with the core ones.
        ("events.k8s.io", "events") => "events".into(),
        ("", "endpoints") => "services/endpoints".into(),
        _ if is_json_stored(&r.group) => format!("{}/{}", r.group, r.resource),
        _ => r.resource.clone(),
    }
}

/// Groups stored as JSON under `<group>/<plural>`: custom resources (a CRD group has a dot and
/// is not a built-in group), CRDs and APIServices.
pub(super) fn is_json_stored(group: &str) -> bool {
    let builtin =
        group == "events.k8s.io" || atrest::keyspace::BUILTIN.iter().any(|(_, g, _)| *g == group);
    group.contains('.') && !builtin
}

/// Custom resources (not CRDs/APIServices): generation and the CR strategy apply.
pub(super) fn is_custom(group: &str) -> bool {
    is_json_stored(group) && !matches!(group, "apiextensions.k8s.io" | "apiregistration.k8s.io")
}
