//! The write path of kube-apiserver's transformer (layout doc §1, §5.1 step 5): encrypt with
//! provider 0 / key 0 of the rule covering the resource, identity when no rule covers it or
//! identity is first ([`atrest::testkit::seal_with_write_key`], with a fresh random nonce).
//! Public as [`seal_for`] so tests can seed etcd under any (older) config.

use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use atrest::config::EncryptionConfig;

/// Loads an EncryptionConfiguration with atrest.
pub fn load_encryption_config(path: &Path) -> Result<EncryptionConfig, String> {
    EncryptionConfig::load(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Encrypts `plaintext` for `etcd_key` as kube-apiserver would under `config`: provider 0 /
/// key 0 of the rule covering `group/resource` (identity if none, or identity first). aescbc,
/// aesgcm (AAD = the full etcd key) and secretbox, with a random IV/nonce; KMS is an error.
pub fn seal_for(
    config: &EncryptionConfig,
    group: &str,
    resource: &str,
    etcd_key: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, String> {
    atrest::testkit::seal_with_write_key(
        config,
        group,
        resource,
        etcd_key.as_bytes(),
        plaintext,
        random(),
    )
}

/// Unpredictable bytes for IVs, nonces and uids: SipHash with the process's random keys over a
/// counter and the time (no RNG crate needed; not for real cryptography).
pub(crate) fn random<const N: usize>() -> [u8; N] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let mut h = state.build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let bytes = h.finish().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    out
}

/// A random (version 4) UUID, as the apiserver assigns to new objects.
pub(crate) fn new_uid() -> String {
    let mut b: [u8; 16] = random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}
