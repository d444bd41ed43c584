//! Validation and defaulting of a parsed EncryptionConfiguration, turning the raw serde
//! structs into [`Rule`]s. Every problem is kept, each with its field path.
//!
//! Mirrors kubernetes/apiserver `pkg/apis/apiserver/validation/validation_encryption.go`
//! (`ValidateEncryptionConfiguration` with `reload=false`) and `pkg/apis/apiserver/v1/defaults.go`.

use std::collections::HashSet;
use std::time::Duration;

use super::keys::{self, NamedKey};
use super::raw::{self, RawConfig, RawKeys, RawKms, RawProvider};
use super::{
    FieldError, KmsApiVersion, KmsProvider, Provider, ProviderKind, Rule, parse_group_resource,
};

/// `SetDefaults_KMSConfiguration`: timeout 3s, cachesize 1000 (v1 only).
const DEFAULT_KMS_TIMEOUT_NS: i128 = 3_000_000_000;
const DEFAULT_KMS_CACHE_SIZE: i32 = 1000;
/// Resources that have no REST API and so can never be encrypted (`nonRESTAPIResourceErr`).
const NON_REST_RESOURCES: &[&str] =
    &["apiserveripinfo", "serviceipallocations", "servicenodeportallocations"];

fn problem(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

/// Validates `raw` and applies kube's defaults. `Err` holds every problem found.
pub(super) fn build(raw: RawConfig) -> Result<Vec<Rule>, Vec<FieldError>> {
    let raw_rules = raw.resources.unwrap_or_default();
    if raw_rules.is_empty() {
        return Err(vec![problem("resources", "at least one resource rule is required")]);
    }
    let mut errs = Vec::new();
    let mut kms_names = HashSet::new();
    let mut rules = Vec::with_capacity(raw_rules.len());
    for (i, raw_rule) in raw_rules.into_iter().enumerate() {
        let rpath = format!("resources[{i}].resources");
        let ppath = format!("resources[{i}].providers");
        let resources = raw_rule.resources.unwrap_or_default();
        if resources.is_empty() {
            errs.push(problem(&rpath, "at least one resource is required"));
        }
        check_overlap(&resources, &rpath, &mut errs);
        check_names(&resources, &rpath, &mut errs);
        let raw_providers = raw_rule.providers.unwrap_or_default();
        if raw_providers.is_empty() {
            errs.push(problem(&ppath, "at least one provider is required"));
        }
        let mut providers = Vec::with_capacity(raw_providers.len());
        for (j, raw_provider) in raw_providers.into_iter().enumerate() {
            let path = format!("{ppath}[{j}]");
            if let Some(p) = build_provider(raw_provider, &path, &mut kms_names, &mut errs) {
                providers.push(p);
            }
        }
        rules.push(Rule { resources, providers });
    }
    if errs.is_empty() { Ok(rules) } else { Err(errs) }
}

/// `validateResourceOverlap`: the same GroupResource twice, or a wildcard together with
/// something it covers, in one list. Reports at most one of each, naming the first pair.
fn check_overlap(resources: &[String], path: &str, errs: &mut Vec<FieldError>) {
    let parsed: Vec<(&str, &str)> = resources.iter().map(|r| parse_group_resource(r)).collect();
    let mut duplicate = None;
    let mut overlap = None;
    for (i, a) in parsed.iter().enumerate() {
        for (j, b) in parsed.iter().enumerate().skip(i + 1) {
            if a == b {
                duplicate.get_or_insert((i, j));
                continue;
            }
            let covers =
                *a == ("*", "*") || *b == ("*", "*") || (a.0 == b.0 && (a.1 == "*" || b.1 == "*"));
            if covers {
                overlap.get_or_insert((i, j));
            }
        }
    }
    let name = |i: usize| resources.get(i).map(String::as_str).unwrap_or_default();
    if let Some((i, j)) = duplicate {
        errs.push(problem(
            path,
            format!("{:?} and {:?} name the same resource; list it once", name(i), name(j)),
        ));
    }
    if let Some((i, j)) = overlap {
        errs.push(problem(
            path,
            format!(
                "{:?} and {:?} overlap in the same list (one would mask the other)",
                name(i),
                name(j)
            ),
        ));
    }
}

/// `validateResourceNames`.
fn check_names(resources: &[String], path: &str, errs: &mut Vec<FieldError>) {
    for (j, res) in resources.iter().enumerate() {
        let field = format!("{path}[{j}]");
        let (group, resource) = parse_group_resource(res);
        let message = if res.to_lowercase() != *res {
            format!("{res:?}: resource names must not contain capital letters")
        } else if res == "*" {
            format!(
                "{res:?}: use \"*.\" for all resources of the core group, or \"*.*\" for all resources"
            )
        } else if NON_REST_RESOURCES.contains(&res.as_str()) {
            format!("{res:?} has no REST API and cannot be encrypted")
        } else if group == "events.k8s.io" {
            format!(
                "{res:?}: events.k8s.io objects are stored as core \"events\"; use \"events\" instead"
            )
        } else if group == "extensions" {
            format!(
                "{res:?}: the extensions group has been removed and cannot be used for encryption"
            )
        } else if group == "*" && resource != "*" {
            format!(
                "{res:?}: encrypting the same resource across groups is not supported; use \"*.<group>\" or \"*.*\""
            )
        } else {
            continue;
        };
        errs.push(problem(field, message));
    }
}

fn build_provider(
    mut raw: RawProvider,
    path: &str,
    kms_names: &mut HashSet<String>,
    errs: &mut Vec<FieldError>,
) -> Option<Provider> {
    let keyed_set = |raw: &mut RawProvider, kind| raw.keyed(kind).is_some_and(|k| k.is_some());
    let mut set: Vec<&str> = Vec::new();
    if raw.kms.is_some() {
        set.push("kms");
    }
    for kind in ProviderKind::KEYED {
        if keyed_set(&mut raw, kind) {
            set.push(kind.as_str());
        }
    }
    if raw.identity.is_some() {
        set.push("identity");
    }
    if set.is_empty() {
        let names: Vec<&str> = ProviderKind::KEYED.iter().map(|k| k.as_str()).collect();
        errs.push(problem(
            path,
            format!("no provider given: expected one of kms, {}, identity", names.join(", ")),
        ));
        return None;
    }
    if set.len() > 1 {
        errs.push(problem(
            path,
            format!(
                "more than one provider ({}) in one list item; split them into separate items",
                set.join(", ")
            ),
        ));
        return None;
    }
    if let Some(kms) = raw.kms {
        build_kms(kms, &format!("{path}.kms"), kms_names, errs).map(Provider::Kms)
    } else if let Some((kind, k)) = ProviderKind::KEYED
        .into_iter()
        .find_map(|kind| raw.keyed(kind).and_then(Option::take).map(|k| (kind, k)))
    {
        let name = kind.as_str();
        build_keys(k, &format!("{path}.{name}.keys"), name, kind.key_sizes(), errs)
            .map(|keys| Provider::Keyed { kind, keys })
    } else {
        Some(Provider::Identity)
    }
}

fn sizes_text(sizes: &[usize]) -> String {
    match sizes {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(usize::to_string).collect();
            format!("{} or {last}", init.join(", "))
        }
    }
}

/// `validateKeys` / `validateKey`, decoding each secret once.
fn build_keys(
    raw: RawKeys,
    path: &str,
    kind: &str,
    sizes: &[usize],
    errs: &mut Vec<FieldError>,
) -> Option<Vec<NamedKey>> {
    let raw_keys = raw.keys.unwrap_or_default();
    if raw_keys.is_empty() {
        errs.push(problem(path, "at least one key is required"));
        return None;
    }
    let mut keys = Vec::with_capacity(raw_keys.len());
    let mut ok = true;
    for (k, raw_key) in raw_keys.into_iter().enumerate() {
        let kpath = format!("{path}[{k}]");
        let name = raw_key.name.unwrap_or_default();
        if name.is_empty() {
            errs.push(problem(format!("{kpath}.name"), "a key needs a non-empty name"));
            ok = false;
        }
        let Some(secret) = raw_key.secret.filter(|s| !s.0.is_empty()) else {
            errs.push(problem(format!("{kpath}.secret"), "a key needs a secret"));
            ok = false;
            continue;
        };
        let Some(bytes) = keys::decode_secret(&secret.0) else {
            errs.push(problem(format!("{kpath}.secret"), "not valid base64"));
            ok = false;
            continue;
        };
        if !sizes.contains(&bytes.len()) {
            errs.push(problem(
                format!("{kpath}.secret"),
                format!("key is {} bytes, {kind} needs {}", bytes.len(), sizes_text(sizes)),
            ));
            ok = false;
            continue;
        }
        keys.push(keys::named(name, bytes));
    }
    ok.then_some(keys)
}

/// `validateKMSConfiguration` after `SetDefaults_KMSConfiguration`.
fn build_kms(
    raw: RawKms,
    path: &str,
    kms_names: &mut HashSet<String>,
    errs: &mut Vec<FieldError>,
) -> Option<KmsProvider> {
    let before = errs.len();
    let api = raw.api_version.filter(|v| !v.is_empty()).unwrap_or_else(|| "v1".to_owned());
    let name = raw.name.unwrap_or_default();
    let npath = format!("{path}.name");
    if name.is_empty() {
        errs.push(problem(&npath, "a KMS provider needs a name"));
    }
    // kube forbids ':' and duplicates for KMS v2 names; a v1 name may contain ':' and may repeat
    // (unless --encryption-provider-config-automatic-reload is on, which atrest cannot know).
    if api != "v1" && name.contains(':') {
        errs.push(problem(&npath, format!("KMS provider name {name:?} must not contain ':'")));
    }
    if api != "v1" && kms_names.contains(&name) {
        errs.push(problem(
            &npath,
            format!("duplicate KMS provider name {name:?}; names must be unique"),
        ));
    }
    kms_names.insert(name.clone());

    let tpath = format!("{path}.timeout");
    let timeout_ns = match &raw.timeout {
        None => Some(DEFAULT_KMS_TIMEOUT_NS),
        Some(t) => {
            let parsed = raw::parse_go_duration(t);
            if parsed.is_none() {
                errs.push(problem(&tpath, format!("{t:?} is not a duration such as 3s or 500ms")));
            }
            parsed
        }
    };
    let timeout = match timeout_ns {
        Some(ns) if ns <= 0 => {
            errs.push(problem(&tpath, "timeout must be positive"));
            None
        }
        Some(ns) => u64::try_from(ns).ok().map(Duration::from_nanos),
        None => None,
    };

    let epath = format!("{path}.endpoint");
    let endpoint = raw.endpoint.unwrap_or_default();
    if endpoint.is_empty() {
        errs.push(problem(&epath, "a KMS provider needs an endpoint"));
    } else {
        match url_scheme(&endpoint) {
            Err(why) => errs.push(problem(&epath, format!("invalid endpoint {endpoint:?}: {why}"))),
            Ok(scheme) if scheme != "unix" => errs.push(problem(
                &epath,
                format!("unsupported scheme {scheme:?} for a KMS provider, only unix is supported"),
            )),
            Ok(_) => {}
        }
    }

    let cpath = format!("{path}.cachesize");
    let cache_size = if api == "v1" {
        let size = raw.cachesize.unwrap_or(DEFAULT_KMS_CACHE_SIZE);
        if size == 0 {
            errs.push(problem(
                &cpath,
                "cachesize must be positive, or negative to disable the cache",
            ));
        }
        Some(i64::from(size))
    } else {
        if raw.cachesize.is_some() {
            errs.push(problem(&cpath, "cachesize is not supported in v2"));
        }
        None
    };

    let api_version = match api.as_str() {
        "v1" => Some(KmsApiVersion::V1),
        "v2" => Some(KmsApiVersion::V2),
        other => {
            errs.push(problem(
                format!("{path}.apiVersion"),
                format!("unsupported KMS apiVersion {other:?}, only v1 and v2 are supported"),
            ));
            None
        }
    };

    if errs.len() != before {
        return None;
    }
    Some(KmsProvider { name, api_version: api_version?, endpoint, timeout, cache_size })
}

/// The scheme of `endpoint` the way Go's `url.Parse` finds it (lower-cased; empty when there is
/// none), or why `url.Parse` would fail.
fn url_scheme(endpoint: &str) -> Result<String, &'static str> {
    if endpoint.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL");
    }
    for (i, c) in endpoint.char_indices() {
        if c.is_ascii_alphabetic() {
            continue;
        }
        if c.is_ascii_digit() || c == '+' || c == '-' || c == '.' {
            if i == 0 {
                return Ok(String::new());
            }
            continue;
        }
        if c == ':' {
            if i == 0 {
                return Err("missing protocol scheme");
            }
            return Ok(endpoint.get(..i).unwrap_or_default().to_ascii_lowercase());
        }
        return Ok(String::new());
    }
    Ok(String::new())
}
