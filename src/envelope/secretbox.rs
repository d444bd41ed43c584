//! The secretbox provider's byte layout after `k8s:enc:secretbox:v1:<key>:`:
//! `nonce[24] || Poly1305 tag[16] || XSalsa20 ciphertext` (NaCl `secretbox.Seal` appended to the
//! nonce, so the tag comes first), 32-byte key, no AAD.
//!
//! Mirrors kubernetes/apiserver `pkg/storage/value/encrypt/secretbox/secretbox.go`.
//! `crypto_secretbox` uses the same tag-first layout (`encrypt_in_place` prepends the tag).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crypto_secretbox::aead::AeadInPlace;
use crypto_secretbox::{KeyInit, Nonce, Tag, XSalsa20Poly1305};
use zeroize::Zeroizing;

use super::DecryptError;

pub(crate) const NONCE: usize = 24;
pub(crate) const TAG: usize = 16;
const KEY: usize = 32;

/// Opens `nonce || tag || ciphertext` with a 32-byte key.
pub(crate) fn open(key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let too_short = DecryptError::Truncated {
        what: "secretbox data",
        need: NONCE.saturating_add(TAG),
        have: data.len(),
    };
    let (nonce, rest) = data.split_at_checked(NONCE).ok_or_else(|| too_short.clone())?;
    let (tag, ct) = rest.split_at_checked(TAG).ok_or(too_short)?;
    let bad_key = || DecryptError::KeySize { provider: "secretbox", len: key.len(), needs: "32" };
    if key.len() != KEY {
        return Err(bad_key());
    }
    let cipher = XSalsa20Poly1305::new_from_slice(key).map_err(|_| bad_key())?;
    let nonce = Nonce::from_exact_iter(nonce.iter().copied()).ok_or(DecryptError::SecretboxMac)?;
    let tag = Tag::from_exact_iter(tag.iter().copied()).ok_or(DecryptError::SecretboxMac)?;
    let mut buf = Zeroizing::new(ct.to_vec());
    cipher
        .decrypt_in_place_detached(&nonce, b"", &mut buf, &tag)
        .map_err(|_| DecryptError::SecretboxMac)?;
    Ok(buf)
}

/// Encrypts like kube's secretbox `TransformToStorage`, with a caller-chosen nonce (test
/// encoders only).
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn seal(key: &[u8], plaintext: &[u8], nonce: [u8; 24]) -> Vec<u8> {
    #[allow(clippy::expect_used)]
    let cipher = XSalsa20Poly1305::new_from_slice(key).expect("secretbox key of 32 bytes");
    let nonce = Nonce::from(nonce);
    let mut buf = plaintext.to_vec();
    #[allow(clippy::expect_used)]
    let tag = cipher.encrypt_in_place_detached(&nonce, b"", &mut buf).expect("within limits");
    let mut out = Vec::with_capacity(NONCE.saturating_add(TAG).saturating_add(buf.len()));
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&buf);
    out
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = [9u8; 32];
        for len in [0usize, 1, 64, 200] {
            let pt = vec![0x7a; len];
            let mut sealed = seal(&key, &pt, [4; 24]);
            assert_eq!(sealed.len(), 24 + 16 + len);
            assert_eq!(&open(&key, &sealed).unwrap()[..], &pt[..]);
            let last = sealed.len() - 1;
            sealed[last] ^= 1;
            assert_eq!(open(&key, &sealed), Err(DecryptError::SecretboxMac));
        }
    }

    #[test]
    fn tag_comes_before_ciphertext() {
        // With an empty plaintext the value is nonce || tag and nothing else.
        let sealed = seal(&[1; 32], b"", [2; 24]);
        assert_eq!(sealed.len(), 40);
        assert!(open(&[1; 32], &sealed).unwrap().is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(
            open(&[0; 32], &[0; 39]),
            Err(DecryptError::Truncated { what: "secretbox data", need: 40, have: 39 })
        );
        assert!(matches!(open(&[0; 16], &[0; 50]), Err(DecryptError::KeySize { len: 16, .. })));
    }
}
