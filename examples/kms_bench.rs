//! Benchmark fixture for KMS v2 (scripts/bench-kms): serves the test KMS plugin on a unix
//! socket and loads the same secrets twice into etcd, once under KMS v2 (one DEK source per
//! 1,000 objects, as one kube-apiserver writes them between key rotations) below `/kms/`, once
//! under aesgcm below `/gcm/`, with a config for each. Then serves until stdin closes.
//!
//!   kms_bench ENDPOINT COUNT DIR

#[path = "../tests/harness/kms_plugin.rs"]
mod kms_plugin;

use std::io::Read as _;

use atrest::testkit::{golden_dir, seal_aesgcm, seal_kms_v2};
use base64::Engine as _;

const PER_SOURCE: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, count, dir] = args.as_slice() else {
        eprintln!("usage: kms_bench ENDPOINT COUNT DIR");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("COUNT");
    let dir = std::path::Path::new(dir);
    let plugin = kms_plugin::KmsPluginServer::start([9; 32], "bench-key");
    let gcm_key = [7u8; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    std::fs::write(
        dir.join("kms.yaml"),
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms:\n      apiVersion: v2\n      name: bench-kms\n      endpoint: {}\n  - identity: {{}}\n",
            plugin.endpoint()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("gcm.yaml"),
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys:\n      - name: gcm1\n        secret: {}\n  - identity: {{}}\n",
            b64.encode(gcm_key)
        ),
    )
    .unwrap();
    let secret = std::fs::read(golden_dir().join("payloads/core.v1.Secret.pb")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut client = etcd_client::Client::connect([endpoint.as_str()], None).await.unwrap();
        let mut batch = Vec::with_capacity(100);
        let mut source = (Vec::new(), [0u8; 32]);
        for i in 0..count {
            if i % PER_SOURCE == 0 {
                let seed = [(i / PER_SOURCE) as u8; 32];
                source = (plugin.wrap(&seed), seed);
            }
            let mut info = [0u8; 32];
            info[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let kms_key = format!("/kms/secrets/ns{}/s{i}", i % 100);
            let gcm_key_path = format!("/gcm/secrets/ns{}/s{i}", i % 100);
            let kms = seal_kms_v2(
                "bench-kms",
                "bench-key",
                &source.0,
                &source.1,
                info,
                nonce,
                &secret,
                kms_key.as_bytes(),
            );
            let gcm = seal_aesgcm(&gcm_key, "gcm1", &secret, nonce, gcm_key_path.as_bytes());
            batch.push(etcd_client::TxnOp::put(kms_key, kms, None));
            batch.push(etcd_client::TxnOp::put(gcm_key_path, gcm, None));
            if batch.len() >= 100 || i + 1 == count {
                client
                    .txn(etcd_client::Txn::new().and_then(std::mem::take(&mut batch)))
                    .await
                    .unwrap();
            }
        }
    });
    println!("ready");
    // Serve until the script closes our stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    plugin.stop();
}
