//! Running client commands with a hard timeout and collected output.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
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

/// Stops a child the harness started: SIGTERM to its PID, then SIGKILL if it has not exited
/// within 10 s; reaps it either way.
pub fn terminate(mut child: Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Raises this process's open-file limit to `need` (or its hard limit, if lower); the
/// servers and clients it starts inherit it.
pub fn raise_nofile(need: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let cur = getrlimit(Resource::Nofile);
    if cur.current.is_some_and(|c| c < need) {
        let want = cur.maximum.map_or(need, |m| m.min(need));
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(want),
                maximum: cur.maximum,
            },
        )
        .expect("raise RLIMIT_NOFILE");
    }
}
