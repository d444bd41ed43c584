//! Bad input and failing sources: each gets a clear message and the contract's exit code.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::harness::cli::atrest;
use crate::harness::etcd::Etcd;

fn write(dir: &std::path::Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    format!("--encryption-config={}", p.display())
}

#[test]
fn config_errors_exit_2_with_the_field_path() {
    let dir = tempfile::tempdir().unwrap();
    let head = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n";
    let cases = [
        (
            format!(
                "{head}  - aescbc:\n      keys:\n      - name: k1\n        secret: 'not base64!'\n"
            ),
            "resources[0].providers[0].aescbc.keys[0].secret",
        ),
        (
            format!("{head}  - aescbc:\n      keys:\n      - name: k1\n        secret: c2hvcnQ=\n"),
            "resources[0].providers[0].aescbc.keys[0].secret",
        ),
        ("this: [is not, a config".to_owned(), ""),
        ("apiVersion: v2\nkind: Nope\n".to_owned(), ""),
    ];
    for (i, (body, path)) in cases.iter().enumerate() {
        let flag = write(dir.path(), &format!("c{i}.yaml"), body);
        // The config is read before etcd is contacted, so no etcd is needed.
        let run = atrest(["scan", "--endpoints=127.0.0.1:1", &flag]);
        assert_eq!(run.code, 2, "case {i}: {}", run.stderr);
        assert!(run.stderr.contains(path), "case {i}: {}", run.stderr);
        assert!(!run.stderr.contains("c2hvcnQ="), "secret echoed: {}", run.stderr);
    }
    let missing = atrest(["scan", "--encryption-config=/nonexistent/enc.yaml"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("/nonexistent/enc.yaml"), "{}", missing.stderr);
    let bad_flag = atrest(["scan", "-o", "xml"]);
    assert_eq!(bad_flag.code, 2);
}

#[test]
fn unreachable_endpoint_fails_within_the_dial_timeout() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = Instant::now();
    let run = atrest([
        "scan".to_owned(),
        format!("--endpoints=127.0.0.1:{port}"),
        "--dial-timeout=1s".into(),
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains(&port.to_string()), "{}", run.stderr);
    assert!(start.elapsed() < Duration::from_secs(15), "took {:?}", start.elapsed());
}

#[test]
fn compacted_revision_exits_3() {
    let etcd = Etcd::start();
    let first = etcd.put("/registry/secrets/a/b", "{}");
    let last = etcd.put("/registry/secrets/a/b", "{}");
    etcd.compact(last);
    let run = atrest([
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        format!("--rev={first}"),
        "-o=json".into(),
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("compacted"), "{}", run.stderr);
    assert!(!run.stdout.contains("\"summary\""), "no report that looks complete: {}", run.stdout);
}

#[test]
fn future_revision_exits_3_and_is_not_called_compacted() {
    // etcd answers OutOfRange for both; atrest tells them apart by the current revision.
    let etcd = Etcd::start();
    let last = etcd.put("/registry/secrets/a/b", "{}");
    let run = atrest([
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        format!("--rev={}", last + 100),
        "-o=json".into(),
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("future revision"), "{}", run.stderr);
    assert!(!run.stderr.contains("compacted"), "{}", run.stderr);
}

#[test]
fn tls_client_certs_and_wrong_ca() {
    let etcd = Etcd::start_tls();
    etcd.put(
        "/registry/configmaps/a/b",
        std::fs::read(atrest::testkit::golden_dir().join("payloads/core.v1.ConfigMap.pb")).unwrap(),
    );
    let mut args =
        vec!["scan".to_owned(), format!("--endpoints={}", etcd.endpoint), "-o=json".into()];
    args.extend(etcd.tls_args());
    let run = atrest(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["summary"]["current"], 1);

    let tls = etcd.tls.as_ref().unwrap();
    let wrong_ca = atrest([
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        format!("--cacert={}", tls.other_ca_cert.display()),
        format!("--cert={}", tls.client_cert.display()),
        format!("--key={}", tls.client_key.display()),
        "--dial-timeout=3s".into(),
    ]);
    assert_eq!(wrong_ca.code, 3, "{}", wrong_ca.stderr);
    let no_cert = atrest([
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        format!("--cacert={}", tls.ca_cert.display()),
        "--dial-timeout=3s".into(),
    ]);
    assert_eq!(no_cert.code, 3, "{}", no_cert.stderr);
}

#[test]
fn user_password_auth() {
    let etcd = Etcd::start();
    etcd.put(
        "/registry/configmaps/a/b",
        std::fs::read(atrest::testkit::golden_dir().join("payloads/core.v1.ConfigMap.pb")).unwrap(),
    );
    etcd.enable_auth("s3cret-pw");
    let ok = atrest([
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        "--user=root:s3cret-pw".into(),
        "-o=json".into(),
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(ok.json()["summary"]["keys"], 1);
    let split = atrest([
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        "--user=root".into(),
        "--password=s3cret-pw".into(),
        "-o=json".into(),
    ]);
    assert_eq!(split.code, 0, "{}", split.stderr);
    let wrong = atrest([
        "scan".to_owned(),
        format!("--endpoints={}", etcd.endpoint),
        "--user=root:nope".into(),
    ]);
    assert_eq!(wrong.code, 3, "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("nope"), "password echoed: {}", wrong.stderr);
    let anonymous = atrest(["scan".to_owned(), format!("--endpoints={}", etcd.endpoint)]);
    assert_eq!(anonymous.code, 3, "{}", anonymous.stderr);
}
