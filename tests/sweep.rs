//! Issue 14, part 4: bad input, swept. A real snapshot damaged one byte at a time, and hostile
//! values in a real etcd: no panic, no hang, no silently wrong report, every key exactly once.
//! Each test prints how long it took; the pair must stay within 60 s on a 2-CPU machine.
// See: issue 14 (a corrupt backup must not pass quietly; bad input, swept)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use atrest::testkit::{golden_dir, protobuf_payload, seal_aescbc};
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::etcd::Etcd;

const KEY1: [u8; 32] = [7; 32];
const CONFIG: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n\
resources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n        \
secret: BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n  - identity: {}\n";
/// Scans run at once (the machine has 2 CPUs; a scan waits on I/O part of the time).
const PARALLEL: usize = 3;
/// One scan of a damaged file may take this long before it counts as a hang.
const RUN_LIMIT: Duration = Duration::from_secs(20);
/// etcd's default --max-request-bytes is 1.5 MiB; the put carries the key and framing too.
const BIG: usize = 1_572_864 - 1024;

/// What one bounded run of the binary did.
struct Outcome {
    /// None: killed by a signal, or by us after [`RUN_LIMIT`].
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

/// Runs the atrest binary with `args`, output to files in `dir` (no pipe to drain), killed by
/// its PID after `limit`.
fn run_bounded(args: &[String], dir: &Path, tag: &str, limit: Duration) -> Outcome {
    let (out, err) = (dir.join(format!("{tag}.out")), dir.join(format!("{tag}.err")));
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .env_remove("ETCDCTL_ENDPOINTS")
        .env_remove("ETCDCTL_USER")
        .env_remove("ETCDCTL_PASSWORD")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run atrest");
    let start = Instant::now();
    let (code, timed_out) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status.code(), false);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    let outcome = Outcome { code, timed_out, stdout: read(&out), stderr: read(&err) };
    let _ = std::fs::remove_file(out);
    let _ = std::fs::remove_file(err);
    outcome
}

/// Runs `jobs` on [`PARALLEL`] threads, in order of their index; returns the results in order.
fn parallel<T: Sync, R: Send>(jobs: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let r = f(i, job);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    results.into_inner().unwrap().into_iter().map(|r| r.unwrap()).collect()
}

/// A deterministic byte stream (xorshift64*).
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// The records of a report, by key (the exact bytes: `keyBase64` when the key is not UTF-8).
fn records(doc: &Value) -> BTreeMap<String, Value> {
    let mut by_key = BTreeMap::new();
    for rec in doc["objects"].as_array().expect("objects") {
        let key = rec["keyBase64"].as_str().or(rec["key"].as_str()).unwrap().to_owned();
        assert!(by_key.insert(key, rec.clone()).is_none(), "key reported twice: {rec}");
    }
    by_key
}

fn scan_args(path: &Path, cfg: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        "scan".to_owned(),
        format!("--snapshot={}", path.display()),
        format!("--encryption-config={}", cfg.display()),
        "--prefix=/registry".into(),
        "-o=json".into(),
    ];
    a.extend(extra.iter().map(|s| (*s).to_owned()));
    a
}

/// A few hundred objects: aescbc Secrets (a few still plaintext), plaintext ConfigMaps, JSON
/// custom resources and their CRD.
fn seed(etcd: &Etcd) -> usize {
    let payloads = golden_dir().join("payloads");
    let secret = std::fs::read(payloads.join("core.v1.Secret.pb")).unwrap();
    let configmap = std::fs::read(payloads.join("core.v1.ConfigMap.pb")).unwrap();
    let mut kvs: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..160u32 {
        let v = if i % 16 == 0 {
            secret.clone()
        } else {
            seal_aescbc(&KEY1, "key1", &secret, [i as u8; 16])
        };
        kvs.push((format!("/registry/secrets/ns{}/s{i}", i % 7), v));
    }
    for i in 0..150u32 {
        kvs.push((format!("/registry/configmaps/ns{}/c{i}", i % 5), configmap.clone()));
    }
    for i in 0..20u32 {
        let cr = serde_json::json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": format!("w{i}"), "namespace": "default", "uid": format!("uid-{i}")},
            "spec": {"size": i, "note": "x".repeat(200)}
        });
        kvs.push((
            format!("/registry/example.com/widgets/default/w{i}"),
            serde_json::to_vec(&cr).unwrap(),
        ));
    }
    let crd = serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com", "uid": "crd-uid"},
        "spec": {"group": "example.com", "names": {"plural": "widgets", "kind": "Widget"},
                 "scope": "Namespaced",
                 "versions": [{"name": "v1", "served": true, "storage": true}]},
        "status": {"storedVersions": ["v1"]}
    });
    kvs.push((
        "/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com".into(),
        serde_json::to_vec(&crd).unwrap(),
    ));
    kvs.push((
        "/registry/configmaps/kube-system/plain".into(),
        protobuf_payload("v1", "ConfigMap", b""),
    ));
    etcd.put_all(&kvs);
    kvs.len()
}

/// Where to damage the file: the metas, page headers, element headers, the trailer, and bytes
/// spread over every page (keys and values). Deterministic; at least 300 offsets.
fn offsets(len: usize, page_size: usize) -> Vec<(usize, u8, &'static str)> {
    let db = len - 32;
    let pages = db / page_size;
    let mut out: Vec<(usize, u8, &'static str)> = Vec::new();
    let masks = [0x01u8, 0x80, 0xff, 0x10, 0x04, 0x40];
    for meta in 0..2 {
        for (i, f) in [0, 8, 10, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 72, 79].iter().enumerate()
        {
            out.push((meta * page_size + f, masks[i % masks.len()], "meta page"));
        }
    }
    // Page headers (id, flags, count, overflow) and the first element headers of up to 50
    // pages spread over the file.
    let step = (pages / 50).max(1);
    for (n, p) in (2..pages).step_by(step).enumerate() {
        let base = p * page_size;
        for (i, f) in [0usize, 1, 8, 10, 11, 12].iter().enumerate() {
            out.push((base + f, masks[(n + i) % masks.len()], "page header"));
        }
        for f in [16 + 4, 16 + 8, 16 + 12, 32 + 4] {
            out.push((base + f, masks[n % masks.len()], "element header"));
        }
    }
    for f in [0, 1, 15, 31] {
        out.push((db + f, 0x01, "trailer"));
    }
    // Everything else: spread over the database, past the page headers.
    let rand = noise(14, 4 * 200);
    for i in 0..200 {
        let r = u32::from_le_bytes(rand[4 * i..4 * i + 4].try_into().unwrap()) as usize;
        let at = (i * db / 200 + r % (db / 200)).min(db - 1);
        out.push((at, (rand[4 * i] | 1).rotate_left(i as u32 % 8), "data"));
    }
    out.sort();
    out.dedup_by_key(|o| o.0);
    out
}

#[test]
fn damaged_snapshot_bytes_never_pass_silently() {
    let started = Instant::now();
    let etcd = Etcd::start();
    let put = seed(&etcd);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("enc.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let clean_path = dir.path().join("clean.db");
    etcd.snapshot_save(&clean_path);
    drop(etcd);
    let clean_bytes = std::fs::read(&clean_path).unwrap();
    let clean_run = run_bounded(&scan_args(&clean_path, &cfg, &[]), dir.path(), "clean", RUN_LIMIT);
    assert!(matches!(clean_run.code, Some(0 | 1)), "clean scan: {}", clean_run.stderr);
    let clean_doc: Value = serde_json::from_str(&clean_run.stdout).unwrap();
    assert_eq!(clean_doc["source"]["integrity"], "sha256 ok");
    assert!(clean_doc["source"].get("warnings").is_none(), "{}", clean_doc["source"]);
    let clean = records(&clean_doc);
    assert_eq!(clean.len(), put);
    let page_size = 4096;
    assert_eq!(clean_bytes.len() % page_size, 32);

    let cases = offsets(clean_bytes.len(), page_size);
    assert!(cases.len() >= 300, "{} offsets", cases.len());
    let work = tempfile::tempdir().unwrap();
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let tally: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
    let count = |what: String| *tally.lock().unwrap().entry(what).or_default() += 1;
    parallel(&cases, |i, &(offset, mask, region)| {
        let mut bytes = clean_bytes.clone();
        bytes[offset] ^= mask;
        let path = work.path().join(format!("damaged-{i}.db"));
        std::fs::write(&path, &bytes).unwrap();
        let at = format!("offset {offset} (page {}, {region}) ^{mask:#04x}", offset / page_size);
        let fail = |why: String| failures.lock().unwrap().push(format!("{at}: {why}"));
        // Every 20th case without --skip-hash-check: refused, naming the file and both hashes.
        if i % 20 == 0 {
            let run =
                run_bounded(&scan_args(&path, &cfg, &[]), work.path(), &i.to_string(), RUN_LIMIT);
            let actual = hex::encode(Sha256::digest(&bytes[..bytes.len() - 32]));
            let trailer = hex::encode(&bytes[bytes.len() - 32..]);
            if run.code != Some(3) {
                fail(format!(
                    "without --skip-hash-check: exit {:?}, want 3: {}",
                    run.code, run.stderr
                ));
            } else if !(run.stderr.contains(&path.display().to_string())
                && run.stderr.contains(&trailer)
                && run.stderr.contains(&actual)
                && run.stderr.contains("--skip-hash-check"))
            {
                fail(format!("exit 3 without the file, both hashes and the flag: {}", run.stderr));
            } else if run.stdout.contains("\"summary\"") {
                fail("exit 3 with a report that looks complete".into());
            }
            count("refused without --skip-hash-check (exit 3)".into());
        }
        let run = run_bounded(
            &scan_args(&path, &cfg, &["--skip-hash-check"]),
            work.path(),
            &i.to_string(),
            RUN_LIMIT,
        );
        let _ = std::fs::remove_file(&path);
        if run.timed_out {
            return fail(format!("no answer within {RUN_LIMIT:?}"));
        }
        if run.code == Some(101) || run.stderr.contains("panicked") || run.code.is_none() {
            return fail(format!("crashed (exit {:?}): {}", run.code, run.stderr));
        }
        match run.code {
            Some(3) => {
                if !run.stderr.starts_with("atrest: warning: ")
                    && !run.stderr.starts_with("atrest: error: ")
                {
                    fail(format!("exit 3 without an error message: {}", run.stderr));
                }
                if run.stderr.contains("snapshot page") && !run.stderr.contains("offset") {
                    fail(format!("a damaged page is named without its offset: {}", run.stderr));
                }
                if run.stdout.contains("\"summary\"") {
                    fail("exit 3 with a report that looks complete".into());
                }
                count("exit 3 (the damage is an error)".into());
            }
            Some(0 | 1) => {
                let Ok(doc) = serde_json::from_str::<Value>(&run.stdout) else {
                    return fail(format!("exit {:?} without a JSON report", run.code));
                };
                let warnings = doc["source"]["warnings"].as_array().cloned().unwrap_or_default();
                let warned = warnings
                    .iter()
                    .any(|w| w.as_str().is_some_and(|w| w.contains("sha256 mismatch")));
                if !warned || !run.stderr.contains("sha256 mismatch") {
                    fail(format!(
                        "read without a mismatch warning: {:?} / {}",
                        warnings, run.stderr
                    ));
                }
                if doc["source"]["integrity"] != "sha256 mismatch" {
                    fail(format!("integrity {}", doc["source"]["integrity"]));
                }
                let s = &doc["summary"];
                let sum: u64 = ["current", "stale", "unreadable", "skipped"]
                    .iter()
                    .map(|k| s[k].as_u64().unwrap())
                    .sum();
                if s["keys"].as_u64() != Some(sum)
                    || doc["objects"].as_array().map(Vec::len)
                        != s["keys"].as_u64().map(|n| n as usize)
                {
                    fail(format!("totals do not add up: {s}"));
                }
                let got = records(&doc);
                if got == clean {
                    count("same records (with the mismatch warning)".into());
                } else {
                    let changed = got.iter().filter(|(k, v)| clean.get(*k) != Some(v)).count();
                    let missing = clean.keys().filter(|k| !got.contains_key(*k)).count();
                    if std::env::var_os("ATREST_SWEEP_DEBUG").is_some() {
                        let first = got.iter().find(|(k, v)| clean.get(*k) != Some(v));
                        eprintln!(
                            "DEBUG {at}: {changed} changed, {missing} missing; first {first:?}"
                        );
                    }
                    count(format!(
                        "records differ, warned ({})",
                        if missing > 0 {
                            "keys missing"
                        } else if changed > 1 {
                            "several changed"
                        } else {
                            "one changed"
                        }
                    ));
                    // A changed record that claims to be fine must not come from a value whose
                    // own checks should have caught the damage: an aescbc Secret.
                    for (k, v) in got.iter().filter(|(k, v)| clean.get(*k).is_some_and(|c| c != *v))
                    {
                        let enc = v["encryption"]["provider"].as_str();
                        if enc == Some("aescbc")
                            && v["status"] == "current"
                            && clean[k]["status"] == "current"
                            && v["uid"] != clean[k]["uid"]
                        {
                            fail(format!(
                                "a damaged aescbc value decrypted to another object: {k}"
                            ));
                        }
                    }
                }
            }
            other => fail(format!("exit {other:?}: {}", run.stderr)),
        }
    });
    let failures = failures.into_inner().unwrap();
    let elapsed = started.elapsed();
    eprintln!(
        "sweep: {} damaged copies of a {} byte snapshot ({} keys) in {:.1}s on {}",
        cases.len(),
        clean_bytes.len(),
        put,
        elapsed.as_secs_f64(),
        crate::harness::etcd::etcd_version()
    );
    for (what, n) in tally.into_inner().unwrap() {
        eprintln!("  {n:4}  {what}");
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(elapsed < Duration::from_secs(60), "the sweep took {elapsed:?}");
}

/// What each hostile key holds.
fn hostile() -> Vec<(Vec<u8>, Vec<u8>)> {
    let configmap = std::fs::read(golden_dir().join("payloads/core.v1.ConfigMap.pb")).unwrap();
    let secret = std::fs::read(golden_dir().join("payloads/core.v1.Secret.pb")).unwrap();
    let k = |s: &[u8]| s.to_vec();
    let deep_array = "[".repeat(100_000).into_bytes();
    let deep_object = {
        let mut v = "{\"a\":".repeat(100_000);
        v.push('1');
        v.push_str(&"}".repeat(100_000));
        v.into_bytes()
    };
    let deep_unclosed = "{\"a\":".repeat(100_000).into_bytes();
    // Field 99, wire type 3 (start group), 100k deep: unknown nested groups.
    let deep_groups = protobuf_payload("v1", "ConfigMap", &[0x9b, 0x06].repeat(100_000));
    let mut deep_cbor = vec![0xd9, 0xd9, 0xf7];
    deep_cbor.extend(std::iter::repeat_n(0x81u8, 100_000));
    let with = |prefix: &[u8], rest: &[u8]| [prefix, rest].concat();
    vec![
        (k(b"/registry/secrets/default/big-random"), noise(1, BIG)),
        (k(b"/registry/configmaps/default/big-random"), noise(2, BIG)),
        (k(b"/registry/configmaps/default/bad-\xff\xfe"), configmap.clone()),
        (k(b"/registry/configmaps/default/bad-\xff\xfd"), configmap.clone()),
        (k(b"/registry/secrets/ns-\xc3\x28/s"), seal_aescbc(&KEY1, "key1", &secret, [9; 16])),
        (k(b"/registry/\x80\x81/x"), b"{}".to_vec()),
        (k(b"/registry/secrets/default/cbc-garbage"), with(b"k8s:enc:aescbc:v1:", &noise(3, 100))),
        (
            k(b"/registry/secrets/default/cbc-key1-garbage"),
            with(b"k8s:enc:aescbc:v1:key1:", &noise(4, 37)),
        ),
        (
            k(b"/registry/secrets/default/cbc-key1-blocks"),
            with(b"k8s:enc:aescbc:v1:key1:", &noise(5, 64)),
        ),
        (k(b"/registry/secrets/default/kms2-garbage"), with(b"k8s:enc:kms:v2:", &noise(6, 100))),
        (
            k(b"/registry/secrets/default/kms2-named-garbage"),
            with(b"k8s:enc:kms:v2:plugin:", &noise(7, 100)),
        ),
        (
            k(b"/registry/configmaps/default/truncated-pb"),
            configmap[..configmap.len() / 2].to_vec(),
        ),
        (k(b"/registry/configmaps/default/k8s-only"), b"k8s\0".to_vec()),
        (k(b"/registry/configmaps/default/deep-array"), deep_array.clone()),
        (k(b"/registry/configmaps/default/deep-object"), deep_object.clone()),
        (k(b"/registry/configmaps/default/deep-unclosed"), deep_unclosed),
        (k(b"/registry/configmaps/default/deep-groups"), deep_groups),
        (k(b"/registry/configmaps/default/deep-cbor"), deep_cbor),
        (k(b"/registry/example.com/widgets/default/deep-array"), deep_array),
        (k(b"/registry/example.com/widgets/default/deep-object"), deep_object),
        (k(b"/registry/secrets/default/empty"), Vec::new()),
    ]
}

#[test]
fn hostile_values_are_reported_once_each_with_a_reason() {
    let started = Instant::now();
    let etcd = Etcd::start();
    let kvs = hostile();
    for (key, value) in &kvs {
        etcd.put(key, value);
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("enc.yaml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let b64 = |k: &[u8]| base64::engine::general_purpose::STANDARD.encode(k);
    let want: BTreeSet<String> = kvs
        .iter()
        .map(|(k, _)| match std::str::from_utf8(k) {
            Ok(s) => s.to_owned(),
            Err(_) => b64(k),
        })
        .collect();
    let check = |what: &str, run: Outcome| -> BTreeMap<String, Value> {
        assert!(!run.timed_out, "{what}: no answer within {RUN_LIMIT:?}");
        assert!(
            matches!(run.code, Some(0 | 1)) && !run.stderr.contains("panicked"),
            "{what}: exit {:?}: {}",
            run.code,
            run.stderr
        );
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        let recs = records(&doc);
        assert_eq!(recs.keys().cloned().collect::<BTreeSet<_>>(), want, "{what}");
        assert_eq!(doc["summary"]["keys"].as_u64(), Some(kvs.len() as u64), "{what}");
        let mut bad = Vec::new();
        for (key, rec) in &recs {
            let reasons = rec["reasons"].as_array().unwrap();
            let ok_status = rec["status"] == "unreadable" || rec["status"] == "skipped";
            if !ok_status || reasons.is_empty() {
                bad.push(format!("{key}: {} {:?}", rec["status"], reasons));
            }
            if let Some(k64) = rec["keyBase64"].as_str() {
                let raw = base64::engine::general_purpose::STANDARD.decode(k64).unwrap();
                assert!(
                    std::str::from_utf8(&raw).is_err(),
                    "{what}: keyBase64 on a UTF-8 key {key}"
                );
                assert_eq!(rec["key"].as_str(), Some(String::from_utf8_lossy(&raw).as_ref()));
            }
        }
        assert!(bad.is_empty(), "{what}: keys without a finding and a reason:\n{}", bad.join("\n"));
        recs
    };
    let live_args = vec![
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        format!("--encryption-config={}", cfg.display()),
        "-o=json".into(),
    ];
    let live = check("live", run_bounded(&live_args, dir.path(), "live", RUN_LIMIT));
    let snap = dir.path().join("hostile.db");
    etcd.snapshot_save(&snap);
    let offline =
        check("snapshot", run_bounded(&scan_args(&snap, &cfg, &[]), dir.path(), "snap", RUN_LIMIT));
    for (key, rec) in &live {
        assert_eq!(Some(rec), offline.get(key), "live and snapshot differ at {key}");
    }
    for (key, rec) in &live {
        eprintln!("  {key:.60}: {} {}", rec["status"], rec["reasons"][0]);
    }
    let elapsed = started.elapsed();
    eprintln!(
        "hostile values: {} keys, live + snapshot in {:.1}s",
        kvs.len(),
        elapsed.as_secs_f64()
    );
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}
