//! Strict decoding, as kube-apiserver ≥ 1.31 does it (`encryptionconfig/config.go` decodes
//! with `runtime.NewStrictSerializer`-style options since the `strict decoding error` change):
//! an unknown field or a repeated key is an error naming the field path, e.g.
//! `unknown field "resources[0].providers[3].kms.pandas"`.
//!
//! The file is first read into a [`Node`] tree that keeps every mapping entry, duplicates
//! included (serde-saphyr's `PassThrough` policy and serde_json both hand repeated keys to the
//! visitor), then walked against the EncryptionConfiguration schema. Only field *names* and
//! positions ever reach a message: never a value (a value may be a key secret).

use std::fmt;

use super::ProviderKind;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

/// A document as far as strictness is concerned: mappings keep their entries in order (with
/// duplicates), sequences their items; scalars carry nothing.
pub(super) enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML or JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Node>()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Key>()? {
                    entries.push((key.0, map.next_value::<Node>()?));
                }
                Ok(Node::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping key as text (non-string keys are named by their kind, never their value).
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Key, E> {
                Ok(Key("<boolean key>".into()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Key, E> {
                Ok(Key("<number key>".into()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Key, E> {
                Ok(Key("<number key>".into()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Key, E> {
                Ok(Key("<number key>".into()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key("<null key>".into()))
            }
        }
        d.deserialize_any(V)
    }
}

/// What a strict decode refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrictError {
    /// A field the EncryptionConfiguration schema does not have.
    Unknown(String),
    /// A field given twice in one mapping.
    Duplicate(String),
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(path) => write!(f, "unknown field {path:?}"),
            Self::Duplicate(path) => write!(f, "duplicate field {path:?}"),
        }
    }
}

/// The schema of `apiserver.config.k8s.io/v1` EncryptionConfiguration
/// (`pkg/apis/apiserver/v1/types_encryption.go`, json tags).
#[derive(Clone, Copy)]
enum Shape {
    Config,
    Rule,
    Provider,
    Keys,
    Key,
    Kms,
    /// `identity: {}`: no fields.
    Empty,
    /// A value whose inside is not checked (strings, lists of strings).
    Leaf,
}

impl Shape {
    /// The shape of field `name`, or None when the schema has no such field.
    fn field(self, name: &str) -> Option<(Shape, bool)> {
        // (shape of the value, whether it is a list of that shape)
        Some(match (self, name) {
            (Shape::Config, "apiVersion" | "kind") => (Shape::Leaf, false),
            (Shape::Config, "resources") => (Shape::Rule, true),
            (Shape::Rule, "resources") => (Shape::Leaf, false),
            (Shape::Rule, "providers") => (Shape::Provider, true),
            (Shape::Provider, name) if ProviderKind::keyed(name).is_some() => (Shape::Keys, false),
            (Shape::Provider, "identity") => (Shape::Empty, false),
            (Shape::Provider, "kms") => (Shape::Kms, false),
            (Shape::Keys, "keys") => (Shape::Key, true),
            (Shape::Key, "name" | "secret") => (Shape::Leaf, false),
            (Shape::Kms, "apiVersion" | "name" | "endpoint" | "cachesize" | "timeout") => {
                (Shape::Leaf, false)
            }
            _ => return None,
        })
    }
}

/// Every unknown or repeated field of `doc`, in file order.
pub(super) fn check(doc: &Node) -> Vec<StrictError> {
    let mut out = Vec::new();
    walk(doc, Shape::Config, "", &mut out);
    out
}

fn walk(node: &Node, shape: Shape, path: &str, out: &mut Vec<StrictError>) {
    if matches!(shape, Shape::Leaf) {
        return;
    }
    // Wrong value types (a list where a mapping belongs) are the typed decode's to report.
    let Node::Map(entries) = node else { return };
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in entries {
        let here = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
        if seen.contains(&name.as_str()) {
            out.push(StrictError::Duplicate(here));
            continue;
        }
        seen.push(name);
        match shape.field(name) {
            None => out.push(StrictError::Unknown(here)),
            Some((inner, true)) => {
                if let Node::Seq(items) = value {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, inner, &format!("{here}[{i}]"), out);
                    }
                }
            }
            Some((inner, false)) => walk(value, inner, &here, out),
        }
    }
}
