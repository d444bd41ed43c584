//! Diff unit tests.

use super::read::sniff;
use super::*;

fn rec(key: &str, provider: &str, key_name: Option<&str>, status: Status) -> Record {
    let text = |s: &str| Some(s.to_owned().into());
    Record {
        key: key.to_owned().into(),
        key_base64: None,
        mod_revision: 5,
        create_revision: 0,
        version: 0,
        lease: 0,
        group: "".into(),
        resource: "secrets".into(),
        namespace: None,
        name: None,
        encryption: Encryption {
            provider: text(provider),
            key_name: key_name.and_then(text),
            ..Encryption::default()
        },
        encoding: text("protobuf"),
        api_version: text("v1"),
        kind: text("Secret"),
        uid: None,
        expected_api_version: None,
        status,
        reasons: Vec::new().into(),
    }
}

#[test]
fn sniffs_the_format() {
    let doc = b"{\"apiVersion\":\"atrest/v1\",\"source\":{},\"objects\":[\n";
    assert_eq!(sniff(doc), Ok(InputFormat::Json));
    assert_eq!(sniff(b"{\"objects\":[],\"summary\":{\"keys\":0}}"), Ok(InputFormat::Json));
    assert_eq!(sniff(b"\n{\n"), Ok(InputFormat::Json), "pretty-printed");
    assert_eq!(sniff(b"{\"key\":\"/registry/a\"}\n"), Ok(InputFormat::Jsonl));
    assert_eq!(sniff(b"{\"apiVersion\":\"v1\",\"key\":\"/a\"}\n"), Ok(InputFormat::Jsonl));
    assert_eq!(sniff(b"{\"summary\":{\"keys\":0}}\n"), Ok(InputFormat::Jsonl));
    assert!(sniff(b"").is_err());
    assert!(sniff(b"  \n").is_err());
    assert!(sniff(b"apiVersion: atrest/v1").is_err());
}

#[test]
fn classifies_status_and_provider_moves() {
    let none = EncryptedResources::default();
    let old = rec("/k", "aescbc", Some("k-old"), Status::Stale);
    let new = rec("/k", "aescbc", Some("k-new"), Status::Current);
    let c = classify(Some(&old), Some(&new), &none).unwrap();
    assert_eq!(c.change, ChangeKind::Changed);
    assert!(c.improvement && !c.regression);
    assert_eq!(c.fields.key_name, Some(Delta { old: Some("k-old"), new: Some("k-new") }));
    assert_eq!(c.fields.provider, None);
    let back = classify(Some(&new), Some(&old), &none).unwrap();
    assert!(back.regression && !back.improvement);

    let plain = rec("/k", "identity", None, Status::Current);
    let c = classify(Some(&new), Some(&plain), &none).unwrap();
    assert!(c.regression, "encrypted → plaintext even when the status stays current");
    assert!(classify(Some(&plain), Some(&new), &none).unwrap().improvement);

    let unreadable = rec("/k", "aescbc", Some("k-new"), Status::Unreadable);
    assert!(classify(Some(&old), Some(&unreadable), &none).unwrap().regression);
    assert!(classify(Some(&unreadable), Some(&old), &none).unwrap().improvement);

    assert_eq!(classify(Some(&new), Some(&new), &none), None);
    let mut moved = new.clone();
    moved.mod_revision = 9;
    let c = classify(Some(&new), Some(&moved), &none).unwrap();
    assert_eq!(c.change, ChangeKind::Rewritten);
    assert!(!c.regression && !c.improvement);
}

#[test]
fn new_objects() {
    let mut encrypted = EncryptedResources::default();
    let plain = rec("/k", "identity", None, Status::Current);
    let c = classify(None, Some(&plain), &encrypted).unwrap();
    assert_eq!(c.change, ChangeKind::Appeared);
    assert!(!c.regression);
    encrypted.add(&rec("/j", "aescbc", Some("k"), Status::Current));
    assert!(classify(None, Some(&plain), &encrypted).unwrap().regression);
    let stale = rec("/k", "aescbc", Some("k"), Status::Stale);
    assert!(classify(None, Some(&stale), &EncryptedResources::default()).unwrap().regression);
    let gone = classify(Some(&stale), None, &encrypted).unwrap();
    assert_eq!(gone.change, ChangeKind::Disappeared);
    assert!(!gone.regression);
    assert_eq!(gone.fields.status, Some(Delta { old: Some("stale"), new: None }));
}
