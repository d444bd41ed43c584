//! deploy/: the CronJob builds with the machine's kubectl and passes only flags atrest has; the
//! alert rules parse and use only series atrest writes.

use std::process::Command;

use serde_json::Value;

use crate::harness::cli::atrest;

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text).unwrap()
}

#[test]
fn cronjob_renders_with_kubectl_and_uses_real_flags() {
    // `kubectl apply --dry-run=client` needs an API server for discovery; `kubectl kustomize`
    // is kubectl's own offline parse of the same manifests.
    let out =
        crate::harness::process::output(Command::new("kubectl").args(["kustomize", "deploy/"]))
            .expect("kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs = yaml_docs(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(docs.len(), 1);
    let cj = &docs[0];
    assert_eq!(
        (cj["apiVersion"].as_str(), cj["kind"].as_str()),
        (Some("batch/v1"), Some("CronJob"))
    );
    let pod = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let help = atrest(["scan", "--help"]).stdout;
    let args = container["args"].as_array().unwrap();
    assert_eq!(args[0], "scan");
    for arg in &args[1..] {
        let flag = arg.as_str().unwrap().split('=').next().unwrap();
        let listed = help.match_indices(flag).any(|(i, _)| {
            help[i + flag.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '-'))
        });
        assert!(listed, "atrest scan has no {flag}");
    }
    let metrics = args.iter().find_map(|a| a.as_str()?.strip_prefix("--metrics-file=")).unwrap();
    // Every mount but the metrics directory is read-only.
    for m in container["volumeMounts"].as_array().unwrap() {
        let writable = metrics.starts_with(m["mountPath"].as_str().unwrap());
        assert_eq!(m["readOnly"].as_bool().unwrap_or(false), !writable, "{m}");
    }
    assert_eq!(pod["hostNetwork"], true, "etcd listens on the node's loopback");
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Forbid");
}

#[test]
fn alert_rules_parse_and_use_real_series() {
    let text = std::fs::read_to_string("deploy/prometheus-rules.yaml").unwrap();
    let rules: Value = serde_saphyr::from_str(&text).unwrap();
    let exposition = atrest([
        "scan",
        "--snapshot=fixtures/demo/demo.db",
        "--encryption-config=fixtures/demo/encryption-config.yaml",
        "--history",
        "-o",
        "prometheus",
    ])
    .stdout;
    let mut n = 0;
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            n += 1;
            let name = rule["alert"].as_str().unwrap();
            assert!(rule["labels"]["severity"].is_string(), "{name}");
            assert!(rule["annotations"]["summary"].is_string(), "{name}");
            let expr = rule["expr"].as_str().unwrap();
            let series: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("atrest_"))
                .collect();
            assert!(!series.is_empty(), "{name} uses no atrest series");
            for s in series {
                assert!(
                    exposition.contains(&format!("# TYPE {s} ")),
                    "{name}: atrest writes no {s}"
                );
            }
            for label in ["resource", "provider", "key_name", "status"] {
                if expr.contains(&format!("{label}=")) {
                    assert!(
                        exposition.contains(&format!("{label}=\"")),
                        "{name}: no label {label}"
                    );
                }
            }
        }
    }
    assert!(n >= 4);
}

#[test]
fn kubectl_apply_dry_run_against_the_test_api_server() {
    use crate::harness::apiserver::{ApiServer, Resource};
    let server = ApiServer::start(
        vec![Resource {
            group: "batch".into(),
            version: "v1".into(),
            resource: "cronjobs".into(),
            kind: "CronJob".into(),
            namespaced: true,
            storage_version: "v1".into(),
        }],
        "deploy-token",
    );
    let cache = tempfile::tempdir().unwrap();
    let out = crate::harness::process::output(
        Command::new("kubectl")
            .env_remove("KUBECONFIG")
            .arg(format!("--kubeconfig={}", server.kubeconfig().display()))
            .arg(format!("--cache-dir={}", cache.path().display()))
            .args(["apply", "--dry-run=client", "--validate=false", "-k", "deploy/"]),
    )
    .expect("kubectl");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("cronjob.batch/atrest-scan created (dry run)"), "{text}");
}
