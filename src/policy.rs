//! CI policies beyond `--fail-on`: resources that must be encrypted, and keys that must no
//! longer be in use. A violation makes the scan exit 1 whatever `--fail-on` says.

use std::io;

use crate::envelope::ProviderKind;
use crate::report::{Header, ReportSink, Summary};
use crate::verdict::{Record, Status};

/// Violations listed by key before the rest are only counted.
const EXAMPLES: usize = 20;

/// `--require-encrypted` and `--forbid-key`.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// `resource` or `resource.group`: no object of these may be stored in plaintext.
    pub require_encrypted: Vec<String>,
    /// `provider:keyName` (`kms:<provider name>` for KMS): no object may use these.
    pub forbid_keys: Vec<(String, String)>,
}

impl Policy {
    /// No policy given.
    pub fn is_empty(&self) -> bool {
        self.require_encrypted.is_empty() && self.forbid_keys.is_empty()
    }

    /// Parses `PROVIDER:KEYNAME` (key names may contain ':', so split at the first one).
    pub fn parse_key(s: &str) -> Option<(String, String)> {
        let (p, k) = s.split_once(':')?;
        (!p.is_empty() && !k.is_empty()).then(|| (p.to_owned(), k.to_owned()))
    }

    /// Why `rec` violates the policy, if it does.
    pub fn check(&self, rec: &Record) -> Option<String> {
        if rec.status == Status::Skipped {
            return None;
        }
        let enc = rec.encryption.as_ref()?;
        let info = &rec.info;
        let named = |r: &String| match r.split_once('.') {
            Some((res, group)) => res == info.resource && group == info.group,
            None => r == &info.resource,
        };
        if enc.provider == ProviderKind::Identity && self.require_encrypted.iter().any(named) {
            return Some(format!("{} stored in plaintext (--require-encrypted)", info.resource));
        }
        let key = enc.key_name.as_deref()?;
        self.forbid_keys
            .iter()
            .find(|(p, k)| p == enc.provider.as_str() && k == key)
            .map(|(p, k)| format!("encrypted with {p}:{k} (--forbid-key)"))
    }
}

/// Checks every record against a [`Policy`] on its way to the real sink.
pub struct PolicySink<'a> {
    policy: &'a Policy,
    inner: &'a mut dyn ReportSink,
    /// Violations seen.
    pub violations: u64,
    /// The first violations: (key, why).
    pub examples: Vec<(String, String)>,
}

impl<'a> PolicySink<'a> {
    /// Wraps `inner`.
    pub fn new(policy: &'a Policy, inner: &'a mut dyn ReportSink) -> Self {
        Self { policy, inner, violations: 0, examples: Vec::new() }
    }
}

impl ReportSink for PolicySink<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.inner.begin(header)
    }

    fn record(&mut self, rec: &Record) -> io::Result<()> {
        if let Some(why) = self.policy.check(rec) {
            self.violations += 1;
            if self.examples.len() < EXAMPLES {
                self.examples.push((String::from_utf8_lossy(&rec.key).into_owned(), why));
            }
        }
        self.inner.record(rec)
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.inner.finish(summary)
    }
}
