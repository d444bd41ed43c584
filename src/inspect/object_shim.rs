//! Temporary: until codec::object lands, metadata only.
use crate::codec::{DecodeError, decode};

pub struct Object {
    pub value: serde_json::Value,
    pub completeness: Completeness,
}
pub enum Completeness {
    Full,
    MetadataOnly(String),
}
pub fn decode_object(p: &[u8]) -> Result<Object, DecodeError> {
    let d = decode(p)?;
    let f = d.facts;
    Ok(Object {
        value: serde_json::json!({"apiVersion": f.api_version, "kind": f.kind, "metadata": {"name": f.name, "namespace": f.namespace, "uid": f.uid}}),
        completeness: Completeness::MetadataOnly("shim".into()),
    })
}
#[allow(dead_code)]
fn _full() -> Completeness {
    Completeness::Full
}
