//! Running client commands with a hard timeout and collected output.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a finished (or timed-out) command produced.
#[derive(Debug)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit status; `None` if it was killed after the timeout.
    pub status: Option<ExitStatus>,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// How long it ran.
    pub elapsed: Duration,
}

impl CmdOutput {
    /// True if the command exited with status 0 before the timeout.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// stdout as (lossy) UTF-8.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as (lossy) UTF-8.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// A readable summary: command, status, and the tails of stdout/stderr.
    pub fn describe(&self) -> String {
        let tail = |s: String| -> String {
            let lines: Vec<&str> = s.lines().collect();
            let start = lines.len().saturating_sub(40);
            lines[start..].join("\n")
        };
        format!(
            "`{}` -> {} after {:.2?}\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
            self.cmdline,
            match self.status {
                Some(s) => s.to_string(),
                None => "TIMEOUT (killed)".to_string(),
            },
            self.elapsed,
            tail(self.stdout_str()),
            tail(self.stderr_str())
        )
    }

    /// Panic with [`CmdOutput::describe`] unless the command succeeded; returns `self`.
    #[track_caller]
    pub fn ok(self) -> CmdOutput {
        assert!(self.success(), "command failed: {}", self.describe());
        self
    }
}

/// Run `cmd` with stdin closed, collecting stdout and stderr; kill it (by its PID, it is our
/// child) if it is still running after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    let cmdline = format!("{cmd:?}");
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmdline}: {e}"));
    let mut out = child.stdout.take().map(drain);
    let mut err = child.stderr.take().map(drain);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("wait for {cmdline}: {e}"),
        }
    };
    let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    CmdOutput {
        cmdline,
        status,
        stdout: join(out.take()),
        stderr: join(err.take()),
        elapsed: start.elapsed(),
    }
}

fn drain<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}
