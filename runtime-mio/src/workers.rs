//! The file-system worker pool: a few std threads that execute the NFSv3 requests the
//! server state machine emits ([`FsRequest`]) so the event loop never blocks on the disk.
//!
//! Jobs go in through a bounded channel ([`std::sync::mpsc::sync_channel`]);
//! [`WorkerPool::try_submit`] never blocks and hands a job back when the channel is full
//! (the event loop keeps it and retries when a result frees a slot). Results come back
//! through an unbounded channel — bounded in practice by the jobs submitted — and each one
//! wakes the event loop through a [`mio::Waker`].

use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use proto_nfs::nfs3::{Nfs3Reply, Nfs3Status};
use proto_nfs::server::{FsRequest, FsRequestId};

/// What the workers run: the NFSv3 executor over the share backends.
pub trait FsService: Send + Sync + 'static {
    /// Executes one request (on a worker thread).
    fn execute(&self, req: &FsRequest) -> Nfs3Reply;
}

/// A finished request.
#[derive(Debug)]
pub struct FsResult {
    /// The request's id.
    pub id: FsRequestId,
    /// Its reply.
    pub reply: Nfs3Reply,
}

/// The pool. Dropping it (or [`WorkerPool::shutdown`]) closes the job channel; workers
/// finish the jobs already queued and exit.
#[derive(Debug)]
pub struct WorkerPool {
    jobs: Option<SyncSender<FsRequest>>,
    results: Receiver<FsResult>,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `workers` threads with a job queue of `queue` entries; `wake` is called after
    /// every result is sent.
    pub fn new(
        workers: usize,
        queue: usize,
        service: Arc<dyn FsService>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<WorkerPool> {
        let (job_tx, job_rx) = mpsc::sync_channel::<FsRequest>(queue.max(1));
        let (res_tx, res_rx) = mpsc::channel::<FsResult>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers.max(1) {
            let job_rx = Arc::clone(&job_rx);
            let res_tx: Sender<FsResult> = res_tx.clone();
            let service = Arc::clone(&service);
            let wake = Arc::clone(&wake);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("janus-fs-{i}"))
                    .spawn(move || worker(job_rx, res_tx, service, wake))?,
            );
        }
        Ok(WorkerPool {
            jobs: Some(job_tx),
            results: res_rx,
            threads,
        })
    }

    /// Queues a job without blocking; gives it back if the queue is full.
    pub fn try_submit(&self, req: FsRequest) -> Result<(), Box<FsRequest>> {
        let Some(jobs) = &self.jobs else {
            return Err(Box::new(req));
        };
        match jobs.try_send(req) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(r)) | Err(TrySendError::Disconnected(r)) => Err(Box::new(r)),
        }
    }

    /// A finished result, if any.
    pub fn try_recv(&self) -> Option<FsResult> {
        self.results.try_recv().ok()
    }

    /// Closes the job queue and waits for the workers to finish what is queued.
    pub fn shutdown(mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn worker(
    jobs: Arc<Mutex<Receiver<FsRequest>>>,
    results: Sender<FsResult>,
    service: Arc<dyn FsService>,
    wake: Arc<dyn Fn() + Send + Sync>,
) {
    loop {
        // Hold the lock only while taking one job. A poisoned lock means another worker
        // panicked while holding it, which `recv` cannot do; stop quietly.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(req) = job else {
            return; // queue closed: shutting down
        };
        let reply = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            service.execute(&req)
        })) {
            Ok(r) => r,
            Err(_) => {
                tracing::error!(
                    id = req.id.0,
                    share = req.share_id,
                    "file-system request panicked"
                );
                // The client still gets an answer and the connection's in-flight count is
                // released: NFS3ERR_SERVERFAULT (RFC 1813 §2.6).
                Nfs3Reply::error_for(&req.call, Nfs3Status::ServerFault)
            }
        };
        if results.send(FsResult { id: req.id, reply }).is_err() {
            return; // event loop gone
        }
        wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto_nfs::nfs3::Nfs3Call;
    use proto_nfs::server::Creds;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[derive(Debug)]
    struct Svc {
        gate: Mutex<()>,
    }
    impl FsService for Svc {
        fn execute(&self, req: &FsRequest) -> Nfs3Reply {
            if req.share_id == 666 {
                panic!("boom (expected by the test)");
            }
            let _g = self.gate.lock().unwrap();
            Nfs3Reply::Null
        }
    }

    fn req(id: u64, share_id: u32) -> FsRequest {
        FsRequest {
            id: FsRequestId(id),
            share_id,
            creds: Creds {
                uid: 0,
                gid: 0,
                gids: vec![],
            },
            call: Nfs3Call::Null,
        }
    }

    #[test]
    fn runs_jobs_wakes_and_refuses_when_full() {
        let svc = Arc::new(Svc {
            gate: Mutex::new(()),
        });
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&wakes);
        let gate = svc.gate.lock().unwrap();
        let pool = WorkerPool::new(
            1,
            2,
            svc.clone(),
            Arc::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
        // One job held by the blocked worker, two queued, the rest refused.
        let mut accepted = 0;
        let mut refused = 0;
        for i in 0..10 {
            match pool.try_submit(req(i, if i == 1 { 666 } else { 1 })) {
                Ok(()) => accepted += 1,
                Err(r) => {
                    assert_eq!(r.id, FsRequestId(i), "the job comes back");
                    refused += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!((2..=3).contains(&accepted), "{accepted}");
        assert_eq!(accepted + refused, 10);
        drop(gate);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while got.len() < accepted && Instant::now() < deadline {
            if let Some(r) = pool.try_recv() {
                got.push(r.id);
            } else {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        assert_eq!(got.len(), accepted, "the panicking job still gets a reply");
        assert!(got.contains(&FsRequestId(1)));
        assert_eq!(wakes.load(Ordering::SeqCst), accepted);
        pool.shutdown();
    }
}
