//! Which Kubernetes release's storage versions to expect: the one the user names, else the
//! newest kubelet in the Node objects (a control plane is upgraded before its kubelets, so it
//! is at least that new), else the newest release atrest knows.

use super::{NEWEST_MINOR, OLDEST_MINOR, parse_kube_version};

/// The release chosen, and why (for the report header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// The minor version, e.g. 31 for 1.31.
    pub minor: u32,
    /// e.g. "--kube-version", "newest kubelet in Node objects (v1.31.4)".
    pub basis: String,
}

/// `--kube-version` names no release atrest knows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--kube-version {given}: expected 1.{OLDEST_MINOR}–1.{NEWEST_MINOR}")]
pub struct UnknownRelease {
    /// What was given.
    pub given: String,
}

/// Chooses the release from `--kube-version` or, without it, the kubelet versions found.
pub fn choose(
    kube_version: Option<&str>,
    kubelets: impl IntoIterator<Item = String>,
) -> Result<Release, UnknownRelease> {
    if let Some(v) = kube_version {
        let minor = parse_kube_version(v).ok_or_else(|| UnknownRelease { given: v.to_owned() })?;
        return Ok(Release { minor, basis: "--kube-version".to_owned() });
    }
    let newest = kubelets.into_iter().filter_map(|v| parse_kube_version(&v).map(|m| (m, v))).max();
    Ok(match newest {
        Some((minor, v)) => {
            Release { minor, basis: format!("newest kubelet in Node objects ({v})") }
        }
        None => Release {
            minor: NEWEST_MINOR,
            basis: format!(
                "no Node objects with a known kubelet version: assuming the newest release atrest knows, 1.{NEWEST_MINOR}"
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_the_newest_kubelet_then_the_newest_release() {
        let kubelets = || ["v1.29.3".to_owned(), "v1.31.4".to_owned(), "garbage".to_owned()];
        assert_eq!(choose(Some("1.30"), kubelets()).map(|r| r.minor), Ok(30));
        let r = choose(None, kubelets()).unwrap();
        assert_eq!((r.minor, r.basis.as_str()), (31, "newest kubelet in Node objects (v1.31.4)"));
        assert_eq!(choose(None, Vec::new()).map(|r| r.minor), Ok(NEWEST_MINOR));
        let e = choose(Some("2.0"), kubelets()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("--kube-version 2.0: expected 1.{OLDEST_MINOR}–1.{NEWEST_MINOR}")
        );
    }
}
