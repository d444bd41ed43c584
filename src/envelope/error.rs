//! Why a value could not be read: per-attempt causes ([`DecryptError`]), each failed provider
//! ([`Attempt`]) and the verdict for the value ([`EnvelopeError`], with the golden-manifest
//! error class). Mirrors the aggregated errors of kubernetes/apiserver
//! `pkg/storage/value/transformer.go` (`prefixTransformers.TransformFromStorage`), but no variant
//! ever holds key bytes, plaintext or ciphertext: only kinds, names, lengths and what failed.

use std::fmt;

use super::{KmsApiVersion, ProviderKind};

/// Why one provider/key could not read a value. Holds no data bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The data is shorter than the layout needs.
    #[error("{what} is {have} bytes, shorter than the {need} bytes needed")]
    Truncated {
        /// Which layout.
        what: &'static str,
        /// Minimum length.
        need: usize,
        /// Actual length.
        have: usize,
    },
    /// AES-CBC data (after the IV) whose length is not a whole number of blocks.
    #[error("length {len} is not a multiple of 16")]
    NotBlockAligned {
        /// Length of the ciphertext after the IV.
        len: usize,
    },
    /// AES-CBC decrypted, but the PKCS#7 padding is wrong (usually the wrong key).
    #[error("padding invalid")]
    Padding,
    /// AES-GCM authentication failed.
    #[error("authentication tag mismatch (wrong key, or value moved to another etcd key?)")]
    GcmTag,
    /// secretbox authentication failed.
    #[error("MAC mismatch (wrong key, or tampered data)")]
    SecretboxMac,
    /// A key of a size the cipher cannot use.
    #[error("key is {len} bytes, {provider} needs {needs}")]
    KeySize {
        /// Cipher.
        provider: &'static str,
        /// Key length.
        len: usize,
        /// Accepted lengths.
        needs: &'static str,
    },
    /// A malformed KMS v2 EncryptedObject.
    #[error("invalid KMS v2 EncryptedObject: {what}")]
    KmsObject {
        /// What is wrong.
        what: &'static str,
    },
    /// A KMS v2 encryptedDEKSourceType this version does not know.
    #[error("invalid KMS v2 EncryptedObject: unknown encryptedDEKSourceType {value}")]
    KmsDekSourceType {
        /// The value found.
        value: i32,
    },
    /// A KMS v2 seed the HKDF cannot use.
    #[error("KMS v2 seed is {len} bytes, need at least 32")]
    KmsSeed {
        /// Seed length.
        len: usize,
    },
    /// Neither inner layout of KMS v1 could be read.
    #[error("neither AES-GCM ({gcm}) nor the legacy AES-CBC fallback ({cbc}) could read it")]
    KmsV1Inner {
        /// The GCM failure.
        gcm: Box<DecryptError>,
        /// The CBC failure.
        cbc: Box<DecryptError>,
    },
    /// No KMS plugin client yet.
    #[error("decryption through the KMS plugin is not supported yet")]
    KmsUnsupported,
    /// The KMS plugin's Decrypt call failed.
    #[error("KMS plugin Decrypt failed: {message}")]
    KmsPlugin {
        /// The plugin's error (never a key).
        message: String,
    },
}

/// One failed read by a provider whose prefix matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Position of the provider in the chain (0 = write provider).
    pub provider_index: usize,
    /// Its kind.
    pub provider: ProviderKind,
    /// KMS API version, for KMS providers.
    pub kms_api_version: Option<KmsApiVersion>,
    /// Key name, or KMS provider name.
    pub name: String,
    /// What failed.
    pub error: DecryptError,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.provider {
            ProviderKind::Kms => write!(f, "KMS provider {}: {}", self.name, self.error),
            kind => write!(f, "{} {}: {}", kind.as_str(), self.name, self.error),
        }
    }
}

/// Why a value is unreadable. `class()` gives the golden-manifest error class.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Encrypted, but no encryption rule covers the resource (bare identity transformer).
    #[error("the value is encrypted ({found}) but no encryption rule covers this resource")]
    Uncovered {
        /// What the prefix says (provider kind and key name, never data).
        found: String,
    },
    /// Encrypted, and no configured provider+key prefix matches.
    #[error("no configured provider and key matches the value's prefix ({found})")]
    NoProvider {
        /// What the prefix says (provider kind and key name, never data).
        found: String,
    },
    /// Every provider/key whose prefix matched failed; each cause is kept.
    #[error("no provider could read it: {}", join(.attempts))]
    Decrypt {
        /// The failed attempts, in chain order.
        attempts: Vec<Attempt>,
    },
}

fn join(attempts: &[Attempt]) -> String {
    attempts.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl EnvelopeError {
    /// `no-provider` (no provider+key prefix matches; identity refuses `k8s:enc:` data) or
    /// `decrypt` (a matching provider failed).
    pub fn class(&self) -> &'static str {
        match self {
            Self::Uncovered { .. } | Self::NoProvider { .. } => "no-provider",
            Self::Decrypt { .. } => "decrypt",
        }
    }

    /// Whether a KMS provider matched but could not be asked (no plugin client): the value may
    /// well be readable by kube-apiserver.
    pub fn needs_kms_plugin(&self) -> bool {
        match self {
            Self::Decrypt { attempts } => {
                attempts.iter().any(|a| a.error == DecryptError::KmsUnsupported)
            }
            Self::Uncovered { .. } | Self::NoProvider { .. } => false,
        }
    }
}
