//! `atrest inspect`'s text outputs: the `--list` line, the layers as `#` lines over the object
//! as YAML, and `hexdump -C` with the layers marked.

use std::fmt::Display;
use std::io::{self, Write};

use super::hexdump::hexdump;
use super::redact::placeholder;
use super::{Inspection, OpenedValue, payload_regions, value_regions};
use crate::source::RawKv;
use crate::verdict::Record;

/// `--list`: key, provider:key, apiVersion, status, tab-separated.
pub fn list_line(out: &mut dyn Write, rec: &Record) -> io::Result<()> {
    let enc = rec.encryption.as_ref().map_or_else(
        || "?".to_owned(),
        |e| match (&e.key_name, e.kms_api_version) {
            (Some(name), Some(v)) => format!("kms{}:{name}", v.as_str()),
            (Some(name), None) => format!("{}:{name}", e.provider.as_str()),
            (None, _) => e.provider.as_str().to_owned(),
        },
    );
    writeln!(
        out,
        "{}\t{enc}\t{}\t{}",
        String::from_utf8_lossy(&rec.key),
        rec.facts.api_version.as_deref().unwrap_or("-"),
        rec.status.as_str()
    )
}

/// The layers as `#` lines, then the object as YAML.
pub fn yaml(out: &mut dyn Write, ins: &Inspection) -> io::Result<()> {
    let e = &ins.etcd;
    writeln!(out, "# key:       {}", ins.key)?;
    let lease = match (e.lease, e.lease_ttl_seconds) {
        (0, _) => "none".to_owned(),
        (id, Some(ttl)) => format!("{id:x} ({ttl}s left)"),
        (id, None) => format!("{id:x}"),
    };
    writeln!(
        out,
        "# etcd:      read at revision {}; created {}, modified {}, version {}, lease {lease}; {} bytes",
        e.revision, e.create_revision, e.mod_revision, e.version, e.value_bytes
    )?;
    let env = &ins.envelope;
    let mut who = env.provider.unwrap_or("unknown provider").to_owned();
    if let Some(v) = env.kms_api_version {
        who.push_str(&format!(" {v}"));
    }
    if let Some(k) = &env.key_name {
        who.push_str(&format!(" key {k:?}"));
    }
    if let Some(id) = &env.key_id {
        who.push_str(&format!(" keyID {id:?}"));
    }
    if let Some(t) = env.dek_source_type {
        who.push_str(&format!(" DEK source {t}"));
    }
    if let Some(c) = &env.config_entry {
        let key = c.key.map(|k| format!(".keys[{k}]")).unwrap_or_default();
        who.push_str(&format!(
            " (config resources[{}] {:?}, providers[{}]{key})",
            c.rule, c.matched, c.provider
        ));
    }
    let verdict = if env.reasons.is_empty() {
        "current".to_owned()
    } else if env.stale {
        format!("stale: {}", env.reasons.join("; "))
    } else {
        env.reasons.join("; ")
    };
    writeln!(out, "# envelope:  {who}; {verdict}")?;
    let sizes = match env.plaintext_bytes {
        Some(p) => format!("{} header + {} body → {p} plaintext", env.header_bytes, env.body_bytes),
        None => format!("{} header + {} body", env.header_bytes, env.body_bytes),
    };
    writeln!(out, "# sizes:     {sizes}")?;
    if let Some(p) = &ins.payload {
        writeln!(
            out,
            "# payload:   {} {} {} (expected storage version {})",
            p.encoding.unwrap_or("?"),
            p.api_version.as_deref().unwrap_or("?"),
            p.kind.as_deref().unwrap_or("?"),
            p.expected_api_version.as_deref().unwrap_or("unknown")
        )?;
    }
    writeln!(out, "# verdict:   {}{}", ins.status, join_reasons(&ins.reasons))?;
    writeln!(
        out,
        "# object:    {}{}",
        ins.object_completeness,
        if ins.redacted { "; secret values redacted (--reveal shows them)" } else { "" }
    )?;
    if let Some(obj) = &ins.object {
        let text = serde_saphyr::to_string(obj).map_err(io::Error::other)?;
        out.write_all(text.as_bytes())?;
    }
    Ok(())
}

fn join_reasons(r: &[String]) -> String {
    if r.is_empty() { String::new() } else { format!(": {}", r.join("; ")) }
}

/// What `-o raw` dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawOptions {
    /// `--decrypted`: the payload instead of the stored bytes.
    pub decrypted: bool,
    /// `--reveal`: a Secret's bytes too.
    pub reveal: bool,
}

/// `-o raw`: the stored value, or the decrypted payload, as `hexdump -C`; a Secret's plaintext
/// only with `reveal`.
pub fn raw(
    out: &mut dyn Write,
    kv: &RawKv,
    ins: &Inspection,
    opened: Result<&OpenedValue, &dyn Display>,
    opts: RawOptions,
) -> io::Result<()> {
    let secret = ins.resource == "secrets";
    let hidden = |out: &mut dyn Write, what: &str, bytes: &[u8]| {
        writeln!(out, "# {what} of a Secret: {} (--reveal dumps it)", placeholder(bytes))
    };
    if opts.decrypted {
        return match opened {
            Ok(o) if secret && !opts.reveal => hidden(out, "plaintext", &o.plaintext),
            Ok(o) => out.write_all(
                hexdump(&o.plaintext, &payload_regions(&o.plaintext, 0, ins)).as_bytes(),
            ),
            Err(why) => writeln!(out, "# cannot decrypt: {why}"),
        };
    }
    // An identity Secret's stored bytes are its plaintext.
    if secret && !opts.reveal && ins.envelope.header_bytes == 0 {
        return hidden(out, "stored plaintext", &kv.value);
    }
    out.write_all(hexdump(&kv.value, &value_regions(&kv.value, ins)).as_bytes())
}
