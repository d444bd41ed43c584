//! Any value under any golden-like config: `open` and `identify` never panic, and an opened
//! value's provider is one whose prefix the value carries.
#![no_main]
use std::sync::OnceLock;

use atrest::config::EncryptionConfig;
use atrest::envelope::{self, Transformer};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aescbc: {keys: [{name: k1, secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}, {name: 'o:ld', secret: YWJjZGVmZ2hpamtsbW5vcA==}]}
  - aesgcm: {keys: [{name: g1, secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}]}
  - secretbox: {keys: [{name: b1, secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}]}
  - kms: {apiVersion: v2, name: kms2, endpoint: unix:///nonexistent.sock}
  - identity: {}
";

fuzz_target!(|value: &[u8]| {
    static CFG: OnceLock<EncryptionConfig> = OnceLock::new();
    let cfg = CFG.get_or_init(|| EncryptionConfig::from_bytes(CONFIG.as_bytes()).unwrap());
    let chain = cfg.providers_for("", "secrets").unwrap();
    let _ = envelope::identify(value);
    if let Ok(opened) = envelope::open(value, b"/registry/secrets/ns/n", Transformer::Chain(chain)) {
        if opened.encryption.provider != envelope::ProviderKind::Identity {
            assert!(value.starts_with(b"k8s:enc:"));
        }
    }
    let _ = envelope::open(value, b"/registry/x/y", Transformer::Bare);
});
