//! HTML report unit tests: escaping, self-containment, limits.

use super::*;
use crate::codec::ObjectFacts;
use crate::envelope::{Encryption, ProviderKind};
use crate::history::{HistoryKey, HistoryStats};
use crate::keyspace::KeyInfo;

fn rec(key: &str, status: Status, provider: ProviderKind, key_name: Option<&str>) -> Record {
    let mut parts = key.trim_start_matches("/registry/").split('/');
    let resource = parts.next().unwrap_or("").to_owned();
    Record {
        key: key.as_bytes().to_vec(),
        mod_revision: 7,
        create_revision: 5,
        version: 1,
        lease: 0,
        info: KeyInfo {
            group: String::new(),
            resource,
            namespace: parts.next().map(str::to_owned),
            name: parts.next().map(str::to_owned),
            not_an_object: None,
            group_in_key: false,
        },
        encryption: Some(Encryption {
            provider,
            kms_api_version: None,
            key_name: key_name.map(str::to_owned),
            key_id: None,
        }),
        encoding: None,
        facts: ObjectFacts { api_version: Some("v1".to_owned()), ..ObjectFacts::default() },
        expected_api_version: None,
        status,
        envelope_stale: status == Status::Stale,
        reasons: match status {
            Status::Stale => vec!["encrypted with \"old\" <key> & more".to_owned()],
            Status::Unreadable => vec!["no provider could read it".to_owned()],
            _ => Vec::new(),
        },
    }
}

fn header() -> Header {
    Header {
        source_kind: "snapshot",
        path: Some("backups/<db>.db".to_owned()),
        revision: 42,
        prefix: "/registry/".to_owned(),
        encryption_config: Some(("enc.yaml".to_owned(), "ab".repeat(32))),
        compacted_revision: Some(3),
        integrity: Some("sha256 ok"),
        ..Header::default()
    }
}

fn render(records: &[Record], history: Option<History>, limit: usize) -> String {
    let mut buf = Vec::new();
    let mut sink = HtmlSink::with_limit(&mut buf, "2026-11-29T12:00:00Z".to_owned(), limit);
    let mut summary = Summary { history, revision: 42, ..Summary::default() };
    sink.begin(&header()).unwrap();
    for r in records {
        summary.add(r);
        sink.record(r).unwrap();
    }
    summary.flush_run();
    sink.finish(&summary).unwrap();
    String::from_utf8(buf).unwrap()
}

fn sample() -> Vec<Record> {
    vec![
        rec("/registry/configmaps/a/b", Status::Current, ProviderKind::Identity, None),
        rec(
            "/registry/secrets/a/<script>alert(1)</script>",
            Status::Stale,
            ProviderKind::AesCbc,
            Some("k1"),
        ),
        rec("/registry/secrets/a/new", Status::Current, ProviderKind::AesCbc, Some("k2")),
        rec("/registry/secrets/b/bad", Status::Unreadable, ProviderKind::AesCbc, Some("k'2")),
        rec("/registry/masterleases/x", Status::Skipped, ProviderKind::Identity, None),
    ]
}

#[test]
fn escape_neutralizes_markup_quotes_and_ampersands() {
    assert_eq!(
        escape("<script>alert(\"x\")</script>"),
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    );
    assert_eq!(escape("it's"), "it&#39;s");
    assert_eq!(escape("a & b &amp; c"), "a &amp; b &amp;amp; c");
    assert_eq!(escape("\" onload=\"x"), "&quot; onload=&quot;x");
    assert_eq!(escape("tab\tnl\n"), "tab\tnl\n");
    assert_eq!(
        escape("nul\0esc\x1bdel\x7f c1\u{85}"),
        "nul\u{2400}esc\u{241b}del\u{2421} c1\u{fffd}"
    );
    assert_eq!(escape("plain/ключ/名前"), "plain/ключ/名前");
    assert_eq!(escape(""), "");
}

#[test]
fn numbers_read_well() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(1_234_567), "1,234,567");
    assert_eq!(percent(1, 3), "33.3%");
    assert_eq!(percent(1, 1_000_000), "<0.1%");
    assert_eq!(percent(0, 0), "0%");
    assert_eq!(ink("#ffe1bd"), "");
    assert_eq!(ink("#116329"), " on-dark");
}

#[test]
fn report_is_one_self_contained_document_with_everything_escaped() {
    let html = render(&sample(), None, MAX_FINDINGS);
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    assert_eq!(html.matches("<html").count(), 1);
    for external in ["http:", "https:", "src=", "url(", "@import", "<link", "<img", "fetch("] {
        assert!(!html.contains(external), "{external} in the report");
    }
    // The only script is ours, and the CSP names its hash.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains(&format!("<script>{SCRIPT}</script>")));
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT));
    assert!(html.contains(&format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'"
    )));
    assert!(!html.contains("alert(1)</script>"));
    assert!(html.contains("/registry/secrets/a/&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("encrypted with &quot;old&quot; &lt;key&gt; &amp; more"));
    assert!(html.contains("aescbc:k&#39;2"));
    assert!(html.contains("backups/&lt;db&gt;.db"));
    assert!(html.contains(&"ab".repeat(32)));
    assert!(html.contains("2026-11-29T12:00:00Z"));
    // Charts: one per resource with objects; skipped keys are not charted.
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(html.contains("<b>configmaps</b>") && html.contains("<b>secrets</b>"));
    assert!(!html.contains("<b>masterleases</b>"));
    assert!(html.contains("filter): 1; counted in the totals"));
    assert!(html.contains("Stale and unreadable objects (2)"));
    assert_eq!(html.matches("<tr><td class=\"key\">").count(), 2);
    assert!(!html.contains("History still held"));
}

#[test]
fn findings_rows_are_bounded_and_the_rest_counted() {
    let records: Vec<Record> = (0..5)
        .map(|i| {
            rec(
                &format!("/registry/secrets/ns/s{i}"),
                Status::Stale,
                ProviderKind::AesCbc,
                Some("k1"),
            )
        })
        .collect();
    let html = render(&records, None, 2);
    assert_eq!(html.matches("<tr><td class=\"key\">").count(), 2);
    assert!(html.contains("The first 2 in key order; 3 more are omitted here."));
    assert!(html.contains("Stale and unreadable objects (5)"));
    assert!(html.contains("/registry/secrets/ns/s1") && !html.contains("/registry/secrets/ns/s2"));
    // The chart still counts all five.
    assert!(html.contains("<span>5 objects: 5 stale</span>"));
    assert!(html.contains("Needs attention: 5 of 5 objects."));
}

#[test]
fn history_section_when_known() {
    let mut h = History {
        retained_revisions: 9,
        superseded_revisions: 3,
        exposed_revisions: 2,
        free_pages: Some((4, 1)),
        ..History::default()
    };
    h.groups.insert(
        HistoryKey {
            group: String::new(),
            resource: "secrets".to_owned(),
            provider: Some("identity"),
            key_name: None,
        },
        HistoryStats {
            revisions: 2,
            oldest_revision: 5,
            newest_revision: 8,
            exposure: Some("plaintext <now> encrypted".to_owned()),
        },
    );
    let html = render(&sample(), Some(h), MAX_FINDINGS);
    assert!(html.contains("History still held by etcd"));
    assert!(html.contains("plaintext &lt;now&gt; encrypted"));
    assert!(html.contains("Free bbolt pages: 4, of which 1 still hold object bytes."));
    assert!(html.contains("<li>etcdctl compact 42: drops the 3 superseded revisions"));
}

#[test]
fn empty_scan_still_renders() {
    let html = render(&[], None, MAX_FINDINGS);
    assert!(html.contains("No API objects under the prefix."));
    assert!(html.contains("Every object is current</b> (0)"));
    assert!(html.ends_with("</html>\n"));
}
