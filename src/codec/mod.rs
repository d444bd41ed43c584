//! Payload codec: sniff a decrypted etcd value at offset 0 and read the few facts atrest
//! reports (apiVersion, kind, metadata name/namespace/uid/creationTimestamp), without
//! materializing the object.
//!
//! Layouts (shared/docs/k8s-storage-layout.md §2): `k8s\0` + runtime.Unknown protobuf
//! (`kubernetes/apimachinery:pkg/runtime/serializer/protobuf/protobuf.go`), JSON, self-described
//! CBOR (`kubernetes/apimachinery:pkg/runtime/serializer/cbor/cbor.go`), and the legacy forms the
//! storage codec still reads (`kubernetes/apiserver:pkg/server/storage/storage_codec.go`): YAML and
//! base64-wrapped protobuf from etcd2 (`runtime.NewBase64Serializer`).
//!
//! Nothing here ever puts payload bytes into an error: a value may be a Secret.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod cbor;
mod facts;
mod json;
pub mod node;
pub mod object;
mod protobuf;
#[cfg(test)]
mod tests;
mod wire;
mod yaml;

use std::fmt;

pub use facts::{ObjectFacts, rfc3339_from_unix};

/// Serialization of a payload, as found by [`decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `k8s\0` + runtime.Unknown (also when it was base64-wrapped, the etcd2 leftover).
    Protobuf,
    /// JSON object.
    Json,
    /// Self-described CBOR (`d9 d9 f7`).
    Cbor,
    /// YAML document (legacy data; the storage codec still reads it).
    Yaml,
}

impl Encoding {
    /// Lower-case name used in reports: `protobuf`, `json`, `cbor`, `yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Protobuf => "protobuf",
            Self::Json => "json",
            Self::Cbor => "cbor",
            Self::Yaml => "yaml",
        }
    }

    /// Name for error messages.
    fn label(self) -> &'static str {
        match self {
            Self::Protobuf => "protobuf",
            Self::Json => "JSON",
            Self::Cbor => "CBOR",
            Self::Yaml => "YAML",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payload that was recognized, with its facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// How the payload was serialized.
    pub encoding: Encoding,
    /// What the payload says about itself.
    pub facts: ObjectFacts,
}

/// Why a payload could not be read. The message describes what was found and never contains
/// payload bytes (lengths, offsets and byte classes only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Zero-length value.
    #[error("empty value")]
    Empty,
    /// The value still carries an encryption envelope prefix.
    #[error("value is still encrypted (k8s:enc: prefix), not a payload")]
    Encrypted,
    /// No known encoding matched at offset 0.
    #[error("not a Kubernetes payload ({0})")]
    Unrecognized(Unrecognized),
    /// `k8s` followed by a control byte other than 0x00: an unknown protobuf framing style.
    #[error("unsupported protobuf framing: the byte after \"k8s\" is not 0x00")]
    ProtobufStyle,
    /// `k8s\0` and nothing after it.
    #[error("protobuf magic with an empty body")]
    ProtobufEmptyBody,
    /// The protobuf stopped early (a length or field runs past the end).
    #[error("truncated protobuf: {what}: {problem}")]
    ProtobufTruncated {
        /// Which message was being read.
        what: &'static str,
        /// What the parser hit.
        problem: &'static str,
    },
    /// The protobuf is not well formed.
    #[error("malformed protobuf: {what}: {problem}")]
    ProtobufMalformed {
        /// Which message was being read.
        what: &'static str,
        /// What the parser hit.
        problem: &'static str,
    },
    /// runtime.Unknown.contentEncoding is set (kube-apiserver never writes one).
    #[error("unsupported runtime.Unknown contentEncoding (only an unencoded raw object is read)")]
    UnsupportedContentEncoding,
    /// Parsed, but apiVersion or kind is absent or empty.
    #[error("{} without apiVersion/kind", .encoding.label())]
    MissingTypeMeta {
        /// The encoding that was parsed.
        encoding: Encoding,
    },
    /// The JSON did not parse into a Kubernetes object head.
    #[error("invalid JSON: {problem} at line {line} column {column}")]
    Json {
        /// serde_json's error category, reworded.
        problem: &'static str,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
    },
    /// The CBOR did not parse into a Kubernetes object head.
    #[error("invalid CBOR: {problem}{}", fmt_offset(*.offset))]
    Cbor {
        /// What went wrong.
        problem: &'static str,
        /// Byte offset of the item, when known.
        offset: Option<usize>,
    },
    /// The YAML did not parse into a Kubernetes object head.
    #[error("YAML that does not parse as a Kubernetes object{}", fmt_line_col(*.line, *.column))]
    Yaml {
        /// 1-based line, when known.
        line: Option<u64>,
        /// 1-based column, when known.
        column: Option<u64>,
    },
    /// Starts like base64 of `k8s\0` (the etcd2 form) but does not decode.
    #[error("base64 text (legacy etcd2 form) that is not valid base64")]
    Base64,
    /// Valid base64 whose content is not `k8s\0` protobuf.
    #[error("base64 text that does not decode to a k8s protobuf payload")]
    Base64NotProtobuf,
}

fn fmt_offset(offset: Option<usize>) -> String {
    offset.map(|o| format!(" at byte {o}")).unwrap_or_default()
}

fn fmt_line_col(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

/// What an unrecognized value looks like, described without its content: its length, whether
/// it is text, and (for binary only) the first two bytes in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unrecognized {
    /// Length of the value in bytes.
    pub len: usize,
    /// Valid UTF-8 without control characters other than tab/CR/LF.
    pub text: bool,
    /// First bytes for binary values (never for text, which could spell a secret).
    head: [u8; 2],
    head_len: u8,
}

impl Unrecognized {
    fn of(data: &[u8]) -> Self {
        let text = looks_like_text(data);
        let mut head = [0u8; 2];
        let mut head_len = 0u8;
        if !text {
            for (slot, b) in head.iter_mut().zip(data) {
                *slot = *b;
                head_len = head_len.saturating_add(1);
            }
        }
        Self { len: data.len(), text, head, head_len }
    }
}

impl fmt::Display for Unrecognized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.head.get(..usize::from(self.head_len)).unwrap_or_default();
        if !shown.is_empty() {
            f.write_str("starts with")?;
            for b in shown {
                write!(f, " 0x{b:02x}")?;
            }
            f.write_str(", ")?;
        }
        let class = if self.text { "text" } else { "binary" };
        write!(f, "{} bytes, {class}", self.len)
    }
}

/// Protobuf magic: "k8s" + encoding style 0x00 (runtime.Unknown follows).
const PROTOBUF_MAGIC: &[u8; 4] = b"k8s\x00";
/// Head of CBOR tag 55799, "self-described CBOR".
const CBOR_MAGIC: &[u8; 3] = &[0xd9, 0xd9, 0xf7];
/// base64 of "k8s\0" always starts with these five characters.
const BASE64_MAGIC: &[u8; 5] = b"azhzA";

/// Sniff at offset 0: "k8s\0" → protobuf Unknown; '{' (after optional whitespace) → JSON;
/// d9 d9 f7 → CBOR; YAML (an apiVersion:/kind: document); base64 text that decodes to
/// "k8s\0"… → protobuf (legacy etcd2).
///
/// # Errors
///
/// [`DecodeError`] when no encoding matches, or the matching parser fails, or the object has no
/// apiVersion/kind. Never panics, whatever the input.
pub fn decode(plaintext: &[u8]) -> Result<Decoded, DecodeError> {
    if plaintext.is_empty() {
        return Err(DecodeError::Empty);
    }
    if let Some(body) = plaintext.strip_prefix(PROTOBUF_MAGIC) {
        return protobuf::decode(body).map(|facts| Decoded { encoding: Encoding::Protobuf, facts });
    }
    if plaintext.starts_with(b"k8s:enc:") {
        return Err(DecodeError::Encrypted);
    }
    if let Some((b"k8s", [style, ..])) = plaintext.split_first_chunk::<3>()
        && (*style < 0x20 || *style == 0x7f)
    {
        return Err(DecodeError::ProtobufStyle);
    }
    if plaintext.starts_with(CBOR_MAGIC) {
        return cbor::decode(plaintext).map(|facts| Decoded { encoding: Encoding::Cbor, facts });
    }
    if plaintext.iter().find(|b| !is_json_space(**b)) == Some(&b'{') {
        return json::decode(plaintext).map(|facts| Decoded { encoding: Encoding::Json, facts });
    }
    if plaintext.starts_with(BASE64_MAGIC) {
        return decode_base64(plaintext);
    }
    if looks_like_text(plaintext) && yaml::looks_like_object(plaintext) {
        return yaml::decode(plaintext).map(|facts| Decoded { encoding: Encoding::Yaml, facts });
    }
    Err(DecodeError::Unrecognized(Unrecognized::of(plaintext)))
}

/// The etcd2 leftover: `runtime.NewBase64Serializer` around the protobuf serializer. Go's
/// `base64.StdEncoding` ignores CR/LF, requires padding and tolerates non-zero trailing bits.
fn decode_base64(text: &[u8]) -> Result<Decoded, DecodeError> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let cleaned: Vec<u8> = text.iter().copied().filter(|b| *b != b'\r' && *b != b'\n').collect();
    let bytes = GO_STD.decode(cleaned).map_err(|_| DecodeError::Base64)?;
    let body = bytes.strip_prefix(PROTOBUF_MAGIC).ok_or(DecodeError::Base64NotProtobuf)?;
    protobuf::decode(body).map(|facts| Decoded { encoding: Encoding::Protobuf, facts })
}

fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// UTF-8 without control characters other than tab, CR and LF.
fn looks_like_text(data: &[u8]) -> bool {
    std::str::from_utf8(data)
        .is_ok_and(|s| s.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')))
}
