//! The aescbc provider's byte layout after `k8s:enc:aescbc:v1:<key>:`: `IV[16] || AES-CBC`,
//! PKCS#7 padded, no MAC and no AAD. Also the legacy inner layout of KMS v1.
//!
//! Mirrors kubernetes/apiserver `pkg/storage/value/encrypt/aes/aes.go` (type `cbc`,
//! `TransformFromStorage`): the length after the IV must be a multiple of 16, and the last byte
//! `n` must satisfy `1 <= n <= len` with the last `n` bytes all equal to `n`. Like kube, a pad
//! longer than one block is accepted when all its bytes match (writers only use 1..=16).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, KeyIvInit};
use aes::{Aes128, Aes192, Aes256};
use zeroize::Zeroizing;

use super::DecryptError;

pub(crate) const BLOCK: usize = 16;

const KEY_SIZES: &str = "16, 24 or 32";

/// Decrypts `IV || ciphertext` with an AES key of 16, 24 or 32 bytes.
pub(crate) fn open(key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let (iv, ct) = data.split_at_checked(BLOCK).ok_or(DecryptError::Truncated {
        what: "aescbc data",
        need: BLOCK,
        have: data.len(),
    })?;
    if ct.len() % BLOCK != 0 {
        return Err(DecryptError::NotBlockAligned { len: ct.len() });
    }
    if ct.is_empty() {
        return Err(DecryptError::Truncated {
            what: "aescbc data",
            need: BLOCK.saturating_mul(2),
            have: data.len(),
        });
    }
    let mut buf = Zeroizing::new(ct.to_vec());
    match key.len() {
        16 => decrypt_blocks::<cbc::Decryptor<Aes128>>(key, iv, &mut buf)?,
        24 => decrypt_blocks::<cbc::Decryptor<Aes192>>(key, iv, &mut buf)?,
        32 => decrypt_blocks::<cbc::Decryptor<Aes256>>(key, iv, &mut buf)?,
        len => return Err(DecryptError::KeySize { provider: "aescbc", len, needs: KEY_SIZES }),
    }
    let keep = unpadded_len(&buf).ok_or(DecryptError::Padding)?;
    buf.truncate(keep);
    Ok(buf)
}

/// In-place CBC decryption without unpadding (padding is checked by [`unpadded_len`]).
fn decrypt_blocks<D: KeyIvInit + BlockModeDecrypt>(
    key: &[u8],
    iv: &[u8],
    buf: &mut [u8],
) -> Result<(), DecryptError> {
    let len = buf.len();
    let mode = D::new_from_slices(key, iv).map_err(|_| DecryptError::KeySize {
        provider: "aescbc",
        len: key.len(),
        needs: KEY_SIZES,
    })?;
    mode.decrypt_padded::<NoPadding>(buf).map_err(|_| DecryptError::NotBlockAligned { len })?;
    Ok(())
}

/// Length of the plaintext once the PKCS#7 pad is removed; `None` if the pad is invalid.
fn unpadded_len(buf: &[u8]) -> Option<usize> {
    let &last = buf.last()?;
    let pad = usize::from(last);
    let keep = buf.len().checked_sub(pad)?;
    if pad == 0 {
        return None;
    }
    buf.get(keep..)?.iter().all(|&b| b == last).then_some(keep)
}

/// Encrypts like kube's `cbc.TransformToStorage`, with a caller-chosen IV (test encoders only).
#[cfg(any(test, feature = "testkit"))]
pub(crate) fn seal(key: &[u8], plaintext: &[u8], iv: [u8; 16]) -> Vec<u8> {
    use aes::cipher::BlockModeEncrypt;
    use aes::cipher::block_padding::Pkcs7;
    fn enc<E: KeyIvInit + BlockModeEncrypt>(key: &[u8], iv: &[u8], pt: &[u8]) -> Vec<u8> {
        #[allow(clippy::expect_used)]
        E::new_from_slices(key, iv)
            .expect("AES key of 16, 24 or 32 bytes")
            .encrypt_padded_vec::<Pkcs7>(pt)
    }
    let ct = match key.len() {
        16 => enc::<cbc::Encryptor<Aes128>>(key, &iv, plaintext),
        24 => enc::<cbc::Encryptor<Aes192>>(key, &iv, plaintext),
        32 => enc::<cbc::Encryptor<Aes256>>(key, &iv, plaintext),
        #[allow(clippy::panic)]
        n => panic!("aescbc key must be 16, 24 or 32 bytes, got {n}"),
    };
    let mut out = Vec::with_capacity(BLOCK.saturating_add(ct.len()));
    out.extend_from_slice(&iv);
    out.extend_from_slice(&ct);
    out
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_key_size_and_length() {
        for key_len in [16, 24, 32] {
            let key = vec![7u8; key_len];
            for len in 0..50 {
                let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let sealed = seal(&key, &pt, [9; 16]);
                assert_eq!(sealed.len() % 16, 0);
                assert_eq!(&open(&key, &sealed).unwrap()[..], &pt[..], "len {len}");
            }
        }
    }

    #[test]
    fn full_block_of_padding() {
        let key = [1u8; 32];
        let sealed = seal(&key, &[0x41; 32], [0; 16]);
        assert_eq!(sealed.len(), 16 + 48);
        assert_eq!(open(&key, &sealed).unwrap().len(), 32);
    }

    #[test]
    fn errors() {
        let key = [1u8; 32];
        assert_eq!(
            open(&key, &[0; 10]),
            Err(DecryptError::Truncated { what: "aescbc data", need: 16, have: 10 })
        );
        assert_eq!(open(&key, &[0; 16 + 33]), Err(DecryptError::NotBlockAligned { len: 33 }));
        assert_eq!(
            open(&key, &[0; 16]),
            Err(DecryptError::Truncated { what: "aescbc data", need: 32, have: 16 })
        );
        assert!(matches!(open(&[0; 20], &[0; 32]), Err(DecryptError::KeySize { len: 20, .. })));
        // A wrong key almost always breaks the padding.
        let sealed = seal(&key, b"hello world", [3; 16]);
        assert_eq!(open(&[2u8; 32], &sealed), Err(DecryptError::Padding));
    }

    #[test]
    fn padding_rules_follow_kube() {
        assert_eq!(unpadded_len(&[5, 5, 1]), Some(2));
        assert_eq!(unpadded_len(&[5, 2, 2]), Some(1));
        assert_eq!(unpadded_len(&[3, 3, 3]), Some(0));
        assert_eq!(unpadded_len(&[5, 1, 2]), None);
        assert_eq!(unpadded_len(&[5, 5, 0]), None);
        assert_eq!(unpadded_len(&[4, 4, 4]), None);
        assert_eq!(unpadded_len(&[]), None);
    }
}
