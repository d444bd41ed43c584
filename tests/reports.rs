//! Scheduled-scan features: Prometheus output and the atomic metrics file, CI policies, and a
//! quiet stderr when no one is watching.

use std::process::Command;

use crate::harness::cli::atrest;

const DEMO_DB: &str = "fixtures/demo/demo.db";
const DEMO_CFG: &str = "--encryption-config=fixtures/demo/encryption-config.yaml";

fn demo(extra: &[&str]) -> crate::harness::cli::Run {
    let mut args = vec!["scan", "--snapshot", DEMO_DB, DEMO_CFG];
    args.extend_from_slice(extra);
    atrest(args)
}

/// Parses exposition text with the official client's parser (Debian python3-prometheus-client)
/// and returns (name, labels, value) per sample as JSON.
fn parse_prometheus(text: &str) -> Vec<serde_json::Value> {
    let script = "import json,sys\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        out=[]\n\
        for f in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   for s in f.samples:\n\
        \x20       out.append({'name': s.name, 'labels': s.labels, 'value': s.value, 'type': f.type})\n\
        print(json.dumps(out))\n";
    let out = crate::harness::process::output_with_input(
        Command::new("/usr/bin/python3").arg("-c").arg(script),
        text.as_bytes(),
    )
    .expect("/usr/bin/python3 with python3-prometheus-client (scripts/ensure-deps installs it)");
    assert!(
        out.status.success(),
        "parser rejected the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

fn sample<'a>(samples: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    samples.iter().filter(|s| s["name"] == name).collect()
}

#[test]
fn prometheus_output_parses_and_carries_the_series() {
    let run = demo(&["-o", "prometheus"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let samples = parse_prometheus(&run.stdout);
    let objects = sample(&samples, "atrest_objects");
    let stale_old_key = objects
        .iter()
        .find(|s| s["labels"]["key_name"] == "key-2025" && s["labels"]["status"] == "stale")
        .expect("stale objects under key-2025");
    assert_eq!(stale_old_key["value"], 4.0);
    assert_eq!(stale_old_key["labels"]["resource"], "secrets");
    let total: f64 = objects.iter().map(|s| s["value"].as_f64().unwrap()).sum();
    assert_eq!(total, 19.0, "every object but the skipped key");
    assert_eq!(sample(&samples, "atrest_unreadable_objects")[0]["value"], 1.0);
    assert_eq!(sample(&samples, "atrest_scan_revision")[0]["value"], 25.0);
    assert!(sample(&samples, "atrest_scan_duration_seconds")[0]["value"].as_f64().unwrap() >= 0.0);
    assert!(
        sample(&samples, "atrest_scan_timestamp_seconds")[0]["value"].as_f64().unwrap() > 1.7e9
    );
    let info = sample(&samples, "atrest_encryption_config_info");
    assert_eq!(info[0]["labels"]["sha256"].as_str().unwrap().len(), 64);
    // Bounded cardinality: no per-object label anywhere.
    for s in &samples {
        for forbidden in ["key", "name", "namespace", "uid"] {
            assert!(s["labels"].get(forbidden).is_none(), "{s}");
        }
    }
}

#[test]
fn metrics_file_is_written_atomically_next_to_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("atrest.prom");
    let run = demo(&["-o", "json", &format!("--metrics-file={}", path.display())]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.json();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!parse_prometheus(&text).is_empty());
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temp file left: {leftovers:?}");
    // A failed scan leaves the previous file alone.
    let before = std::fs::read(&path).unwrap();
    let bad = atrest([
        "scan",
        "--snapshot=/nonexistent.db",
        &format!("--metrics-file={}", path.display()),
    ]);
    assert_eq!(bad.code, 3);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn policies_set_the_exit_code() {
    // The demo has plaintext secrets and secrets under key-2025.
    let never = ["--fail-on", "never", "-o", "json"];
    assert_eq!(demo(&never).code, 0);
    let plain = demo(&[&never[..], &["--require-encrypted", "secrets"]].concat());
    assert_eq!(plain.code, 1);
    assert!(plain.stderr.contains("created-before-encryption"), "{}", plain.stderr);
    assert!(plain.stderr.contains("--require-encrypted"), "{}", plain.stderr);
    assert_eq!(demo(&[&never[..], &["--require-encrypted", "deployments.apps"]].concat()).code, 0);
    let key = demo(&[&never[..], &["--forbid-key", "aescbc:key-2025"]].concat());
    assert_eq!(key.code, 1);
    assert!(key.stderr.contains("legacy-db"), "{}", key.stderr);
    assert_eq!(demo(&[&never[..], &["--forbid-key", "aescbc:key-1999"]].concat()).code, 0);
    assert_eq!(demo(&[&never[..], &["--forbid-key", "nocolon"]].concat()).code, 2);
}

#[test]
fn no_progress_or_logs_when_not_a_terminal() {
    // stderr here is a pipe: no bar, no escape codes, nothing but the findings exit.
    let run = demo(&["-o", "json"]);
    assert_eq!(run.stderr, "", "stderr: {:?}", run.stderr);
    let verbose = demo(&["-o", "json", "-v"]);
    assert!(verbose.stderr.contains("scan finished"), "{}", verbose.stderr);
    assert!(!verbose.stderr.contains('\u{1b}'), "no terminal codes in logs to a pipe");
}

#[test]
fn progress_bar_on_a_terminal_only() {
    // util-linux `script` runs atrest on a pseudo-terminal, as a person would.
    let cmd = format!(
        "{} scan --snapshot {DEMO_DB} {DEMO_CFG} -o json --fail-on never > /dev/null",
        env!("CARGO_BIN_EXE_atrest")
    );
    let out =
        crate::harness::process::output(Command::new("script").args(["-qec", &cmd, "/dev/null"]))
            .expect("script (util-linux)");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("keys scanned"), "no progress on a terminal: {tty:?}");
    let quiet = crate::harness::process::output(Command::new("script").args([
        "-qec",
        &cmd.replace(" scan ", " -q scan "),
        "/dev/null",
    ]))
    .unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stdout).contains("keys scanned"), "-q shows no bar");
}
