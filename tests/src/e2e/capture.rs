//! tshark capture on the loopback interface around part of a test, and analysis of the pcap
//! with "decode as ONC RPC" for the server's non-standard ports.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::run;

/// A running tshark; stopped with SIGINT by [`Capture::stop`] or on drop.
#[derive(Debug)]
pub struct Capture {
    child: Option<Child>,
    pcap: PathBuf,
    log: PathBuf,
    ports: Vec<u16>,
}

impl Capture {
    /// Capture TCP traffic of `ports` on `lo` into `pcap`; returns once tshark says it is
    /// capturing.
    pub fn start(pcap: &Path, ports: &[u16]) -> Capture {
        let filter = ports
            .iter()
            .map(|p| format!("tcp port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let log = pcap.with_extension("tshark.log");
        let logf = std::fs::File::create(&log).expect("create tshark log");
        let child = Command::new("tshark")
            // -B 64: a 64 MiB kernel buffer, so bursts of 64 KiB loopback segments are not
            // dropped (a dropped segment inside an RPC record looks malformed).
            .args([
                "-q",
                "-i",
                "lo",
                "-B",
                "64",
                "-f",
                &filter,
                "-a",
                "duration:900",
                "-w",
            ])
            .arg(pcap)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("dup"))
            .stderr(logf)
            .spawn()
            .expect("start tshark (apt-get install tshark; capturing on lo needs root)");
        let mut cap = Capture {
            child: Some(child),
            pcap: pcap.to_path_buf(),
            log,
            ports: ports.to_vec(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&cap.log).unwrap_or_default();
            if text.contains("Capturing on") {
                // tshark prints this when dumpcap has opened the interface, a moment before
                // the capture filter is applied and packets flow; traffic sent in that window
                // is lost (seen on a loaded 2-core machine: an empty pcap).
                std::thread::sleep(Duration::from_millis(1000));
                return cap;
            }
            let exited = cap
                .child
                .as_mut()
                .is_some_and(|c| !matches!(c.try_wait(), Ok(None)));
            assert!(
                !exited && Instant::now() < deadline,
                "tshark did not start capturing:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop capturing (SIGINT lets tshark flush the file) and wait for it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Give the last packets a moment to reach the capture buffer.
        std::thread::sleep(Duration::from_millis(500));
        if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
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

    /// The pcap file.
    pub fn pcap(&self) -> &Path {
        &self.pcap
    }

    fn decode_as(&self) -> Vec<String> {
        self.ports
            .iter()
            .flat_map(|p| ["-d".to_string(), format!("tcp.port=={p},rpc")])
            .collect()
    }

    /// `tshark -r PCAP -d tcp.port==P,rpc... -Y FILTER -T fields -e FIELD`: every value of the
    /// field (a frame carrying several RPC messages contributes several values).
    pub fn fields(&self, filter: &str, field: &str) -> Vec<String> {
        let out = run(
            Command::new("tshark")
                .arg("-r")
                .arg(&self.pcap)
                .args(self.decode_as())
                .args(["-Y", filter, "-T", "fields", "-e", field]),
            Duration::from_secs(300),
        )
        .ok();
        out.stdout_str()
            .lines()
            .flat_map(|l| l.split(','))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The frames matching a display filter, in tshark's one-line summary format.
    pub fn frames(&self, filter: &str) -> Vec<String> {
        let out = run(
            Command::new("tshark")
                .arg("-r")
                .arg(&self.pcap)
                .args(self.decode_as())
                .args(["-Y", filter]),
            Duration::from_secs(300),
        )
        .ok();
        out.stdout_str().lines().map(str::to_string).collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}
