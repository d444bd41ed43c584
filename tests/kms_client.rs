//! The KMS plugin client (`atrest::envelope::kms_plugin::GrpcKms`) against a real gRPC plugin on
//! a unix socket (`harness::kms_plugin`): the golden KMS cases under every golden config, plugin
//! status, the DEK cache and single flight, key_id rotation, and failures that must stay per
//! object and fast.

use std::time::Duration;

use atrest::config::{EncryptionConfig, Provider};
use atrest::envelope::kms_plugin::{GrpcKms, PluginStatus};
use atrest::envelope::{
    DecryptError, EnvelopeError, Opened, Transformer, Unreadable, open_with_kms,
};
use atrest::testkit::{golden_dir, seal_kms_v1, seal_kms_v2};
use rayon::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::golden::{CONFIGS, config_text, manifest};
use crate::harness::kms_plugin::{Failure, KmsPluginServer};

const KMS_CASES: [&str; 6] = [
    "kms1-gcm",
    "kms1-legacy-cbc",
    "kms2-seed-current-keyid",
    "kms2-seed-old-keyid",
    "kms2-aesgcm-key",
    "bad-kms2-moved",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// A golden config with its placeholder socket pointed at `server`.
fn golden_config(name: &str, server: &KmsPluginServer) -> EncryptionConfig {
    EncryptionConfig::from_bytes(config_text(name, server).as_bytes()).unwrap()
}

/// One rule for secrets with the given provider YAML (indented as a list item under providers).
fn config(providers: &str) -> EncryptionConfig {
    let yaml = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
         - resources: [secrets]\n  providers:\n{providers}"
    );
    EncryptionConfig::from_bytes(yaml.as_bytes()).unwrap()
}

fn kms_v2_config(server: &KmsPluginServer, timeout: &str) -> EncryptionConfig {
    config(&format!(
        "  - kms:\n      apiVersion: v2\n      name: kms-v2\n      endpoint: {}\n      timeout: {timeout}\n",
        server.endpoint()
    ))
}

fn kms_v1_config(server: &KmsPluginServer, cachesize: Option<i32>) -> EncryptionConfig {
    let cache = cachesize.map(|n| format!("      cachesize: {n}\n")).unwrap_or_default();
    config(&format!(
        "  - kms:\n      name: kms-v1\n      endpoint: {}\n      timeout: 3s\n{cache}",
        server.endpoint()
    ))
}

fn secrets_chain(config: &EncryptionConfig) -> &[Provider] {
    config.providers_for("", "secrets").unwrap()
}

fn verdict(r: &Result<Opened<'_>, Unreadable>) -> &'static str {
    match r {
        Ok(o) if o.stale.is_empty() => "current",
        Ok(_) => "stale",
        Err(_) => "unreadable",
    }
}

/// The reason of a single failed KMS attempt.
fn kms_message(err: &Unreadable) -> String {
    let EnvelopeError::Decrypt { attempts } = &err.error else {
        panic!("expected a decrypt error, got {:?}", err.error)
    };
    let [attempt] = attempts.as_slice() else { panic!("one attempt expected: {attempts:?}") };
    match &attempt.error {
        DecryptError::KmsPlugin { message } => message.clone(),
        other => panic!("expected a KMS plugin error, got {other:?}"),
    }
}

#[test]
fn golden_kms_cases_under_every_golden_config() {
    let server = KmsPluginServer::golden();
    let rt = runtime();
    let cases: Vec<Value> = manifest()
        .into_iter()
        .filter(|c| KMS_CASES.contains(&c["case"].as_str().unwrap()))
        .collect();
    assert_eq!(cases.len(), KMS_CASES.len());
    let mut checked = 0;
    for name in CONFIGS {
        let config = golden_config(name, &server);
        let kms = GrpcKms::connect(&config, rt.handle());
        for status in kms.statuses() {
            assert_eq!(status.error, None, "{name}: {status:?}");
        }
        for case in &cases {
            let id = case["case"].as_str().unwrap();
            let value =
                std::fs::read(golden_dir().join("envelopes").join(case["file"].as_str().unwrap()))
                    .unwrap();
            let key = case["key"].as_str().unwrap();
            let t = Transformer::for_resource(
                &config,
                case["group"].as_str().unwrap(),
                case["resource"].as_str().unwrap(),
            );
            let result = open_with_kms(&value, key.as_bytes(), t, &kms);
            let want = case["status"][name].as_str().unwrap();
            assert_eq!(verdict(&result), want, "{id} under {name}: {result:?}");
            match &result {
                Ok(opened) => {
                    let sha = hex::encode(Sha256::digest(&*opened.plaintext));
                    assert_eq!(sha, case["plaintextSha256"].as_str().unwrap(), "{id} under {name}");
                    assert_eq!(opened.encryption.key_id.as_deref(), case["keyId"].as_str());
                    assert_eq!(opened.encryption.key_name.as_deref(), case["keyName"].as_str());
                }
                Err(err) => {
                    // Damaged cases name their class; readable KMS data is unreadable only
                    // under configs without that KMS provider.
                    let class = case["errors"][name].as_str().unwrap_or("no-provider");
                    assert_eq!(err.error.class(), class, "{id} under {name}: {:?}", err.error);
                    assert!(!err.error.needs_kms_plugin(), "{id} under {name}");
                    if class == "decrypt" {
                        // The plugin answered; the data (AAD) is what is wrong.
                        let text = err.error.to_string();
                        assert!(text.contains("KMS provider kms-v2"), "{text}");
                        assert!(text.contains("authentication tag"), "{text}");
                    }
                }
            }
            checked += 1;
        }
        assert!(kms.decrypt_calls() <= 6, "{name}: {} calls", kms.decrypt_calls());
    }
    assert_eq!(checked, CONFIGS.len() * KMS_CASES.len());
    assert!(server.decrypt_calls() > 0);
}

#[test]
fn statuses_show_the_plugin() {
    let server = KmsPluginServer::golden();
    let rt = runtime();
    let config = golden_config("config-kms.yaml", &server);
    let kms = GrpcKms::connect(&config, rt.handle());
    assert_eq!(
        kms.statuses(),
        [
            PluginStatus {
                name: "kms-v2".into(),
                api_version: "v2",
                endpoint: server.endpoint(),
                healthz: Some("ok".into()),
                version: Some("v2".into()),
                key_id: Some("kek-2".into()),
                error: None,
            },
            PluginStatus {
                name: "kms-v1".into(),
                api_version: "v1",
                endpoint: server.endpoint(),
                healthz: None,
                version: Some("v1beta1".into()),
                key_id: None,
                error: None,
            },
        ]
    );
    assert_eq!(server.status_calls(), 2, "one Status and one Version");
    assert_eq!(kms.decrypt_calls(), 0);
    let json = serde_json::to_value(kms.statuses()).unwrap();
    assert_eq!(json[0]["apiVersion"], "v2");
    assert_eq!(json[0]["keyId"], "kek-2");
}

/// Values written by one kube-apiserver process share one DEK source: many objects, one call,
/// even when every thread misses the cache at the same moment.
#[test]
fn one_decrypt_call_for_ten_thousand_objects_sharing_a_dek_source() {
    const N: usize = 10_000;
    let server = KmsPluginServer::start([0x42; 32], "kek-1");
    let rt = runtime();
    let config = kms_v2_config(&server, "5s");
    let kms = GrpcKms::connect(&config, rt.handle());
    let seed = [0x17; 32];
    let enc_seed = server.wrap(&seed);
    let values: Vec<(String, Vec<u8>)> = (0..N)
        .map(|i| {
            let key = format!("/registry/secrets/ns/s{i}");
            let mut info = [0u8; 32];
            info[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let pt = format!("object {i}");
            let v = seal_kms_v2(
                "kms-v2",
                "kek-1",
                &enc_seed,
                &seed,
                info,
                nonce,
                pt.as_bytes(),
                key.as_bytes(),
            );
            (key, v)
        })
        .collect();
    // Every thread misses together: the one call is slow, so the rest must wait for it.
    server.set_failure(Failure::Slow(Duration::from_millis(200)));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(32).build().unwrap();
    let chain = secrets_chain(&config);
    let current = pool.install(|| {
        values
            .par_iter()
            .enumerate()
            .filter(|(i, (key, value))| {
                let opened =
                    open_with_kms(value, key.as_bytes(), Transformer::Chain(chain), &kms).unwrap();
                assert_eq!(&*opened.plaintext, format!("object {i}").as_bytes());
                opened.stale.is_empty()
            })
            .count()
    });
    assert_eq!(current, N);
    assert_eq!(kms.decrypt_calls(), 1);
    assert_eq!(server.decrypt_calls(), 1);

    // The same for KMS v1 (one encrypted DEK shared by all values).
    server.set_failure(Failure::Slow(Duration::from_millis(200)));
    let config = kms_v1_config(&server, None);
    let kms = GrpcKms::connect(&config, rt.handle());
    let dek = [0x33; 32];
    let enc_dek = server.wrap(&dek);
    let before = server.decrypt_calls();
    let chain = secrets_chain(&config);
    pool.install(|| {
        (0..N).into_par_iter().for_each(|i| {
            let key = format!("/registry/secrets/ns/s{i}");
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let v = seal_kms_v1("kms-v1", &enc_dek, &dek, b"v1 object", nonce, key.as_bytes());
            let opened =
                open_with_kms(&v, key.as_bytes(), Transformer::Chain(chain), &kms).unwrap();
            assert_eq!(&*opened.plaintext, b"v1 object");
        })
    });
    assert_eq!(kms.decrypt_calls(), 1);
    assert_eq!(server.decrypt_calls() - before, 1);
}

#[test]
fn a_new_key_id_makes_old_objects_stale_for_a_new_client() {
    let server = KmsPluginServer::golden();
    let rt = runtime();
    let config = golden_config("config-kms.yaml", &server);
    let case = |id: &str| {
        let c = manifest().into_iter().find(|c| c["case"] == id).unwrap();
        let value = std::fs::read(golden_dir().join("envelopes").join(c["file"].as_str().unwrap()))
            .unwrap();
        (c["key"].as_str().unwrap().to_owned(), value)
    };
    let (key, value) = case("kms2-seed-current-keyid");
    let t = Transformer::for_resource(&config, "", "secrets");

    let before = GrpcKms::connect(&config, rt.handle());
    assert_eq!(verdict(&open_with_kms(&value, key.as_bytes(), t, &before)), "current");

    server.set_key_id("kek-3");
    // The key_id is read at connect: the old client still calls kek-2 current.
    assert_eq!(verdict(&open_with_kms(&value, key.as_bytes(), t, &before)), "current");
    let after = GrpcKms::connect(&config, rt.handle());
    assert_eq!(after.statuses()[0].key_id.as_deref(), Some("kek-3"));
    let opened = open_with_kms(&value, key.as_bytes(), t, &after).unwrap();
    assert_eq!(
        opened.stale,
        ["KMS v2 keyID kek-2 is not the plugin's current key_id kek-3"],
        "{opened:?}"
    );
    assert_eq!(opened.encryption.key_id.as_deref(), Some("kek-2"));
}

/// Distinct v2 values (own DEK source each) so that neither the cache nor single flight hides a
/// per-object cost.
fn distinct_v2_values(server: &KmsPluginServer, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let key = format!("/registry/secrets/ns/s{i}");
            let seed = [(i % 251) as u8; 32];
            let v = seal_kms_v2(
                "kms-v2",
                "kek-1",
                &server.wrap(&seed),
                &seed,
                [1; 32],
                [2; 12],
                b"payload",
                key.as_bytes(),
            );
            (key, v)
        })
        .collect()
}

/// Threads that open values at once in the failing-plugin tests: at most this many calls can be
/// in flight when the first failure marks the plugin down, whatever the machine's core count.
const RACERS: u64 = 4;

/// Opens every value on [`RACERS`] threads, expecting each to fail with a KMS plugin reason.
fn open_all_failing(
    kms: &GrpcKms,
    config: &EncryptionConfig,
    values: &[(String, Vec<u8>)],
) -> Vec<String> {
    let chain = secrets_chain(config);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(RACERS as usize).build().unwrap();
    pool.install(|| {
        values
            .par_iter()
            .map(|(key, value)| {
                let err = open_with_kms(value, key.as_bytes(), Transformer::Chain(chain), kms)
                    .expect_err("the plugin fails");
                assert!(err.encryption.is_some());
                kms_message(&err)
            })
            .collect()
    })
}

#[test]
fn an_unavailable_plugin_fails_each_object_fast() {
    let server = KmsPluginServer::start([0x42; 32], "kek-1");
    let rt = runtime();
    let config = kms_v2_config(&server, "1s");
    let values = distinct_v2_values(&server, 1000);
    let kms = GrpcKms::connect(&config, rt.handle());
    assert_eq!(kms.statuses()[0].error, None);
    server.set_failure(Failure::Unavailable);
    let reasons = open_all_failing(&kms, &config, &values);
    let prefix = format!("KMS plugin kms-v2 at {} is unavailable: ", server.endpoint());
    for r in &reasons {
        assert!(r.starts_with(&prefix), "{r}");
        assert!(r.contains("switched off"), "{r}");
    }
    // Fast because marked down after the first failure: only the calls already in flight on
    // the other racing threads reach the plugin, not one per object.
    assert!(kms.decrypt_calls() <= RACERS, "{} calls", kms.decrypt_calls());
    assert_eq!(kms.decrypt_calls(), server.decrypt_calls());
}

#[test]
fn a_plugin_error_is_a_per_object_reason() {
    let server = KmsPluginServer::start([0x42; 32], "kek-1");
    let rt = runtime();
    let config = kms_v2_config(&server, "1s");
    let values = distinct_v2_values(&server, 20);
    let kms = GrpcKms::connect(&config, rt.handle());
    server.set_failure(Failure::Error);
    let reasons = open_all_failing(&kms, &config, &values);
    for r in &reasons {
        assert_eq!(
            r,
            &format!(
                "KMS plugin kms-v2 at {} refused Decrypt: Internal: test plugin: internal failure",
                server.endpoint()
            )
        );
    }
    // The plugin is up: every object asks it (each has its own DEK source).
    assert_eq!(kms.decrypt_calls(), 20);
    // And it recovers at once.
    server.set_failure(Failure::None);
    let chain = secrets_chain(&config);
    let (key, value) = &values[0];
    assert!(open_with_kms(value, key.as_bytes(), Transformer::Chain(chain), &kms).is_ok());
}

#[test]
fn a_slow_plugin_costs_one_timeout_not_one_per_object() {
    let server = KmsPluginServer::start([0x42; 32], "kek-1");
    let rt = runtime();
    let config = kms_v2_config(&server, "500ms");
    let values = distinct_v2_values(&server, 1000);
    let kms = GrpcKms::connect(&config, rt.handle());
    server.set_failure(Failure::Slow(Duration::from_secs(5)));
    let reasons = open_all_failing(&kms, &config, &values);
    let prefix = format!("KMS plugin kms-v2 at {} is unavailable: ", server.endpoint());
    assert!(reasons.iter().all(|r| r.starts_with(&prefix)), "{:?}", &reasons[..3]);
    assert!(
        reasons.iter().any(|r| r.contains("Decrypt got no answer within 500ms")),
        "{:?}",
        &reasons[..3]
    );
    // One timeout, not one per object: only the racing threads' calls ever waited.
    assert!(kms.decrypt_calls() <= RACERS, "{} calls", kms.decrypt_calls());

    // A slow plugin at connect: Status times out, the provider starts out down.
    let kms = GrpcKms::connect(&config, rt.handle());
    let status = &kms.statuses()[0];
    assert_eq!(
        status.error.as_deref(),
        Some("unavailable: Status got no answer within 500ms"),
        "{status:?}"
    );
    open_all_failing(&kms, &config, &values);
    assert_eq!(kms.decrypt_calls(), 0, "a provider down at connect costs no Decrypt wait");
}

#[test]
fn a_stopped_plugin_fails_fast_and_says_where_it_was() {
    let server = KmsPluginServer::start([0x42; 32], "kek-1");
    let endpoint = server.endpoint();
    let rt = runtime();
    let config = kms_v2_config(&server, "1s");
    let values = distinct_v2_values(&server, 1000);

    // Connected while it was up, then it goes away.
    let kms = GrpcKms::connect(&config, rt.handle());
    assert_eq!(kms.statuses()[0].key_id.as_deref(), Some("kek-1"));
    server.stop();
    let reasons = open_all_failing(&kms, &config, &values);
    let prefix = format!("KMS plugin kms-v2 at {endpoint} is unavailable: ");
    assert!(reasons.iter().all(|r| r.starts_with(&prefix)), "{:?}", &reasons[..3]);
    assert!(kms.decrypt_calls() <= RACERS, "{} calls", kms.decrypt_calls());

    // Connected after it went away: recorded in the status, no call at all.
    let kms = GrpcKms::connect(&config, rt.handle());
    let status = &kms.statuses()[0];
    let error = status.error.as_deref().unwrap();
    assert!(error.starts_with("unavailable: "), "{error}");
    assert_eq!((status.healthz.as_ref(), status.key_id.as_ref()), (None, None));
    let reasons = open_all_failing(&kms, &config, &values);
    assert!(reasons.iter().all(|r| r.starts_with(&prefix)), "{:?}", &reasons[..3]);
    assert_eq!(kms.decrypt_calls(), 0);
}

/// v1 caches plaintext DEKs up to `cachesize` (kube's LRU): with room for one, two alternating
/// DEKs miss every time; with the default, each DEK is fetched once; negative disables it.
#[test]
fn the_v1_dek_cache_honours_cachesize() {
    let server = KmsPluginServer::start([0x42; 32], "kek-1");
    let rt = runtime();
    let deks = [[1u8; 32], [2u8; 32]];
    let encrypted = [server.wrap(&deks[0]), server.wrap(&deks[1])];
    let values: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| {
            let key = format!("/registry/secrets/ns/s{i}");
            let v = seal_kms_v1(
                "kms-v1",
                &encrypted[i % 2],
                &deks[i % 2],
                b"x",
                [3; 12],
                key.as_bytes(),
            );
            (key, v)
        })
        .collect();
    let calls = |cachesize: Option<i32>| {
        let config = kms_v1_config(&server, cachesize);
        let kms = GrpcKms::connect(&config, rt.handle());
        let chain = secrets_chain(&config);
        for (key, value) in &values {
            let opened =
                open_with_kms(value, key.as_bytes(), Transformer::Chain(chain), &kms).unwrap();
            assert!(opened.stale.is_empty());
        }
        kms.decrypt_calls()
    };
    let default = calls(None);
    let one = calls(Some(1));
    let disabled = calls(Some(-1));
    assert_eq!(default, 2);
    assert_eq!(one, 20);
    assert!(one > default);
    assert_eq!(disabled, 20);
    assert_eq!(calls(Some(2)), 2);
}

/// Both plugin versions can share one socket (the golden configs do), and the client never
/// sends anything but Status/Version and Decrypt.
#[test]
fn one_socket_serves_both_api_versions() {
    let server = KmsPluginServer::golden();
    let rt = runtime();
    let config = golden_config("config-kms-v1.yaml", &server);
    let kms = GrpcKms::connect(&config, rt.handle());
    let names: Vec<_> = kms.statuses().into_iter().map(|s| (s.name, s.api_version)).collect();
    assert_eq!(names, [("kms-v1".to_owned(), "v1"), ("kms-v2".to_owned(), "v2")]);
    assert!(kms.statuses().iter().all(|s| s.error.is_none()));
    assert_eq!(server.status_calls(), 2);
}
