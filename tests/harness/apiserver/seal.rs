//! The write path of kube-apiserver's transformer (layout doc §1, §5.1 step 5): encrypt with
//! provider 0 / key 0 of the rule covering the resource, identity when no rule covers it or
//! identity is first. Public as [`seal_for`] so tests can seed etcd under any (older) config.
//!
//! atrest keeps key bytes crate-private (`NamedKey::secret`), so the secrets are read here from
//! config files' own bytes: [`load_encryption_config`], [`register_encryption_config`] and
//! `ApiServer::with_backend` (its config) remember every key they see, by provider and name.
//! A config built with `EncryptionConfig::from_bytes` alone works as long as its write key
//! appeared in some remembered config (in a rotation the server's config lists old and new
//! keys). Every candidate is checked by opening the sealed value with atrest's reader under
//! `config`: it must read back, not stale (provider 0 / key 0), as the same plaintext.

use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use atrest::config::{EncryptionConfig, Provider};
use atrest::envelope::{Transformer, open};
use base64::Engine;
use serde_json::Value;

/// One key from a config file: provider (`aescbc`, `aesgcm`, `secretbox`), name, bytes.
#[derive(Clone)]
struct RawKey {
    provider: String,
    name: String,
    secret: Vec<u8>,
}

/// Every key of every remembered config.
fn registry() -> &'static Mutex<Vec<RawKey>> {
    static KEYS: OnceLock<Mutex<Vec<RawKey>>> = OnceLock::new();
    KEYS.get_or_init(Default::default)
}

/// Loads an EncryptionConfiguration with atrest and remembers its keys for [`seal_for`].
pub fn load_encryption_config(path: &Path) -> Result<EncryptionConfig, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let config = EncryptionConfig::from_bytes(&bytes).map_err(|e| e.to_string())?;
    register_encryption_config(&bytes)?;
    Ok(config)
}

/// Remembers the keys of a config given as file bytes (the same bytes `from_bytes` got).
pub fn register_encryption_config(bytes: &[u8]) -> Result<(), String> {
    EncryptionConfig::from_bytes(bytes).map_err(|e| e.to_string())?;
    let doc: Value = serde_saphyr::from_slice(bytes).map_err(|e| format!("config YAML: {e}"))?;
    let mut keys = Vec::new();
    for rule in doc["resources"].as_array().into_iter().flatten() {
        for provider in rule["providers"].as_array().into_iter().flatten() {
            for kind in ["aescbc", "aesgcm", "secretbox"] {
                for key in provider[kind]["keys"].as_array().into_iter().flatten() {
                    let (Some(name), Some(secret)) = (key["name"].as_str(), key["secret"].as_str())
                    else {
                        continue;
                    };
                    let secret = base64::engine::general_purpose::STANDARD
                        .decode(secret.trim())
                        .map_err(|e| format!("key {name}: {e}"))?;
                    keys.push(RawKey { provider: kind.into(), name: name.into(), secret });
                }
            }
        }
    }
    let mut known = lock();
    for key in keys {
        let seen = known
            .iter()
            .any(|k| k.provider == key.provider && k.name == key.name && k.secret == key.secret);
        if !seen {
            known.push(key);
        }
    }
    Ok(())
}

/// Encrypts `plaintext` for `etcd_key` as kube-apiserver would under `config`: provider 0 /
/// key 0 of the rule covering `group/resource` (identity if none, or identity first). aescbc,
/// aesgcm (AAD = the full etcd key) and secretbox, with a random IV/nonce; KMS is an error.
/// The write key must have been seen in a remembered config (see the module doc).
pub fn seal_for(
    config: &EncryptionConfig,
    group: &str,
    resource: &str,
    etcd_key: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, String> {
    let Some(chain) = config.providers_for(group, resource) else {
        return Ok(plaintext.to_vec());
    };
    let provider = chain.first().ok_or("empty provider list")?;
    let kind = match provider {
        Provider::Identity => return Ok(plaintext.to_vec()),
        Provider::Kms(k) => {
            return Err(format!("KMS provider {:?}: the test apiserver cannot encrypt", k.name));
        }
        other => other.kind().as_str(),
    };
    let name = provider.write_key_name().ok_or("provider without keys")?;
    let candidates: Vec<RawKey> =
        lock().iter().filter(|k| k.provider == kind && k.name == name).cloned().collect();
    let transformer = Transformer::for_resource(config, group, resource);
    for key in candidates {
        let sealed = seal_with(kind, &key, etcd_key, plaintext);
        // Only provider 0 / key 0 reads it back as current (not stale).
        let good = open(&sealed, etcd_key.as_bytes(), transformer)
            .is_ok_and(|o| o.stale.is_empty() && &*o.plaintext == plaintext);
        if good {
            return Ok(sealed);
        }
    }
    Err(format!(
        "the secret of {kind} key {name:?} is unknown: pass a config file holding it to \
         harness::apiserver::register_encryption_config (or load_encryption_config) first"
    ))
}

fn seal_with(kind: &str, key: &RawKey, etcd_key: &str, plaintext: &[u8]) -> Vec<u8> {
    use atrest::testkit::{seal_aescbc, seal_aesgcm, seal_secretbox};
    match kind {
        "aescbc" => seal_aescbc(&key.secret, &key.name, plaintext, random()),
        "aesgcm" => seal_aesgcm(&key.secret, &key.name, plaintext, random(), etcd_key.as_bytes()),
        _ => seal_secretbox(&key.secret, &key.name, plaintext, random()),
    }
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

fn lock() -> std::sync::MutexGuard<'static, Vec<RawKey>> {
    registry().lock().unwrap_or_else(|e| e.into_inner())
}
