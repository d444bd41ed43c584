//! KMS v1 and v2 envelopes: their byte layouts, decryption given the plaintext DEK/seed, and the
//! seam ([`KmsPlugin`]) through which a gRPC plugin client supplies that DEK.
//!
//! - v1 (kubernetes/apiserver `pkg/storage/value/encrypt/envelope/envelope.go`):
//!   `u16 BE len(encDEK) || encDEK || inner`, inner = AES-GCM (nonce‖ct‖tag, AAD = etcd key)
//!   or, for data written by kube ≤ 1.24, AES-CBC (stale): `unionTransformers` tries GCM first.
//! - v2 (`pkg/storage/value/encrypt/envelope/kmsv2/envelope.go`, `ValidateEncryptedObject`): one
//!   `EncryptedObject` protobuf. Type 0 (`AES_GCM_KEY`): the DEK source is the AES key. Type 1
//!   (`HKDF_SHA256_XNONCE_AES_GCM_SEED`, `pkg/storage/value/encrypt/aes/aes_extended_nonce.go`):
//!   `DEK = HKDF-Expand(SHA-256, seed, info = encryptedData[..32], 32)`, then GCM on the rest.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::collections::HashMap;

use bytes::Bytes;
use prost::Message as _;
use zeroize::Zeroizing;

use super::{DecryptError, aescbc, aesgcm, printable_name};
use crate::config::KmsProvider;
use crate::pb::kmsv2::EncryptedObject;
use crate::reader::Reader;

/// Limits from `ValidateEncryptedObject` (kmsv2/envelope.go).
const KEY_ID_MAX: usize = 1024;
const DEK_SOURCE_MAX: usize = 1024;
const ANNOTATIONS_MAX: usize = 32 * 1024;
/// `commonSize` in aes_extended_nonce.go: HKDF info length and derived key length.
const SEED_INFO: usize = 32;

/// What a KMS plugin is asked to decrypt (`v1beta1.DecryptRequest` / `v2.DecryptRequest`).
#[derive(Clone, Copy, Debug)]
pub enum DekRequest<'a> {
    /// KMS v1: the opaque encrypted DEK from the envelope.
    V1 {
        /// `cipher` of the v1beta1 Decrypt call.
        encrypted_dek: &'a [u8],
    },
    /// KMS v2: the fields of the EncryptedObject the plugin needs.
    V2 {
        /// `ciphertext` of the v2 Decrypt call.
        encrypted_dek_source: &'a [u8],
        /// `key_id` of the v2 Decrypt call.
        key_id: &'a str,
        /// `annotations` of the v2 Decrypt call.
        annotations: &'a HashMap<String, Bytes>,
    },
}

/// Where plaintext DEKs come from. The gRPC client (a later issue) implements this, with a cache
/// keyed by the encrypted DEK like kube-apiserver's. Implementations must be usable from several
/// decoding threads.
pub trait KmsPlugin: Sync {
    /// The plugin's Decrypt for `provider`: the plaintext DEK (v1, v2 type 0) or seed (v2 type 1).
    /// Errors should be [`DecryptError::KmsPlugin`] (or [`DecryptError::KmsUnsupported`]).
    fn decrypt(
        &self,
        provider: &KmsProvider,
        request: &DekRequest<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError>;

    /// The `key_id` of the plugin's current v2 `Status`, used to judge staleness; `None` when
    /// unknown (then a keyID is never called stale).
    fn current_key_id(&self, provider: &KmsProvider) -> Option<String>;
}

/// The plugin used until KMS support lands: every Decrypt fails with
/// [`DecryptError::KmsUnsupported`], so the walk goes on to later providers.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoKmsPlugin;

impl KmsPlugin for NoKmsPlugin {
    fn decrypt(
        &self,
        _: &KmsProvider,
        _: &DekRequest<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        Err(DecryptError::KmsUnsupported)
    }

    fn current_key_id(&self, _: &KmsProvider) -> Option<String> {
        None
    }
}

/// A KMS v1 envelope split into its parts (borrowed from the value).
#[derive(Clone, Copy)]
pub struct KmsV1Envelope<'a> {
    /// The plugin-encrypted DEK (opaque).
    pub encrypted_dek: &'a [u8],
    /// The inner AES-GCM (or legacy AES-CBC) data.
    pub ciphertext: &'a [u8],
}

/// Splits the bytes after `k8s:enc:kms:v1:<name>:`.
pub fn parse_v1(body: &[u8]) -> Result<KmsV1Envelope<'_>, DecryptError> {
    let mut r = Reader::new(body);
    let dek_len = usize::from(r.u16_be().map_err(|_| DecryptError::Truncated {
        what: "KMS v1 DEK length",
        need: 2,
        have: body.len(),
    })?);
    let encrypted_dek = r.take(dek_len).map_err(|_| DecryptError::Truncated {
        what: "KMS v1 encrypted DEK",
        need: dek_len.saturating_add(2),
        have: body.len(),
    })?;
    Ok(KmsV1Envelope { encrypted_dek, ciphertext: r.rest() })
}

/// Decrypts the inner data of a KMS v1 envelope with the plaintext DEK: AES-GCM first, then the
/// legacy AES-CBC. Returns the plaintext and whether the CBC fallback was used (stale).
pub fn open_v1(
    ciphertext: &[u8],
    dek: &[u8],
    etcd_key: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, bool), DecryptError> {
    let gcm = match aesgcm::open(dek, ciphertext, etcd_key, "KMS v1 data") {
        Ok(pt) => return Ok((pt, false)),
        Err(e) => e,
    };
    match aescbc::open(dek, ciphertext) {
        Ok(pt) => Ok((pt, true)),
        Err(cbc) => Err(DecryptError::KmsV1Inner { gcm: Box::new(gcm), cbc: Box::new(cbc) }),
    }
}

/// `EncryptedObject.encryptedDEKSourceType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DekSourceType {
    /// 0: the DEK source is the AES-GCM key itself (kube 1.27–1.28 default).
    AesGcmKey,
    /// 1: the DEK source is an HKDF seed (kube 1.29+).
    HkdfSha256XnonceAesGcmSeed,
}

impl DekSourceType {
    /// The proto enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AesGcmKey => "AES_GCM_KEY",
            Self::HkdfSha256XnonceAesGcmSeed => "HKDF_SHA256_XNONCE_AES_GCM_SEED",
        }
    }
}

/// A decoded and validated KMS v2 `EncryptedObject`.
#[derive(Clone)]
pub struct KmsV2Object {
    inner: EncryptedObject,
    source_type: DekSourceType,
}

impl KmsV2Object {
    /// The KEK id the plugin reported when this value was written.
    pub fn key_id(&self) -> &str {
        &self.inner.key_id
    }
    /// How the DEK source is used.
    pub fn dek_source_type(&self) -> DekSourceType {
        self.source_type
    }
    /// The KMS-encrypted DEK or seed.
    pub fn encrypted_dek_source(&self) -> &[u8] {
        &self.inner.encrypted_dek_source
    }
    /// Plugin annotations.
    pub fn annotations(&self) -> &HashMap<String, Bytes> {
        &self.inner.annotations
    }
    /// The data ciphertext (layout depends on [`Self::dek_source_type`]).
    pub fn encrypted_data(&self) -> &[u8] {
        &self.inner.encrypted_data
    }
}

fn decode_v2(body: &[u8]) -> Result<EncryptedObject, DecryptError> {
    EncryptedObject::decode(body)
        .map_err(|_| DecryptError::KmsObject { what: "not a valid EncryptedObject protobuf" })
}

/// The keyID of a KMS v2 value, best effort (for [`super::identify`]).
pub(crate) fn peek_key_id(body: &[u8]) -> Option<String> {
    decode_v2(body).ok().and_then(|o| printable_name(o.key_id.as_bytes()))
}

/// Decodes and validates the bytes after `k8s:enc:kms:v2:<name>:`.
pub fn parse_v2(body: &[u8]) -> Result<KmsV2Object, DecryptError> {
    validate_v2(decode_v2(body)?)
}

fn validate_v2(inner: EncryptedObject) -> Result<KmsV2Object, DecryptError> {
    let bad = |what| Err(DecryptError::KmsObject { what });
    let source_type = match inner.encrypted_dek_source_type {
        0 => DekSourceType::AesGcmKey,
        1 => DekSourceType::HkdfSha256XnonceAesGcmSeed,
        value => return Err(DecryptError::KmsDekSourceType { value }),
    };
    if inner.encrypted_data.is_empty() {
        return bad("encryptedData is empty");
    }
    if inner.encrypted_dek_source.is_empty() {
        return bad("encryptedDEKSource is empty");
    }
    if inner.encrypted_dek_source.len() > DEK_SOURCE_MAX {
        return bad("encryptedDEKSource is longer than 1 KiB");
    }
    if inner.key_id.is_empty() {
        return bad("keyID is empty");
    }
    if inner.key_id.len() > KEY_ID_MAX {
        return bad("keyID is longer than 1 KiB");
    }
    let mut total: usize = 0;
    for (k, v) in &inner.annotations {
        if !is_fqdn(k) {
            return bad("an annotation key is not a fully qualified domain name");
        }
        total = total.saturating_add(k.len()).saturating_add(v.len());
    }
    if total > ANNOTATIONS_MAX {
        return bad("annotations are larger than 32 KiB");
    }
    Ok(KmsV2Object { inner, source_type })
}

/// `validation.IsFullyQualifiedDomainName`: at least two DNS-1123 labels, at most 253 chars.
fn is_fqdn(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        (1..=63).contains(&b.len())
            && b.first().is_some_and(edge)
            && b.last().is_some_and(edge)
            && b.iter().all(|c| edge(c) || *c == b'-')
    };
    (1..=253).contains(&name.len()) && name.split('.').count() >= 2 && name.split('.').all(label_ok)
}

/// Decrypts a KMS v2 object with the plaintext DEK source from the plugin.
pub fn open_v2(
    obj: &KmsV2Object,
    dek_source: &[u8],
    etcd_key: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    const WHAT: &str = "KMS v2 encryptedData";
    let data = obj.encrypted_data();
    match obj.source_type {
        DekSourceType::AesGcmKey => aesgcm::open(dek_source, data, etcd_key, WHAT),
        DekSourceType::HkdfSha256XnonceAesGcmSeed => {
            let mut r = Reader::new(data);
            let info = r.take(SEED_INFO).map_err(|_| DecryptError::Truncated {
                what: WHAT,
                need: SEED_INFO.saturating_add(aesgcm::NONCE).saturating_add(aesgcm::TAG),
                have: data.len(),
            })?;
            let dek = derive_dek(dek_source, info)?;
            aesgcm::open(dek.as_slice(), r.rest(), etcd_key, WHAT)
        }
    }
}

/// `sha256KDFExpandOnly`: HKDF-Expand with the seed as PRK, no extract step, 32-byte output.
fn derive_dek(seed: &[u8], info: &[u8]) -> Result<Zeroizing<[u8; 32]>, DecryptError> {
    let bad_seed = || DecryptError::KmsSeed { len: seed.len() };
    let hk = hkdf::Hkdf::<sha2::Sha256>::from_prk(seed).map_err(|_| bad_seed())?;
    let mut dek = Zeroizing::new([0u8; SEED_INFO]);
    hk.expand(info, dek.as_mut_slice()).map_err(|_| bad_seed())?;
    Ok(dek)
}

/// The whole v1 read: split, ask the plugin, decrypt. Returns the plaintext and the inner stale
/// reasons.
pub(super) fn read_v1(
    body: &[u8],
    etcd_key: &[u8],
    provider: &KmsProvider,
    plugin: &dyn KmsPlugin,
) -> Result<(Zeroizing<Vec<u8>>, Vec<String>), DecryptError> {
    let env = parse_v1(body)?;
    let dek = plugin.decrypt(provider, &DekRequest::V1 { encrypted_dek: env.encrypted_dek })?;
    let (plaintext, legacy_cbc) = open_v1(env.ciphertext, &dek, etcd_key)?;
    let stale =
        if legacy_cbc { vec!["KMS v1 legacy CBC inner encryption".to_owned()] } else { Vec::new() };
    Ok((plaintext, stale))
}

/// The whole v2 read. `key_id` is filled as soon as the object decodes, so that an unreadable
/// value still reports which KEK wrote it.
pub(super) fn read_v2(
    body: &[u8],
    etcd_key: &[u8],
    provider: &KmsProvider,
    plugin: &dyn KmsPlugin,
    key_id: &mut Option<String>,
) -> Result<(Zeroizing<Vec<u8>>, Vec<String>), DecryptError> {
    let decoded = decode_v2(body)?;
    *key_id = printable_name(decoded.key_id.as_bytes());
    let obj = validate_v2(decoded)?;
    let request = DekRequest::V2 {
        encrypted_dek_source: obj.encrypted_dek_source(),
        key_id: obj.key_id(),
        annotations: obj.annotations(),
    };
    let dek_source = plugin.decrypt(provider, &request)?;
    let plaintext = open_v2(&obj, &dek_source, etcd_key)?;
    let mut stale = Vec::new();
    if let Some(current) = plugin.current_key_id(provider)
        && current != obj.key_id()
    {
        stale.push(format!(
            "KMS v2 keyID {} is not the plugin's current key_id {current}",
            obj.key_id()
        ));
    }
    // kube-apiserver 1.29+ always writes seeds (KMSv2KDF is GA and locked on).
    if obj.dek_source_type() != DekSourceType::HkdfSha256XnonceAesGcmSeed {
        stale.push(format!(
            "KMS v2 DEK source type {}, but kube-apiserver 1.29+ writes {}",
            obj.dek_source_type().as_str(),
            DekSourceType::HkdfSha256XnonceAesGcmSeed.as_str()
        ));
    }
    Ok((plaintext, stale))
}
