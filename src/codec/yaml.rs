//! YAML payloads: legacy data the storage codec still reads through its universal deserializer
//! (`kubernetes/apiserver:pkg/server/storage/storage_codec.go`, layout doc §2.2).

use super::facts::{Head, ObjectFacts};
use super::{DecodeError, Encoding};

/// Cheap sniff before a YAML parse: some line starts (at column 0) with an `apiVersion:` or
/// `kind:` key. YAML is the catch-all encoding, so without this any text would be tried.
pub(super) fn looks_like_object(text: &[u8]) -> bool {
    text.split(|b| *b == b'\n').any(|line| {
        let line = line.strip_prefix(b"--- ").unwrap_or(line);
        line.starts_with(b"apiVersion:") || line.starts_with(b"kind:")
    })
}

/// Facts of a single YAML document, parsed with serde-saphyr's default budget (depth, node and
/// alias limits) and without error snippets, which would quote the payload.
pub(super) fn decode(data: &[u8]) -> Result<ObjectFacts, DecodeError> {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    let head: Head<String> = serde_saphyr::from_slice_with_options(data, options).map_err(|e| {
        let at = e.location().filter(|l| l.line() > 0);
        DecodeError::Yaml { line: at.map(|l| l.line()), column: at.map(|l| l.column()) }
    })?;
    head.into_facts(Encoding::Yaml)
}
