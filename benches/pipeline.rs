//! Per-object costs of the scan pipeline, on the golden vectors: envelope open per provider,
//! payload decode per encoding, and the whole judge step. Run: `cargo bench --bench pipeline`.
//! (The end-to-end comparisons with etcdctl are scripts/bench-*.)

use std::hint::black_box;

use atrest::config::EncryptionConfig;
use atrest::envelope::{self, Transformer};
use atrest::source::RawKv;
use atrest::testkit::golden_dir;
use atrest::verdict::{Filter, Judge, NO_KMS};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn case(name: &str) -> (String, Vec<u8>) {
    let manifest = std::fs::read_to_string(golden_dir().join("envelopes/MANIFEST.jsonl")).unwrap();
    let line = manifest.lines().find(|l| l.contains(&format!("\"case\": \"{name}\""))).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let value =
        std::fs::read(golden_dir().join("envelopes").join(v["file"].as_str().unwrap())).unwrap();
    (v["key"].as_str().unwrap().to_owned(), value)
}

fn benches(c: &mut Criterion) {
    let config = EncryptionConfig::load(&golden_dir().join("envelopes/config-after.yaml")).unwrap();
    let mut open = c.benchmark_group("envelope_open");
    for name in ["aescbc-32byte-p1", "aesgcm-32byte-p1", "secretbox-p1", "identity-protobuf"] {
        let (key, value) = case(name);
        let chain = config.providers_for("", "secrets").unwrap();
        open.throughput(Throughput::Bytes(value.len() as u64));
        open.bench_function(name, |b| {
            b.iter(|| {
                envelope::open(black_box(&value), key.as_bytes(), Transformer::Chain(chain)).is_ok()
            })
        });
    }
    open.finish();

    let mut decode = c.benchmark_group("codec_decode");
    for file in ["core.v1.Secret.pb", "core.v1.Secret.json", "apps.v1.Deployment.pb"] {
        let bytes = std::fs::read(golden_dir().join("payloads").join(file)).unwrap();
        decode.throughput(Throughput::Bytes(bytes.len() as u64));
        decode
            .bench_function(file, |b| b.iter(|| atrest::codec::decode(black_box(&bytes)).is_ok()));
    }
    decode.finish();

    let (key, value) = case("aesgcm-32byte-p1");
    let filter = Filter::default();
    let judge = Judge {
        prefix: b"/registry/",
        config: Some(&config),
        filter: &filter,
        kms: &NO_KMS,
        versions: None,
    };
    c.bench_function("judge_aesgcm_secret", |b| {
        b.iter(|| {
            let kv =
                RawKv { key: key.clone().into_bytes(), value: value.clone(), ..RawKv::default() };
            judge.judge(black_box(kv)).status
        })
    });
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
