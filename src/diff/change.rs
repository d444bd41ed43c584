//! What a diff reports: one [`Change`] per differing key, and the [`DiffSummary`] counts.

use serde::Serialize;

/// The kind of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Only in NEW.
    Appeared,
    /// Only in OLD.
    Disappeared,
    /// Provider, key, apiVersion, kind, encoding or status differ.
    Changed,
    /// Only modRevision differs (listed only on request).
    Rewritten,
}

impl ChangeKind {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appeared => "appeared",
            Self::Disappeared => "disappeared",
            Self::Changed => "changed",
            Self::Rewritten => "rewritten",
        }
    }
}

/// One field, old → new (null on the side where the object does not exist or has no value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Delta<T> {
    /// In OLD.
    pub old: T,
    /// In NEW.
    pub new: T,
}

/// The fields that differ (changed), or that the one existing side has (appeared/disappeared).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fields<'a> {
    /// `encryption.provider`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Delta<Option<&'a str>>>,
    /// `encryption.kmsApiVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_api_version: Option<Delta<Option<&'a str>>>,
    /// `encryption.keyName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_name: Option<Delta<Option<&'a str>>>,
    /// `encryption.keyId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Delta<Option<&'a str>>>,
    /// `apiVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<Delta<Option<&'a str>>>,
    /// `kind`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Delta<Option<&'a str>>>,
    /// `encoding`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Delta<Option<&'a str>>>,
    /// `status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Delta<Option<&'a str>>>,
    /// `modRevision` (shown whenever it differs, never a reason for "changed" on its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mod_revision: Option<Delta<Option<i64>>>,
}

impl<'a> Fields<'a> {
    /// `(name, old, new)` of the text fields present, in contract order.
    pub fn texts(&self) -> impl Iterator<Item = (&'static str, Option<&'a str>, Option<&'a str>)> {
        [
            ("provider", self.provider),
            ("kmsApiVersion", self.kms_api_version),
            ("keyName", self.key_name),
            ("keyId", self.key_id),
            ("apiVersion", self.api_version),
            ("kind", self.kind),
            ("encoding", self.encoding),
            ("status", self.status),
        ]
        .into_iter()
        .filter_map(|(name, d)| d.map(|d| (name, d.old, d.new)))
    }

    pub(super) fn has_text(&self) -> bool {
        self.texts().next().is_some()
    }
}

/// One listed change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change<'a> {
    /// etcd key.
    pub key: &'a str,
    /// What happened.
    pub change: ChangeKind,
    /// Worse than before: exit 1 under `--fail-on regression`.
    pub regression: bool,
    /// Better than before.
    pub improvement: bool,
    /// Field by field.
    pub fields: Fields<'a>,
    /// Why it is a regression or an improvement.
    pub reasons: Vec<String>,
}

/// Counts; `regressions` and `improvements` count listed changes (one change may be both).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    /// Keys only in NEW.
    pub appeared: u64,
    /// Keys only in OLD.
    pub disappeared: u64,
    /// Keys whose compared fields differ.
    pub changed: u64,
    /// Keys whose modRevision alone differs.
    pub rewritten: u64,
    /// Keys that are identical.
    pub unchanged: u64,
    /// Changes for the worse.
    pub regressions: u64,
    /// Changes for the better.
    pub improvements: u64,
}

impl DiffSummary {
    pub(super) fn count(&mut self, c: &Change<'_>) {
        match c.change {
            ChangeKind::Appeared => self.appeared += 1,
            ChangeKind::Disappeared => self.disappeared += 1,
            ChangeKind::Changed => self.changed += 1,
            ChangeKind::Rewritten => self.rewritten += 1,
        }
        self.regressions += u64::from(c.regression);
        self.improvements += u64::from(c.improvement);
    }
}
