//! A go-to-protobuf message, decoded with its descriptor, as Kubernetes' JSON: what Go's
//! `encoding/json` writes for the API type the message was generated from.
//!
//! Generic rules: the proto field name is the JSON name (go-to-protobuf names fields after their
//! `json` tag); fields not on the wire are left out (proto2 presence) and fields that are, even
//! with zero values, are kept; repeated → array; map → object (keys as strings); `bytes` →
//! standard base64 (Go's `[]byte`); 64-bit integers → JSON numbers; doubles → numbers, integral
//! ones as integers, as Go writes them.
//!
//! Types with their own JSON marshalers (each checked in kubernetes/kubernetes
//! `staging/src/k8s.io/…`):
//! - `meta.v1.Time` {seconds, nanos} → `2006-01-02T15:04:05Z`, UTC, seconds only; an empty
//!   message is Go's zero time → null (`apimachinery/pkg/apis/meta/v1/time.go` MarshalJSON,
//!   `time_proto.go` Unmarshal drops nanos).
//! - `meta.v1.MicroTime` → `2006-01-02T15:04:05.000000Z` (`micro_time.go` RFC3339Micro,
//!   `micro_time_proto.go` keeps nanos).
//! - `meta.v1.Duration` {duration ns} → Go's `time.Duration.String()` (`duration.go`).
//! - `api.resource.Quantity` {string} → the string (`apimachinery/pkg/api/resource/quantity.go`
//!   MarshalJSON writes `q.String()`, which is what `quantity_proto.go` stored).
//! - `util.intstr.IntOrString` {type, intVal, strVal} → number or string
//!   (`apimachinery/pkg/util/intstr/intstr.go`).
//! - `runtime.RawExtension` {raw} → the embedded JSON, or the embedded self-described CBOR as
//!   JSON (`apimachinery/pkg/runtime/extension.go`); `meta.v1.FieldsV1` {Raw} → the embedded
//!   JSON (`apimachinery/pkg/apis/meta/v1/helper.go`); apiextensions `JSON` {raw} → the embedded
//!   JSON (`apiextensions-apiserver/pkg/apis/apiextensions/v1/marshal.go`). Raw bytes that are
//!   none of these (Go would fail to marshal them) → a base64 string.
//! - apiextensions `JSONSchemaPropsOrArray` / `OrBool` / `OrStringArray` → the schema, the
//!   array or the bool (`marshal.go` there), and `JSONSchemaProps`' `$ref`, `$schema` and
//!   `x-kubernetes-*` names (`types_jsonschema.go`).
//! - Go slice types wrapped in a message with one repeated `items` field (`meta.v1.Verbs`,
//!   authentication/certificates/authorization `ExtraValue`) → the array.
//! - Embedded Go structs (`json:",inline"`): their fields are written into the parent
//!   ([`INLINE`]).

use std::borrow::Cow;

use base64::Engine as _;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage as _,
};
use serde_json::{Map, Number, Value};

use crate::codec::DecodeError;
use crate::codec::facts::rfc3339_from_unix;

/// Embedded (`json:",inline"`) struct fields of the Kubernetes API types, as (proto field name,
/// message type name). The descriptors cannot tell them apart from ordinary fields, so they are
/// listed from the Go types (`kubernetes/api` `*/types.go`, an embedded field tagged
/// `json:",inline" protobuf:"…,name=<proto name>"`): core/v1 `Volume.VolumeSource`,
/// `PersistentVolumeSpec.PersistentVolumeSource`, `Probe.ProbeHandler` (proto name `handler`),
/// `EphemeralContainer.EphemeralContainerCommon`, `LocalObjectReference` in the ConfigMap/Secret
/// selectors, sources and projections; networking and extensions `IngressRule.IngressRuleValue`;
/// admissionregistration `NamedRuleWithOperations.RuleWithOperations` and
/// `RuleWithOperations.Rule`; resource `Device{Claim,Class,Allocation}Configuration.
/// DeviceConfiguration`. The golden payloads (every field fuzz-filled) cover each of them.
const INLINE: &[(&str, &str)] = &[
    ("localObjectReference", "LocalObjectReference"),
    ("volumeSource", "VolumeSource"),
    ("persistentVolumeSource", "PersistentVolumeSource"),
    ("handler", "ProbeHandler"),
    ("ephemeralContainerCommon", "EphemeralContainerCommon"),
    ("ingressRuleValue", "IngressRuleValue"),
    ("ruleWithOperations", "RuleWithOperations"),
    ("rule", "Rule"),
    ("deviceConfiguration", "DeviceConfiguration"),
];

/// Fields whose proto name (the `protobuf:"…,name="` tag) is not their JSON name (the `json`
/// tag), as (message name, proto name, JSON name), from the same Go types:
/// admissionregistration `{Mutating,Validating}WebhookConfiguration.Webhooks`
/// (`protobuf:"…,name=Webhooks"`, `json:"webhooks"`), `Validation.Expression`,
/// `Variable.{Name,Expression}`; networking `IngressClassParametersReference.APIGroup`
/// (`aPIGroup`); authentication `BoundObjectReference.UID` (`uID`). The other capitalized proto
/// names are the JSON names too (core/v1 `DaemonEndpoint.Port`, apiextensions v1beta1
/// `CustomResourceColumnDefinition.JSONPath`). JSONSchemaProps is handled apart.
const RENAMED: &[(&str, &str, &str)] = &[
    ("MutatingWebhookConfiguration", "Webhooks", "webhooks"),
    ("ValidatingWebhookConfiguration", "Webhooks", "webhooks"),
    ("Validation", "Expression", "expression"),
    ("Variable", "Expression", "expression"),
    ("Variable", "Name", "name"),
    ("IngressClassParametersReference", "aPIGroup", "apiGroup"),
    ("BoundObjectReference", "uID", "uid"),
];

const META: &str = "apimachinery.pkg.apis.meta.v1.";

/// A message decoded and converted, with the fields the descriptors did not know.
pub(super) struct Converted {
    /// The message as JSON.
    pub value: Value,
    /// Where fields unknown to the descriptors were skipped: `spec.containers[0].lifecycle.
    /// postStart.httpGet: field 4`. Fields that Kubernetes itself removed and skips
    /// ([`REMOVED`]) are not listed.
    pub unknown: Vec<String>,
}

/// ObjectMeta fields that old data may still carry and that Kubernetes skips when it reads
/// them: 15 clusterName, 16 initializers (layout doc §2.1).
const REMOVED: &[(&str, u32)] = &[("ObjectMeta", 15), ("ObjectMeta", 16)];

/// Decode `bytes` as `desc` and convert; `what` names the message in errors.
pub(super) fn decode_message(
    desc: MessageDescriptor,
    bytes: &[u8],
    what: &'static str,
) -> Result<Converted, DecodeError> {
    let message = DynamicMessage::decode(desc.clone(), bytes)
        .map_err(|_| crate::codec::wire::describe(what, bytes, Some(&desc)))?;
    let mut unknown = Vec::new();
    let value = message_json(&message, Path::Root, &mut unknown);
    Ok(Converted { value, unknown })
}

/// Where a value sits in the object, rendered only when a field there is unknown.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
    Key(&'a Path<'a>),
}

impl Path<'_> {
    fn render(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Field(parent, name) => {
                parent.render(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Path::Index(parent, i) => {
                parent.render(out);
                out.push_str(&format!("[{i}]"));
            }
            Path::Key(parent) => {
                // A map key is payload data: named only as a key.
                parent.render(out);
                out.push_str("[key]");
            }
        }
    }
}

/// The JSON of one message, by its Kubernetes type.
fn message_json(message: &DynamicMessage, path: Path<'_>, unknown: &mut Vec<String>) -> Value {
    let desc = message.descriptor();
    for field in message.unknown_fields() {
        let number = field.number();
        if !REMOVED.contains(&(desc.name(), number)) {
            let mut at = String::new();
            path.render(&mut at);
            if at.is_empty() {
                at.push_str("(top level)");
            }
            unknown.push(format!("{at}: field {number}"));
        }
    }
    let full_name = desc.full_name();
    if let Some(local) = full_name.strip_prefix(META) {
        match local {
            "Time" => return time(message, false),
            "MicroTime" => return time(message, true),
            "Duration" => {
                return Value::String(go_duration(int_field(message, "duration").unwrap_or(0)));
            }
            "FieldsV1" => return raw(message, "Raw"),
            _ => {}
        }
    }
    match full_name {
        "apimachinery.pkg.api.resource.Quantity" => {
            return str_field(message, "string")
                .map_or(Value::Null, |s| Value::String(s.into_owned()));
        }
        "apimachinery.pkg.util.intstr.IntOrString" => return int_or_string(message),
        "apimachinery.pkg.runtime.RawExtension" => return raw(message, "raw"),
        _ => {}
    }
    if desc.package_name().starts_with("apiextensions_apiserver.") {
        match desc.name() {
            "JSON" => return raw(message, "raw"),
            "JSONSchemaPropsOrArray" => return schema_or_array(message, path, unknown),
            "JSONSchemaPropsOrBool" => return schema_or_bool(message, path, unknown),
            "JSONSchemaPropsOrStringArray" => {
                return schema_or_string_array(message, path, unknown);
            }
            _ => {}
        }
    }
    if let Some(items) = slice_wrapper(&desc) {
        // A nil Go slice (nothing on the wire) is null.
        return match message.fields().find(|(f, _)| *f == items) {
            Some((f, v)) => value_json(&f, v, path, unknown),
            None => Value::Null,
        };
    }
    let schema_props = desc.name() == "JSONSchemaProps";
    let mut out = Map::new();
    for (field, value) in message.fields() {
        let name = if schema_props {
            schema_props_name(field.name())
        } else {
            Cow::Borrowed(json_name(desc.name(), field.name()))
        };
        if is_inline(&field) {
            // The embedded struct's fields belong to this object, in JSON and in paths.
            if let Value::Object(inner) = value_json(&field, value, path, unknown) {
                out.extend(inner);
            }
            continue;
        }
        let json = value_json(&field, value, Path::Field(&path, &name), unknown);
        out.insert(name.into_owned(), json);
    }
    Value::Object(out)
}

/// A field's value: lists and maps element by element (a Map sorts the keys, which come out of
/// a hash map).
fn value_json(
    field: &FieldDescriptor,
    value: &prost_reflect::Value,
    path: Path<'_>,
    unknown: &mut Vec<String>,
) -> Value {
    use prost_reflect::Value as V;
    match value {
        V::List(items) if field.is_list() => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| scalar_json(v, Path::Index(&path, i), unknown))
                .collect(),
        ),
        V::Map(entries) => {
            let mut out = Map::new();
            for (k, v) in entries {
                let key = map_key(k);
                let json = scalar_json(v, Path::Key(&path), unknown);
                out.insert(key, json);
            }
            Value::Object(out)
        }
        other => scalar_json(other, path, unknown),
    }
}

fn scalar_json(value: &prost_reflect::Value, path: Path<'_>, unknown: &mut Vec<String>) -> Value {
    use prost_reflect::Value as V;
    match value {
        V::Bool(b) => Value::Bool(*b),
        V::I32(n) | V::EnumNumber(n) => Value::from(*n),
        V::I64(n) => Value::from(*n),
        V::U32(n) => Value::from(*n),
        V::U64(n) => Value::from(*n),
        V::F32(x) => float(f64::from(*x)),
        V::F64(x) => float(*x),
        V::String(s) => Value::String(s.clone()),
        V::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        V::Message(m) => message_json(m, path, unknown),
        // Lists of lists and maps in lists do not exist in proto; keep the shape anyway.
        V::List(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| scalar_json(v, Path::Index(&path, i), unknown))
                .collect(),
        ),
        V::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = map_key(k);
                    let json = scalar_json(v, Path::Key(&path), unknown);
                    (key, json)
                })
                .collect(),
        ),
    }
}

fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// Go writes a float64 in the shortest form that reads back: integral values without a
/// fraction (`1`, not `1.0`). NaN and infinities cannot be written (null).
fn float(x: f64) -> Value {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if x.fract() == 0.0 && (-TWO_63..TWO_63).contains(&x) {
        // Integral and in range, so the conversion is exact.
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(x as i64);
    }
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn is_inline(field: &FieldDescriptor) -> bool {
    let Kind::Message(ty) = field.kind() else { return false };
    !field.is_list()
        && INLINE.iter().any(|(name, type_name)| field.name() == *name && ty.name() == *type_name)
}

fn json_name<'a>(message: &str, proto: &'a str) -> &'a str {
    RENAMED.iter().find(|(m, p, _)| *m == message && *p == proto).map_or(proto, |(_, _, json)| json)
}

/// The `items` field of a message that wraps a Go slice of strings (`type Verbs []string`,
/// `type ExtraValue []string`): its only field, `repeated string items`. go-to-protobuf
/// generates the same shape for them all; a struct with a lone `Items` field of messages
/// (core/v1 `DownwardAPIProjection`) is an ordinary object.
fn slice_wrapper(desc: &MessageDescriptor) -> Option<FieldDescriptor> {
    let mut fields = desc.fields();
    let only = fields.next()?;
    (fields.next().is_none()
        && only.name() == "items"
        && only.is_list()
        && matches!(only.kind(), Kind::String))
    .then_some(only)
}

/// `JSONSchemaProps` JSON names that are not proto identifiers.
fn schema_props_name(proto: &str) -> Cow<'_, str> {
    match proto {
        "ref" => Cow::Borrowed("$ref"),
        "schema" => Cow::Borrowed("$schema"),
        _ => match proto.strip_prefix("xKubernetes") {
            // xKubernetesPreserveUnknownFields → x-kubernetes-preserve-unknown-fields
            Some(rest) => {
                let mut name = String::from("x-kubernetes");
                for c in rest.chars() {
                    if c.is_ascii_uppercase() {
                        name.push('-');
                        name.push(c.to_ascii_lowercase());
                    } else {
                        name.push(c);
                    }
                }
                Cow::Owned(name)
            }
            None => Cow::Borrowed(proto),
        },
    }
}

fn field_value<'a>(
    message: &'a DynamicMessage,
    name: &str,
) -> Option<Cow<'a, prost_reflect::Value>> {
    let field = message.descriptor().get_field_by_name(name)?;
    message.has_field(&field).then(|| message.get_field(&field))
}

fn int_field(message: &DynamicMessage, name: &str) -> Option<i64> {
    let v = field_value(message, name)?;
    v.as_i64().or_else(|| v.as_i32().map(i64::from))
}

fn str_field<'a>(message: &'a DynamicMessage, name: &str) -> Option<Cow<'a, str>> {
    match field_value(message, name)? {
        Cow::Borrowed(v) => v.as_str().map(Cow::Borrowed),
        Cow::Owned(v) => v.as_str().map(|s| Cow::Owned(s.to_owned())),
    }
}

fn message_field(
    message: &DynamicMessage,
    name: &str,
    path: Path<'_>,
    unknown: &mut Vec<String>,
) -> Option<Value> {
    let v = field_value(message, name)?;
    v.as_message().map(|m| message_json(m, path, unknown))
}

fn list_field(
    message: &DynamicMessage,
    name: &str,
    path: Path<'_>,
    unknown: &mut Vec<String>,
) -> Option<Value> {
    let field = message.descriptor().get_field_by_name(name)?;
    if !message.has_field(&field) {
        return None;
    }
    Some(value_json(&field, &message.get_field(&field), path, unknown))
}

/// `meta.v1.Time` / `MicroTime`. An empty message is Go's zero time (null); otherwise
/// `time.Unix(seconds, nanos)` (Time drops nanos), written in UTC.
fn time(message: &DynamicMessage, micro: bool) -> Value {
    let seconds = int_field(message, "seconds");
    let nanos = int_field(message, "nanos");
    if seconds.is_none() && nanos.is_none() {
        return Value::Null;
    }
    let seconds = seconds.unwrap_or(0);
    if !micro {
        return rfc3339_from_unix(seconds).map_or(Value::Null, Value::String);
    }
    // time.Unix normalizes nanos outside [0, 1e9) into the seconds.
    let nanos = nanos.unwrap_or(0);
    let Some(secs) = seconds.checked_add(nanos.div_euclid(1_000_000_000)) else {
        return Value::Null;
    };
    let frac_micros = nanos.rem_euclid(1_000_000_000).checked_div(1000).unwrap_or(0);
    match rfc3339_from_unix(secs) {
        Some(s) => {
            let head = s.strip_suffix('Z').unwrap_or(&s);
            Value::String(format!("{head}.{frac_micros:06}Z"))
        }
        None => Value::Null,
    }
}

/// Go's `time.Duration.String()`: "1h2m3s", "1.5s", "500ms", "1µs", "0s".
#[allow(clippy::arithmetic_side_effects)] // unsigned, divisors are non-zero constants
pub(super) fn go_duration(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u == 0 {
        return "0s".to_owned();
    }
    let frac = |v: u64, prec: u32| -> (u64, String) {
        let scale = 10u64.pow(prec);
        let f = v % scale;
        let digits = if prec == 0 || f == 0 {
            String::new()
        } else {
            let s = format!("{f:0width$}", width = prec as usize);
            format!(".{}", s.trim_end_matches('0'))
        };
        (v / scale, digits)
    };
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (int, digits) = frac(u, prec);
        return format!("{sign}{int}{digits}{unit}");
    }
    let (secs, digits) = frac(u, 9);
    let (s, m, h) = (secs % 60, secs / 60 % 60, secs / 3600);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}{digits}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}{digits}s")
    } else {
        format!("{sign}{s}{digits}s")
    }
}

/// `IntOrString`: type 0 (Int) → intVal, 1 (String) → strVal. Go refuses other types; the field
/// that is set is shown then.
fn int_or_string(message: &DynamicMessage) -> Value {
    let int = || Value::from(int_field(message, "intVal").unwrap_or(0));
    let string = || Value::String(str_field(message, "strVal").unwrap_or_default().into_owned());
    match int_field(message, "type") {
        Some(1) => string(),
        Some(0) | None => int(),
        Some(_) if field_value(message, "strVal").is_some() => string(),
        Some(_) => int(),
    }
}

/// Embedded raw JSON (RawExtension, FieldsV1, apiextensions JSON): nil/empty → null; JSON →
/// parsed; self-described CBOR (RawExtension) → as JSON; anything else → base64.
fn raw(message: &DynamicMessage, name: &str) -> Value {
    let Some(v) = field_value(message, name) else { return Value::Null };
    let Some(bytes) = v.as_bytes() else { return Value::Null };
    if bytes.is_empty() {
        return Value::Null;
    }
    if let Ok(json) = serde_json::from_slice::<Value>(bytes) {
        return json;
    }
    if bytes.starts_with(crate::codec::CBOR_MAGIC)
        && let Ok(json) = super::selfdescribing::cbor(bytes)
    {
        return json;
    }
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `JSONSchemaPropsOrArray`: the array if non-empty, else the schema (null when absent).
fn schema_or_array(message: &DynamicMessage, path: Path<'_>, unknown: &mut Vec<String>) -> Value {
    if let Some(array) = list_field(message, "jSONSchemas", path, unknown) {
        return array;
    }
    message_field(message, "schema", path, unknown).unwrap_or(Value::Null)
}

/// `JSONSchemaPropsOrBool`: the schema if set, else the bool.
fn schema_or_bool(message: &DynamicMessage, path: Path<'_>, unknown: &mut Vec<String>) -> Value {
    if let Some(schema) = message_field(message, "schema", path, unknown) {
        return schema;
    }
    let allows = field_value(message, "allows").and_then(|v| v.as_bool()).unwrap_or(false);
    Value::Bool(allows)
}

/// `JSONSchemaPropsOrStringArray`: the strings if non-empty, else the schema, else null.
fn schema_or_string_array(
    message: &DynamicMessage,
    path: Path<'_>,
    unknown: &mut Vec<String>,
) -> Value {
    if let Some(array) = list_field(message, "property", path, unknown) {
        return array;
    }
    message_field(message, "schema", path, unknown).unwrap_or(Value::Null)
}
