//! Why protobuf bytes do not decode, told by walking the wire format ourselves: prost's
//! `DecodeError` has no kind, only a text, and a decision must never rest on another library's
//! wording. Runs only after prost refused the bytes, and never quotes them (a value may be a
//! Secret).
//!
//! The walk follows the message's descriptor where it has one (bundled Kubernetes descriptors):
//! nested messages are entered, strings checked for UTF-8, declared fields checked for their wire
//! type, as prost and Go's proto.Unmarshal do. Without a descriptor only the structure is
//! checked.

use prost_reflect::{Kind, MessageDescriptor};

use super::DecodeError;
use crate::reader::{ReadError, Reader};

/// prost's (and Go's) nesting limit.
const MAX_DEPTH: u32 = 100;

/// What was wrong, in the words of [`DecodeError::ProtobufTruncated`] / `ProtobufMalformed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    Truncated(&'static str),
    Malformed(&'static str),
}

/// The finding for bytes of `what` (described by `desc`, if known) that prost refused.
pub(super) fn describe(
    what: &'static str,
    bytes: &[u8],
    desc: Option<&MessageDescriptor>,
) -> DecodeError {
    match walk(bytes, desc, 0) {
        Err(Problem::Truncated(problem)) => DecodeError::ProtobufTruncated { what, problem },
        Err(Problem::Malformed(problem)) => DecodeError::ProtobufMalformed { what, problem },
        // Structurally sound, yet refused (an enum, a map entry, a oneof): say no more than that.
        Ok(()) => DecodeError::ProtobufMalformed { what, problem: "not a valid protobuf message" },
    }
}

fn short(depth: u32) -> Problem {
    Problem::Truncated(if depth == 0 {
        "a field runs past the end of the data"
    } else {
        "a field runs past the end of its enclosing message"
    })
}

fn read<T>(r: Result<T, ReadError>, depth: u32) -> Result<T, Problem> {
    r.map_err(|e| match e {
        ReadError::Short { .. } => short(depth),
        ReadError::Varint { .. } => Problem::Malformed("invalid varint"),
    })
}

/// The wire types a declared field may arrive in (packed repeated scalars also as LEN).
fn wire_types(field: &prost_reflect::FieldDescriptor) -> (u8, bool) {
    let scalar = match field.kind() {
        Kind::Message(_) | Kind::String | Kind::Bytes => return (2, false),
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => 1,
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => 5,
        _ => 0,
    };
    (scalar, field.is_list())
}

/// One field's value on the wire.
enum Value<'a> {
    /// Varint, fixed64 or fixed32: read and done.
    Scalar,
    /// Length-delimited payload.
    Len(&'a [u8]),
    StartGroup,
    EndGroup,
}

/// Reads the value of wire type `wire` at `r`.
fn value<'a>(r: &mut Reader<'a>, wire: u64, depth: u32) -> Result<Value<'a>, Problem> {
    Ok(match wire {
        0 => read(r.varint(), depth).map(|_| Value::Scalar)?,
        1 => read(r.take(8), depth).map(|_| Value::Scalar)?,
        2 => {
            let len = read(r.varint(), depth)?;
            let len = usize::try_from(len).map_err(|_| Problem::Malformed("length too large"))?;
            Value::Len(read(r.take(len), depth)?)
        }
        3 => Value::StartGroup,
        4 => Value::EndGroup,
        5 => read(r.take(4), depth).map(|_| Value::Scalar)?,
        _ => return Err(Problem::Malformed("invalid or unexpected wire type")),
    })
}

fn walk(bytes: &[u8], desc: Option<&MessageDescriptor>, depth: u32) -> Result<(), Problem> {
    if depth > MAX_DEPTH {
        return Err(Problem::Malformed("nesting too deep"));
    }
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let key = read(r.varint(), depth)?;
        let (number, wire) = (key >> 3, key & 7);
        if number == 0 {
            return Err(Problem::Malformed("field number 0"));
        }
        let Ok(number) = u32::try_from(number) else {
            return Err(Problem::Malformed("invalid field key"));
        };
        let field = desc.and_then(|d| d.get_field(number));
        if let Some(f) = &field {
            let (want, packable) = wire_types(f);
            if wire != u64::from(want) && !(packable && wire == 2) {
                return Err(Problem::Malformed("invalid or unexpected wire type"));
            }
        }
        match value(&mut r, wire, depth)? {
            Value::Scalar => {}
            Value::Len(payload) => match field.as_ref().map(|f| f.kind()) {
                // Map entries are messages too.
                Some(Kind::Message(m)) => walk(payload, Some(&m), depth.saturating_add(1))?,
                Some(Kind::String) if std::str::from_utf8(payload).is_err() => {
                    return Err(Problem::Malformed("a string field is not UTF-8"));
                }
                _ => {}
            },
            Value::StartGroup => skip_group(&mut r, key >> 3, depth, 1)?,
            Value::EndGroup => return Err(Problem::Malformed("unexpected end-group tag")),
        }
    }
    Ok(())
}

/// Skips a (deprecated) group of field `number` up to its end tag, as prost skips unknown
/// groups; `groups` counts the groups open inside the message at `depth`.
fn skip_group(r: &mut Reader<'_>, number: u64, depth: u32, groups: u32) -> Result<(), Problem> {
    if depth.saturating_add(groups) > MAX_DEPTH {
        return Err(Problem::Malformed("nesting too deep"));
    }
    loop {
        let key = read(r.varint(), depth)?;
        match value(r, key & 7, depth)? {
            Value::Scalar | Value::Len(_) => {}
            Value::StartGroup => skip_group(r, key >> 3, depth, groups.saturating_add(1))?,
            Value::EndGroup if key >> 3 == number => return Ok(()),
            Value::EndGroup => return Err(Problem::Malformed("unexpected end-group tag")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use super::*;

    fn problem(bytes: &[u8]) -> Result<(), Problem> {
        walk(bytes, None, 0)
    }

    #[test]
    fn structure_alone() {
        assert_eq!(problem(&[0x08, 0x96, 0x01, 0x12, 0x01, b'x']), Ok(()));
        assert_eq!(problem(&[0x12, 0x05, b'x']), Err(short(0)));
        assert_eq!(problem(&[0x08]), Err(short(0)));
        assert_eq!(
            problem(&[0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]),
            Err(Problem::Malformed("invalid varint"))
        );
        assert_eq!(problem(&[0x00, 0x01]), Err(Problem::Malformed("field number 0")));
        assert_eq!(problem(&[0x0e]), Err(Problem::Malformed("invalid or unexpected wire type")));
        assert_eq!(problem(&[0x0c]), Err(Problem::Malformed("unexpected end-group tag")));
        // A group of field 1 holding a varint, closed.
        assert_eq!(problem(&[0x0b, 0x10, 0x01, 0x0c]), Ok(()));
        assert_eq!(problem(&[0x0b, 0x10, 0x01]), Err(short(0)));
    }

    #[test]
    fn matches_what_prost_refuses_on_a_real_descriptor() {
        // runtime.Unknown as bundled: field 1 typeMeta (message), 2 raw (bytes), 3/4 strings.
        let Some(unknown) = super::super::object::unknown_descriptor() else {
            panic!("the bundled pool has runtime.Unknown");
        };
        let cases: [(&[u8], Problem); 4] = [
            (&[0x0a, 0x02, 0x0a, 0x05], short(1)),
            (&[0x1a, 0x01, 0xff], Problem::Malformed("a string field is not UTF-8")),
            (&[0x08, 0x01], Problem::Malformed("invalid or unexpected wire type")),
            (&[0x0a, 0x03, 0x0a, 0x01, 0xc3], Problem::Malformed("a string field is not UTF-8")),
        ];
        for (bytes, want) in cases {
            assert!(DynamicMessageDecodeFails::check(&unknown, bytes), "{bytes:02x?}");
            assert_eq!(walk(bytes, Some(&unknown), 0), Err(want), "{bytes:02x?}");
        }
        assert_eq!(walk(&[], None, MAX_DEPTH + 1), Err(Problem::Malformed("nesting too deep")));
    }

    struct DynamicMessageDecodeFails;
    impl DynamicMessageDecodeFails {
        fn check(desc: &MessageDescriptor, bytes: &[u8]) -> bool {
            prost_reflect::DynamicMessage::decode(desc.clone(), bytes).is_err()
        }
    }
}
