//! Test-data generator for the demo and the benchmarks (not part of atrest: atrest never writes
//! etcd). Encrypts the way kube-apiserver does, with atrest's `testkit` encoders.
//!
//!   seed demo-fixture OUT_DIR             write fixtures/demo: etcd-data.jsonl + encryption-config.yaml
//!   seed bench ENDPOINT COUNT CONFIG_OUT  load COUNT mixed objects (~1 KiB) into etcd, write their config

use std::fmt::Write as _;
use std::io::Write as _;

use atrest::pb::runtime::{ObjectHead, ObjectMeta, Time};
use atrest::testkit::{seal_aescbc, seal_aesgcm, seal_secretbox};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use prost::Message;

/// Deterministic bytes (splitmix64), so fixtures are reproducible byte for byte.
struct Bytes(u64);
impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.next() as u8;
        }
        out
    }
    fn vec(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A built-in object the way kube-apiserver stores it: "k8s\0" + runtime.Unknown whose raw is
/// the object message (metadata = field 1, then `extra` as field 2: one `data` map entry of a
/// Secret or ConfigMap, a Deployment's spec), valid under the real Kubernetes schema.
fn protobuf_object(
    api_version: &str,
    kind: &str,
    ns: &str,
    name: &str,
    uid: &str,
    extra: &[u8],
) -> Vec<u8> {
    let head = ObjectHead {
        metadata: Some(ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            uid: Some(uid.into()),
            creation_timestamp: Some(Time { seconds: Some(1_764_000_000), nanos: Some(0) }),
        }),
    };
    let mut raw = head.encode_to_vec();
    if !extra.is_empty() {
        raw.push(0x12);
        prost::encoding::encode_varint(extra.len() as u64, &mut raw);
        raw.extend_from_slice(extra);
    }
    atrest::testkit::protobuf_payload(api_version, kind, &raw)
}

/// One `map<string, …>` entry (key = field 1, value = field 2), as Secret.data and
/// ConfigMap.data carry them.
fn map_entry(key: &str, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0x0a];
    prost::encoding::encode_varint(key.len() as u64, &mut out);
    out.extend_from_slice(key.as_bytes());
    out.push(0x12);
    prost::encoding::encode_varint(value.len() as u64, &mut out);
    out.extend_from_slice(value);
    out
}

/// Random bytes as lower-case hex (a ConfigMap value must be UTF-8).
fn hex(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().flat_map(|b| format!("{b:02x}").into_bytes()).collect()
}

/// A DeploymentSpec with `replicas: 2`.
const DEPLOYMENT_SPEC: &[u8] = &[0x08, 0x02];

fn json_cr(api_version: &str, kind: &str, ns: &str, name: &str, uid: &str, size: usize) -> Vec<u8> {
    format!(
        "{{\"apiVersion\":\"{api_version}\",\"kind\":\"{kind}\",\"metadata\":{{\"creationTimestamp\":\"2025-11-24T16:00:00Z\",\"name\":\"{name}\",\"namespace\":\"{ns}\",\"uid\":\"{uid}\"}},\"spec\":{{\"size\":\"{}\"}}}}\n",
        "x".repeat(size)
    )
    .into_bytes()
}

fn uid(r: &mut Bytes) -> String {
    let b: [u8; 16] = r.fill();
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// (provider, key name, key bytes)
type Key<'a> = (&'a str, &'a str, &'a [u8]);

/// One EncryptionConfiguration rule per (resources, keys), each followed by identity.
fn config_yaml(groups: &[(&str, Vec<Key<'_>>)], identity_last: bool) -> String {
    let mut y = String::from(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n",
    );
    for (resources, providers) in groups {
        let _ = writeln!(y, "- resources: [{resources}]\n  providers:");
        let mut last = "";
        for (provider, name, key) in providers {
            if *provider != last {
                let _ = writeln!(y, "  - {provider}:\n      keys:");
                last = provider;
            }
            let _ = writeln!(y, "      - name: {name}\n        secret: {}", B64.encode(key));
        }
        if identity_last {
            y.push_str("  - identity: {}\n");
        }
    }
    y
}

fn demo_fixture(out: &std::path::Path) {
    let mut r = Bytes(2026);
    let new_key: [u8; 32] = r.fill();
    let old_key: [u8; 32] = r.fill();
    let box_key: [u8; 32] = r.fill();
    let mut kvs: Vec<(String, Vec<u8>)> = Vec::new();
    let secret = |r: &mut Bytes, ns: &str, name: &str| {
        let data = map_entry("token", &r.vec(64));
        protobuf_object("v1", "Secret", ns, name, &uid(r), &data)
    };
    for (i, name) in
        ["db-password", "tls-cert", "registry-auth", "api-token", "oauth-client", "smtp"]
            .iter()
            .enumerate()
    {
        let ns = if i % 2 == 0 { "prod" } else { "staging" };
        let p = secret(&mut r, ns, name);
        kvs.push((
            format!("/registry/secrets/{ns}/{name}"),
            seal_aescbc(&new_key, "key-2026", &p, r.fill()),
        ));
    }
    for name in ["legacy-db", "old-token", "ci-deploy-key", "webhook-hmac"] {
        let p = secret(&mut r, "prod", name);
        kvs.push((
            format!("/registry/secrets/prod/{name}"),
            seal_aescbc(&old_key, "key-2025", &p, r.fill()),
        ));
    }
    for name in ["created-before-encryption", "bootstrap-token-abcdef"] {
        let ns = if name.starts_with("bootstrap") { "kube-system" } else { "default" };
        kvs.push((format!("/registry/secrets/{ns}/{name}"), secret(&mut r, ns, name)));
    }
    // Damaged: an aescbc value cut short (a bad restore, a truncated write).
    let p = secret(&mut r, "prod", "half-written");
    let mut broken = seal_aescbc(&new_key, "key-2026", &p, r.fill());
    broken.truncate(broken.len() - 7);
    kvs.push(("/registry/secrets/prod/half-written".into(), broken));
    for (ns, name) in
        [("default", "kube-root-ca.crt"), ("prod", "app-settings"), ("kube-system", "coredns")]
    {
        let extra = map_entry("config", &hex(&r.vec(48)));
        kvs.push((
            format!("/registry/configmaps/{ns}/{name}"),
            protobuf_object("v1", "ConfigMap", ns, name, &uid(&mut r), &extra),
        ));
    }
    for name in ["web", "worker"] {
        let _padding = r.vec(80); // keeps the generator's sequence (and the demo bytes) stable
        let p =
            protobuf_object("apps/v1", "Deployment", "prod", name, &uid(&mut r), DEPLOYMENT_SPEC);
        kvs.push((
            format!("/registry/deployments/prod/{name}"),
            seal_secretbox(&box_key, "box-1", &p, r.fill()),
        ));
    }
    let cr = json_cr("example.com/v1", "Widget", "prod", "blue", &uid(&mut r), 16);
    kvs.push(("/registry/example.com/widgets/prod/blue".into(), cr));
    kvs.push((
        "/registry/ranges/serviceips".into(),
        protobuf_object("v1", "RangeAllocation", "", "", "", b""),
    ));
    let cfg = config_yaml(
        &[
            (
                "secrets",
                vec![("aescbc", "key-2026", &new_key[..]), ("aescbc", "key-2025", &old_key[..])],
            ),
            ("\"*.apps\"", vec![("secretbox", "box-1", &box_key[..])]),
        ],
        true,
    );
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join("encryption-config.yaml"), cfg).unwrap();
    let mut f = std::fs::File::create(out.join("etcd-data.jsonl")).unwrap();
    for (k, v) in &kvs {
        writeln!(f, "{{\"key\":\"{}\",\"value\":\"{}\"}}", B64.encode(k), B64.encode(v)).unwrap();
    }
}

async fn bench(endpoint: &str, count: usize, config_out: &std::path::Path) {
    let mut r = Bytes(7);
    let cbc: [u8; 32] = r.fill();
    let gcm: [u8; 32] = r.fill();
    let sbx: [u8; 32] = r.fill();
    std::fs::write(
        config_out,
        config_yaml(
            &[(
                "secrets",
                vec![
                    ("aescbc", "cbc1", &cbc[..]),
                    ("aesgcm", "gcm1", &gcm[..]),
                    ("secretbox", "box1", &sbx[..]),
                ],
            )],
            true,
        ),
    )
    .unwrap();
    let mut client = etcd_client::Client::connect([endpoint], None).await.unwrap();
    let mut batch = Vec::with_capacity(100);
    for i in 0..count {
        let ns = format!("ns{}", i % 100);
        let (key, value) = if i % 100 == 99 {
            let name = format!("w{i}");
            (
                format!("/registry/example.com/widgets/{ns}/{name}"),
                json_cr("example.com/v1", "Widget", &ns, &name, &uid(&mut r), 900),
            )
        } else if i % 2 == 0 {
            let name = format!("s{i}");
            let data = map_entry("payload", &r.vec(900));
            let p = protobuf_object("v1", "Secret", &ns, &name, &uid(&mut r), &data);
            let key = format!("/registry/secrets/{ns}/{name}");
            let v = match i % 3 {
                0 => seal_aescbc(&cbc, "cbc1", &p, r.fill()),
                1 => seal_aesgcm(&gcm, "gcm1", &p, r.fill(), key.as_bytes()),
                _ => seal_secretbox(&sbx, "box1", &p, r.fill()),
            };
            (key, v)
        } else {
            let name = format!("cm{i}");
            (
                format!("/registry/configmaps/{ns}/{name}"),
                protobuf_object(
                    "v1",
                    "ConfigMap",
                    &ns,
                    &name,
                    &uid(&mut r),
                    &map_entry("payload", &hex(&r.vec(450))),
                ),
            )
        };
        batch.push(etcd_client::TxnOp::put(key, value, None));
        if batch.len() == 100 || i + 1 == count {
            client.txn(etcd_client::Txn::new().and_then(std::mem::take(&mut batch))).await.unwrap();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["demo-fixture", out] => demo_fixture(std::path::Path::new(out)),
        ["bench", endpoint, count, config_out] => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(bench(endpoint, count.parse().unwrap(), std::path::Path::new(config_out)));
        }
        _ => {
            eprintln!("usage: seed demo-fixture OUT_DIR | seed bench ENDPOINT COUNT CONFIG_OUT");
            std::process::exit(2);
        }
    }
}
