//! Encryption envelopes: kube-apiserver's read path for one etcd value. Walks the configured
//! providers in order, tries every matching `k8s:enc:...` prefix, decrypts, and says whether
//! kube-apiserver would call the read stale. Without a config, [`identify`] reads the prefix.
//!
//! Mirrors kubernetes/apiserver `pkg/storage/value/transformer.go` (`prefixTransformers`,
//! `TransformFromStorage`), `pkg/server/options/encryptionconfig/config.go` (prefixes, nested
//! per-key prefix lists, `transformerFromOverrides`) and
//! `pkg/storage/value/encrypt/identity/identity.go`. Provider layouts live in `aescbc.rs`,
//! `aesgcm.rs`, `secretbox.rs` and `kms.rs`.
//!
//! Nothing here ever puts key bytes, plaintext or ciphertext into an error or a reason: only
//! provider kinds, key/provider names, lengths and what failed.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

pub(crate) mod aescbc;
pub(crate) mod aesgcm;
mod error;
pub mod kms;
pub mod kms_plugin;
pub mod scheme;
pub(crate) mod secretbox;

#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::Deref;

use zeroize::Zeroizing;

use crate::config::{EncryptionConfig, NamedKey, Provider};
pub use crate::config::{KmsApiVersion, ProviderKind};
pub use error::{Attempt, DecryptError, EnvelopeError};
pub use kms::{KmsPlugin, NoKmsPlugin};

/// Every envelope starts with this; identity refuses such values.
pub const ENC_PREFIX: &[u8] = b"k8s:enc:";
const KMS_V1_PREFIX: &[u8] = b"k8s:enc:kms:v1:";
const KMS_V2_PREFIX: &[u8] = b"k8s:enc:kms:v2:";

/// What encrypts a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encryption {
    /// The provider kind.
    pub provider: ProviderKind,
    /// `v1`/`v2` for KMS, else `None`.
    pub kms_api_version: Option<KmsApiVersion>,
    /// Key name (aescbc/aesgcm/secretbox) or KMS provider name; `None` for identity.
    pub key_name: Option<String>,
    /// KMS v2 `keyID` (the KEK id); `None` otherwise.
    pub key_id: Option<String>,
}

impl Encryption {
    /// Plaintext (identity provider).
    pub fn identity() -> Self {
        Self {
            provider: ProviderKind::Identity,
            kms_api_version: None,
            key_name: None,
            key_id: None,
        }
    }

    fn keyed(provider: ProviderKind, key: &NamedKey) -> Self {
        Self { provider, kms_api_version: None, key_name: Some(key.name.clone()), key_id: None }
    }
}

/// Decrypted (or plain) bytes. Owned plaintext is zeroized on drop. `Debug` shows the length only.
pub enum Plaintext<'a> {
    /// The value itself (identity).
    Borrowed(&'a [u8]),
    /// Decrypted bytes.
    Owned(Zeroizing<Vec<u8>>),
}

impl Deref for Plaintext<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Self::Borrowed(b) => b,
            Self::Owned(v) => v,
        }
    }
}

impl AsRef<[u8]> for Plaintext<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for Plaintext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plaintext({} bytes)", self.len())
    }
}

/// A value kube-apiserver could read.
#[derive(Debug)]
pub struct Opened<'a> {
    /// The plaintext (a serialized object, or whatever the value holds).
    pub plaintext: Plaintext<'a>,
    /// The provider and key that read it.
    pub encryption: Encryption,
    /// Why kube-apiserver would call this read stale; empty = current.
    pub stale: Vec<String>,
}

/// A value kube-apiserver could not read.
#[derive(Debug)]
pub struct Unreadable {
    /// What wrote it: the first provider/key whose prefix matched, else [`identify`].
    pub encryption: Option<Encryption>,
    /// Why it could not be read.
    pub error: EnvelopeError,
}

/// Which transformer kube-apiserver uses for a resource.
#[derive(Clone, Copy, Debug)]
pub enum Transformer<'c> {
    /// No rule covers the resource: bare identity (never stale; `k8s:enc:` data is unreadable).
    Bare,
    /// The provider chain of the matching rule(s); index 0 writes.
    Chain(&'c [Provider]),
}

impl<'c> Transformer<'c> {
    /// The transformer `config` gives to a GroupResource (`transformerFromOverrides`).
    pub fn for_resource(config: &'c EncryptionConfig, group: &str, resource: &str) -> Self {
        config.providers_for(group, resource).map_or(Self::Bare, Self::Chain)
    }
}

/// Whether the value carries an encryption envelope (`k8s:enc:`), known or not.
pub fn is_enveloped(value: &[u8]) -> bool {
    value.starts_with(ENC_PREFIX)
}

/// A name read from a value, kept only if it is printable UTF-8 (so random ciphertext bytes are
/// never reported as a name).
pub(crate) fn printable_name(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    (!s.is_empty() && !s.chars().any(char::is_control)).then(|| s.to_owned())
}

/// Without a config: what the prefix says. `None` when there is no `k8s:enc:` prefix (identity,
/// plaintext) and also for an unknown `k8s:enc:` provider or version (see [`is_enveloped`]).
///
/// The key name is the text up to the last `:` of the printable run after
/// `k8s:enc:<provider>:v1:`: names may themselves contain `:` (`old:key:1`), while ciphertext is
/// binary. Only [`open`] with the config knows the name for certain. A name that is not printable
/// UTF-8 is reported as `None`. For KMS v2 the `keyID` is parsed from the
/// EncryptedObject (best effort).
pub fn identify(value: &[u8]) -> Option<Encryption> {
    let (provider, kms_api_version, rest) = scheme::KEYED
        .iter()
        .map(|k| (k.prefix, k.kind, None))
        .chain([
            (KMS_V1_PREFIX, ProviderKind::Kms, Some(KmsApiVersion::V1)),
            (KMS_V2_PREFIX, ProviderKind::Kms, Some(KmsApiVersion::V2)),
        ])
        .find_map(|(prefix, kind, version)| {
            value.strip_prefix(prefix).map(|r| (kind, version, r))
        })?;
    // Key names may contain ':' and the ciphertext is binary, so the name ends at the last ':'
    // of the leading printable run (the first ':' would cut "old:key:1" to "old"). Random
    // ciphertext extends that run with a ':' rarely (< 1%); with a config, `open` matches the
    // configured names exactly instead.
    let printable = rest.iter().position(|b| !(0x20..=0x7e).contains(b)).unwrap_or(rest.len());
    let split = rest
        .get(..printable)
        .and_then(|run| run.iter().rposition(|&b| b == b':'))
        .and_then(|i| rest.split_at_checked(i));
    let (key_name, body) = match split {
        Some((name, colon_body)) => (printable_name(name), colon_body.get(1..)),
        None => (None, None),
    };
    let key_id = match (kms_api_version, &key_name, body) {
        (Some(KmsApiVersion::V2), Some(_), Some(body)) => kms::peek_key_id(body),
        _ => None,
    };
    Some(Encryption { provider, kms_api_version, key_name, key_id })
}

/// What the prefix says, for error messages.
fn describe(value: &[u8]) -> String {
    match identify(value) {
        Some(Encryption { provider: ProviderKind::Kms, kms_api_version, key_name, .. }) => {
            let version = kms_api_version.map_or("?", KmsApiVersion::as_str);
            match key_name {
                Some(name) => format!("kms {version} provider {name}"),
                None => format!("kms {version}, provider name unreadable"),
            }
        }
        Some(Encryption { provider, key_name: Some(name), .. }) => {
            format!("{} key {name}", provider.as_str())
        }
        Some(Encryption { provider, .. }) => format!("{}, key name unreadable", provider.as_str()),
        None => {
            let rest = value.strip_prefix(ENC_PREFIX).unwrap_or_default();
            let token = rest.iter().position(|&b| b == b':').and_then(|i| rest.get(..i));
            match token.filter(|t| t.len() <= 32).and_then(printable_name) {
                Some(t) => format!("unknown provider {t:?}"),
                None => "unknown k8s:enc: prefix".to_owned(),
            }
        }
    }
}

/// The bytes after `<name>:` when `rest` starts with it (names are matched whole, never split).
fn strip_name<'v>(rest: &'v [u8], name: &str) -> Option<&'v [u8]> {
    rest.strip_prefix(name.as_bytes())?.strip_prefix(b":")
}

/// kube-apiserver's read path (§1.5 of the storage-layout doc): walk providers in config order,
/// every matching prefix, keep going on failure; stale = not provider 0, or not key 0 of that
/// provider, or KMS v1 CBC fallback. KMS providers are recognized but cannot decrypt yet.
pub fn open<'a>(
    value: &'a [u8],
    etcd_key: &[u8],
    t: Transformer<'_>,
) -> Result<Opened<'a>, Unreadable> {
    open_with_kms(value, etcd_key, t, &NoKmsPlugin)
}

/// [`open`] with a source of KMS DEKs (the plugin client).
pub fn open_with_kms<'a>(
    value: &'a [u8],
    etcd_key: &[u8],
    t: Transformer<'_>,
    plugin: &dyn KmsPlugin,
) -> Result<Opened<'a>, Unreadable> {
    let chain = match t {
        Transformer::Chain(chain) => chain,
        Transformer::Bare if is_enveloped(value) => {
            return Err(Unreadable {
                encryption: identify(value),
                error: EnvelopeError::Uncovered { found: describe(value) },
            });
        }
        Transformer::Bare => return Ok(plain(value, Vec::new())),
    };
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut first_match: Option<Encryption> = None;
    for (index, provider) in chain.iter().enumerate() {
        match provider {
            Provider::Identity => {
                // The encrypt-check identity transformer: errors on k8s:enc: data, and that
                // error is not recorded (empty prefix).
                if !is_enveloped(value) {
                    return Ok(plain(value, stale_reasons(chain, index, None, Vec::new())));
                }
            }
            Provider::Keyed { keys, .. } => {
                let kind = provider.kind();
                let Some(scheme) = scheme::keyed(kind) else { continue };
                let Some(rest) = value.strip_prefix(scheme.prefix) else { continue };
                for (key_index, key) in keys.iter().enumerate() {
                    let Some(body) = strip_name(rest, &key.name) else { continue };
                    let result = (scheme.open)(key.secret(), body, etcd_key);
                    match result {
                        Ok(plaintext) => {
                            return Ok(Opened {
                                plaintext: Plaintext::Owned(plaintext),
                                encryption: Encryption::keyed(kind, key),
                                stale: stale_reasons(chain, index, Some(key_index), Vec::new()),
                            });
                        }
                        Err(error) => {
                            first_match.get_or_insert_with(|| Encryption::keyed(kind, key));
                            attempts.push(Attempt {
                                provider_index: index,
                                provider: kind,
                                kms_api_version: None,
                                name: key.name.clone(),
                                error,
                            });
                        }
                    }
                }
            }
            Provider::Kms(k) => {
                let prefix = match k.api_version {
                    KmsApiVersion::V1 => KMS_V1_PREFIX,
                    KmsApiVersion::V2 => KMS_V2_PREFIX,
                };
                let Some(body) = value.strip_prefix(prefix).and_then(|r| strip_name(r, &k.name))
                else {
                    continue;
                };
                let mut encryption = Encryption {
                    provider: ProviderKind::Kms,
                    kms_api_version: Some(k.api_version),
                    key_name: Some(k.name.clone()),
                    key_id: None,
                };
                let result = match k.api_version {
                    KmsApiVersion::V1 => kms::read_v1(body, etcd_key, k, plugin),
                    KmsApiVersion::V2 => {
                        kms::read_v2(body, etcd_key, k, plugin, &mut encryption.key_id)
                    }
                };
                match result {
                    Ok((plaintext, inner)) => {
                        return Ok(Opened {
                            plaintext: Plaintext::Owned(plaintext),
                            encryption,
                            stale: stale_reasons(chain, index, None, inner),
                        });
                    }
                    Err(error) => {
                        first_match.get_or_insert(encryption);
                        attempts.push(Attempt {
                            provider_index: index,
                            provider: ProviderKind::Kms,
                            kms_api_version: Some(k.api_version),
                            name: k.name.clone(),
                            error,
                        });
                    }
                }
            }
        }
    }
    let error = if attempts.is_empty() {
        EnvelopeError::NoProvider { found: describe(value) }
    } else {
        EnvelopeError::Decrypt { attempts }
    };
    Err(Unreadable { encryption: first_match.or_else(|| identify(value)), error })
}

fn plain(value: &[u8], stale: Vec<String>) -> Opened<'_> {
    Opened { plaintext: Plaintext::Borrowed(value), encryption: Encryption::identity(), stale }
}

/// Every reason kube-apiserver would call a read by `chain[index]` (key `key_index`) stale.
fn stale_reasons(
    chain: &[Provider],
    index: usize,
    key_index: Option<usize>,
    inner: Vec<String>,
) -> Vec<String> {
    let (Some(reader), Some(writer)) = (chain.get(index), chain.first()) else { return inner };
    let mut reasons = Vec::new();
    if index != 0 {
        let position = index.saturating_add(1);
        reasons.push(match (reader, writer) {
            (Provider::Identity, _) => {
                format!("stored as plaintext, but the write provider is {}", writer.label())
            }
            (_, Provider::Identity) => format!(
                "encrypted with {}, but the write provider is identity (encryption being turned off)",
                reader.label()
            ),
            _ => format!(
                "read by provider {position} ({}), not the write provider {}",
                reader.label(),
                writer.label()
            ),
        });
    }
    if let Some(k) = key_index.filter(|&k| k != 0) {
        let keys = reader.keys();
        if let (Some(used), Some(first)) = (keys.get(k), keys.first()) {
            let kind = reader.kind().as_str();
            reasons.push(if index == 0 {
                format!("encrypted with {}, not the write key {} of {kind}", used.name, first.name)
            } else {
                format!(
                    "encrypted with {}, not the first key {} of provider {} ({kind})",
                    used.name,
                    first.name,
                    index.saturating_add(1)
                )
            });
        }
    }
    reasons.extend(inner);
    reasons
}
