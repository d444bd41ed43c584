//! Test-only helpers (feature `testkit`): where the golden fixtures live, and encoders that
//! build envelopes the way kube-apiserver writes them. atrest itself never encrypts or writes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

/// The shared golden fixtures: `$ATREST_GOLDEN_DIR`, else `../shared/fixtures/golden` beside the
/// repository (where CI puts it).
pub fn golden_dir() -> PathBuf {
    match std::env::var_os("ATREST_GOLDEN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/golden"),
    }
}

/// `k8s:enc:aescbc:v1:<key_name>:` + `IV || AES-CBC(PKCS#7(plaintext))`, exactly as kube-apiserver's
/// aescbc provider writes it, with a caller-chosen IV.
///
/// # Panics
/// If `key` is not 16, 24 or 32 bytes.
pub fn seal_aescbc(key: &[u8], key_name: &str, plaintext: &[u8], iv: [u8; 16]) -> Vec<u8> {
    with_prefix("aescbc", key_name, crate::envelope::aescbc::seal(key, plaintext, iv))
}

/// `k8s:enc:aesgcm:v1:<key_name>:` + `nonce || ciphertext || tag`, with AAD = `etcd_key` (the full
/// key, e.g. `/registry/secrets/default/db`), as kube-apiserver's aesgcm provider writes it.
///
/// # Panics
/// If `key` is not 16, 24 or 32 bytes.
pub fn seal_aesgcm(
    key: &[u8],
    key_name: &str,
    plaintext: &[u8],
    nonce: [u8; 12],
    etcd_key: &[u8],
) -> Vec<u8> {
    with_prefix("aesgcm", key_name, crate::envelope::aesgcm::seal(key, plaintext, nonce, etcd_key))
}

/// `k8s:enc:secretbox:v1:<key_name>:` + `nonce || tag || ciphertext` (XSalsa20-Poly1305), as
/// kube-apiserver's secretbox provider writes it.
///
/// # Panics
/// If `key` is not 32 bytes.
pub fn seal_secretbox(key: &[u8], key_name: &str, plaintext: &[u8], nonce: [u8; 24]) -> Vec<u8> {
    with_prefix("secretbox", key_name, crate::envelope::secretbox::seal(key, plaintext, nonce))
}

fn with_prefix(provider: &str, key_name: &str, body: Vec<u8>) -> Vec<u8> {
    let prefix = format!("k8s:enc:{provider}:v1:{key_name}:");
    let mut out = Vec::with_capacity(prefix.len() + body.len());
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NamedKey, Provider};
    use crate::envelope::{Transformer, open};

    #[test]
    fn seal_then_open_gives_the_plaintext_back() {
        let pt = b"k8s\0 some object bytes";
        let key = b"/registry/secrets/default/db";
        for key_len in [16, 24, 32] {
            let k = vec![0x11; key_len];
            let chain = [Provider::AesCbc(vec![NamedKey::new("a:b", &k)])];
            let v = seal_aescbc(&k, "a:b", pt, [7; 16]);
            assert!(v.starts_with(b"k8s:enc:aescbc:v1:a:b:"));
            let opened = open(&v, key, Transformer::Chain(&chain)).unwrap();
            assert_eq!(&*opened.plaintext, pt);
            assert!(opened.stale.is_empty());

            let chain = [Provider::AesGcm(vec![NamedKey::new("g", &k)])];
            let v = seal_aesgcm(&k, "g", pt, [8; 12], key);
            assert_eq!(&*open(&v, key, Transformer::Chain(&chain)).unwrap().plaintext, pt);
        }
        let k = [0x22; 32];
        let chain = [Provider::Secretbox(vec![NamedKey::new("s", &k)])];
        let v = seal_secretbox(&k, "s", pt, [9; 24]);
        assert!(v.starts_with(b"k8s:enc:secretbox:v1:s:"));
        assert_eq!(&*open(&v, key, Transformer::Chain(&chain)).unwrap().plaintext, pt);
    }
}
