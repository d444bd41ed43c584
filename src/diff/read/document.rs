//! `-o json`: one document, its `objects` array streamed element by element.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::SyncSender;

use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess};

use super::{BATCH, Msg, Record, STOPPED, SummaryKeys};
use crate::diff::DiffError;

fn send<E: de::Error>(tx: &SyncSender<Msg>, msg: Msg) -> Result<(), E> {
    tx.send(msg).map_err(|_| E::custom(STOPPED))
}

pub(super) fn read(reader: impl Read, path: &Path, tx: &SyncSender<Msg>) -> Result<u64, DiffError> {
    let doc = |source| DiffError::Document { path: path.to_owned(), source };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let keys = (&mut de).deserialize_map(DocumentVisitor { tx }).map_err(doc)?;
    de.end().map_err(doc)?;
    Ok(keys)
}

/// The document: header fields, then `objects` streamed element by element, then `summary`.
struct DocumentVisitor<'a> {
    tx: &'a SyncSender<Msg>,
}

impl<'de> de::Visitor<'de> for DocumentVisitor<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an atrest/v1 scan report object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let (mut source, mut encryption_config) = (None, None);
        let (mut objects, mut keys) = (false, None);
        while let Some(name) = map.next_key::<String>()? {
            match name.as_str() {
                "apiVersion" => {
                    let v: String = map.next_value()?;
                    if v != "atrest/v1" {
                        return Err(de::Error::custom(format!(
                            "apiVersion {v:?}, expected \"atrest/v1\""
                        )));
                    }
                }
                "kind" => {
                    let v: String = map.next_value()?;
                    return Err(de::Error::custom(format!(
                        "kind {v:?}: expected a scan report (`atrest scan -o json`)"
                    )));
                }
                "source" => source = Some(map.next_value()?),
                "encryptionConfig" => encryption_config = map.next_value()?,
                "objects" => {
                    let header = Msg::Header {
                        source: source.take(),
                        encryption_config: encryption_config.take(),
                    };
                    send(self.tx, header)?;
                    map.next_value_seed(ObjectsSeed { tx: self.tx })?;
                    objects = true;
                }
                "summary" => keys = Some(map.next_value::<SummaryKeys>()?.keys),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !objects {
            return Err(de::Error::custom("no \"objects\" array"));
        }
        keys.ok_or_else(|| de::Error::custom("no \"summary\": the report is truncated"))
    }
}

/// `objects`: each element deserialized on its own and sent on in batches.
struct ObjectsSeed<'a> {
    tx: &'a SyncSender<Msg>,
}

impl<'de> DeserializeSeed<'de> for ObjectsSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> de::Visitor<'de> for ObjectsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(rec) = seq.next_element::<Record>()? {
            batch.push(rec);
            if batch.len() == BATCH {
                send(
                    self.tx,
                    Msg::Records(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))),
                )?;
            }
        }
        if !batch.is_empty() {
            send(self.tx, Msg::Records(batch))?;
        }
        Ok(())
    }
}
