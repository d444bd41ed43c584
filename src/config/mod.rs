//! The cluster's EncryptionConfiguration (YAML or JSON): parsed, validated and defaulted like
//! kube-apiserver does, then indexed so that [`EncryptionConfig::providers_for`] gives the
//! provider chain for a GroupResource without allocating.
//!
//! Mirrors kubernetes/apiserver `pkg/server/options/encryptionconfig/config.go` (`loadConfig`,
//! `getTransformerOverridesAndKMSPluginProbes`, `transformerFromOverrides`), the types in
//! `pkg/apis/apiserver/v1/types_encryption.go` and the checks in
//! `pkg/apis/apiserver/validation/validation_encryption.go` (see `validate.rs`).
//!
//! Unknown fields are ignored, as kube-apiserver's non-strict decoder does.

mod keys;
mod kind;
mod raw;
mod strict;
mod validate;

pub use strict::StrictError;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use keys::NamedKey;
pub use kind::ProviderKind;

/// A loaded EncryptionConfiguration: its rules in file order, a lookup index, and the sha256
/// of the file bytes (kube-apiserver's reload controller compares the same hash).
#[derive(Clone, Debug)]
pub struct EncryptionConfig {
    rules: Vec<Rule>,
    groups: HashMap<String, GroupRules>,
    any: Option<Vec<Provider>>,
    sha256_hex: String,
}

/// The chains for one API group: exact resources and the `*.<group>` wildcard.
#[derive(Clone, Debug, Default)]
struct GroupRules {
    exact: HashMap<String, Vec<Provider>>,
    /// The `*.<group>` chain and the index of the rule that set it.
    wildcard: Option<(usize, Vec<Provider>)>,
}

/// One `resources:` entry of the file, after validation and defaulting.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The resource strings as written (`secrets`, `*.apps`, `*.`, `*.*`, `widgets.example.com`).
    pub resources: Vec<String>,
    /// The providers in file order; index 0 is the write provider.
    pub providers: Vec<Provider>,
}

/// One provider of a chain. `Debug` prints provider kinds and key names, never key bytes.
#[derive(Clone)]
pub enum Provider {
    /// Plaintext. Refuses values that start with `k8s:enc:`.
    Identity,
    /// `k8s:enc:<aescbc|aesgcm|secretbox>:v1:<key>:`: one of [`ProviderKind::KEYED`] with its
    /// keys; index 0 is the write key.
    Keyed {
        /// aescbc, aesgcm or secretbox.
        kind: ProviderKind,
        /// The keys, in file order.
        keys: Vec<NamedKey>,
    },
    /// `k8s:enc:kms:<v1|v2>:<name>:`.
    Kms(KmsProvider),
}

impl Provider {
    /// Which kind of provider this is.
    pub fn kind(&self) -> ProviderKind {
        match self {
            Self::Identity => ProviderKind::Identity,
            Self::Keyed { kind, .. } => *kind,
            Self::Kms(_) => ProviderKind::Kms,
        }
    }

    /// The keys of an aescbc, aesgcm or secretbox provider (empty for identity and KMS).
    pub fn keys(&self) -> &[NamedKey] {
        match self {
            Self::Keyed { keys, .. } => keys,
            Self::Identity | Self::Kms(_) => &[],
        }
    }

    /// The name this provider writes into the envelope prefix: its first key's name, or the KMS
    /// provider name; `None` for identity.
    pub fn write_key_name(&self) -> Option<&str> {
        match self {
            Self::Kms(k) => Some(&k.name),
            other => other.keys().first().map(|k| k.name.as_str()),
        }
    }

    /// Short human label for reports: `aescbc`, `identity`, `kms v2 provider kms-v2`.
    pub fn label(&self) -> String {
        match self {
            Self::Kms(k) => format!("kms {} provider {}", k.api_version.as_str(), k.name),
            other => other.kind().as_str().to_owned(),
        }
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Identity => f.write_str("Identity"),
            Self::Keyed { kind, keys } => f.debug_tuple(&format!("{kind:?}")).field(keys).finish(),
            Self::Kms(k) => f.debug_tuple("Kms").field(k).finish(),
        }
    }
}

/// A `kms:` provider, with kube's defaults applied (apiVersion v1, timeout 3s, cachesize 1000
/// for v1). It holds no secret: the keys live in the plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsProvider {
    /// Provider name; it is the `<name>` of the `k8s:enc:kms:<v>:<name>:` prefix.
    pub name: String,
    /// `v1` (default) or `v2`.
    pub api_version: KmsApiVersion,
    /// The plugin socket, `unix:///...`.
    pub endpoint: String,
    /// Per-call timeout (defaulted to 3s, so always `Some` after loading).
    pub timeout: Option<Duration>,
    /// v1 DEK cache size (defaulted to 1000; negative disables); always `None` for v2.
    pub cache_size: Option<i64>,
}

/// KMS API version of a provider or envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KmsApiVersion {
    /// `k8s:enc:kms:v1:` (envelope with a plugin-encrypted DEK per write).
    V1,
    /// `k8s:enc:kms:v2:` (EncryptedObject protobuf).
    V2,
}

impl KmsApiVersion {
    /// `"v1"` or `"v2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }
}

/// One validation problem: where (`resources[0].providers[1].aescbc.keys[0].secret`) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Field path in kube's notation.
    pub field: String,
    /// What is wrong, without any secret value.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why an EncryptionConfiguration could not be loaded. Fatal for a scan (exit 2).
/// No variant ever contains a secret or key bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading encryption config {path}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("{}encryption config is empty", at(.path))]
    Empty {
        /// The file, when loaded from one.
        path: Option<PathBuf>,
    },
    /// Not parseable as YAML/JSON of the expected shape.
    #[error("{}not a valid {format} EncryptionConfiguration: {message}", at(.path))]
    Parse {
        /// The file, when loaded from one.
        path: Option<PathBuf>,
        /// `YAML` or `JSON`.
        format: &'static str,
        /// The parser's message (rendered without source snippets, so no secret is quoted).
        message: String,
    },
    /// `apiVersion`/`kind` are not an EncryptionConfiguration.
    #[error(
        "{}unsupported apiVersion {api_version:?} and kind {kind:?}: expected \
         apiserver.config.k8s.io/v1 EncryptionConfiguration (or the legacy v1 EncryptionConfig)",
        at(.path)
    )]
    Kind {
        /// The file, when loaded from one.
        path: Option<PathBuf>,
        /// `apiVersion` as found (empty when missing).
        api_version: String,
        /// `kind` as found (empty when missing).
        kind: String,
    },
    /// Strict decoding failed (kube-apiserver ≥ 1.31): unknown or repeated fields, each named by
    /// its path.
    #[error("{}strict decoding error: {}", at(.path), join_strict(.problems))]
    Strict {
        /// The file, when loaded from one.
        path: Option<PathBuf>,
        /// Every unknown or repeated field, in file order.
        problems: Vec<strict::StrictError>,
    },
    /// Validation failed; every problem is listed with its field path.
    #[error("{}{}", at(.path), join(.problems))]
    Invalid {
        /// The file, when loaded from one.
        path: Option<PathBuf>,
        /// All problems, in file order.
        problems: Vec<FieldError>,
    },
}

fn at(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default()
}

fn join_strict(problems: &[strict::StrictError]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn join(problems: &[FieldError]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl ConfigError {
    fn with_path(mut self, file: &Path) -> Self {
        match &mut self {
            Self::Read { .. } => {}
            Self::Empty { path }
            | Self::Parse { path, .. }
            | Self::Kind { path, .. }
            | Self::Strict { path, .. }
            | Self::Invalid { path, .. } => *path = Some(file.to_owned()),
        }
        self
    }
}

/// `schema.ParseGroupResource`: split at the first dot into (group, resource).
/// `secrets` → ("", "secrets"); `*.` → ("", "*"); `a.b.c` → ("b.c", "a").
pub(crate) fn parse_group_resource(s: &str) -> (&str, &str) {
    match s.split_once('.') {
        Some((resource, group)) => (group, resource),
        None => ("", s),
    }
}

impl EncryptionConfig {
    /// Reads and parses the file at `path`; the sha256 is of its exact bytes.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        // The file holds the secrets in base64: wipe our copy once parsed.
        let bytes = zeroize::Zeroizing::new(bytes);
        Self::from_bytes(&bytes).map_err(|e| e.with_path(path))
    }

    /// Parses a config from bytes: JSON when the first non-blank byte is `{`, else YAML.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        let sha256_hex = hex::encode(Sha256::digest(bytes));
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        fn yaml<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ConfigError> {
            let mut options = serde_saphyr::Options::default();
            // Snippets would quote the source lines, secrets included.
            options.with_snippet = false;
            // Repeated keys reach the strict check, which names them by path (the library's
            // own duplicate-key error speaks of its options, not of the config).
            options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
            serde_saphyr::from_slice_with_options::<T>(bytes, options).map_err(|e| {
                ConfigError::Parse {
                    path: None,
                    format: "YAML",
                    message: e.without_snippet().to_string(),
                }
            })
        }
        // The same document twice: as a tree for the strict check, then typed.
        fn decode<T: serde::de::DeserializeOwned>(
            bytes: &[u8],
            json: bool,
        ) -> Result<T, ConfigError> {
            if !json {
                return yaml(bytes);
            }
            // JSON gets JSON's error messages; a YAML flow mapping (`{apiVersion: v1, ...}`) is
            // not JSON, so fall back to YAML before reporting the JSON error.
            serde_json::from_slice::<T>(bytes).or_else(|json_err| {
                yaml(bytes).map_err(|_| ConfigError::Parse {
                    path: None,
                    format: "JSON",
                    message: json_err.to_string(),
                })
            })
        }
        let json = match first {
            None => return Err(ConfigError::Empty { path: None }),
            Some(b) => *b == b'{',
        };
        let tree: strict::Node = decode(bytes, json)?;
        let strict_problems = strict::check(&tree);
        let raw: raw::RawConfig = match decode(bytes, json) {
            Ok(raw) => raw,
            // A repeated field also fails the typed decode: the strict error says which.
            Err(_) if !strict_problems.is_empty() => {
                return Err(ConfigError::Strict { path: None, problems: strict_problems });
            }
            Err(e) => return Err(e),
        };
        let api_version = raw.api_version.clone().unwrap_or_default();
        let kind = raw.kind.clone().unwrap_or_default();
        let known = matches!(
            (api_version.as_str(), kind.as_str()),
            ("apiserver.config.k8s.io/v1", "EncryptionConfiguration") | ("v1", "EncryptionConfig")
        );
        if !known {
            return Err(ConfigError::Kind { path: None, api_version, kind });
        }
        if !strict_problems.is_empty() {
            return Err(ConfigError::Strict { path: None, problems: strict_problems });
        }
        let rules = validate::build(raw)
            .map_err(|problems| ConfigError::Invalid { path: None, problems })?;
        let (groups, any) =
            index(&rules).map_err(|p| ConfigError::Invalid { path: None, problems: vec![p] })?;
        Ok(Self { rules, groups, any, sha256_hex })
    }

    /// What kube-apiserver would say of this config while still starting with it: KMS v1
    /// providers need the `KMSv1` feature gate since 1.29 (deprecated in 1.28, off by default
    /// since 1.29). atrest reads them anyway (old clusters, backups) and says so.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            for (j, p) in rule.providers.iter().enumerate() {
                if let Provider::Kms(kms) = p
                    && kms.api_version == KmsApiVersion::V1
                {
                    out.push(format!(
                        "resources[{i}].providers[{j}]: KMS v1 provider {:?} is refused by \
                         kube-apiserver 1.29 and later unless the KMSv1 feature gate is enabled \
                         (deprecated; migrate to apiVersion: v2)",
                        kms.name
                    ));
                }
            }
        }
        out
    }

    /// Hex sha256 of the file bytes.
    pub fn sha256_hex(&self) -> &str {
        &self.sha256_hex
    }

    /// The rules in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The provider chain kube-apiserver uses for this GroupResource (group "" = core), or None
    /// when no rule matches (bare identity transformer). Precedence: exact, then `*.<group>`,
    /// then `*.*`; repeated exact entries concatenate in file order.
    pub fn providers_for(&self, group: &str, resource: &str) -> Option<&[Provider]> {
        if let Some(g) = self.groups.get(group) {
            if let Some(chain) = g.exact.get(resource) {
                return Some(chain);
            }
            if let Some((_, chain)) = &g.wildcard {
                return Some(chain);
            }
        }
        self.any.as_deref()
    }
}

type Index = (HashMap<String, GroupRules>, Option<Vec<Provider>>);

/// Builds the lookup, rejecting a rule masked by an earlier `*.<group>` or `*.*` rule
/// (`getTransformerOverridesAndKMSPluginProbes`).
fn index(rules: &[Rule]) -> Result<Index, FieldError> {
    let mut groups: HashMap<String, GroupRules> = HashMap::new();
    let mut any: Option<(usize, Vec<Provider>)> = None;
    for (i, rule) in rules.iter().enumerate() {
        for (j, res) in rule.resources.iter().enumerate() {
            let (group, resource) = parse_group_resource(res);
            let by_group = groups.get(group).and_then(|g| g.wildcard.as_ref()).map(|(idx, _)| {
                let label = if group.is_empty() { "*.".to_owned() } else { format!("*.{group}") };
                (*idx, label)
            });
            let masked = by_group.or_else(|| any.as_ref().map(|(idx, _)| (*idx, "*.*".to_owned())));
            if let Some((idx, label)) = masked {
                return Err(FieldError {
                    field: format!("resources[{i}].resources[{j}]"),
                    message: format!(
                        "{res:?} is masked by the earlier {label:?} rule in resources[{idx}]"
                    ),
                });
            }
            if group == "*" && resource == "*" {
                any = Some((i, rule.providers.clone()));
            } else if resource == "*" {
                groups.entry(group.to_owned()).or_default().wildcard =
                    Some((i, rule.providers.clone()));
            } else {
                groups
                    .entry(group.to_owned())
                    .or_default()
                    .exact
                    .entry(resource.to_owned())
                    .or_default()
                    .extend(rule.providers.iter().cloned());
            }
        }
    }
    Ok((groups, any.map(|(_, chain)| chain)))
}
