//! Runs the real `atrest` binary and captures what a user would see.

use std::process::{Command, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}); exit {}; stderr:\n{}\nstdout:\n{}",
                self.code, self.stderr, self.stdout
            )
        })
    }
}

/// Runs the real binary with `args` (within the harness's deadline: a hang fails the test).
pub fn atrest<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = super::process::output(
        Command::new(env!("CARGO_BIN_EXE_atrest"))
            .args(args)
            .env_remove("ETCDCTL_ENDPOINTS")
            .env_remove("ETCDCTL_USER")
            .env_remove("ETCDCTL_PASSWORD")
            .stdin(Stdio::null()),
    )
    .expect("run atrest");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The record of `key` in a JSON scan report.
pub fn record<'a>(doc: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    doc["objects"]
        .as_array()
        .and_then(|objects| objects.iter().find(|o| o["key"] == key))
        .unwrap_or_else(|| panic!("no {key} in {doc}"))
}
