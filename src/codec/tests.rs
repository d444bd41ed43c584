//! Codec tests: golden payloads and envelope plaintexts (read in place), legacy forms,
//! truncation sweeps, hand-built edge cases, and proptest for panics and leaks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use prost::Message as _;
use serde_json::Value;

use super::*;
use crate::pb::runtime::{ObjectHead, ObjectMeta, Time, TypeMeta, Unknown};

fn golden(sub: &str) -> PathBuf {
    crate::testkit::golden_dir().join(sub)
}

fn manifest(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.jsonl"))
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Compares one field; on mismatch records "file: field: got … want …".
fn check(errors: &mut Vec<String>, file: &str, field: &str, got: Option<&str>, want: &Value) {
    let want = want.as_str();
    if got != want {
        errors.push(format!("{file}: {field}: got {got:?}, want {want:?}"));
    }
}

fn check_facts(errors: &mut Vec<String>, file: &str, d: &Decoded, row: &Value, names: [&str; 3]) {
    check(errors, file, "encoding", Some(d.encoding.as_str()), &row["encoding"]);
    check(errors, file, "apiVersion", d.facts.api_version.as_deref(), &row["apiVersion"]);
    check(errors, file, "kind", d.facts.kind.as_deref(), &row["kind"]);
    check(errors, file, names[0], d.facts.name.as_deref(), &row[names[0]]);
    check(errors, file, names[1], d.facts.namespace.as_deref(), &row[names[1]]);
    check(errors, file, names[2], d.facts.uid.as_deref(), &row[names[2]]);
}

#[test]
fn payload_golden_table() {
    let dir = golden("payloads");
    let rows = manifest(&dir);
    assert_eq!(rows.len(), 375, "payload manifest size");
    let mut errors = Vec::new();
    for row in &rows {
        let file = row["file"].as_str().unwrap();
        match decode(&read(&dir.join(file))) {
            Ok(d) => check_facts(&mut errors, file, &d, row, ["name", "namespace", "uid"]),
            Err(e) => errors.push(format!("{file}: decode error: {e}")),
        }
    }
    assert!(errors.is_empty(), "{} mismatches:\n{}", errors.len(), errors.join("\n"));
}

/// The two encodings of one object give identical facts, creationTimestamp included; the
/// kubernetes/api fuzz files all carry 2008-01-01T01:01:01Z.
#[test]
fn payload_twins_agree() {
    let dir = golden("payloads");
    let mut pairs = 0;
    for row in manifest(&dir) {
        let (file, Some(twin)) = (row["file"].as_str().unwrap(), row["twin"].as_str()) else {
            continue;
        };
        let a = decode(&read(&dir.join(file))).unwrap();
        let b = decode(&read(&dir.join(twin))).unwrap();
        assert_eq!(a.facts, b.facts, "{file} vs {twin}");
        if !file.starts_with("auger.") {
            assert_eq!(
                a.facts.creation_timestamp.as_deref(),
                Some("2008-01-01T01:01:01Z"),
                "{file}"
            );
        }
        pairs += 1;
    }
    assert!(pairs >= 370, "only {pairs} twins");
}

#[test]
fn envelope_plaintexts() {
    let dir = golden("envelopes");
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for row in manifest(&dir) {
        let Some(file) = row["plaintextFile"].as_str() else { continue };
        seen.insert(row["encoding"].as_str().unwrap().to_owned());
        match decode(&read(&dir.join(file))) {
            Ok(d) => {
                check_facts(&mut errors, file, &d, &row, ["objectName", "objectNamespace", "uid"])
            }
            Err(e) => errors.push(format!("{file}: decode error: {e}")),
        }
    }
    assert!(errors.is_empty(), "{} mismatches:\n{}", errors.len(), errors.join("\n"));
    let want: std::collections::BTreeSet<String> =
        ["cbor", "json", "protobuf"].map(String::from).into();
    assert_eq!(seen, want);
}

#[test]
fn damaged_envelope_values_are_errors() {
    let dir = golden("envelopes");
    let empty = decode(&read(&dir.join("bad-empty.bin")));
    assert_eq!(empty, Err(DecodeError::Empty));
    let garbage = decode(&read(&dir.join("bad-garbage.bin"))).unwrap_err();
    assert!(matches!(garbage, DecodeError::Unrecognized(u) if !u.text), "{garbage:?}");
    assert_eq!(
        garbage.to_string(),
        "not a Kubernetes payload (starts with 0x00 0x01, 50 bytes, binary)"
    );
    let truncated = decode(&read(&dir.join("bad-truncated-protobuf.bin"))).unwrap_err();
    assert!(
        matches!(truncated, DecodeError::ProtobufTruncated { what: "runtime.Unknown", .. }),
        "{truncated:?}"
    );
    assert!(truncated.to_string().starts_with("truncated protobuf: runtime.Unknown: "));
}

fn payload(name: &str) -> Vec<u8> {
    read(&golden("payloads").join(name))
}

fn facts_of(name: &str) -> ObjectFacts {
    decode(&payload(name)).unwrap().facts
}

#[test]
fn legacy_compact_json_with_newline() {
    for name in ["core.v1.Secret.json", "apps.v1.Deployment.json", "auger.pod.json"] {
        let value: Value = serde_json::from_slice(&payload(name)).unwrap();
        let mut compact = serde_json::to_vec(&value).unwrap();
        compact.push(b'\n');
        let d = decode(&compact).unwrap();
        assert_eq!(d.encoding, Encoding::Json);
        assert_eq!(d.facts, facts_of(name), "{name}");
        // Leading whitespace is still JSON.
        let mut spaced = b" \r\n\t".to_vec();
        spaced.extend_from_slice(&compact);
        assert_eq!(decode(&spaced).unwrap().facts, facts_of(name));
    }
}

#[test]
fn legacy_yaml() {
    for name in ["core.v1.ConfigMap.json", "apps.v1.Deployment.json", "auger.job.json"] {
        let value: Value = serde_json::from_slice(&payload(name)).unwrap();
        let yaml = serde_saphyr::to_string(&value).unwrap();
        let d = decode(yaml.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}\n{yaml}"));
        assert_eq!(d.encoding, Encoding::Yaml);
        assert_eq!(d.facts, facts_of(name), "{name}");
        let with_header = format!("# exported\n---\n{yaml}");
        assert_eq!(decode(with_header.as_bytes()).unwrap().facts, facts_of(name));
    }
    let hand = b"kind: Secret\napiVersion: v1\nmetadata:\n  name: s\n  namespace: ns\n  uid: u-1\n  creationTimestamp: 2020-01-02T03:04:05Z\ndata:\n  k: dmFsdWU=\n";
    let d = decode(hand).unwrap();
    assert_eq!(
        d.facts,
        ObjectFacts {
            api_version: Some("v1".into()),
            kind: Some("Secret".into()),
            name: Some("s".into()),
            namespace: Some("ns".into()),
            uid: Some("u-1".into()),
            creation_timestamp: Some("2020-01-02T03:04:05Z".into()),
        }
    );
}

#[test]
fn legacy_base64_protobuf() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    for name in ["core.v1.Secret.pb", "core.v1.Pod.pb", "auger.namespace-default.pb"] {
        let pb = payload(name);
        let text = b64.encode(&pb);
        let d = decode(text.as_bytes()).unwrap();
        assert_eq!(d.encoding, Encoding::Protobuf);
        assert_eq!(d.facts, facts_of(name), "{name}");
        // Go's base64 decoder skips CR/LF: wrapped lines and a trailing newline still read.
        let wrapped: Vec<u8> =
            text.as_bytes().chunks(76).flat_map(|c| c.iter().copied().chain(*b"\r\n")).collect();
        assert_eq!(decode(&wrapped).unwrap().facts, facts_of(name), "{name} wrapped");
    }
    assert_eq!(decode(b"azhzAA=!"), Err(DecodeError::Base64));
    assert_eq!(decode(b"azhzAA"), Err(DecodeError::Base64), "padding is required");
    // base64 of "k8s\x01xx" decodes but is not k8s\0 protobuf.
    assert_eq!(decode(b64.encode(b"k8s\x01xx").as_bytes()), Err(DecodeError::Base64NotProtobuf));
}

const SWEEP: &[&str] = &[
    "core.v1.Secret.pb",
    "core.v1.ConfigMap.pb",
    "apps.v1.Deployment.pb",
    "core.v1.Pod.pb",
    "auger.pod.pb",
    "auger.namespace-default.pb",
    "apiextensions.k8s.io.v1.CustomResourceDefinition.pb",
];

/// rustls-style sweep: every prefix of a protobuf payload decodes to an error or (at the few
/// field boundaries of runtime.Unknown) to a value, and never panics.
#[test]
fn truncation_sweep_protobuf() {
    for name in SWEEP {
        let pb = payload(name);
        let mut ok = Vec::new();
        for l in 0..pb.len() {
            if decode(&pb[..l]).is_ok() {
                ok.push(l);
            }
        }
        // At most: after typeMeta (no raw), after raw, after contentEncoding.
        assert!(ok.len() <= 3, "{name}: prefixes that decode: {ok:?} of {}", pb.len());
        for l in &ok {
            assert!(*l > pb.len() / 2 || decode(&pb[..*l]).unwrap().facts.name.is_none());
        }
    }
}

#[test]
fn truncation_sweep_json_and_cbor() {
    let mut inputs: Vec<Vec<u8>> =
        ["core.v1.Secret.json", "auger.job.json"].iter().map(|n| payload(n)).collect();
    let dir = golden("envelopes");
    for row in manifest(&dir) {
        if let (Some(file), Some("cbor" | "json")) =
            (row["plaintextFile"].as_str(), row["encoding"].as_str())
        {
            inputs.push(read(&dir.join(file)));
        }
    }
    for data in &inputs {
        // Everything short of the closing brace / last CBOR byte is an error.
        let end = data.iter().rposition(|b| !b" \t\r\n".contains(b)).unwrap();
        for l in 0..=end {
            assert!(decode(&data[..l]).is_err(), "prefix {l} of {} decoded", data.len());
        }
        assert!(decode(data).is_ok());
    }
}

fn unknown(api_version: &str, kind: &str, raw: Option<Vec<u8>>, enc: &str) -> Vec<u8> {
    let u = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: raw.map(Into::into),
        content_encoding: Some(enc.into()),
        content_type: Some(String::new()),
    };
    let mut out = b"k8s\0".to_vec();
    out.extend(u.encode_to_vec());
    out
}

fn head(meta: ObjectMeta) -> Vec<u8> {
    ObjectHead { metadata: Some(meta) }.encode_to_vec()
}

#[test]
fn protobuf_edge_cases() {
    // No raw at all: an empty object, as Go's proto.Unmarshal sees it.
    let d = decode(&unknown("v1", "Secret", None, "")).unwrap();
    assert_eq!(d.facts.kind.as_deref(), Some("Secret"));
    assert_eq!(d.facts.name, None);
    // contentEncoding set.
    assert_eq!(
        decode(&unknown("v1", "Secret", Some(vec![]), "gzip")),
        Err(DecodeError::UnsupportedContentEncoding)
    );
    // Missing kind / apiVersion.
    for (v, k) in [("", "Secret"), ("v1", ""), ("", "")] {
        assert_eq!(
            decode(&unknown(v, k, Some(vec![]), "")),
            Err(DecodeError::MissingTypeMeta { encoding: Encoding::Protobuf })
        );
    }
    assert_eq!(decode(b"k8s\0"), Err(DecodeError::ProtobufEmptyBody));
    assert_eq!(decode(b"k8s\x01\x0a\x00"), Err(DecodeError::ProtobufStyle));
    assert_eq!(decode(b"k8s:enc:aescbc:v1:key1:\x00\x01"), Err(DecodeError::Encrypted));
    // Empty strings are absent; an empty Time is Go's zero time (null).
    let meta = ObjectMeta {
        name: Some("n".into()),
        namespace: Some(String::new()),
        uid: Some(String::new()),
        creation_timestamp: Some(Time::default()),
    };
    let d = decode(&unknown("v1", "Namespace", Some(head(meta)), "")).unwrap();
    assert_eq!((d.facts.name.as_deref(), d.facts.namespace, d.facts.uid), (Some("n"), None, None));
    assert_eq!(d.facts.creation_timestamp, None);
    // Seconds only count; nanos are dropped.
    let meta = ObjectMeta {
        creation_timestamp: Some(Time { seconds: Some(1_199_149_261), nanos: Some(123) }),
        ..ObjectMeta::default()
    };
    let d = decode(&unknown("v1", "Pod", Some(head(meta)), "")).unwrap();
    assert_eq!(d.facts.creation_timestamp.as_deref(), Some("2008-01-01T01:01:01Z"));
    // A broken raw is reported against the object, not the wrapper.
    let e = decode(&unknown("v1", "Pod", Some(vec![0x0a, 0x05, 0x0a]), "")).unwrap_err();
    assert!(
        matches!(e, DecodeError::ProtobufTruncated { what: "object in Unknown.raw", .. }),
        "{e:?}"
    );
    // Invalid key value quotes payload bytes in prost's text; ours must not.
    let mut bad = unknown("v1", "Pod", Some(vec![]), "");
    bad.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let e = decode(&bad).unwrap_err();
    assert!(!e.to_string().chars().any(|c| c.is_ascii_digit()), "{e}");
}

fn cbor(value: &ciborium::Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

#[test]
fn cbor_edge_cases() {
    use ciborium::Value as C;
    let b = |s: &str| C::Bytes(s.as_bytes().to_vec());
    let t = |s: &str| C::Text(s.into());
    // Text-string keys and values, a tag-22 []byte value, and nested noise are all fine.
    let obj = C::Tag(
        55799,
        Box::new(C::Map(vec![
            (t("apiVersion"), t("example.com/v1")),
            (b("data"), C::Tag(22, Box::new(C::Bytes(vec![1, 2, 3])))),
            (b("kind"), b("Widget")),
            (
                b("metadata"),
                C::Map(vec![
                    (b("labels"), C::Map(vec![(b("a"), b("b"))])),
                    (b("name"), t("w")),
                    (b("namespace"), b("")),
                    (b("uid"), C::Null),
                ]),
            ),
            (b("spec"), C::Array(vec![C::Integer(1.into()), C::Float(1.5), C::Bool(true)])),
        ])),
    );
    let bytes = cbor(&obj);
    let d = decode(&bytes).unwrap();
    assert_eq!(d.encoding, Encoding::Cbor);
    assert_eq!(d.facts.api_version.as_deref(), Some("example.com/v1"));
    assert_eq!(d.facts.kind.as_deref(), Some("Widget"));
    assert_eq!((d.facts.name.as_deref(), d.facts.namespace, d.facts.uid), (Some("w"), None, None));
    // Trailing bytes after the item.
    let mut trailing = bytes;
    trailing.push(0x00);
    assert!(matches!(decode(&trailing), Err(DecodeError::Cbor { offset: Some(_), .. })));
    // No apiVersion.
    let no_tm = cbor(&C::Tag(55799, Box::new(C::Map(vec![(b("kind"), b("Widget"))]))));
    assert_eq!(decode(&no_tm), Err(DecodeError::MissingTypeMeta { encoding: Encoding::Cbor }));
    // Not a map, non-UTF-8 strings, deep nesting.
    assert!(decode(&cbor(&C::Tag(55799, Box::new(C::Array(vec![]))))).is_err());
    let bad_utf8 = cbor(&C::Tag(
        55799,
        Box::new(C::Map(vec![(b("apiVersion"), C::Bytes(vec![0xff])), (b("kind"), b("K"))])),
    ));
    assert!(matches!(decode(&bad_utf8), Err(DecodeError::Cbor { .. })));
    let mut deep = vec![0xd9, 0xd9, 0xf7, 0xa1, 0x41, b'x'];
    deep.extend(std::iter::repeat_n(0x81, 100_000));
    deep.push(0x00);
    assert!(decode(&deep).is_err());
}

#[test]
fn json_edge_cases() {
    assert_eq!(
        decode(b"{\"kind\":\"Secret\"}\n"),
        Err(DecodeError::MissingTypeMeta { encoding: Encoding::Json })
    );
    assert_eq!(
        decode(b"{\"apiVersion\":\"v1\",\"kind\":\"\"}"),
        Err(DecodeError::MissingTypeMeta { encoding: Encoding::Json })
    );
    assert!(matches!(
        decode(b"{\"apiVersion\":\"v1\",\"kind\":\"K\"} x"),
        Err(DecodeError::Json { problem: "syntax error", .. })
    ));
    let d =
        decode(b"{\"apiVersion\":\"v1\",\"kind\":\"K\",\"metadata\":null,\"x\":[1,{\"y\":null}]}")
            .unwrap();
    assert_eq!(d.facts.name, None);
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(decode(deep.as_bytes()).is_err());
}

#[test]
fn unrecognized_is_described_without_content() {
    let e = decode(b"hunter2 is my password").unwrap_err();
    assert_eq!(e.to_string(), "not a Kubernetes payload (22 bytes, text)");
    let e = decode(&[0x00]).unwrap_err();
    assert_eq!(e.to_string(), "not a Kubernetes payload (starts with 0x00, 1 bytes, binary)");
    // YAML-looking text is parsed as YAML, and its errors carry positions only.
    let e = decode(b"apiVersion: [unclosed SECRETVALUE\n").unwrap_err();
    assert!(matches!(e, DecodeError::Yaml { .. }), "{e:?}");
    assert!(!e.to_string().contains("SECRETVALUE"));
    // Text that is neither JSON nor YAML-looking.
    assert!(matches!(decode(b"key: value\n"), Err(DecodeError::Unrecognized(_))));
}

const MARKER: &str = "ZQXMARKERQZX";

/// Inputs that reach every parser with a marker inside, in places where a naive error message
/// would quote it.
fn marker_inputs() -> Vec<Vec<u8>> {
    use ciborium::Value as C;
    let m = MARKER;
    let mut v: Vec<Vec<u8>> = vec![
        format!("{{\"apiVersion\":\"v1\",\"kind\":\"K\",\"metadata\":\"{m}\"}}").into_bytes(),
        format!("{{\"apiVersion\":{{\"{m}\":1}},\"kind\":\"K\"}}").into_bytes(),
        format!("{{\"apiVersion\":\"v1\",\"kind\":\"K\",\"metadata\":{{\"name\":[\"{m}\"]}}}}")
            .into_bytes(),
        format!("{{\"{m}\" 1}}").into_bytes(),
        format!("{{\"apiVersion\":\"v1\",\"kind\":\"K\"}}{m}").into_bytes(),
        format!("apiVersion: v1\nkind: K\nmetadata: {m}\n").into_bytes(),
        format!("apiVersion: v1\nkind: [{m}\n").into_bytes(),
        format!("kind: K\napiVersion: {{a: {m}}}\n").into_bytes(),
        format!("azhzA{m}").into_bytes(),
        m.as_bytes().to_vec(),
        format!("\x00\x01{m}").into_bytes(),
        format!("k8s\x02{m}").into_bytes(),
        cbor(&C::Tag(
            55799,
            Box::new(C::Map(vec![
                (C::Bytes(b"apiVersion".to_vec()), C::Bytes(b"v1".to_vec())),
                (C::Bytes(b"kind".to_vec()), C::Bytes(b"K".to_vec())),
                (C::Bytes(b"metadata".to_vec()), C::Text(m.into())),
            ])),
        )),
        cbor(&C::Tag(55799, Box::new(C::Map(vec![(C::Text(m.into()), C::Integer(1.into()))])))),
        cbor(&C::Tag(
            55799,
            Box::new(C::Map(vec![(C::Bytes(b"apiVersion".to_vec()), C::Float(1.0))])),
        )),
    ];
    // Protobuf: the marker as a string where a message is expected, then cut short.
    let mut raw = vec![0x0a, u8::try_from(m.len()).unwrap()];
    raw.extend_from_slice(m.as_bytes());
    v.push(unknown("v1", "Pod", Some(raw), ""));
    v.push(unknown("v1", "Pod", Some(vec![]), m));
    let mut cut = unknown("v1", m, Some(m.as_bytes().to_vec()), "");
    cut.truncate(cut.len() - 6);
    v.push(cut);
    let mut bad_key = unknown("v1", "Pod", Some(vec![]), "");
    bad_key.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    bad_key.extend_from_slice(m.as_bytes());
    v.push(bad_key);
    v
}

#[test]
fn errors_never_quote_the_payload() {
    let mut errors = 0;
    for input in marker_inputs() {
        if let Err(e) = decode(&input) {
            errors += 1;
            let shown = format!("{e} / {e:?}");
            assert!(!shown.contains(MARKER), "{shown}");
        }
    }
    assert!(errors >= 15, "only {errors} inputs failed");
}

fn with_magic() -> impl Strategy<Value = Vec<u8>> {
    let magic = prop_oneof![
        Just(b"".to_vec()),
        Just(b"k8s\0".to_vec()),
        Just(b"k8s\0\x0a\x0c\x0a\x02v1\x12\x06Secret\x12".to_vec()),
        Just(vec![0xd9, 0xd9, 0xf7]),
        Just(vec![0xd9, 0xd9, 0xf7, 0xa3]),
        Just(b"{".to_vec()),
        Just(b"{\"apiVersion\":".to_vec()),
        Just(b"azhzA".to_vec()),
        Just(b"apiVersion: v1\nkind: ".to_vec()),
        Just(b"k8s".to_vec()),
    ];
    (magic, proptest::collection::vec(any::<u8>(), 0..256)).prop_map(|(mut m, rest)| {
        m.extend(rest);
        m
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics(data in with_magic()) {
        let _ = decode(&data);
    }

    #[test]
    fn errors_do_not_leak_an_embedded_marker(
        data in with_magic(),
        at in any::<prop::sample::Index>(),
        tail in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut input = data;
        let cut = at.index(input.len() + 1);
        input.splice(cut..cut, MARKER.bytes());
        input.extend(tail);
        if let Err(e) = decode(&input) {
            let shown = e.to_string();
            prop_assert!(!shown.contains(MARKER), "{}", shown);
        }
    }

    #[test]
    fn golden_bit_flips_never_panic(i in 0..SWEEP.len(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut pb = payload(SWEEP[i]);
        let at = at.index(pb.len());
        pb[at] ^= 1 << bit;
        let _ = decode(&pb);
    }
}
