//! The aesgcm provider's byte layout after `k8s:enc:aesgcm:v1:<key>:`:
//! `nonce[12] || ciphertext || tag[16]` (Go's `cipher.NewGCM` layout), AAD = the full etcd key.
//! Also the inner layout of KMS v1 (GCM) and KMS v2.
//!
//! Mirrors kubernetes/apiserver `pkg/storage/value/encrypt/aes/aes.go` (type `gcm`,
//! `TransformFromStorage`, `newGCM` with a 12-byte nonce).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadCore, AeadInOut, KeyInit};
use aes_gcm::{AesGcm, Nonce, Tag};
use zeroize::Zeroizing;

use super::DecryptError;

pub(crate) const NONCE: usize = 12;
pub(crate) const TAG: usize = 16;
const KEY_SIZES: &str = "16, 24 or 32";

type Gcm128 = AesGcm<Aes128, U12>;
type Gcm192 = AesGcm<Aes192, U12>;
type Gcm256 = AesGcm<Aes256, U12>;

/// Opens `nonce || ciphertext || tag` with an AES key of 16, 24 or 32 bytes and `aad`.
/// `what` names the layout in errors (`aesgcm data`, `KMS v2 encryptedData`, ...).
pub(crate) fn open(
    key: &[u8],
    data: &[u8],
    aad: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let too_short =
        DecryptError::Truncated { what, need: NONCE.saturating_add(TAG), have: data.len() };
    let (nonce, rest) = data.split_at_checked(NONCE).ok_or_else(|| too_short.clone())?;
    let ct_len = rest.len().checked_sub(TAG).ok_or(too_short)?;
    let (ct, tag) = rest.split_at_checked(ct_len).ok_or(DecryptError::GcmTag)?;
    match key.len() {
        16 => open_with::<Gcm128>(key, nonce, ct, tag, aad),
        24 => open_with::<Gcm192>(key, nonce, ct, tag, aad),
        32 => open_with::<Gcm256>(key, nonce, ct, tag, aad),
        len => Err(DecryptError::KeySize { provider: "aesgcm", len, needs: KEY_SIZES }),
    }
}

fn open_with<A>(
    key: &[u8],
    nonce: &[u8],
    ct: &[u8],
    tag: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptError>
where
    A: AeadInOut + KeyInit + AeadCore<NonceSize = U12>,
{
    let cipher = A::new_from_slice(key).map_err(|_| DecryptError::KeySize {
        provider: "aesgcm",
        len: key.len(),
        needs: KEY_SIZES,
    })?;
    let nonce = Nonce::<U12>::try_from(nonce).map_err(|_| DecryptError::GcmTag)?;
    let tag = Tag::try_from(tag).map_err(|_| DecryptError::GcmTag)?;
    let mut buf = Zeroizing::new(ct.to_vec());
    cipher
        .decrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into(), &tag)
        .map_err(|_| DecryptError::GcmTag)?;
    Ok(buf)
}

/// Encrypts like kube's `gcm.TransformToStorage`, with a caller-chosen nonce (test encoders only).
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn seal(key: &[u8], plaintext: &[u8], nonce: [u8; 12], aad: &[u8]) -> Vec<u8> {
    #[allow(clippy::expect_used)]
    fn seal_with<A: AeadInOut + KeyInit + AeadCore<NonceSize = U12>>(
        key: &[u8],
        pt: &[u8],
        nonce: [u8; 12],
        aad: &[u8],
    ) -> Vec<u8> {
        let cipher = A::new_from_slice(key).expect("AES key of 16, 24 or 32 bytes");
        let mut buf = pt.to_vec();
        let tag = cipher
            .encrypt_inout_detached(&Nonce::<U12>::from(nonce), aad, buf.as_mut_slice().into())
            .expect("plaintext within GCM limits");
        let mut out = Vec::with_capacity(NONCE.saturating_add(buf.len()).saturating_add(TAG));
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out.extend_from_slice(&tag);
        out
    }
    match key.len() {
        16 => seal_with::<Gcm128>(key, plaintext, nonce, aad),
        24 => seal_with::<Gcm192>(key, plaintext, nonce, aad),
        32 => seal_with::<Gcm256>(key, plaintext, nonce, aad),
        #[allow(clippy::panic)]
        n => panic!("aesgcm key must be 16, 24 or 32 bytes, got {n}"),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_aad() {
        for key_len in [16, 24, 32] {
            let key = vec![5u8; key_len];
            for len in [0usize, 1, 15, 16, 17, 100] {
                let pt = vec![0x61; len];
                let sealed = seal(&key, &pt, [1; 12], b"/registry/secrets/a/b");
                assert_eq!(sealed.len(), 12 + len + 16);
                let opened = open(&key, &sealed, b"/registry/secrets/a/b", "aesgcm data").unwrap();
                assert_eq!(&opened[..], &pt[..]);
                assert_eq!(
                    open(&key, &sealed, b"/registry/secrets/a/c", "aesgcm data"),
                    Err(DecryptError::GcmTag)
                );
            }
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            open(&[0; 32], &[0; 27], b"", "aesgcm data"),
            Err(DecryptError::Truncated { what: "aesgcm data", need: 28, have: 27 })
        );
        assert_eq!(open(&[0; 32], &[0; 28], b"", "aesgcm data"), Err(DecryptError::GcmTag));
        assert!(matches!(
            open(&[0; 17], &[0; 40], b"", "aesgcm data"),
            Err(DecryptError::KeySize { len: 17, .. })
        ));
    }
}
