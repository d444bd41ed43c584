//! The EncryptionConfiguration file as written (serde), before defaults and validation.
//!
//! Field names mirror kubernetes/apiserver `pkg/apis/apiserver/v1/types_encryption.go`.
//! Unknown and repeated fields are refused before this typed decode runs (`strict.rs`, like
//! kube-apiserver's strict decoding since 1.31); here they would be ignored.

use std::fmt;

use serde::Deserialize;

use super::ProviderKind;
use serde::de::{self, Visitor};
use zeroize::Zeroizing;

/// Top level: `apiVersion`, `kind`, `resources`.
#[derive(Deserialize)]
pub(super) struct RawConfig {
    #[serde(rename = "apiVersion", default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub resources: Option<Vec<RawRule>>,
}

/// One `ResourceConfiguration`.
#[derive(Deserialize)]
pub(super) struct RawRule {
    #[serde(default)]
    pub resources: Option<Vec<String>>,
    #[serde(default)]
    pub providers: Option<Vec<RawProvider>>,
}

/// One `ProviderConfiguration`: exactly one field is expected to be set.
#[derive(Deserialize)]
pub(super) struct RawProvider {
    #[serde(default)]
    pub aescbc: Option<RawKeys>,
    #[serde(default)]
    pub aesgcm: Option<RawKeys>,
    #[serde(default)]
    pub secretbox: Option<RawKeys>,
    #[serde(default)]
    pub identity: Option<Empty>,
    #[serde(default)]
    pub kms: Option<RawKms>,
}

impl RawProvider {
    /// The field of keyed provider `kind` (`None` for identity and KMS).
    pub fn keyed(&mut self, kind: ProviderKind) -> Option<&mut Option<RawKeys>> {
        match kind {
            ProviderKind::AesCbc => Some(&mut self.aescbc),
            ProviderKind::AesGcm => Some(&mut self.aesgcm),
            ProviderKind::Secretbox => Some(&mut self.secretbox),
            ProviderKind::Identity | ProviderKind::Kms => None,
        }
    }
}

/// `identity: {}` (a null value means "not set", as with Go's pointer fields).
#[derive(Deserialize)]
pub(super) struct Empty {}

/// `AESConfiguration` / `SecretboxConfiguration`.
#[derive(Deserialize)]
pub(super) struct RawKeys {
    #[serde(default)]
    pub keys: Option<Vec<RawKey>>,
}

/// One `Key`.
#[derive(Deserialize)]
pub(super) struct RawKey {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub secret: Option<RawSecret>,
}

/// `KMSConfiguration`.
#[derive(Deserialize)]
pub(super) struct RawKms {
    #[serde(rename = "apiVersion", default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub cachesize: Option<i32>,
}

/// The base64 text of a secret, zeroized on drop. Its deserializer never echoes the value in an
/// error message (serde's default "invalid type: integer `123`" would).
pub(super) struct RawSecret(pub Zeroizing<String>);

impl<'de> Deserialize<'de> for RawSecret {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SecretVisitor;
        const EXPECTED: &str = "a base64 string";
        fn refuse<E: de::Error>() -> E {
            E::custom("a key secret must be a base64 string (value not shown)")
        }
        impl Visitor<'_> for SecretVisitor {
            type Value = RawSecret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSecret, E> {
                Ok(RawSecret(Zeroizing::new(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<RawSecret, E> {
                Ok(RawSecret(Zeroizing::new(v)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawSecret, E> {
                Err(refuse())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawSecret, E> {
                Err(refuse())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawSecret, E> {
                Err(refuse())
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<RawSecret, E> {
                Err(refuse())
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<RawSecret, E> {
                Err(refuse())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawSecret, E> {
                Err(refuse())
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<RawSecret, E> {
                Err(refuse())
            }
        }
        d.deserialize_any(SecretVisitor)
    }
}

/// Go's `time.ParseDuration` (what `metav1.Duration` uses): `[-+]?([0-9]*(\.[0-9]*)?unit)+` or
/// `0`, units ns, us, µs, μs, ms, s, m, h. Returns nanoseconds (negative allowed; the caller
/// rejects non-positive values as kube's validation does).
pub(super) fn parse_go_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at_checked(int_len)?;
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => {
                let frac_len = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at_checked(frac_len)?
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at_checked(unit_len)?;
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let int_value: i128 = if int_part.is_empty() { 0 } else { int_part.parse().ok()? };
        let mut value = int_value.checked_mul(scale)?;
        // Fraction: digits beyond nanosecond precision are dropped, as Go does.
        let mut frac_scale = scale;
        for d in frac_part.bytes() {
            frac_scale /= 10;
            if frac_scale == 0 {
                break;
            }
            value = value.checked_add(i128::from(d - b'0').checked_mul(frac_scale)?)?;
        }
        total = total.checked_add(value)?;
        // Go rejects durations beyond i64 nanoseconds (about 292 years).
        if total > i128::from(i64::MAX) {
            return None;
        }
        rest = after;
    }
    Some(if neg { -total } else { total })
}
