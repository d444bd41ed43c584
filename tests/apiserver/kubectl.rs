//! The real kubectl against the server's discovery.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use serde_json::Value;

use super::{TOKEN, VERBS, resources};
use crate::harness::apiserver::ApiServer;

pub(super) fn kubectl_bin() -> PathBuf {
    std::env::var_os("ATREST_KUBECTL_BIN").map(PathBuf::from).unwrap_or_else(|| "kubectl".into())
}

/// kubectl with only this kubeconfig and a private cache dir (no ~/.kube, no $KUBECONFIG).
pub(super) fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str]) -> Output {
    crate::harness::process::output(
        Command::new(kubectl_bin())
            .env_remove("KUBECONFIG")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg("--request-timeout=20s")
            .args(args),
    )
    .unwrap_or_else(|e| {
        panic!("cannot run {:?} ({e}): install kubectl or set ATREST_KUBECTL_BIN", kubectl_bin())
    })
}

pub(super) fn stdout_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout: {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
pub(super) fn kubectl_reads_discovery() {
    let server = ApiServer::start(resources(), TOKEN);
    let cache = tempfile::tempdir().unwrap();
    let kubeconfig = server.kubeconfig();
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(server.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let ca_data = base64::engine::general_purpose::STANDARD.encode(server.ca_pem());
    assert!(text.contains(&format!("certificate-authority-data: {ca_data}")), "{text}");
    assert!(text.contains("current-context: atrest-test"), "{text}");

    let versions =
        stdout_ok(&kubectl(&kubeconfig, cache.path(), &["api-versions"]), "api-versions");
    let versions: BTreeSet<&str> = versions.lines().collect();
    assert_eq!(
        versions,
        BTreeSet::from(["apps/v1", "autoscaling/v1", "autoscaling/v2", "example.com/v1", "v1"])
    );

    let table = stdout_ok(
        &kubectl(&kubeconfig, cache.path(), &["api-resources", "-o", "wide"]),
        "api-resources -o wide",
    );
    // NAME SHORTNAMES APIVERSION NAMESPACED KIND VERBS CATEGORIES; one row per resource at its
    // group's preferred version.
    let verbs = VERBS.join(",");
    for (name, api_version, namespaced, kind) in [
        ("secrets", "v1", "true", "Secret"),
        ("configmaps", "v1", "true", "ConfigMap"),
        ("pods", "v1", "true", "Pod"),
        ("namespaces", "v1", "false", "Namespace"),
        ("deployments", "apps/v1", "true", "Deployment"),
        ("horizontalpodautoscalers", "autoscaling/v2", "true", "HorizontalPodAutoscaler"),
        ("widgets", "example.com/v1", "true", "Widget"),
    ] {
        let row = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{table}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        for want in [api_version, namespaced, kind] {
            assert!(cols.contains(&want), "{name}: {want} missing in {row:?}");
        }
        assert!(row.contains(&verbs), "{name}: verbs missing in {row:?}");
    }
    assert_eq!(table.lines().count(), 1 + 7, "{table}");

    let version = stdout_ok(
        &kubectl(&kubeconfig, cache.path(), &["version", "-o", "json"]),
        "version -o json",
    );
    let version: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.31.0");

    // kubectl asked for aggregated discovery, got the legacy documents and used them.
    let log = server.request_log();
    assert!(
        log.iter()
            .any(|r| r.accept.as_deref().is_some_and(|a| a.contains("as=APIGroupDiscoveryList"))),
        "kubectl did not ask for aggregated discovery: {log:#?}"
    );
    assert!(log.iter().all(|r| r.status == 200), "{log:#?}");
}

#[test]
pub(super) fn kubectl_with_a_wrong_token_is_unauthorized() {
    let server = ApiServer::start(resources(), TOKEN);
    let cache = tempfile::tempdir().unwrap();
    let out =
        kubectl(&server.kubeconfig_with_token("not-the-token"), cache.path(), &["api-resources"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Unauthorized") || stderr.contains("You must be logged in"),
        "{stderr}"
    );
    assert!(server.request_log().iter().all(|r| r.status == 401));
}
