//! `-o html`: one self-contained HTML report, checked as text and rendered for real in headless
//! Debian Chromium (`/usr/bin/chromium`; `scripts/ensure-deps` installs it). A missing Chromium
//! fails these tests: they never skip.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::cli::atrest;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

/// The demo's stale and unreadable keys (README).
const FINDINGS: [&str; 7] = [
    "/registry/secrets/default/created-before-encryption",
    "/registry/secrets/kube-system/bootstrap-token-abcdef",
    "/registry/secrets/prod/ci-deploy-key",
    "/registry/secrets/prod/half-written",
    "/registry/secrets/prod/legacy-db",
    "/registry/secrets/prod/old-token",
    "/registry/secrets/prod/webhook-hmac",
];

fn demo(file: &str) -> String {
    format!("{}/fixtures/demo/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// `atrest scan` of the demo snapshot as HTML.
fn demo_report(extra: &[&str]) -> String {
    let (db, cfg) = (demo("demo.db"), demo("encryption-config.yaml"));
    let mut args = vec!["scan", "--snapshot", &db, "--encryption-config", &cfg, "-o", "html"];
    args.extend_from_slice(extra);
    let run = atrest(&args);
    assert_eq!(run.code, 1, "the demo has findings, so exit 1; stderr:\n{}", run.stderr);
    run.stdout
}

#[test]
fn html_report_is_one_self_contained_document() {
    let html = demo_report(&[]);
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"), "{}", &html[..80]);
    assert!(html.ends_with("</html>\n"));
    assert_eq!(html.matches("<html").count(), 1, "one document");
    assert_eq!(html.matches("</html>").count(), 1, "one document");
    for external in
        ["http://", "https://", "src=", "url(", "@import", "<link", "<img", "<iframe", "fetch("]
    {
        assert!(!html.contains(external), "external reference {external:?} in the report");
    }
    assert!(html.contains("default-src 'none'"), "the CSP forbids every load");
    for key in FINDINGS {
        assert!(html.contains(&format!("<code>{key}</code>")), "finding {key} missing");
    }
    assert!(html.contains("Stale and unreadable objects (7)"));
    assert!(html.contains("<svg"), "charts are inline SVG");
    assert_eq!(html.matches("<figure class=\"chart\">").count(), 4, "one chart per resource");
    assert!(html.contains("aescbc:key-2025") && html.contains("secretbox:box-1"));
    assert!(html.contains(&format!("<code>{}</code>", demo("encryption-config.yaml"))));
    assert!(html.contains("451b215acb73"), "EncryptionConfiguration sha256");
    assert!(html.contains("integrity sha256 ok"));
    assert!(!html.contains("History still held"), "no --history, no history section");
    // Neither key material nor payloads: the config's secrets never appear.
    let config = std::fs::read_to_string(demo("encryption-config.yaml")).unwrap();
    for line in config.lines().filter_map(|l| l.trim().strip_prefix("secret: ")) {
        assert!(!html.contains(line), "key material in the report");
    }
}

#[test]
fn html_report_shows_history_when_asked() {
    let html = demo_report(&["--history"]);
    assert!(html.contains("History still held by etcd"));
    assert!(html.contains("plaintext, but secrets are now encrypted with aescbc"));
    assert!(html.contains("<li>etcdctl compact 25: drops the 3 superseded revisions"));
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    std::fs::write(&report, demo_report(&["--history"])).unwrap();

    // 1. A screenshot is produced and is a real picture.
    let shot = dir.path().join("shot.png");
    let run = chromium(
        dir.path(),
        &[format!("--screenshot={}", shot.display()), "--window-size=1280,2000".to_owned()],
        &file_url(&report, ""),
    );
    assert!(run.success, "chromium failed to take the screenshot:\n{}", run.stderr);
    let png = std::fs::read(&shot)
        .unwrap_or_else(|e| panic!("no screenshot {}: {e}\n{}", shot.display(), run.stderr));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 10 * 1024, "screenshot is only {} bytes", png.len());

    // 2. The page's script ran to the end (it marks <body>), it sorted the findings as the URL
    //    asked, and the page logged nothing to the console (errors, CSP refusals).
    let run = chromium(
        dir.path(),
        &["--dump-dom".to_owned(), "--enable-logging=stderr".to_owned(), "--v=0".to_owned()],
        &file_url(&report, "#sort=-key"),
    );
    assert!(run.success, "chromium --dump-dom failed:\n{}", run.stderr);
    assert_eq!(page_console(&run.stderr), Vec::<&str>::new(), "console output from the page");
    assert!(run.stdout.contains("data-ready=\"1\""), "the page's script did not run to the end");
    let positions: Vec<usize> =
        FINDINGS.iter().map(|k| run.stdout.find(&format!("<code>{k}</code>")).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] > w[1]), "findings not sorted by key, descending");
    assert!(run.stdout.contains("aria-sort=\"descending\""));
}

/// The console check above sees a failing page: a thrown error, a console.error, and a load the
/// CSP refuses all show up. Without this, a Chromium that logs elsewhere would pass silently.
#[test]
fn chromium_console_check_catches_page_errors() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("broken.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" \
         content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body>\
         <img src=\"blocked.png\">\
         <script>console.error('atrest-marker-error'); undefinedFunction();</script>\
         </body></html>",
    )
    .unwrap();
    let run = chromium(
        dir.path(),
        &["--dump-dom".to_owned(), "--enable-logging=stderr".to_owned(), "--v=0".to_owned()],
        &file_url(&page, ""),
    );
    assert!(run.success, "chromium failed:\n{}", run.stderr);
    let console = page_console(&run.stderr);
    assert!(console.iter().any(|l| l.contains("atrest-marker-error")), "{console:#?}");
    assert!(console.iter().any(|l| l.contains("Uncaught")), "{console:#?}");
    assert!(console.iter().any(|l| l.contains("Content Security Policy")), "{console:#?}");
}

struct ChromiumRun {
    success: bool,
    stdout: String,
    stderr: String,
}

fn file_url(path: &Path, fragment: &str) -> String {
    format!("file://{}{fragment}", path.display())
}

/// Lines of Chromium's stderr that come from the page: console messages and uncaught errors.
fn page_console(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Refused to"))
        .collect()
}

/// Runs headless Chromium with the flags this machine needs (no sandbox as root, no network
/// attempts), a fresh profile in `dir`, and a hard 60 s limit (killed by PID).
fn chromium(dir: &Path, extra: &[String], url: &str) -> ChromiumRun {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found: run scripts/ensure-deps, which installs Debian's chromium \
         (this test renders the report in a real browser and does not skip)"
    );
    let run_dir = tempfile::Builder::new().prefix("chromium").tempdir_in(dir).unwrap();
    let profile = run_dir.path();
    let (out_path, err_path) = (profile.join("stdout"), profile.join("stderr"));
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.join("profile").display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {CHROMIUM}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium ran over {CHROMIUM_TIMEOUT:?} and was killed; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    ChromiumRun {
        success: status.success(),
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
    }
}
