//! `atrest rewrite` end to end: a real etcd, the test API server storing through to it (and
//! re-encrypting the way kube-apiserver does, layout doc §5.1), and the real atrest binary.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::apiserver::{Access, ApiServer, Backend, Resource, objects, seal_for};
use crate::harness::cli::{Run, atrest};
use crate::harness::etcd::Etcd;
use atrest::config::EncryptionConfig;
use atrest::envelope::{Transformer, open};

const TOKEN: &str = "rewrite-test-token";
const KEY1: [u8; 32] = [1; 32];
const KEY2: [u8; 32] = [2; 32];
/// After the rotation: key2 writes, key1 still reads.
const NEW: [(&str, &[u8; 32]); 2] = [("key2", &KEY2), ("key1", &KEY1)];
/// Before it: key1 wrote everything.
const OLD: [(&str, &[u8; 32]); 1] = [("key1", &KEY1)];

fn b64(k: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(k)
}

/// An aescbc config for secrets whose keys are listed in `order` (the first writes).
fn config_text(order: &[(&str, &[u8; 32])]) -> String {
    let keys: String = order
        .iter()
        .map(|(name, k)| format!("            - name: {name}\n              secret: {}\n", b64(*k)))
        .collect();
    format!(
        "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc:
          keys:
{keys}      - identity: {{}}
"
    )
}

struct Cluster {
    etcd: Etcd,
    server: ApiServer,
    dir: tempfile::TempDir,
    /// The config atrest and the API server run with (key2 writes, key1 still reads).
    config: PathBuf,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn secrets() -> Resource {
    Resource::new("", "v1", "secrets", "Secret", true)
}

impl Cluster {
    /// etcd + the API server, both configured with `server_config` (key order).
    fn start(resources: Vec<Resource>, server_config: &[(&str, &[u8; 32])]) -> Self {
        let etcd = Etcd::start();
        let dir = tempfile::tempdir().unwrap();
        let config = write(dir.path(), "enc.yaml", &config_text(server_config));
        let server = ApiServer::with_backend(
            resources,
            TOKEN,
            Backend {
                endpoint: etcd.endpoint.clone(),
                prefix: "/registry".into(),
                encryption_config: config.clone(),
            },
        );
        Self { etcd, server, dir, config }
    }

    /// A cluster mid-rotation (the server writes key2) with secrets `stale` still under key1.
    fn rotating(stale: std::ops::Range<usize>) -> (Self, Vec<String>) {
        let c = Self::start(vec![secrets()], &NEW);
        let keys = c.seed_secrets(stale, &OLD);
        (c, keys)
    }

    /// The `testcrds.example.com` CRD (v1 and v2 served, v2 stored) and one TestCrd in
    /// `default` per (name, apiVersion), with `spec.size` = its index.
    fn seed_testcrds(&self, crs: &[(String, &str)]) {
        let mut kvs = vec![(
            "/registry/apiextensions.k8s.io/customresourcedefinitions/testcrds.example.com"
                .to_owned(),
            crd("example.com", "testcrds", "TestCrd"),
        )];
        for (i, (name, api_version)) in crs.iter().enumerate() {
            kvs.push((
                format!("/registry/example.com/testcrds/default/{name}"),
                objects::cr_json(
                    api_version,
                    "TestCrd",
                    Some("default"),
                    name,
                    &format!("cr-uid-{name}"),
                    1_700_000_000,
                    json!({"size": i}),
                ),
            ));
        }
        self.etcd.put_all(&kvs);
    }

    /// Secrets `s-0000`… in namespace `app`, sealed as kube-apiserver would have under
    /// `written_with` (key order), returning their keys.
    fn seed_secrets(
        &self,
        range: std::ops::Range<usize>,
        written_with: &[(&str, &[u8; 32])],
    ) -> Vec<String> {
        let config = EncryptionConfig::from_bytes(config_text(written_with).as_bytes()).unwrap();
        let kvs: Vec<(String, Vec<u8>)> = range
            .map(|i| {
                let key = format!("/registry/secrets/app/s-{i:04}");
                let payload = objects::secret_pb(
                    "app",
                    &format!("s-{i:04}"),
                    &format!("uid-{i:04}"),
                    1_700_000_000,
                    &[("password", format!("pw-{i}").as_bytes())],
                );
                let value = seal_for(&config, "", "secrets", &key, &payload).unwrap();
                (key, value)
            })
            .collect();
        self.etcd.put_all(&kvs);
        kvs.into_iter().map(|(k, _)| k).collect()
    }

    /// `atrest rewrite -o json` with this cluster's config and kubeconfig, plus `extra`.
    fn rewrite(&self, extra: &[&str]) -> Run {
        let mut args = vec!["-o", "json"];
        args.extend(extra);
        self.rewrite_with(&self.server.kubeconfig(), &self.config, &args)
    }

    fn rewrite_with(&self, kubeconfig: &Path, config: &Path, extra: &[&str]) -> Run {
        let mut args = vec![
            "rewrite".to_owned(),
            "--endpoints".into(),
            self.etcd.endpoint.clone(),
            "--encryption-config".into(),
            config.display().to_string(),
            "--kubeconfig".into(),
            kubeconfig.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        atrest(args)
    }

    /// `atrest rewrite --concurrency 2 --qps 0 -o json --journal J` in the background; its
    /// stdout and stderr are captured or dropped.
    fn spawn_rewrite(&self, journal: &Path, capture: bool) -> std::process::Child {
        let output = || if capture { Stdio::piped() } else { Stdio::null() };
        Command::new(env!("CARGO_BIN_EXE_atrest"))
            .args(["rewrite", "--endpoints", &self.etcd.endpoint, "--encryption-config"])
            .arg(&self.config)
            .arg("--kubeconfig")
            .arg(self.server.kubeconfig())
            .args(["--concurrency", "2", "--qps", "0", "-o", "json", "--journal"])
            .arg(journal)
            .stdout(output())
            .stderr(output())
            .spawn()
            .unwrap()
    }

    /// Waits (bounded) until the server wrote `n` objects, while `child` still runs.
    fn wait_for_writes(&self, n: usize, child: &mut std::process::Child) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.server.etcd_writes().len() < n {
            assert!(Instant::now() < deadline, "no progress");
            assert!(child.try_wait().unwrap().is_none(), "finished before {n} writes");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every value under `prefix`.
    fn values(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        self.etcd.with_client(async |c| {
            let resp =
                c.get(prefix, Some(etcd_client::GetOptions::new().with_prefix())).await.unwrap();
            resp.kvs()
                .iter()
                .map(|kv| (String::from_utf8_lossy(kv.key()).into_owned(), kv.value().to_vec()))
                .collect()
        })
    }

    fn patches(&self) -> usize {
        self.server.request_log().iter().filter(|r| r.method == "PATCH").count()
    }
}

fn rewrite_counts(run: &Run) -> Value {
    run.json()["summary"]["rewrite"].clone()
}

fn plaintext(config: &EncryptionConfig, key: &str, value: &[u8]) -> Vec<u8> {
    let t = Transformer::for_resource(config, "", "secrets");
    open(value, key.as_bytes(), t).map(|o| o.plaintext.to_vec()).unwrap()
}

#[test]
fn rotation_rewrites_exactly_the_stale_secrets_and_verifies_them() {
    let (c, before_old) = Cluster::rotating(0..1500);
    c.seed_secrets(1500..2000, &NEW);
    let before = c.values("/registry/secrets/");
    let journal = c.dir.path().join("journal.jsonl");
    let run =
        c.rewrite(&["--journal", journal.to_str().unwrap(), "--concurrency", "32", "--qps", "0"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let counts = rewrite_counts(&run);
    assert_eq!(counts["planned"], 1500, "{counts}");
    assert_eq!(counts["rewritten"], 1500, "{counts}");
    assert_eq!(counts["stillStale"], 0, "{counts}");
    assert_eq!(counts["verifiedCurrent"], 1500, "{counts}");
    assert_eq!(c.patches(), 1500, "exactly one apply per stale secret");
    let writes = c.server.etcd_writes();
    assert_eq!(writes.len(), 1500);
    let written: HashSet<&str> = writes.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(written, before_old.iter().map(String::as_str).collect::<HashSet<_>>());
    // Every secret is under key2 now, with the same object bytes as before.
    let config = EncryptionConfig::load(&c.config).unwrap();
    let after = c.values("/registry/secrets/");
    assert_eq!(after.len(), 2000);
    for (key, value) in &after {
        assert!(value.starts_with(b"k8s:enc:aescbc:v1:key2:"), "{key}");
        assert_eq!(plaintext(&config, key, value), plaintext(&config, key, &before[key]), "{key}");
    }
    // The JSON document: the verified records, each with its outcome.
    let doc = run.json();
    assert_eq!(doc["kind"], "Rewrite");
    let objects = doc["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1500);
    assert!(objects.iter().all(|o| o["status"] == "current"
        && o["encryption"]["keyName"] == "key2"
        && o["rewrite"]["outcome"] == "rewritten"));
    // The journal: a header and one line per object, each rewritten.
    let lines: Vec<Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1501);
    assert_eq!(lines[1..].iter().filter(|l| l["outcome"] == "rewritten").count(), 1500);
    // A second run has nothing to do.
    let again = c.rewrite(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(rewrite_counts(&again)["planned"], 0);
    assert_eq!(c.patches(), 1500);
}

fn crd(group: &str, plural: &str, kind: &str) -> Vec<u8> {
    let doc = json!({
        "apiVersion": "apiextensions.k8s.io/v1beta1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}"), "uid": "crd-uid"},
        "spec": {"group": group, "names": {"kind": kind, "plural": plural}, "scope": "Namespaced",
                 "versions": [{"name": "v1", "served": true, "storage": false},
                              {"name": "v2", "served": true, "storage": true}]},
        "status": {"storedVersions": ["v1", "v2"]}
    });
    let mut bytes = serde_json::to_vec(&doc).unwrap();
    bytes.push(b'\n');
    bytes
}

#[test]
fn crd_storage_version_change_rewrites_only_the_old_version() {
    let resources = vec![
        Resource::new("example.com", "v1", "testcrds", "TestCrd", true).stored_as("v2"),
        Resource::new("example.com", "v2", "testcrds", "TestCrd", true).stored_as("v2"),
    ];
    let c = Cluster::start(resources, &OLD);
    let crs: Vec<(String, &str)> = (0..50)
        .map(|i| (format!("cr{i:02}"), if i < 30 { "example.com/v1" } else { "example.com/v2" }))
        .collect();
    c.seed_testcrds(&crs);
    let run = c.rewrite(&[]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let counts = rewrite_counts(&run);
    assert_eq!(
        (counts["planned"].as_u64(), counts["rewritten"].as_u64()),
        (Some(30), Some(30)),
        "{counts}"
    );
    assert_eq!(c.patches(), 30, "only the v1 objects are written");
    for (key, value) in c.values("/registry/example.com/testcrds/") {
        let obj: Value = serde_json::from_slice(&value).unwrap();
        assert_eq!(obj["apiVersion"], "example.com/v2", "{key}");
        assert!(obj["spec"]["size"].is_u64(), "{key}: the spec survived");
    }
}

#[test]
fn a_concurrent_writer_loses_nothing_and_conflicts_are_counted() {
    let (c, keys) = Cluster::rotating(0..300);
    c.server.faults().set_latency(Duration::from_millis(20));
    let theirs: Vec<String> = keys[250..].to_vec();
    let old = EncryptionConfig::from_bytes(config_text(&OLD).as_bytes()).unwrap();
    let current = EncryptionConfig::from_bytes(config_text(&NEW).as_bytes()).unwrap();
    let mut expected = BTreeMap::new();
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            // Another client updates the last 50 secrets once the rewrite has begun: half through
            // a current apiserver (key2), half through one still writing key1 (stale again).
            let deadline = Instant::now() + Duration::from_secs(60);
            while c.patches() == 0 {
                assert!(Instant::now() < deadline, "the rewrite never started");
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut mine = BTreeMap::new();
            let kvs: Vec<(String, Vec<u8>)> = theirs
                .iter()
                .enumerate()
                .map(|(i, key)| {
                    let name = key.rsplit('/').next().unwrap();
                    let uid = format!("uid-{}", &name[2..]);
                    let payload = objects::secret_pb(
                        "app",
                        name,
                        &uid,
                        1_700_000_000,
                        &[("password", b"changed-by-someone-else")],
                    );
                    mine.insert(key.clone(), payload.clone());
                    let with = if i % 2 == 0 { &current } else { &old };
                    (key.clone(), seal_for(with, "", "secrets", key, &payload).unwrap())
                })
                .collect();
            c.etcd.put_all(&kvs);
            mine
        });
        let run = c.rewrite(&["--concurrency", "4", "--qps", "0"]);
        expected = writer.join().unwrap();
        assert_eq!(run.code, 0, "stderr: {}", run.stderr);
        let counts = rewrite_counts(&run);
        assert!(counts["conflicts"].as_u64().unwrap() >= 1, "{counts}");
        assert_eq!(counts["stillStale"], 0, "{counts}");
        assert_eq!(counts["failed"], 0, "{counts}");
    });
    let after = c.values("/registry/secrets/");
    for (key, payload) in &expected {
        assert_eq!(
            &plaintext(&current, key, &after[key]),
            payload,
            "{key}: the writer's update survived"
        );
        assert!(after[key].starts_with(b"k8s:enc:aescbc:v1:key2:"), "{key}");
    }
}

#[test]
fn throttling_server_errors_and_injected_conflicts_are_retried() {
    let (c, _) = Cluster::rotating(0..40);
    c.server.faults().fail_patches(4, 429, Some(1));
    let started = Instant::now();
    let run = c.rewrite(&["--concurrency", "2"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let counts = rewrite_counts(&run);
    assert_eq!(counts["rewritten"], 40, "{counts}");
    assert!(counts["retries"].as_u64().unwrap() >= 4, "{counts}");
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was honoured");

    c.seed_secrets(40..80, &OLD);
    c.server.faults().fail_patches(5, 500, None);
    let run = c.rewrite(&["--concurrency", "2"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(rewrite_counts(&run)["rewritten"], 40);

    c.seed_secrets(80..100, &OLD);
    c.server.faults().conflict_first_patch(true);
    let run = c.rewrite(&[]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let counts = rewrite_counts(&run);
    assert_eq!(
        (counts["rewritten"].as_u64(), counts["conflicts"].as_u64()),
        (Some(20), Some(20)),
        "{counts}"
    );
    assert_eq!(c.server.etcd_writes().len(), 100, "one write per object, whatever was retried");
}

#[test]
fn a_killed_run_resumes_from_its_journal_without_writing_twice() {
    let (c, _) = Cluster::rotating(0..400);
    c.server.faults().set_latency(Duration::from_millis(10));
    let journal = c.dir.path().join("journal.jsonl");
    let mut child = c.spawn_rewrite(&journal, false);
    c.wait_for_writes(100, &mut child);
    child.kill().unwrap(); // SIGKILL, by PID
    crate::harness::process::wait_with_output(child).unwrap();
    let first = c.server.etcd_writes().len();
    assert!(first < 400, "killed mid-run ({first} written)");
    let run = c.rewrite(&["--journal", journal.to_str().unwrap()]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let writes = c.server.etcd_writes();
    let keys: HashSet<&str> = writes.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(keys.len(), writes.len(), "no object written twice");
    assert_eq!(writes.len(), 400);
    assert_eq!(rewrite_counts(&run)["stillStale"], 0);
    let text = std::fs::read_to_string(&journal).unwrap();
    let finals: HashSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["outcome"] == "rewritten")
        .map(|v| v["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(finals.len() >= 400 - 2, "the journal holds (nearly) every object: {}", finals.len());
}

#[test]
fn bad_credentials_exit_2_and_write_nothing() {
    let c = Cluster::start(vec![secrets()], &NEW);
    c.seed_secrets(0..10, &OLD);
    let wrong = c.server.kubeconfig_with_token("not-the-token");
    let run = c.rewrite_with(&wrong, &c.config, &[]);
    assert_eq!(run.code, 2, "stderr: {}", run.stderr);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert_eq!(c.patches(), 0);

    c.server.add_token("read-only", Access::ReadOnly);
    let ro = c.server.kubeconfig_with_token("read-only");
    let run = c.rewrite_with(&ro, &c.config, &[]);
    assert_eq!(run.code, 2, "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("403") && run.stderr.contains("patch on secrets"),
        "{}",
        run.stderr
    );
    assert!(c.server.etcd_writes().is_empty());
    assert!(c.patches() <= 8, "stopped at the first refusal (in flight: at most --concurrency)");
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let (c, _) = Cluster::rotating(0..10);
    c.seed_secrets(10..15, &NEW);
    let run = c.rewrite(&["--dry-run"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["kind"], "RewritePlan");
    assert_eq!(doc["plan"]["stale"], 10);
    assert_eq!(doc["plan"]["byResource"], json!([{"resource": "secrets", "count": 10}]));
    assert_eq!(doc["objects"][0]["key"], "/registry/secrets/app/s-0000");
    assert_eq!(doc["objects"][0]["uid"], "uid-0000");
    let table = c.rewrite_with(&c.server.kubeconfig(), &c.config, &["--dry-run", "-o", "table"]);
    assert!(
        table.stdout.contains("10 stale objects") && table.stdout.contains("nothing was written"),
        "{}",
        table.stdout
    );
    assert_eq!(c.patches(), 0);
    assert!(c.server.etcd_writes().is_empty());
}

#[test]
fn objects_the_server_does_not_move_exit_4_with_the_reason() {
    // atrest is given the new config (key2 first), but the API server still writes key1: its
    // no-op applies short-circuit, and the verification finds every object still stale.
    let c = Cluster::start(vec![secrets()], &[("key1", &KEY1), ("key2", &KEY2)]);
    c.seed_secrets(0..5, &OLD);
    let new = write(c.dir.path(), "new.yaml", &config_text(&NEW));
    let run = c.rewrite_with(&c.server.kubeconfig(), &new, &["-o", "table"]);
    assert_eq!(run.code, 4, "stderr: {}\nstdout: {}", run.stderr, run.stdout);
    assert!(run.stdout.contains("5 still stale"), "{}", run.stdout);
    assert!(run.stdout.contains("not the write key key2"), "{}", run.stdout);
    assert!(c.server.etcd_writes().is_empty());
    assert_eq!(c.patches(), 5);
}

#[test]
fn a_snapshot_source_is_a_usage_error() {
    let run = atrest(["rewrite", "--snapshot", "/nonexistent.db", "--encryption-config", "/x"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn resources_the_server_does_not_serve_are_findings_not_crashes() {
    // The CRD is in etcd and its objects are at an old version, but the API server does not
    // serve the group (an API removed, or served by an aggregated server elsewhere).
    let c = Cluster::start(vec![secrets()], &OLD);
    c.seed_testcrds(&[("old".to_owned(), "example.com/v1")]);
    let plan = c.rewrite(&["--dry-run"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let warnings = plan.json()["plan"]["warnings"].to_string();
    assert!(warnings.contains("does not serve this resource"), "{warnings}");
    let run = c.rewrite(&[]);
    assert_eq!(run.code, 4, "stderr: {}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["summary"]["rewrite"]["skipped"], 1);
    assert_eq!(doc["objects"][0]["rewrite"]["outcome"], "skipped");
    assert!(
        doc["objects"][0]["rewrite"]["detail"].as_str().unwrap().contains("does not serve"),
        "{doc}"
    );
    assert_eq!(c.patches(), 0);
}

#[test]
fn ctrl_c_stops_after_the_requests_in_flight_and_reports_what_was_done() {
    let (c, _) = Cluster::rotating(0..300);
    c.server.faults().set_latency(Duration::from_millis(20));
    let journal = c.dir.path().join("journal.jsonl");
    let mut child = c.spawn_rewrite(&journal, true);
    c.wait_for_writes(20, &mut child);
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = crate::harness::process::wait_with_output(child).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopping after the requests in flight"), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let counts = &doc["summary"]["rewrite"];
    let rewritten = counts["rewritten"].as_u64().unwrap();
    assert!(counts["interrupted"].as_u64().unwrap() > 0, "{counts}");
    assert_eq!(rewritten + counts["interrupted"].as_u64().unwrap(), 300, "{counts}");
    // What was written is what the report and the journal say, and it was verified.
    assert_eq!(c.server.etcd_writes().len() as u64, rewritten);
    assert_eq!(counts["verifiedCurrent"].as_u64(), Some(rewritten), "{counts}");
    let journaled = std::fs::read_to_string(&journal).unwrap().lines().count() as u64;
    assert_eq!(journaled, rewritten + 1, "header + one line per finished object");
}

#[test]
fn resource_filter_limits_the_plan() {
    let resources = vec![
        secrets(),
        Resource::new("example.com", "v1", "testcrds", "TestCrd", true).stored_as("v2"),
        Resource::new("example.com", "v2", "testcrds", "TestCrd", true).stored_as("v2"),
    ];
    let c = Cluster::start(resources, &NEW);
    c.seed_secrets(0..5, &OLD);
    c.seed_testcrds(&[("old".to_owned(), "example.com/v1")]);
    let run = c.rewrite(&["--resource", "testcrds.example.com"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(rewrite_counts(&run)["rewritten"], 1);
    let written: Vec<String> = c.server.etcd_writes().into_iter().map(|w| w.key).collect();
    assert_eq!(written, ["/registry/example.com/testcrds/default/old"]);
    let run = c.rewrite(&["--resource", "secrets"]);
    assert_eq!(rewrite_counts(&run)["rewritten"], 5, "{}", run.stderr);
}

#[test]
fn progress_bar_with_rate_and_eta_on_a_terminal_only() {
    let (c, _) = Cluster::rotating(0..200);
    c.server.faults().set_latency(Duration::from_millis(10));
    let kubeconfig = c.server.kubeconfig();
    let cmd = |quiet: &str| {
        format!(
            "{} {quiet} rewrite --endpoints {} --encryption-config {} --kubeconfig {} \
             --concurrency 2 --qps 0 -o json > /dev/null",
            env!("CARGO_BIN_EXE_atrest"),
            c.etcd.endpoint,
            c.config.display(),
            kubeconfig.display()
        )
    };
    // util-linux `script` runs atrest on a pseudo-terminal, as a person would.
    let out = crate::harness::process::output(Command::new("script").args([
        "-qec",
        &cmd(""),
        "/dev/null",
    ]))
    .expect("script (util-linux)");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("objects rewritten") && tty.contains("ETA"), "{tty:?}");
    c.seed_secrets(0..200, &OLD);
    let quiet = crate::harness::process::output(Command::new("script").args([
        "-qec",
        &cmd("-q"),
        "/dev/null",
    ]))
    .unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stdout).contains("objects rewritten"));
    assert_eq!(c.server.etcd_writes().len(), 400, "both runs rewrote everything");
}
