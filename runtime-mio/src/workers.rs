//! The file-system worker pool: a few std threads that run the jobs the server core emits
//! ([`server::Job`]) so the event loop never blocks on the disk.
//!
//! Jobs go in through a bounded queue (a mutex-protected `VecDeque` and a condition
//! variable): [`WorkerPool::try_submit`] never blocks and hands a job back when the queue is
//! full (the event loop keeps it and retries when a result frees a slot), and wakes exactly
//! one idle worker. (A shared `mpsc::Receiver` behind a mutex, the obvious alternative, wakes
//! a second worker for every job — the one queued on the mutex — which costs a context
//! switch per request on a busy machine.) Results come back through an unbounded channel —
//! bounded in practice by the jobs submitted — and each one wakes the event loop through a
//! [`mio::Waker`]. A result may carry a follow-up job (write-behind: the data write after the
//! reply, [`JobDone::take_follow_up`]): the worker hands the result back first and runs the
//! follow-up before it takes its next job, so each worker holds at most one such piece of
//! work. No ordering between jobs is decided here: the core emits a job only once it may run.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use server::{Job, JobDone};

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
    jobs: VecDeque<Job>,
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
    fn take(&self) -> Option<Job> {
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
    results: Receiver<JobDone>,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `workers` threads with a job queue of `queue` entries; `wake` is called after
    /// every result is sent.
    pub fn new(
        workers: usize,
        queue: usize,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<WorkerPool> {
        let queue = Arc::new(Queue {
            state: Mutex::default(),
            ready: Condvar::new(),
            capacity: queue.max(1),
        });
        let (res_tx, res_rx) = mpsc::channel::<JobDone>();
        let mut pool = WorkerPool {
            queue,
            results: res_rx,
            threads: Vec::with_capacity(workers.max(1)),
        };
        for i in 0..workers.max(1) {
            let queue = Arc::clone(&pool.queue);
            let res_tx: Sender<JobDone> = res_tx.clone();
            let wake = Arc::clone(&wake);
            // On a spawn error `pool` is dropped: the threads already started exit.
            pool.threads.push(
                std::thread::Builder::new()
                    .name(format!("janus-fs-{i}"))
                    .spawn(move || worker(&queue, &res_tx, &*wake))?,
            );
        }
        Ok(pool)
    }

    /// Queues a job without blocking; gives it back if the queue is full.
    pub fn try_submit(&self, job: Job) -> Result<(), Box<Job>> {
        {
            let mut st = self.queue.lock();
            if st.closed || st.jobs.len() >= self.queue.capacity {
                return Err(Box::new(job));
            }
            st.jobs.push_back(job);
        }
        self.queue.ready.notify_one();
        Ok(())
    }

    /// A finished result, if any.
    pub fn try_recv(&self) -> Option<JobDone> {
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

fn worker(queue: &Queue, results: &Sender<JobDone>, wake: &(dyn Fn() + Send + Sync)) {
    while let Some(job) = queue.take() {
        // `Job::run` turns a panic of the backend into a result itself.
        let mut next = Some(job);
        while let Some(job) = next.take() {
            let mut done = job.run();
            next = done.take_follow_up();
            // Even with the event loop gone a follow-up runs: it is data a client was told
            // is written.
            if results.send(done).is_ok() {
                wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto_nfs::xdr::XdrEncode as _;
    use server::{Core, CoreConfig, ShareBackend, ShareConfig};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn runs_jobs_wakes_and_refuses_when_full() {
        // Jobs come from a core: GETATTRs of a memory share's root over UDP.
        let fs: Arc<dyn vfs::Vfs> = Arc::new(vfs::memory::MemoryFs::new(
            vfs::memory::MemoryFsConfig::default(),
            vfs::memory::system_clock(),
        ));
        let config = CoreConfig {
            shares: vec![ShareConfig {
                share_id: 1,
                name: "x".into(),
                read_only: false,
                clients: vec![],
                root_squash: false,
                all_squash: false,
                anon_uid: 65534,
                anon_gid: 65534,
                smb: Default::default(),
            }],
            ..CoreConfig::default()
        };
        let now = Instant::now();
        let mut core = Core::new(
            config,
            vec![ShareBackend {
                share_id: 1,
                vfs: Arc::clone(&fs),
            }],
            vec![],
            true,
            now,
        )
        .unwrap();
        let root = proto_nfs::nfs3::FileHandle::new(1, &fs.root().0).unwrap();
        let mut jobs = Vec::new();
        for xid in 0..10u32 {
            let call = proto_nfs::nfs3::Nfs3Call::Getattr(proto_nfs::nfs3::GetattrArgs {
                object: root.clone(),
            });
            let mut args = bytes::BytesMut::new();
            call.encode(&mut args);
            let msg = proto_nfs::rpc::RpcMessage {
                xid,
                body: proto_nfs::rpc::MessageBody::Call(proto_nfs::rpc::CallBody {
                    rpcvers: 2,
                    prog: 100_003,
                    vers: 3,
                    proc_: 1,
                    cred: proto_nfs::rpc::OpaqueAuth::none(),
                    verf: proto_nfs::rpc::OpaqueAuth::none(),
                    args: args.freeze(),
                }),
            };
            let peer = "127.0.0.1:900".parse().unwrap();
            core.handle_datagram(server::Listener::Nfs, peer, &msg.to_bytes(), now);
            while let Some(j) = core.poll_job() {
                jobs.push(j);
            }
        }
        assert_eq!(jobs.len(), 10);
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&wakes);
        let pool = WorkerPool::new(
            1,
            2,
            Arc::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
        let mut accepted = 0;
        for j in jobs {
            if pool.try_submit(j).is_ok() {
                accepted += 1;
            }
        }
        assert!((2..=10).contains(&accepted), "{accepted}");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = 0;
        while got < accepted && Instant::now() < deadline {
            if let Some(mut d) = pool.try_recv() {
                assert!(d.take_follow_up().is_none());
                assert!(d.is_reply());
                core.handle_job_done(d, now);
                got += 1;
            } else {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        assert_eq!(got, accepted);
        let mut replies = 0;
        while core.poll_transmit().is_some() {
            replies += 1;
        }
        assert_eq!(replies, accepted);
        assert_eq!(wakes.load(Ordering::SeqCst), accepted);
        pool.shutdown();
    }
}
