//! The shared golden envelopes, read in place: the configs, the MANIFEST, and the configs with
//! their placeholder KMS socket pointed at a test plugin.

use std::path::{Path, PathBuf};

use atrest::testkit::golden_dir;
use serde_json::Value;

use super::kms_plugin::KmsPluginServer;

/// Every golden EncryptionConfiguration.
pub const CONFIGS: [&str; 7] = [
    "config-before.yaml",
    "config-after.yaml",
    "config-aesgcm.yaml",
    "config-secretbox.yaml",
    "config-kms.yaml",
    "config-kms-v1.yaml",
    "config-identity.yaml",
];

/// The socket the golden configs name (a placeholder).
pub const GOLDEN_SOCKET: &str = "unix:///tmp/atrest-golden-kms.sock";

/// `envelopes/MANIFEST.jsonl`, one value per case.
pub fn manifest() -> Vec<Value> {
    let path = golden_dir().join("envelopes/MANIFEST.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set ATREST_GOLDEN_DIR)", path.display()));
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Puts every golden envelope of `cases` (MANIFEST lines) at its MANIFEST key (the AAD of the
/// AEAD ones).
pub fn load_envelopes(etcd: &super::etcd::Etcd, cases: &[Value]) {
    let dir = golden_dir().join("envelopes");
    let kvs: Vec<(String, Vec<u8>)> = cases
        .iter()
        .map(|c| {
            let file = dir.join(c["file"].as_str().unwrap());
            (c["key"].as_str().unwrap().to_owned(), std::fs::read(file).unwrap())
        })
        .collect();
    etcd.put_all(&kvs);
}

/// A file of `payloads/` (real Kubernetes serializer output).
pub fn payload(name: &str) -> Vec<u8> {
    let path = golden_dir().join("payloads").join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set ATREST_GOLDEN_DIR)", path.display()))
}

/// The golden config `name` with its KMS endpoint pointed at `plugin`.
pub fn config_text(name: &str, plugin: &KmsPluginServer) -> String {
    let path = golden_dir().join("envelopes").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set ATREST_GOLDEN_DIR)", path.display()));
    text.replace(GOLDEN_SOCKET, &plugin.endpoint())
}

/// [`config_text`] written to `dir/name`, for the binary's `--encryption-config`.
pub fn config_file(name: &str, dir: &Path, plugin: &KmsPluginServer) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, config_text(name, plugin)).unwrap();
    path
}

pub use atrest::testkit::normalize;
