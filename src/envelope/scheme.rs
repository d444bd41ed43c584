//! The keyed providers (a key in the EncryptionConfiguration, no plugin), one entry each: the
//! prefix kube-apiserver writes, how the body opens, and its byte layout for `inspect -o raw`.
//! `identify`, `open` and the inspector read this table, so a new keyed provider is its cipher
//! module and one entry here (plus its config spelling, see docs/architecture.md). The cipher
//! modules do not know the table (no module cycle).

use zeroize::Zeroizing;

use super::{DecryptError, aescbc, aesgcm, secretbox};
use crate::config::ProviderKind;

/// A region of an envelope body: (offset in the body, length, what it is).
pub type BodyRegion = (usize, usize, &'static str);

/// Opens a body with one key's secret; the etcd key is the AAD where the provider uses one.
pub type OpenFn = fn(&[u8], &[u8], &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptError>;

/// One keyed provider.
pub struct Keyed {
    /// Its kind.
    pub kind: ProviderKind,
    // `k8s:enc:<name>:v1:` (the key name and `:` follow).
    pub prefix: &'static [u8],
    /// (secret, body, etcd key) → plaintext.
    pub open: OpenFn,
    /// The body's layout, for a body of this many bytes.
    pub regions: fn(body_len: usize) -> Vec<BodyRegion>,
}

/// Every keyed provider.
pub static KEYED: [Keyed; 3] = [
    // `k8s:enc:aescbc:v1:<key>:` + `IV || ciphertext`.
    Keyed {
        kind: ProviderKind::AesCbc,
        prefix: b"k8s:enc:aescbc:v1:",
        open: |secret, body, _| aescbc::open(secret, body),
        regions: |b| {
            vec![
                (0, aescbc::BLOCK.min(b), "IV"),
                (
                    aescbc::BLOCK,
                    b.saturating_sub(aescbc::BLOCK),
                    "AES-CBC ciphertext (PKCS#7 padded)",
                ),
            ]
        },
    },
    // `k8s:enc:aesgcm:v1:<key>:` + `nonce || ciphertext || tag`, the etcd key as AAD.
    Keyed {
        kind: ProviderKind::AesGcm,
        prefix: b"k8s:enc:aesgcm:v1:",
        open: |secret, body, etcd_key| aesgcm::open(secret, body, etcd_key, "aesgcm data"),
        regions: |b| {
            vec![
                (0, aesgcm::NONCE.min(b), "nonce"),
                (
                    aesgcm::NONCE,
                    b.saturating_sub(aesgcm::NONCE.saturating_add(aesgcm::TAG)),
                    "AES-GCM ciphertext",
                ),
                (
                    b.saturating_sub(aesgcm::TAG).max(aesgcm::NONCE),
                    aesgcm::TAG.min(b.saturating_sub(aesgcm::NONCE)),
                    "GCM tag",
                ),
            ]
        },
    },
    // `k8s:enc:secretbox:v1:<key>:` + `nonce || tag || ciphertext`.
    Keyed {
        kind: ProviderKind::Secretbox,
        prefix: b"k8s:enc:secretbox:v1:",
        open: |secret, body, _| secretbox::open(secret, body),
        regions: |b| {
            vec![
                (0, secretbox::NONCE.min(b), "nonce"),
                (
                    secretbox::NONCE,
                    secretbox::TAG.min(b.saturating_sub(secretbox::NONCE)),
                    "Poly1305 tag",
                ),
                (
                    secretbox::NONCE.saturating_add(secretbox::TAG),
                    b.saturating_sub(secretbox::NONCE.saturating_add(secretbox::TAG)),
                    "XSalsa20 ciphertext",
                ),
            ]
        },
    },
];

/// The entry for `kind`, if it is a keyed provider.
pub fn keyed(kind: ProviderKind) -> Option<&'static Keyed> {
    KEYED.iter().find(|k| k.kind == kind)
}

/// The entry named `name` in reports (`aescbc`, …).
pub fn keyed_named(name: &str) -> Option<&'static Keyed> {
    KEYED.iter().find(|k| k.kind.as_str() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_as_kube_apiserver_writes_them() {
        let regions = |kind, b| (keyed(kind).unwrap().regions)(b);
        assert_eq!(
            regions(ProviderKind::AesCbc, 100),
            [(0, 16, "IV"), (16, 84, "AES-CBC ciphertext (PKCS#7 padded)")]
        );
        assert_eq!(
            regions(ProviderKind::AesGcm, 100),
            [(0, 12, "nonce"), (12, 72, "AES-GCM ciphertext"), (84, 16, "GCM tag")]
        );
        // Cut short: the tag is what is left after the nonce.
        assert_eq!(
            regions(ProviderKind::AesGcm, 20),
            [(0, 12, "nonce"), (12, 0, "AES-GCM ciphertext"), (12, 8, "GCM tag")]
        );
        assert_eq!(
            regions(ProviderKind::Secretbox, 100),
            [(0, 24, "nonce"), (24, 16, "Poly1305 tag"), (40, 60, "XSalsa20 ciphertext")]
        );
        assert!(keyed(ProviderKind::Kms).is_none() && keyed(ProviderKind::Identity).is_none());
        // Every keyed provider the config reads has an envelope, and no other.
        assert_eq!(KEYED.len(), ProviderKind::KEYED.len());
        assert!(ProviderKind::KEYED.iter().all(|&kind| keyed(kind).is_some()));
        for k in &KEYED {
            assert_eq!(k.prefix, format!("k8s:enc:{}:v1:", k.kind.as_str()).as_bytes());
            assert_eq!(keyed_named(k.kind.as_str()).map(|n| n.kind), Some(k.kind));
        }
    }
}
