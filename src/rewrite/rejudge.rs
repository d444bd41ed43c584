//! After a 409, 404 or 422 the answer alone does not say what to do: the key is re-read from etcd
//! and re-judged, and what etcd holds now decides.

use super::api::Refusal;
use super::outcome::{Done, Outcome};
use crate::source::live::KeyReader;
use crate::verdict::{Judge, Status};

/// Applies allowed per object after conflicts (each one re-judged from etcd first).
pub const MAX_CONFLICTS: u32 = 5;

/// After 409/404/422: what etcd holds now decides. Some(outcome) when done; None to apply
/// again with the uid and resourceVersion now in etcd.
pub(super) async fn rejudge(
    reader: &KeyReader,
    judge: &Judge<'_>,
    d: &mut Done,
    refusal: &Refusal,
) -> Option<Outcome> {
    let kv = match reader.get(&d.target.key, 0).await {
        Ok((Some(kv), _)) => kv,
        Ok((None, _)) => return Some(Outcome::Gone),
        Err(e) => {
            return Some(Outcome::Failed(format!(
                "{} {}, and re-reading the key from etcd failed: {e}",
                refusal.code, refusal.message
            )));
        }
    };
    let mod_revision = kv.mod_revision;
    let rec = judge.judge(kv);
    let unmoved = mod_revision == d.target.resource_version
        && rec.facts.uid.as_deref() == Some(d.target.uid.as_str());
    match rec.status {
        Status::Current => Some(Outcome::AlreadyCurrent),
        Status::Skipped => Some(Outcome::Gone),
        Status::Unreadable => Some(Outcome::Failed(format!(
            "changed meanwhile and now unreadable: {}",
            rec.reasons.join("; ")
        ))),
        Status::Stale if unmoved && refusal.code != 409 => {
            // etcd still holds what we applied against: the refusal is not about a change.
            Some(Outcome::Failed(format!(
                "{} {}: {} (etcd still holds this object at revision {mod_revision}: does the \
                 kubeconfig point at the cluster of this etcd?)",
                refusal.code, refusal.reason, refusal.message
            )))
        }
        Status::Stale if d.conflicts >= MAX_CONFLICTS => Some(Outcome::Failed(format!(
            "still stale after {} conflicts; last: {}",
            d.conflicts, refusal.message
        ))),
        Status::Stale => match rec.facts.uid {
            Some(uid) => {
                // Changed (or recreated) and still stale: apply against what is there now.
                d.target.uid = uid;
                d.target.resource_version = mod_revision;
                None
            }
            None => Some(Outcome::Failed("recreated without a metadata.uid".into())),
        },
    }
}
