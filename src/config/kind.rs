//! The kinds of provider an EncryptionConfiguration names (and an envelope's prefix tells).

/// Kind of encryption provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// Plaintext.
    Identity,
    /// AES-CBC with PKCS#7.
    AesCbc,
    /// AES-GCM.
    AesGcm,
    /// XSalsa20-Poly1305.
    Secretbox,
    /// KMS v1 or v2 envelope encryption.
    Kms,
}

impl ProviderKind {
    /// `identity`, `aescbc`, `aesgcm`, `secretbox` or `kms`, as in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::AesCbc => "aescbc",
            Self::AesGcm => "aesgcm",
            Self::Secretbox => "secretbox",
            Self::Kms => "kms",
        }
    }
}
