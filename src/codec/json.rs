//! JSON payloads: CRs, CRDs, APIServices, and built-ins stored as JSON (layout doc §2.2).
//! Only apiVersion, kind and four metadata fields are deserialized; serde_json skips the rest
//! without building it.

use super::facts::{Head, ObjectFacts};
use super::{DecodeError, Encoding};

/// Facts of a JSON object. Trailing whitespace (Go's `json.Encoder` adds "\n") is allowed,
/// anything else after the object is not.
pub(super) fn decode(data: &[u8]) -> Result<ObjectFacts, DecodeError> {
    let head: Head<String> = serde_json::from_slice(data).map_err(|e| describe(&e))?;
    head.into_facts(Encoding::Json)
}

/// serde_json's message may quote a string from the payload ("invalid type: string \"…\""),
/// so only its category and position are kept.
fn describe(e: &serde_json::Error) -> DecodeError {
    use serde_json::error::Category;
    let problem = match e.classify() {
        Category::Io => "read error",
        Category::Syntax => "syntax error",
        Category::Data => "a field of the object head has the wrong type",
        Category::Eof => "unexpected end of input",
    };
    DecodeError::Json { problem, line: e.line(), column: e.column() }
}
