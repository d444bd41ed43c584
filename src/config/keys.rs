//! Key material from an EncryptionConfiguration: base64 decoding and length checks done once at
//! load time, kept in `Zeroizing` buffers, with a `Debug` that prints only the key name.
//!
//! Mirrors `validateKey` in kubernetes/apiserver
//! `pkg/apis/apiserver/validation/validation_encryption.go` (base64.StdEncoding, key sizes).

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

/// One named key of an aescbc, aesgcm or secretbox provider.
///
/// The secret is zeroized on drop and never printed: `Debug` shows the name only.
#[derive(Clone)]
pub struct NamedKey {
    /// The key name as written in the config (may contain `:`; it is matched with
    /// `starts_with`, never split).
    pub name: String,
    secret: Zeroizing<Vec<u8>>,
}

impl NamedKey {
    /// A key from raw bytes (tests, benchmarks). Config loading validates lengths; the envelope
    /// code also copes with a wrong length (the read fails, it never panics).
    pub fn new(name: impl Into<String>, secret: &[u8]) -> Self {
        Self { name: name.into(), secret: Zeroizing::new(secret.to_vec()) }
    }

    /// The key bytes. Crate-private so that nothing outside the crypto code can print them.
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Length of the key in bytes (16, 24 or 32 for AES; 32 for secretbox).
    pub fn len(&self) -> usize {
        self.secret.len()
    }

    /// Whether the key is empty (never true for a key loaded from a valid config).
    pub fn is_empty(&self) -> bool {
        self.secret.is_empty()
    }
}

impl fmt::Debug for NamedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedKey").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Go's `base64.StdEncoding`: standard alphabet, padding required, trailing bits tolerated
/// (Go is not in strict mode), and `\r`/`\n` ignored anywhere in the input.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes a `secret:` value like kube-apiserver does. `None` = not valid base64 (no detail is
/// returned: the decoder's message could quote the offending input).
pub(super) fn decode_secret(b64: &str) -> Option<Zeroizing<Vec<u8>>> {
    let cleaned: Zeroizing<String> =
        Zeroizing::new(b64.chars().filter(|c| *c != '\r' && *c != '\n').collect());
    let mut out = Zeroizing::new(Vec::with_capacity(cleaned.len()));
    GO_STD.decode_vec(cleaned.as_bytes(), &mut out).ok()?;
    Some(out)
}

/// A decoded secret wrapped into a [`NamedKey`] (after validation).
pub(super) fn named(name: String, secret: Zeroizing<Vec<u8>>) -> NamedKey {
    NamedKey { name, secret }
}
