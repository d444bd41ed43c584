//! Objects in a real etcd behind the server: etcd, the EncryptionConfiguration it writes with,
//! and the requests the tests send.

use base64::Engine;
use serde_json::{Value, json};

use atrest::config::EncryptionConfig;
use atrest::envelope::{Transformer, open};

use super::TOKEN;
use crate::harness::apiserver::{ApiServer, Backend, RawResponse, Resource, objects, seal_for};
use crate::harness::etcd::Etcd;

pub(super) const K1: [u8; 32] = [0x11; 32];
pub(super) const K2: [u8; 32] = [0x22; 32];
pub(super) const CREATED: i64 = 1_700_000_000;
pub(super) const APPLY: &str = "application/apply-patch+yaml";

/// An aescbc rule for secrets and configmaps (keys in write order), identity as the fallback.
pub(super) fn enc_config(keys: &[(&str, &[u8; 32])]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let keys: String = keys
        .iter()
        .map(|(n, k)| format!("          - name: {n}\n            secret: {}\n", b64.encode(k)))
        .collect();
    format!(
        "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, configmaps]
    providers:
      - aescbc:
          keys:
{keys}      - identity: {{}}
"
    )
}

pub(super) fn object_resources() -> Vec<Resource> {
    let widgets =
        |v: &str| Resource::new("example.com", v, "widgets", "Widget", true).stored_as("v2");
    vec![
        Resource::new("", "v1", "secrets", "Secret", true),
        Resource::new("", "v1", "configmaps", "ConfigMap", true),
        Resource::new("", "v1", "namespaces", "Namespace", false),
        widgets("v1"),
        widgets("v2"),
    ]
}

/// etcd + the server writing with key2 (key1 still reads); `old` is the key1-only config.
pub(super) struct Objects {
    pub(super) etcd: Etcd,
    pub(super) server: ApiServer,
    pub(super) _dir: tempfile::TempDir,
    pub(super) old: EncryptionConfig,
    pub(super) new: EncryptionConfig,
}

impl Objects {
    pub(super) fn start() -> Self {
        let etcd = Etcd::start();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enc.yaml");
        std::fs::write(&path, enc_config(&[("key2", &K2), ("key1", &K1)])).unwrap();
        let server = ApiServer::with_backend(
            object_resources(),
            TOKEN,
            Backend {
                endpoint: etcd.endpoint.clone(),
                prefix: "/registry".into(),
                encryption_config: path.clone(),
            },
        );
        let old = EncryptionConfig::from_bytes(enc_config(&[("key1", &K1)]).as_bytes()).unwrap();
        let new = EncryptionConfig::load(&path).unwrap();
        Self { etcd, server, _dir: dir, old, new }
    }

    /// Seeds a secret as kube-apiserver would have written it under `config`; its key.
    pub(super) fn secret(
        &self,
        ns: &str,
        name: &str,
        data: &[(&str, &[u8])],
        config: &EncryptionConfig,
    ) -> String {
        let key = format!("/registry/secrets/{ns}/{name}");
        let payload = objects::secret_pb(ns, name, &format!("uid-{name}"), CREATED, data);
        self.etcd.put(&key, seal_for(config, "", "secrets", &key, &payload).unwrap());
        key
    }

    /// (value, mod_revision) of `key`.
    pub(super) fn value(&self, key: &str) -> (Vec<u8>, i64) {
        self.etcd.with_client(async |c| {
            let r = c.get(key, None).await.unwrap();
            let kv = &r.kvs()[0];
            (kv.value().to_vec(), kv.mod_revision())
        })
    }

    pub(super) fn plaintext(&self, key: &str) -> Vec<u8> {
        let (value, _) = self.value(key);
        let t = Transformer::for_resource(&self.new, "", "secrets");
        open(&value, key.as_bytes(), t).unwrap().plaintext.to_vec()
    }

    pub(super) fn get(&self, path: &str) -> RawResponse {
        self.server.get(path, Some(TOKEN))
    }

    pub(super) fn apply(&self, path: &str, body: &Value) -> RawResponse {
        self.apply_as(TOKEN, path, &format!("{path}?fieldManager=test"), body)
    }

    pub(super) fn apply_as(
        &self,
        token: &str,
        _path: &str,
        uri: &str,
        body: &Value,
    ) -> RawResponse {
        let auth = format!("Bearer {token}");
        let headers = [("Authorization", auth.as_str()), ("Content-Type", APPLY)];
        self.server.request("PATCH", uri, &headers, body.to_string().as_bytes())
    }
}

/// The body the storage version migrator sends: only type, uid and resourceVersion.
pub(super) fn migrate_body(api_version: &str, kind: &str, uid: &str, rv: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"uid": uid, "resourceVersion": rv}})
}

pub(super) fn rv(v: &Value) -> i64 {
    v["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()
}
