//! The kubelet version of a stored `core/v1` Node (`status.nodeInfo.kubeletVersion`), so a
//! report can say which kubelets a cluster runs next to the storage versions it expects.
//!
//! Upstream: `kubernetes/api:core/v1/generated.proto` (Node.status = 3, NodeStatus.nodeInfo = 7,
//! NodeSystemInfo.kubeletVersion = 7; the numbers were checked against the golden
//! `core.v1.Node.pb`, `kubernetes/api` `testdata/HEAD` @ `10b39a39bcee`), wrapped as in layout doc
//! §2.1 (`k8s\0` + runtime.Unknown) or as JSON (§2.2). The messages are declared in
//! `proto/runtime.proto`; prost skips every other field.

use prost::Message as _;
use serde::Deserialize;

use crate::pb::runtime::{NodeHead, Unknown};

/// `status.nodeInfo.kubeletVersion` of a decrypted Node value (`k8s\0` protobuf or JSON), e.g.
/// `"v1.31.4"`. `None` when the value is not a `v1` Node, does not parse, or carries no (or an
/// empty) kubelet version. Never panics, whatever the input.
pub fn kubelet_version(plaintext: &[u8]) -> Option<String> {
    if let Some(body) = plaintext.strip_prefix(super::PROTOBUF_MAGIC) {
        return from_protobuf(body);
    }
    if plaintext.iter().find(|b| !super::is_json_space(**b)) == Some(&b'{') {
        return from_json(plaintext);
    }
    None
}

fn from_protobuf(body: &[u8]) -> Option<String> {
    let unknown = Unknown::decode(body).ok()?;
    if unknown.content_encoding.as_deref().is_some_and(|s| !s.is_empty()) {
        return None;
    }
    let type_meta = unknown.type_meta?;
    if !is_core_v1_node(type_meta.api_version.as_deref(), type_meta.kind.as_deref()) {
        return None;
    }
    let head = NodeHead::decode(unknown.raw.unwrap_or_default()).ok()?;
    non_empty(head.status?.node_info?.kubelet_version)
}

/// The JSON path to the kubelet version; serde skips everything else without building it.
#[derive(Deserialize)]
struct JsonNode {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    status: Option<JsonStatus>,
}

#[derive(Deserialize)]
struct JsonStatus {
    #[serde(rename = "nodeInfo")]
    node_info: Option<JsonNodeInfo>,
}

#[derive(Deserialize)]
struct JsonNodeInfo {
    #[serde(rename = "kubeletVersion")]
    kubelet_version: Option<String>,
}

fn from_json(data: &[u8]) -> Option<String> {
    let node: JsonNode = serde_json::from_slice(data).ok()?;
    if !is_core_v1_node(node.api_version.as_deref(), node.kind.as_deref()) {
        return None;
    }
    non_empty(node.status?.node_info?.kubelet_version)
}

/// Nodes are stored as `v1` `Node` (core group, the only version it has).
fn is_core_v1_node(api_version: Option<&str>, kind: Option<&str>) -> bool {
    api_version == Some("v1") && kind == Some("Node")
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use prost::Message as _;

    use super::kubelet_version;
    use crate::pb::runtime::{NodeHead, NodeStatus, NodeSystemInfo};

    fn golden(name: &str) -> Vec<u8> {
        let path = crate::testkit::golden_dir().join("payloads").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// A Node the way kube-apiserver writes it, with the given kubelet version.
    fn node_pb(api_version: &str, kind: &str, kubelet: Option<&str>) -> Vec<u8> {
        let head = NodeHead {
            status: Some(NodeStatus {
                node_info: Some(NodeSystemInfo { kubelet_version: kubelet.map(str::to_owned) }),
            }),
        };
        crate::testkit::protobuf_payload(api_version, kind, &head.encode_to_vec())
    }

    #[test]
    fn golden_nodes_carry_the_fuzz_value() {
        // kubernetes/api roundtrip files fill every string with "<field>Value".
        for name in [
            "core.v1.Node.pb",
            "core.v1.Node.json",
            "v1.35.0.core.v1.Node.pb",
            "v1.35.0.core.v1.Node.json",
        ] {
            assert_eq!(
                kubelet_version(&golden(name)).as_deref(),
                Some("kubeletVersionValue"),
                "{name}"
            );
        }
    }

    #[test]
    fn hand_built_nodes() {
        assert_eq!(
            kubelet_version(&node_pb("v1", "Node", Some("v1.31.4"))).as_deref(),
            Some("v1.31.4")
        );
        assert_eq!(kubelet_version(&node_pb("v1", "Node", Some(""))), None);
        assert_eq!(kubelet_version(&node_pb("v1", "Node", None)), None);
        assert_eq!(kubelet_version(&node_pb("v1", "Pod", Some("v1.31.4"))), None);
        assert_eq!(kubelet_version(&node_pb("apps/v1", "Node", Some("v1.31.4"))), None);
        let json = br#"{"apiVersion":"v1","kind":"Node","status":{"nodeInfo":{"kubeletVersion":"v1.29.1"}}}
"#;
        assert_eq!(kubelet_version(json).as_deref(), Some("v1.29.1"));
        assert_eq!(kubelet_version(br#"{"apiVersion":"v1","kind":"Node"}"#), None);
        assert_eq!(
            kubelet_version(
                br#"{"apiVersion":"v1","kind":"Pod","status":{"nodeInfo":{"kubeletVersion":"x"}}}"#
            ),
            None
        );
    }

    #[test]
    fn other_kinds_and_garbage_give_none() {
        for other in ["core.v1.Pod.pb", "core.v1.Secret.json", "apps.v1.Deployment.pb"] {
            assert_eq!(kubelet_version(&golden(other)), None, "{other}");
        }
        for bytes in [
            &b""[..],
            b"k8s\0",
            b"k8s\0\xff\xff\xff",
            b"{",
            b"{\"status\": 3}",
            b"\xd9\xd9\xf7",
            b"k8s:enc:aescbc:v1:key1:xxxx",
            b"apiVersion: v1\nkind: Node\n",
        ] {
            assert_eq!(kubelet_version(bytes), None, "{bytes:?}");
        }
    }

    #[test]
    fn truncations_never_panic() {
        for name in ["core.v1.Node.pb", "core.v1.Node.json"] {
            let full = golden(name);
            for len in 0..full.len() {
                // A prefix may or may not still parse; it must never panic.
                let _ = kubelet_version(&full[..len]);
            }
        }
    }
}
