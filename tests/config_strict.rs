//! The EncryptionConfiguration is decoded strictly, as kube-apiserver ≥ 1.31 does: a typo is
//! exit 2 naming the field path (and never a secret); KMS v1 is read with a warning in the
//! report (issue 14).

use crate::harness::cli::atrest;

const DEMO_DB: &str = "fixtures/demo/demo.db";
const DEMO_CFG: &str = "fixtures/demo/encryption-config.yaml";

fn demo_config() -> String {
    std::fs::read_to_string(DEMO_CFG).unwrap()
}

fn scan_with(config: &str) -> crate::harness::cli::Run {
    scan_as(config, "json")
}

fn scan_as(config: &str, format: &str) -> crate::harness::cli::Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enc.yaml");
    std::fs::write(&path, config).unwrap();
    atrest([
        "scan",
        "--snapshot",
        DEMO_DB,
        "--encryption-config",
        path.to_str().unwrap(),
        "-o",
        format,
    ])
}

/// The base64 secrets of the demo config (none may appear in any error).
fn secrets(config: &str) -> Vec<String> {
    config.lines().filter_map(|l| l.trim().strip_prefix("secret: ")).map(str::to_owned).collect()
}

#[test]
fn a_typo_in_the_config_is_exit_2_with_the_field_path() {
    let good = demo_config();
    for (typo, path) in [
        (
            "        secret: ",
            "        secrets: ",
            "resources[0].providers[0].aescbc.keys[0].secrets",
        ),
        ("  - aescbc:", "  - aescdc:", "resources[0].providers[0].aescdc"),
    ]
    .map(|(from, to, path)| (good.replacen(from, to, 1), path))
    {
        let run = scan_with(&typo);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains(&format!("unknown field \"{path}\"")), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "no report for a config kube-apiserver refuses");
        for s in secrets(&good) {
            assert!(!run.stderr.contains(&s), "a key secret in: {}", run.stderr);
        }
    }
    // A repeated key: named, without the YAML library's wording.
    let twice = good.replacen(
        "      - name: key-2026\n",
        "      - name: key-2026\n        name: again\n",
        1,
    );
    let run = scan_with(&twice);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("duplicate field \"resources[0].providers[0].aescbc.keys[0].name\""),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("DuplicateKeyPolicy"), "{}", run.stderr);
}

#[test]
fn kms_v1_is_read_and_flagged_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("absent.sock");
    let config = demo_config().replacen(
        "  - identity: {}\n",
        &format!(
            "  - kms:\n      name: legacy-kms\n      endpoint: unix://{}\n      timeout: 1s\n  - identity: {{}}\n",
            socket.display()
        ),
        1,
    );
    let run = scan_with(&config);
    assert!(run.code <= 1, "the scan still runs: {}", run.stderr);
    let doc = run.json();
    let warnings = doc["encryptionConfig"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.contains("KMS v1 provider \"legacy-kms\"") && w.contains("KMSv1 feature gate"),
        "{w}"
    );
    assert_eq!(doc["summary"]["keys"], 20, "the report is complete");
    // And in the table header.
    let table = scan_as(&config, "table").stdout;
    assert!(table.contains("Warning:    resources[0].providers[1]: KMS v1"), "{table}");
}
