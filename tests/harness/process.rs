//! Every child process a test starts has a deadline: [`output`] is `Command::output` that kills
//! the child (and fails the test with what it printed) when it overruns, so one hang cannot eat
//! CI's 90 minutes.

use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt as _;

/// The default deadline of one child; `ATREST_TEST_RUN_TIMEOUT` (seconds) overrides it.
pub fn default_timeout() -> Duration {
    let secs = std::env::var("ATREST_TEST_RUN_TIMEOUT").ok().and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(180))
}

/// Runs `cmd` to the end within [`default_timeout`], capturing stdout and stderr.
pub fn output(cmd: &mut Command) -> std::io::Result<Output> {
    output_within(cmd, default_timeout())
}

/// Runs `cmd` to the end within `timeout`, capturing stdout and stderr; past it the child is
/// killed and the test fails.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> std::io::Result<Output> {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    finish_within(child, &format!("{cmd:?}"), timeout)
}

/// Runs `cmd` with `input` on its stdin, to the end within [`default_timeout`].
pub fn output_with_input(cmd: &mut Command, input: &[u8]) -> std::io::Result<Output> {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut stdin = child.stdin.take();
    let input = input.to_vec();
    // Fed from a thread: a child that stops reading must not block the test forever.
    let feeder = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(&input);
        }
    });
    let out = finish_within(child, &format!("{cmd:?}"), default_timeout());
    let _ = feeder.join();
    out
}

/// Waits for a running `child` (its piped stdout/stderr captured) within [`default_timeout`];
/// past it the child is killed and the test fails.
pub fn wait_with_output(child: Child) -> std::io::Result<Output> {
    finish_within(child, "child process", default_timeout())
}

fn finish_within(mut child: Child, what: &str, timeout: Duration) -> std::io::Result<Output> {
    // Drain both pipes on their own threads so a chatty child never blocks on a full pipe.
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let Some(status) = child.wait_timeout(timeout)? else {
        let _ = child.kill();
        let _ = child.wait();
        let stderr = stderr.join().unwrap_or_default();
        panic!(
            "{what} did not finish within {timeout:?}: killed\nstderr:\n{}",
            String::from_utf8_lossy(&stderr)
        );
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}
