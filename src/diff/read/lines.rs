//! `-o jsonl`: one record a line, then the summary line.

use std::io::{self, BufRead};
use std::path::Path;
use std::sync::mpsc::SyncSender;

use serde::Deserialize;

use super::{BATCH, Msg, Record, STOPPED, SummaryKeys};
use crate::diff::DiffError;

#[derive(Deserialize)]
struct SummaryLine {
    summary: SummaryKeys,
}

pub(super) fn read(
    mut reader: impl BufRead,
    path: &Path,
    tx: &SyncSender<Msg>,
) -> Result<u64, DiffError> {
    let stopped = || DiffError::Thread { path: path.to_owned(), source: io::Error::other(STOPPED) };
    let (mut line, mut number, mut keys) = (String::new(), 0u64, None);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|source| DiffError::Read { path: path.to_owned(), source })?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        if keys.is_some() {
            return Err(DiffError::AfterSummary { path: path.to_owned(), line: number });
        }
        match serde_json::from_str::<Record>(&line) {
            Ok(rec) => batch.push(rec),
            Err(e) => match serde_json::from_str::<SummaryLine>(&line) {
                Ok(s) => keys = Some(s.summary.keys),
                Err(_) => {
                    return Err(DiffError::Line { path: path.to_owned(), line: number, source: e });
                }
            },
        }
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            tx.send(Msg::Records(full)).map_err(|_| stopped())?;
        }
    }
    if !batch.is_empty() {
        tx.send(Msg::Records(batch)).map_err(|_| stopped())?;
    }
    keys.ok_or_else(|| DiffError::MissingSummary { path: path.to_owned() })
}
