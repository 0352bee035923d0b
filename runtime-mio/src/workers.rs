//! The file-system worker pool: a few std threads that execute the NFSv3 requests the
//! server state machine emits ([`FsRequest`]) so the event loop never blocks on the disk.
//!
//! Jobs go in through a bounded queue (a mutex-protected `VecDeque` and a condition
//! variable): [`WorkerPool::try_submit`] never blocks and hands a job back when the queue is
//! full (the event loop keeps it and retries when a result frees a slot), and wakes exactly
//! one idle worker. (A shared `mpsc::Receiver` behind a mutex, the obvious alternative, wakes
//! a second worker for every job — the one queued on the mutex — which costs a context
//! switch per request on a busy machine.) Results come back through an unbounded channel —
//! bounded in practice by the jobs submitted — and each one wakes the event loop through a
//! [`mio::Waker`]. A job may leave work to run after its reply has been handed back
//! ([`Executed::after_reply`], write-behind): the worker runs it before taking its next
//! job, so each worker holds at most one such piece of work.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use proto_nfs::nfs3::{Nfs3Reply, Nfs3Status};
use proto_nfs::server::{FsRequest, FsRequestId};

/// What the workers run: the NFSv3 executor over the share backends.
pub trait FsService: Send + Sync + 'static {
    /// Executes one request (on a worker thread).
    fn execute(&self, req: &FsRequest) -> Executed;
}

/// Work to run after a reply was handed back.
pub type AfterReply = Box<dyn FnOnce() + Send>;

/// What executing one request produced.
pub struct Executed {
    /// The reply.
    pub reply: Nfs3Reply,
    /// Work to run on the same worker once the reply is on its way.
    pub after_reply: Option<AfterReply>,
}

impl From<Nfs3Reply> for Executed {
    fn from(reply: Nfs3Reply) -> Self {
        Executed {
            reply,
            after_reply: None,
        }
    }
}

impl std::fmt::Debug for Executed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executed")
            .field("reply", &self.reply)
            .field("after_reply", &self.after_reply.is_some())
            .finish()
    }
}

/// A finished request.
#[derive(Debug)]
pub struct FsResult {
    /// The request's id.
    pub id: FsRequestId,
    /// Its reply.
    pub reply: Nfs3Reply,
}

/// The job queue shared by the pool and its workers.
#[derive(Debug)]
struct Queue {
    state: Mutex<QueueState>,
    /// Signalled when a job is queued or the queue is closed.
    ready: Condvar,
    capacity: usize,
}

#[derive(Debug, Default)]
struct QueueState {
    jobs: VecDeque<FsRequest>,
    /// No more jobs: workers finish what is queued and exit.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Only queue operations run under the lock (no user code): a poisoned lock still
        // holds a consistent queue.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next job; `None` once the queue is closed and empty.
    fn take(&self) -> Option<FsRequest> {
        let mut st = self.lock();
        loop {
            if let Some(job) = st.jobs.pop_front() {
                return Some(job);
            }
            if st.closed {
                return None;
            }
            st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The pool. Dropping it (or [`WorkerPool::shutdown`]) closes the job queue; workers
/// finish the jobs already queued and exit.
#[derive(Debug)]
pub struct WorkerPool {
    queue: Arc<Queue>,
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
        let queue = Arc::new(Queue {
            state: Mutex::default(),
            ready: Condvar::new(),
            capacity: queue.max(1),
        });
        let (res_tx, res_rx) = mpsc::channel::<FsResult>();
        let mut pool = WorkerPool {
            queue,
            results: res_rx,
            threads: Vec::with_capacity(workers.max(1)),
        };
        for i in 0..workers.max(1) {
            let queue = Arc::clone(&pool.queue);
            let res_tx: Sender<FsResult> = res_tx.clone();
            let service = Arc::clone(&service);
            let wake = Arc::clone(&wake);
            // On a spawn error `pool` is dropped: the threads already started exit.
            pool.threads.push(
                std::thread::Builder::new()
                    .name(format!("janus-fs-{i}"))
                    .spawn(move || worker(&queue, &res_tx, &*service, &*wake))?,
            );
        }
        Ok(pool)
    }

    /// Queues a job without blocking; gives it back if the queue is full.
    pub fn try_submit(&self, req: FsRequest) -> Result<(), Box<FsRequest>> {
        {
            let mut st = self.queue.lock();
            if st.closed || st.jobs.len() >= self.queue.capacity {
                return Err(Box::new(req));
            }
            st.jobs.push_back(req);
        }
        self.queue.ready.notify_one();
        Ok(())
    }

    /// A finished result, if any.
    pub fn try_recv(&self) -> Option<FsResult> {
        self.results.try_recv().ok()
    }

    /// Closes the job queue and waits for the workers to finish what is queued.
    pub fn shutdown(mut self) {
        self.queue.close();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.queue.close();
    }
}

fn worker(
    queue: &Queue,
    results: &Sender<FsResult>,
    service: &dyn FsService,
    wake: &(dyn Fn() + Send + Sync),
) {
    while let Some(req) = queue.take() {
        let Executed { reply, after_reply } = match std::panic::catch_unwind(
            std::panic::AssertUnwindSafe(|| service.execute(&req)),
        ) {
            Ok(r) => r,
            Err(_) => {
                tracing::error!(
                    id = req.id.0,
                    share = req.share_id,
                    "file-system request panicked"
                );
                // The client still gets an answer and the connection's in-flight count is
                // released: NFS3ERR_SERVERFAULT (RFC 1813 §2.6).
                Nfs3Reply::error_for(&req.call, Nfs3Status::ServerFault).into()
            }
        };
        let gone = results.send(FsResult { id: req.id, reply }).is_err();
        if !gone {
            wake();
        }
        // Even with the event loop gone the deferred work runs: it is data a client was
        // told is written.
        if let Some(work) = after_reply {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).is_err() {
                tracing::error!(id = req.id.0, "work after a reply panicked");
            }
        }
        if gone {
            return;
        }
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
        fn execute(&self, req: &FsRequest) -> Executed {
            if req.share_id == 666 {
                panic!("boom (expected by the test)");
            }
            let _g = self.gate.lock().unwrap();
            Nfs3Reply::Null.into()
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
