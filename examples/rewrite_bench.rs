//! Benchmark driver for `atrest rewrite` (scripts/bench-rewrite): the test API server (HTTPS,
//! bearer token, storing through to the given etcd and re-encrypting as kube-apiserver does) in
//! this process; for each concurrency, COUNT stale secrets (aescbc key1, while key2 writes) are
//! loaded, then the release `atrest rewrite` runs against them. Prints objects/s, and the CPU
//! seconds of the test server (this process), atrest and etcd, so the server is seen not to be
//! the bottleneck.
//!
//!   rewrite_bench ENDPOINT ETCD_PID COUNT CONCURRENCY[,CONCURRENCY…]

// The harness modules refer to each other as `super::…`, so they sit at the crate root here.
#[allow(dead_code, unused_imports)]
#[path = "../tests/harness/apiserver/mod.rs"]
mod apiserver;
#[allow(dead_code)]
#[path = "../tests/harness/tls.rs"]
mod tls;

use std::process::Command;
use std::time::Instant;

use apiserver::{ApiServer, Backend, Resource, objects, seal_for};
use atrest::config::EncryptionConfig;
use base64::Engine as _;
use etcd_client::{Client, Txn, TxnOp};

fn config(order: &[(&str, [u8; 32])]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let keys: String = order
        .iter()
        .map(|(n, k)| format!("            - name: {n}\n              secret: {}\n", b64.encode(k)))
        .collect();
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n{keys}      - identity: {{}}\n"
    )
}

/// utime+stime of a process (or its waited-for children) in seconds, from /proc.
fn cpu(pid: &str, children: bool) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    // After the command name: state is field 3; utime 14, stime 15, cutime 16, cstime 17.
    let at = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let ticks = if children { at(16) + at(17) } else { at(14) + at(15) };
    ticks / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, etcd_pid, count, levels] = args.as_slice() else {
        eprintln!("usage: rewrite_bench ENDPOINT ETCD_PID COUNT CONCURRENCY[,CONCURRENCY…]");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("COUNT");
    let dir = tempfile::tempdir().expect("temp dir");
    let (k1, k2) = ([1u8; 32], [2u8; 32]);
    let new = dir.path().join("enc.yaml");
    std::fs::write(&new, config(&[("key2", k2), ("key1", k1)])).expect("write config");
    let old = EncryptionConfig::from_bytes(config(&[("key1", k1)]).as_bytes()).expect("config");
    let server = ApiServer::with_backend(
        vec![Resource::new("", "v1", "secrets", "Secret", true)],
        "bench-token",
        Backend {
            endpoint: endpoint.clone(),
            prefix: "/registry".into(),
            encryption_config: new.clone(),
        },
    );
    let kubeconfig = server.kubeconfig();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let atrest = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("atrest")))
        .expect("target/release/atrest");
    println!(
        "| concurrency | objects | seconds | objects/s | test server CPU s (share of wall) | atrest CPU s | etcd CPU s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for level in levels.split(',') {
        // Load COUNT stale secrets (the same keys each round, so etcd's size stays comparable).
        rt.block_on(async {
            let mut client = Client::connect([endpoint.as_str()], None).await.expect("etcd");
            for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
                let ops: Vec<TxnOp> = chunk
                    .iter()
                    .map(|i| {
                        let key = format!("/registry/secrets/bench/s-{i:06}");
                        let payload = objects::secret_pb(
                            "bench",
                            &format!("s-{i:06}"),
                            &format!("uid-{i}"),
                            1_700_000_000,
                            &[("password", &[7u8; 64])],
                        );
                        TxnOp::put(
                            key.clone(),
                            seal_for(&old, "", "secrets", &key, &payload).expect("seal"),
                            None,
                        )
                    })
                    .collect();
                client.txn(Txn::new().and_then(ops)).await.expect("put");
            }
        });
        let (server_cpu, atrest_cpu, etcd_cpu) =
            (cpu("self", false), cpu("self", true), cpu(etcd_pid, false));
        let started = Instant::now();
        let out = Command::new(&atrest)
            .args(["rewrite", "--endpoints", endpoint, "--encryption-config"])
            .arg(&new)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--concurrency", level, "--qps", "0", "-o", "json", "-q"])
            .output()
            .expect("run atrest");
        let secs = started.elapsed().as_secs_f64();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("atrest exited {:?}: {e}\n{}", out.status, String::from_utf8_lossy(&out.stderr))
        });
        let counts = &doc["summary"]["rewrite"];
        assert_eq!(counts["rewritten"].as_u64(), Some(count as u64), "{counts}");
        assert_eq!(counts["stillStale"].as_u64(), Some(0), "{counts}");
        let write_secs = counts["seconds"].as_f64().unwrap_or(secs);
        let server = cpu("self", false) - server_cpu;
        println!(
            "| {level} | {count} | {write_secs:.2} (whole run {secs:.2}) | {:.0} | {server:.2} ({:.0}%) | {:.2} | {:.2} |",
            count as f64 / write_secs,
            100.0 * server / secs,
            cpu("self", true) - atrest_cpu,
            cpu(etcd_pid, false) - etcd_cpu,
        );
    }
}
