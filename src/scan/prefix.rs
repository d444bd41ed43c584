//! kube-apiserver's `--etcd-prefix`: given, detected from where the keys are, or read off a key.

use crate::source::{Source, SourceError};

/// Prefixes kube-apiserver deployments use: the default, and the one some distributions set.
pub const KNOWN_PREFIXES: [&str; 2] = ["/registry/", "/kubernetes.io/"];

/// No single known prefix holds the keys: the user must pass `--prefix`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// Nothing under any known prefix.
    #[error("no keys under {}; pass --prefix (kube-apiserver's --etcd-prefix)", KNOWN_PREFIXES.join(" or "))]
    NoKeys,
    /// Keys under more than one.
    #[error(
        "keys under several prefixes ({}); pass --prefix (kube-apiserver's --etcd-prefix)",
        .0.iter().map(|(p, n)| format!("{p}: {n} keys")).collect::<Vec<_>>().join(", ")
    )]
    Several(Vec<(&'static str, u64)>),
    /// A key (inspect) under neither.
    #[error("{key} is not under {known}: pass --prefix (kube-apiserver's --etcd-prefix)", known = KNOWN_PREFIXES.join(" or "))]
    KeyOutside {
        /// The key.
        key: String,
    },
}

/// The one known prefix that holds keys in `source`.
pub fn detect(source: &mut Source) -> Result<Result<String, PrefixError>, SourceError> {
    let mut found = Vec::new();
    for p in KNOWN_PREFIXES {
        let n = source.count(p.as_bytes())?;
        if n > 0 {
            found.push((p, n));
        }
    }
    Ok(choose(found))
}

/// The one known prefix among those that hold keys (`(prefix, keys)`).
pub fn choose(found: Vec<(&'static str, u64)>) -> Result<String, PrefixError> {
    match found.as_slice() {
        [(p, _)] => Ok((*p).to_owned()),
        [] => Err(PrefixError::NoKeys),
        _ => Err(PrefixError::Several(found)),
    }
}

/// The known prefix `key` is under (a key, or the prefix itself without its final `/`).
pub fn of_key(key: &str) -> Result<String, PrefixError> {
    KNOWN_PREFIXES
        .iter()
        .find(|p| key.starts_with(*p) || format!("{key}/") == **p)
        .map(|p| (*p).to_owned())
        .ok_or_else(|| PrefixError::KeyOutside { key: key.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_prefix_or_ask() {
        assert_eq!(choose(vec![("/registry/", 3)]), Ok("/registry/".to_owned()));
        assert_eq!(choose(vec![]), Err(PrefixError::NoKeys));
        let e = choose(vec![("/registry/", 3), ("/kubernetes.io/", 1)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "keys under several prefixes (/registry/: 3 keys, /kubernetes.io/: 1 keys); pass --prefix (kube-apiserver's --etcd-prefix)"
        );
        assert_eq!(of_key("/registry/secrets/a/b"), Ok("/registry/".to_owned()));
        assert_eq!(of_key("/kubernetes.io"), Ok("/kubernetes.io/".to_owned()));
        assert!(of_key("/other/x").is_err());
    }
}
