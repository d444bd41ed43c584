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
    /// The providers with keys in the file (`keys: [{name, secret}]`), in the order
    /// kube-apiserver's validation names them.
    pub const KEYED: [Self; 3] = [Self::AesGcm, Self::AesCbc, Self::Secretbox];

    /// The keyed provider spelled `name` in the file.
    pub fn keyed(name: &str) -> Option<Self> {
        Self::KEYED.into_iter().find(|k| k.as_str() == name)
    }

    /// The secret lengths a keyed provider accepts (empty for the others).
    pub fn key_sizes(self) -> &'static [usize] {
        match self {
            Self::AesCbc | Self::AesGcm => &[16, 24, 32],
            Self::Secretbox => &[32],
            Self::Identity | Self::Kms => &[],
        }
    }

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
