//! The two inputs as the diff output describes them: only what each report says of itself.

use serde::Serialize;
use serde_json::Value;

/// `-o json` or `-o jsonl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// One atrest/v1 document.
    Json,
    /// JSON lines.
    Jsonl,
}

/// One input as the output describes it: only what the report itself says.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    /// The file as given.
    pub path: String,
    /// Its format.
    pub format: InputFormat,
    /// The document's `source` (jsonl has none).
    pub source: Option<Value>,
    /// The document's `encryptionConfig`.
    pub encryption_config: Option<Value>,
}

impl Side {
    /// `source.revision`.
    pub fn revision(&self) -> Option<i64> {
        self.source.as_ref()?.get("revision")?.as_i64()
    }

    /// `encryptionConfig.sha256`.
    pub fn config_sha256(&self) -> Option<&str> {
        self.encryption_config.as_ref()?.get("sha256")?.as_str()
    }
}
