//! Tests of EncryptionConfiguration loading: the golden configs, precedence, every validation
//! rule with its exact message and field path, and that no secret is ever printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::testkit::golden_dir;

fn envelopes_dir() -> PathBuf {
    golden_dir().join("envelopes")
}

fn golden_configs() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(envelopes_dir())
        .expect("golden envelopes dir (set ATREST_GOLDEN_DIR?)")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("config-") && n.ends_with(".yaml")
        })
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

/// Every base64 `secret:` value of a golden config file.
fn secrets_in(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("secret:"))
        .map(|s| s.trim().trim_matches('"').to_owned())
        .collect()
}

/// Chain summary: `aescbc[key1,key2]`, `kms v2 kms-v2`, `identity`.
fn summary(chain: Option<&[Provider]>) -> Vec<String> {
    let Some(chain) = chain else { return vec!["<bare>".to_owned()] };
    chain
        .iter()
        .map(|p| match p {
            Provider::Kms(k) => format!("kms {} {}", k.api_version.as_str(), k.name),
            Provider::Identity => "identity".to_owned(),
            other => {
                let names: Vec<&str> = other.keys().iter().map(|k| k.name.as_str()).collect();
                format!("{}[{}]", other.kind().as_str(), names.join(","))
            }
        })
        .collect()
}

fn parse(yaml: &str) -> Result<EncryptionConfig, ConfigError> {
    EncryptionConfig::from_bytes(yaml.as_bytes())
}

fn err(yaml: &str) -> String {
    match parse(yaml) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

const K32: &str = "gd9waN2kqvzF2hEZTPMYL4bSMFfoMKGjlwd9MmZqGcA=";
const K16: &str = "CQOoVC3kxRg9w+buNH/FVA==";

fn one_rule(resources: &str, providers: &str) -> String {
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
         - resources: {resources}\n  providers:\n{providers}"
    )
}

fn aescbc(name: &str, secret: &str) -> String {
    format!("  - aescbc:\n      keys:\n      - name: \"{name}\"\n        secret: \"{secret}\"\n")
}

#[test]
fn golden_configs_parse_with_expected_chains() {
    let configs = golden_configs();
    assert_eq!(configs.len(), 7, "{configs:?}");
    for (name, path) in &configs {
        let cfg = EncryptionConfig::load(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(cfg.sha256_hex(), hex::encode(Sha256::digest(&bytes)), "{name}");
        assert_eq!(cfg.rules().len(), 2, "{name}");
        // example.org gadgets match no rule: bare identity.
        assert!(cfg.providers_for("example.org", "gadgets").is_none(), "{name}");
        // pods are not listed either (no *.* rule).
        assert!(cfg.providers_for("", "pods").is_none(), "{name}");
        // secrets, configmaps and widgets.example.com share the first rule.
        let secrets = summary(cfg.providers_for("", "secrets"));
        assert_eq!(secrets, summary(cfg.providers_for("", "configmaps")), "{name}");
        assert_eq!(secrets, summary(cfg.providers_for("example.com", "widgets")), "{name}");
        assert!(cfg.providers_for("example.com", "gizmos").is_none(), "{name}");
    }
    let before = EncryptionConfig::load(&envelopes_dir().join("config-before.yaml")).unwrap();
    assert_eq!(
        summary(before.providers_for("", "secrets")),
        [
            "aescbc[key1,old:key:1,key3]",
            "aesgcm[gcm1]",
            "secretbox[box1]",
            "kms v2 kms-v2",
            "kms v1 kms-v1",
            "identity"
        ]
    );
    assert_eq!(
        summary(before.providers_for("apps", "deployments")),
        ["secretbox[box1]", "identity"]
    );
    let after = EncryptionConfig::load(&envelopes_dir().join("config-after.yaml")).unwrap();
    assert_eq!(
        summary(after.providers_for("", "secrets")),
        [
            "aescbc[key2,key1,old:key:1,key3]",
            "aesgcm[gcm1,gcm2,gcm:3]",
            "secretbox[box1,box:2]",
            "kms v2 kms-v2",
            "kms v1 kms-v1",
            "aescbc[key4]",
            "identity"
        ]
    );
    let Some(Provider::Kms(kms)) = after.providers_for("", "secrets").unwrap().get(4) else {
        panic!("kms v1 expected")
    };
    assert_eq!(
        *kms,
        KmsProvider {
            name: "kms-v1".into(),
            api_version: KmsApiVersion::V1,
            endpoint: "unix:///tmp/atrest-golden-kms.sock".into(),
            timeout: Some(Duration::from_secs(3)),
            cache_size: Some(100),
        }
    );
    let first = &after.providers_for("", "secrets").unwrap()[0];
    assert_eq!(first.write_key_name(), Some("key2"));
    assert_eq!(first.label(), "aescbc");
    assert_eq!(first.keys().iter().map(NamedKey::len).collect::<Vec<_>>(), [24, 32, 32, 16]);
}

#[test]
fn debug_never_shows_secrets_or_key_bytes() {
    for (name, path) in golden_configs() {
        let text = std::fs::read_to_string(&path).unwrap();
        let cfg = EncryptionConfig::load(&path).unwrap();
        let debug = format!("{cfg:?} {:#?}", cfg.rules());
        let secrets = secrets_in(&text);
        assert_eq!(debug.contains("NamedKey"), !secrets.is_empty(), "{name}: {debug}");
        for secret in secrets {
            assert!(!debug.contains(&secret), "{name}: Debug shows a base64 secret");
            let bytes = keys::decode_secret(&secret).unwrap();
            assert!(!debug.contains(&hex::encode(&*bytes)), "{name}: Debug shows key hex");
            let list = format!("{:?}", &bytes[..4]);
            assert!(!debug.contains(list.trim_end_matches(']')), "{name}: Debug shows key bytes");
        }
    }
}

#[test]
fn json_and_yaml_give_the_same_chains() {
    for (name, path) in golden_configs() {
        let yaml = EncryptionConfig::load(&path).unwrap();
        let value: serde_json::Value =
            serde_saphyr::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let json_text = serde_json::to_string_pretty(&value).unwrap();
        let json = EncryptionConfig::from_bytes(json_text.as_bytes()).unwrap();
        for (g, r) in
            [("", "secrets"), ("apps", "deployments"), ("example.com", "widgets"), ("x", "y")]
        {
            assert_eq!(
                summary(yaml.providers_for(g, r)),
                summary(json.providers_for(g, r)),
                "{name}"
            );
        }
        // And the keys really are the same bytes.
        let (a, b) = (
            yaml.providers_for("", "secrets").unwrap(),
            json.providers_for("", "secrets").unwrap(),
        );
        for (pa, pb) in a.iter().zip(b) {
            for (ka, kb) in pa.keys().iter().zip(pb.keys()) {
                assert_eq!(ka.secret(), kb.secret(), "{name}");
            }
        }
    }
}

#[test]
fn precedence_exact_then_group_then_everything() {
    let yaml = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
         - resources: [secrets, deployments.apps]\n  providers:\n{a}\
         - resources: [secrets]\n  providers:\n  - identity: {{}}\n\
         - resources: ['*.apps']\n  providers:\n{b}\
         - resources: ['*.']\n  providers:\n  - aesgcm:\n      keys: [{{name: g, secret: {K16}}}]\n\
         - resources: ['*.*']\n  providers:\n  - secretbox:\n      keys: [{{name: s, secret: {K32}}}]\n",
        a = aescbc("exact", K32),
        b = aescbc("group", K16),
    );
    let cfg = parse(&yaml).unwrap();
    // Repeated exact entries concatenate in file order.
    assert_eq!(summary(cfg.providers_for("", "secrets")), ["aescbc[exact]", "identity"]);
    assert_eq!(summary(cfg.providers_for("apps", "deployments")), ["aescbc[exact]"]);
    assert_eq!(summary(cfg.providers_for("apps", "statefulsets")), ["aescbc[group]"]);
    assert_eq!(summary(cfg.providers_for("", "configmaps")), ["aesgcm[g]"]);
    assert_eq!(summary(cfg.providers_for("example.com", "widgets")), ["secretbox[s]"]);
    assert_eq!(summary(cfg.providers_for("batch", "jobs")), ["secretbox[s]"]);
}

#[test]
fn legacy_kind_is_accepted_and_unknown_fields_are_refused_with_their_path() {
    // kube-apiserver ≥ 1.31 decodes strictly (upstream testdata invalid-configs/invalid-typo.yaml:
    // `strict decoding error: unknown field "resources[0].providers[3].kms.pandas"`).
    let yaml = format!(
        "apiVersion: v1\nkind: EncryptionConfig\nextra: 1\nresources:\n- resources: [secrets]\n  \
         comment: ignored\n  providers:\n  - aescbc:\n      keys:\n      - name: k\n        secret: {K32}\n        \
         future: field\n  - identity: {{}}\n"
    );
    let err = parse(&yaml).unwrap_err();
    assert_eq!(
        err.to_string(),
        "strict decoding error: unknown field \"extra\", unknown field \"resources[0].comment\", \
         unknown field \"resources[0].providers[0].aescbc.keys[0].future\""
    );
    let legacy = format!(
        "apiVersion: v1\nkind: EncryptionConfig\nresources:\n- resources: [secrets]\n  providers:\n  \
         - aescbc:\n      keys:\n      - name: k\n        secret: {K32}\n  - identity: {{}}\n"
    );
    let cfg = parse(&legacy).unwrap();
    assert_eq!(summary(cfg.providers_for("", "secrets")), ["aescbc[k]", "identity"]);
}

/// The typos a person makes, each refused with the field path (never the secret), in YAML and
/// JSON alike — what upstream's invalid-configs teach.
#[test]
fn strict_decoding_names_typos_and_repeated_keys() {
    let head =
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                "{head}- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: k\n        secrets: {K32}\n"
            ),
            "unknown field \"resources[0].providers[0].aescbc.keys[0].secrets\"",
        ),
        (
            format!(
                "{head}- resources: [secrets]\n  providers:\n  - aescdc:\n      keys:\n      - name: k\n        secret: {K32}\n"
            ),
            "unknown field \"resources[0].providers[0].aescdc\"",
        ),
        (
            format!(
                "{head}- resources: [secrets]\n  providers:\n  - identity: {{}}\n  - kms:\n      name: p\n      endpoint: unix:///tmp/k.sock\n      apiVersion: v2\n      pandas: 1\n"
            ),
            "unknown field \"resources[0].providers[1].kms.pandas\"",
        ),
        (
            format!(
                "{head}- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: k\n        secret: {K32}\n        secret: {K16}\n"
            ),
            "duplicate field \"resources[0].providers[0].aescbc.keys[0].secret\"",
        ),
        (
            format!(
                "{head}- resources: [secrets]\n  resources: [configmaps]\n  providers:\n  - identity: {{}}\n"
            ),
            "duplicate field \"resources[0].resources\"",
        ),
        (
            format!(
                "{{\"apiVersion\":\"apiserver.config.k8s.io/v1\",\"kind\":\"EncryptionConfiguration\",\"resources\":[{{\"resources\":[\"secrets\"],\"providers\":[{{\"aesgcm\":{{\"keys\":[{{\"name\":\"k\",\"secret\":\"{K16}\",\"secret\":\"{K32}\"}}]}}}}]}}]}}"
            ),
            "duplicate field \"resources[0].providers[0].aesgcm.keys[0].secret\"",
        ),
        (
            format!("{head}- resources: [secrets]\n  providers:\n  - identity: {{typo: 1}}\n"),
            "unknown field \"resources[0].providers[0].identity.typo\"",
        ),
    ];
    for (text, want) in cases {
        let err = parse(&text).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::Strict { .. }), "{msg}");
        assert!(msg.contains(want), "{msg}\nwanted {want}");
        assert!(!msg.contains(K32) && !msg.contains(K16), "a secret in {msg}");
        assert!(!msg.contains("DuplicateKeyPolicy") && !msg.contains("serde"), "{msg}");
    }
}

#[test]
fn kms_v1_is_read_with_a_warning() {
    let yaml = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
                - resources: [secrets]\n  providers:\n  - kms:\n      name: legacy\n      \
                endpoint: unix:///tmp/k.sock\n  - kms:\n      apiVersion: v2\n      name: new\n      \
                endpoint: unix:///tmp/k2.sock\n";
    let cfg = parse(yaml).unwrap();
    let warnings = cfg.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with("resources[0].providers[0]: KMS v1 provider \"legacy\""));
    assert!(warnings[0].contains("KMSv1 feature gate"), "{warnings:?}");
}

#[test]
fn yaml_flow_mapping_is_not_mistaken_for_json() {
    let yaml = format!(
        "{{apiVersion: apiserver.config.k8s.io/v1, kind: EncryptionConfiguration, resources: \
         [{{resources: [secrets], providers: [{{aesgcm: {{keys: [{{name: g, secret: {K16}}}]}}}}]}}]}}"
    );
    let cfg = parse(&yaml).unwrap();
    assert_eq!(summary(cfg.providers_for("", "secrets")), ["aesgcm[g]"]);
}

#[test]
fn base64_like_go_std_encoding() {
    // Newlines inside the value are ignored, as Go's decoder does.
    let wrapped = format!("{}\\n{}", &K32[..20], &K32[20..]);
    assert!(parse(&one_rule("[secrets]", &aescbc("k", &wrapped))).is_ok());
    // Padding is required.
    let unpadded = K32.trim_end_matches('=');
    assert_eq!(
        err(&one_rule("[secrets]", &aescbc("k", unpadded))),
        "resources[0].providers[0].aescbc.keys[0].secret: not valid base64"
    );
    assert!(keys::decode_secret("not base64!").is_none());
}

#[test]
fn kms_defaults_and_durations() {
    let yaml = one_rule(
        "[secrets]",
        "  - kms:\n      name: a\n      endpoint: unix:///a.sock\n  - kms:\n      apiVersion: v2\n      \
         name: b\n      endpoint: UNIX:///b.sock\n      timeout: 1m30.5s\n",
    );
    let cfg = parse(&yaml).unwrap();
    let chain = cfg.providers_for("", "secrets").unwrap();
    let (Provider::Kms(a), Provider::Kms(b)) = (&chain[0], &chain[1]) else { panic!() };
    assert_eq!(
        (a.api_version, a.timeout, a.cache_size),
        (KmsApiVersion::V1, Some(Duration::from_secs(3)), Some(1000))
    );
    assert_eq!(
        (b.api_version, b.timeout, b.cache_size),
        (KmsApiVersion::V2, Some(Duration::from_millis(90_500)), None)
    );
    assert_eq!(chain[1].label(), "kms v2 provider b");
    for (text, ns) in [
        ("0", Some(0)),
        ("3s", Some(3_000_000_000)),
        ("500ms", Some(500_000_000)),
        ("1h2m3s4ms5us6ns", Some(3_723_004_005_006)),
        ("1.5h", Some(5_400_000_000_000)),
        (".5s", Some(500_000_000)),
        ("-2s", Some(-2_000_000_000)),
        ("2µs", Some(2_000)),
        ("", None),
        ("3", None),
        ("s", None),
        ("3x", None),
        ("1.s", Some(1_000_000_000)),
        ("99999999999h", None),
    ] {
        assert_eq!(raw::parse_go_duration(text), ns, "{text:?}");
    }
}

#[test]
fn missing_file_and_empty_file() {
    let missing = PathBuf::from("/nonexistent/atrest/enc.yaml");
    let e = EncryptionConfig::load(&missing).unwrap_err();
    assert_eq!(e.to_string(), "reading encryption config /nonexistent/atrest/enc.yaml");
    assert!(std::error::Error::source(&e).is_some());
    assert!(matches!(e, ConfigError::Read { .. }));
    assert_eq!(err(""), "encryption config is empty");
    assert_eq!(err(" \n"), "encryption config is empty");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enc.yaml");
    std::fs::write(&path, one_rule("[Secrets]", "  - identity: {}\n")).unwrap();
    let e = EncryptionConfig::load(&path).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: resources[0].resources[0]: \"Secrets\": resource names must not contain capital letters",
            path.display()
        )
    );
}

#[test]
fn wrong_kind_and_syntax() {
    assert_eq!(
        err("apiVersion: v1\nkind: ConfigMap\n"),
        "unsupported apiVersion \"v1\" and kind \"ConfigMap\": expected apiserver.config.k8s.io/v1 \
         EncryptionConfiguration (or the legacy v1 EncryptionConfig)"
    );
    assert!(
        err("kind: EncryptionConfiguration\nresources: []\n")
            .starts_with("unsupported apiVersion \"\"")
    );
    assert!(
        err("apiVersion: apiserver.config.k8s.io/v1\nkind: [\n").starts_with("not a valid YAML")
    );
    assert!(err("{\"apiVersion\": 1").starts_with("not a valid JSON"));
    assert_eq!(
        err("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"),
        "resources: at least one resource rule is required"
    );
}

#[test]
fn parse_errors_never_quote_a_secret() {
    // A numeric secret, a secret of the wrong type, and a syntax error on a secret's line.
    for (secret_line, secret) in [
        ("secret: 1234567890123", "1234567890123"),
        ("secret: [c2VjcmV0c2VjcmV0]", "c2VjcmV0c2VjcmV0"),
        ("secret: \"c2VjcmV0c2VjcmV0\" \"junk", "c2VjcmV0c2VjcmV0"),
        ("secret: {a: c2VjcmV0c2VjcmV0}", "c2VjcmV0c2VjcmV0"),
    ] {
        let yaml = format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
             - resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: k\n        {secret_line}\n"
        );
        let e = parse(&yaml).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(secret), "{shown}");
        let json = format!(
            "{{\"apiVersion\":\"apiserver.config.k8s.io/v1\",\"kind\":\"EncryptionConfiguration\",\
             \"resources\":[{{\"resources\":[\"secrets\"],\"providers\":[{{\"aescbc\":{{\"keys\":\
             [{{\"name\":\"k\",\"secret\":{secret}}}]}}}}]}}]}}"
        );
        if let Err(e) = EncryptionConfig::from_bytes(json.as_bytes()) {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

/// Each validation rule, with its exact message and field path.
#[test]
fn validation_rules() {
    let id = "  - identity: {}\n";
    let cases: Vec<(String, &str)> = vec![
        (one_rule("[]", id), "resources[0].resources: at least one resource is required"),
        (one_rule("[secrets]", ""), "resources[0].providers: at least one provider is required"),
        (
            one_rule("[secrets, Secrets]", id),
            "resources[0].resources[1]: \"Secrets\": resource names must not contain capital letters",
        ),
        (
            one_rule("['*']", id),
            "resources[0].resources[0]: \"*\": use \"*.\" for all resources of the core group, or \"*.*\" for all resources",
        ),
        (
            one_rule("[secrets.*]", id),
            "resources[0].resources[0]: \"secrets.*\": encrypting the same resource across groups is not supported; use \"*.<group>\" or \"*.*\"",
        ),
        (
            one_rule("[events.events.k8s.io]", id),
            "resources[0].resources[0]: \"events.events.k8s.io\": events.k8s.io objects are stored as core \"events\"; use \"events\" instead",
        ),
        (
            one_rule("['*.events.k8s.io']", id),
            "resources[0].resources[0]: \"*.events.k8s.io\": events.k8s.io objects are stored as core \"events\"; use \"events\" instead",
        ),
        (
            one_rule("[ingresses.extensions]", id),
            "resources[0].resources[0]: \"ingresses.extensions\": the extensions group has been removed and cannot be used for encryption",
        ),
        (
            one_rule("[apiserveripinfo]", id),
            "resources[0].resources[0]: \"apiserveripinfo\" has no REST API and cannot be encrypted",
        ),
        (
            one_rule("[serviceipallocations]", id),
            "resources[0].resources[0]: \"serviceipallocations\" has no REST API and cannot be encrypted",
        ),
        (
            one_rule("[servicenodeportallocations]", id),
            "resources[0].resources[0]: \"servicenodeportallocations\" has no REST API and cannot be encrypted",
        ),
        (
            one_rule("[secrets, configmaps, secrets]", id),
            "resources[0].resources: \"secrets\" and \"secrets\" name the same resource; list it once",
        ),
        (
            one_rule("[secrets, '*.']", id),
            "resources[0].resources: \"secrets\" and \"*.\" overlap in the same list (one would mask the other)",
        ),
        (
            one_rule("['*.*', deployments.apps]", id),
            "resources[0].resources: \"*.*\" and \"deployments.apps\" overlap in the same list (one would mask the other)",
        ),
        (
            one_rule("[secrets]", "  - {}\n"),
            "resources[0].providers[0]: no provider given: expected one of kms, aesgcm, aescbc, secretbox, identity",
        ),
        (
            one_rule("[secrets]", "  - identity: {}\n    aescbc:\n      keys: []\n"),
            "resources[0].providers[0]: more than one provider (aescbc, identity) in one list item; split them into separate items",
        ),
        (
            one_rule("[secrets]", "  - aescbc:\n      keys: []\n"),
            "resources[0].providers[0].aescbc.keys: at least one key is required",
        ),
        (
            one_rule("[secrets]", &format!("{id}{}", aescbc("", K32))),
            "resources[0].providers[1].aescbc.keys[0].name: a key needs a non-empty name",
        ),
        (
            one_rule("[secrets]", "  - aesgcm:\n      keys:\n      - name: k\n"),
            "resources[0].providers[0].aesgcm.keys[0].secret: a key needs a secret",
        ),
        (
            one_rule("[secrets]", &format!("{id}{}", aescbc("key1", "%%%%"))),
            "resources[0].providers[1].aescbc.keys[0].secret: not valid base64",
        ),
        (
            one_rule(
                "[secrets]",
                &format!("{id}{}", aescbc("key1", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
            ),
            "resources[0].providers[1].aescbc.keys[0].secret: key is 20 bytes, aescbc needs 16, 24 or 32",
        ),
        (
            one_rule(
                "[secrets]",
                &format!("  - secretbox:\n      keys:\n      - name: b\n        secret: {K16}\n"),
            ),
            "resources[0].providers[0].secretbox.keys[0].secret: key is 16 bytes, secretbox needs 32",
        ),
        (
            one_rule("[secrets]", "  - kms:\n      apiVersion: v2\n      endpoint: unix:///s\n"),
            "resources[0].providers[0].kms.name: a KMS provider needs a name",
        ),
        (
            one_rule(
                "[secrets]",
                "  - kms:\n      apiVersion: v2\n      name: a:b\n      endpoint: unix:///s\n",
            ),
            "resources[0].providers[0].kms.name: KMS provider name \"a:b\" must not contain ':'",
        ),
        (
            one_rule(
                "[secrets]",
                "  - kms:\n      name: a\n      endpoint: unix:///s\n  - kms:\n      apiVersion: v2\n      name: a\n      endpoint: unix:///s\n",
            ),
            "resources[0].providers[1].kms.name: duplicate KMS provider name \"a\"; names must be unique",
        ),
        (
            one_rule("[secrets]", "  - kms:\n      apiVersion: v2\n      name: a\n"),
            "resources[0].providers[0].kms.endpoint: a KMS provider needs an endpoint",
        ),
        (
            one_rule(
                "[secrets]",
                "  - kms:\n      apiVersion: v2\n      name: a\n      endpoint: tcp://host:1\n",
            ),
            "resources[0].providers[0].kms.endpoint: unsupported scheme \"tcp\" for a KMS provider, only unix is supported",
        ),
        (
            one_rule(
                "[secrets]",
                "  - kms:\n      apiVersion: v2\n      name: a\n      endpoint: unix:///s\n      timeout: 0s\n",
            ),
            "resources[0].providers[0].kms.timeout: timeout must be positive",
        ),
        (
            one_rule(
                "[secrets]",
                "  - kms:\n      apiVersion: v2\n      name: a\n      endpoint: unix:///s\n      timeout: soon\n",
            ),
            "resources[0].providers[0].kms.timeout: \"soon\" is not a duration such as 3s or 500ms",
        ),
        (
            one_rule(
                "[secrets]",
                "  - kms:\n      apiVersion: v2\n      name: a\n      endpoint: unix:///s\n      cachesize: 10\n",
            ),
            "resources[0].providers[0].kms.cachesize: cachesize is not supported in v2",
        ),
        (
            one_rule(
                "[secrets]",
                "  - kms:\n      name: a\n      endpoint: unix:///s\n      cachesize: 0\n",
            ),
            "resources[0].providers[0].kms.cachesize: cachesize must be positive, or negative to disable the cache",
        ),
        (
            one_rule(
                "[secrets]",
                "  - kms:\n      apiVersion: v3\n      name: a\n      endpoint: unix:///s\n",
            ),
            "resources[0].providers[0].kms.apiVersion: unsupported KMS apiVersion \"v3\", only v1 and v2 are supported",
        ),
    ];
    let mut failures = Vec::new();
    for (yaml, want) in &cases {
        match parse(yaml) {
            Ok(_) => failures.push(format!("accepted, wanted {want:?}:\n{yaml}")),
            Err(e) if e.to_string() != *want => {
                failures.push(format!("got  {:?}\nwant {want:?}", e.to_string()));
            }
            Err(e) => assert!(matches!(e, ConfigError::Invalid { .. })),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_problem_is_reported() {
    let yaml = one_rule(
        "[Secrets, '*']",
        &format!(
            "  - aescbc:\n      keys:\n      - name: \"\"\n        secret: \"%%\"\n{}",
            aescbc("k", "AAAA")
        ),
    );
    let ConfigError::Invalid { problems, .. } = parse(&yaml).unwrap_err() else { panic!() };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            // "*" parses as the core-group wildcard, so it also overlaps "Secrets" (as in kube).
            "resources[0].resources",
            "resources[0].resources[0]",
            "resources[0].resources[1]",
            "resources[0].providers[0].aescbc.keys[0].name",
            "resources[0].providers[0].aescbc.keys[0].secret",
            "resources[0].providers[1].aescbc.keys[0].secret",
        ]
    );
}

#[test]
fn kms_v1_names_follow_kube() {
    // kube allows ':' in KMS v1 names and repeated v1 names (without automatic reload).
    let yaml = one_rule(
        "[secrets]",
        "  - kms:\n      name: a:b\n      endpoint: unix:///s\n  - kms:\n      name: a:b\n      endpoint: unix:///s\n",
    );
    let cfg = parse(&yaml).unwrap();
    assert_eq!(summary(cfg.providers_for("", "secrets")), ["kms v1 a:b", "kms v1 a:b"]);
    // A v2 name must be unique across the whole file, not just one list.
    let yaml = format!(
        "{}- resources: [configmaps]\n  providers:\n  - kms:\n      apiVersion: v2\n      name: x\n      endpoint: unix:///s\n",
        one_rule(
            "[secrets]",
            "  - kms:\n      apiVersion: v2\n      name: x\n      endpoint: unix:///s\n"
        )
    );
    assert_eq!(
        err(&yaml),
        "resources[1].providers[0].kms.name: duplicate KMS provider name \"x\"; names must be unique"
    );
}

#[test]
fn masking_by_earlier_wildcards() {
    let rule = |res: &str| format!("- resources: [{res}]\n  providers:\n  - identity: {{}}\n");
    let cfg = |rules: &[&str]| {
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n{}",
            rules.iter().map(|r| rule(r)).collect::<String>()
        )
    };
    assert_eq!(
        err(&cfg(&["'*.*'", "'*.apps'"])),
        "resources[1].resources[0]: \"*.apps\" is masked by the earlier \"*.*\" rule in resources[0]"
    );
    assert_eq!(
        err(&cfg(&["secrets", "'*.apps'", "deployments.apps"])),
        "resources[2].resources[0]: \"deployments.apps\" is masked by the earlier \"*.apps\" rule in resources[1]"
    );
    assert_eq!(
        err(&cfg(&["'*.'", "secrets"])),
        "resources[1].resources[0]: \"secrets\" is masked by the earlier \"*.\" rule in resources[0]"
    );
    assert_eq!(
        err(&cfg(&["'*.*'", "'*.*'"])),
        "resources[1].resources[0]: \"*.*\" is masked by the earlier \"*.*\" rule in resources[0]"
    );
    // Wildcards after exact rules are fine.
    assert!(parse(&cfg(&["secrets", "'*.'", "deployments.apps", "'*.apps'", "'*.*'"])).is_ok());
}

#[test]
fn group_resource_parsing() {
    assert_eq!(parse_group_resource("secrets"), ("", "secrets"));
    assert_eq!(parse_group_resource("*."), ("", "*"));
    assert_eq!(parse_group_resource("*.*"), ("*", "*"));
    assert_eq!(
        parse_group_resource("pandas.awesome.bears.example"),
        ("awesome.bears.example", "pandas")
    );
}
