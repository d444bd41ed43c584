//! [`ObjectFacts`]: the one type every codec returns, plus the serde "object head" shared by the
//! JSON, YAML and CBOR readers (apiVersion, kind and four metadata fields; serde skips the rest).

use serde::Deserialize;

use super::{DecodeError, Encoding};

/// What a payload says about itself. Empty strings count as absent (`None`), as they do for
/// Kubernetes' own ObjectMeta.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectFacts {
    /// `apiVersion`: the storage version (`v1`, `apps/v1`, `example.com/v2`).
    pub api_version: Option<String>,
    /// `kind`.
    pub kind: Option<String>,
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// `metadata.creationTimestamp`, RFC 3339 (as written for JSON/YAML/CBOR; formatted as
    /// `YYYY-MM-DDTHH:MM:SSZ` from protobuf seconds).
    pub creation_timestamp: Option<String>,
}

/// Top level of a Kubernetes object in a self-describing format. `S` is the string type:
/// `String` for JSON/YAML, a text-or-bytes string for CBOR.
#[derive(Deserialize)]
pub(super) struct Head<S> {
    #[serde(rename = "apiVersion")]
    api_version: Option<S>,
    kind: Option<S>,
    metadata: Option<Meta<S>>,
}

#[derive(Deserialize)]
struct Meta<S> {
    name: Option<S>,
    namespace: Option<S>,
    uid: Option<S>,
    #[serde(rename = "creationTimestamp")]
    creation_timestamp: Option<S>,
}

impl<S: Into<String>> Head<S> {
    /// Facts of this head; apiVersion and kind must be non-empty, as Kubernetes' decoders
    /// require (missing kind / missing version errors).
    pub(super) fn into_facts(self, encoding: Encoding) -> Result<ObjectFacts, DecodeError> {
        let api_version = non_empty(self.api_version.map(Into::into));
        let kind = non_empty(self.kind.map(Into::into));
        if api_version.is_none() || kind.is_none() {
            return Err(DecodeError::MissingTypeMeta { encoding });
        }
        let (name, namespace, uid, creation_timestamp) = match self.metadata {
            Some(m) => (
                non_empty(m.name.map(Into::into)),
                non_empty(m.namespace.map(Into::into)),
                non_empty(m.uid.map(Into::into)),
                non_empty(m.creation_timestamp.map(Into::into)),
            ),
            None => (None, None, None, None),
        };
        Ok(ObjectFacts { api_version, kind, name, namespace, uid, creation_timestamp })
    }
}

/// `Some("")` → `None`.
pub(super) fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Unix seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years RFC 3339 (and Go's
/// `time.Time.MarshalJSON`) can write.
const MIN_RFC3339: i64 = -62_167_219_200;
const MAX_RFC3339: i64 = 253_402_300_799;
/// Unix seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z), which metav1.Time writes as null.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// `metav1.Time` from protobuf seconds as `YYYY-MM-DDTHH:MM:SSZ`. `None` for Go's zero time
/// and for years outside 0000–9999.
pub fn rfc3339_from_unix(secs: i64) -> Option<String> {
    if !(MIN_RFC3339..=MAX_RFC3339).contains(&secs) || secs == GO_ZERO_TIME {
        return None;
    }
    Some(civil(secs))
}

/// Howard Hinnant's `civil_from_days`. The caller bounds `secs` to years 0000–9999, so no
/// operation below can overflow, and every divisor is a non-zero constant.
#[allow(clippy::arithmetic_side_effects)]
fn civil(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (hh, mm, ss) = (sod / 3600, sod % 3600 / 60, sod % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_points() {
        assert_eq!(rfc3339_from_unix(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339_from_unix(1_199_149_261).as_deref(), Some("2008-01-01T01:01:01Z"));
        assert_eq!(rfc3339_from_unix(951_782_400).as_deref(), Some("2000-02-29T00:00:00Z"));
        assert_eq!(rfc3339_from_unix(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(rfc3339_from_unix(MIN_RFC3339).as_deref(), Some("0000-01-01T00:00:00Z"));
        assert_eq!(rfc3339_from_unix(MAX_RFC3339).as_deref(), Some("9999-12-31T23:59:59Z"));
        assert_eq!(rfc3339_from_unix(GO_ZERO_TIME), None);
        assert_eq!(rfc3339_from_unix(MAX_RFC3339 + 1), None);
        assert_eq!(rfc3339_from_unix(i64::MIN), None);
        assert_eq!(rfc3339_from_unix(i64::MAX), None);
    }
}
