//! Answers read from the network are filed in batches, one flush per batch
//! (group commit with a queue in front of it).
//!
//! A trace's holders answer within milliseconds of each other. Filed one
//! blocking thread each, every answer paid a hand-off to a blocking thread
//! and most paid a flush of their own (sled writes its log from an I/O pool
//! that wakes all its waiting threads for each write). Here the answers that
//! arrive while a batch is being filed wait in a queue, and the next batch
//! takes all of them: one hand-off and one flush for the lot.
//!
//! What does not change: every sender hears its reply only once its answer
//! (and every answer filed before it) is on disk; answers are never refused
//! for load (at most `FILING_AT_ONCE` wait, the rest wait for a place); a
//! failed flush refuses every answer of its batch and stops the node.

use std::sync::Mutex;

use libp2p::PeerId;
use tokio::sync::oneshot;

use super::{Node, bump};
use crate::model::CountryCode;
use crate::protocol::Refusal;

/// What filing one answer gives its sender: the follow-ups its chain of
/// custody calls for (State, trace id), or the refusal.
pub(super) type Filed = Result<Vec<(CountryCode, String)>, Refusal>;

/// One answer waiting to be filed.
pub(super) struct Job {
    peer: PeerId,
    data: Vec<u8>,
}

/// The answers waiting to be filed.
pub(super) type AnswerQueue = Batches<Job, Filed>;

/// Jobs of type `J` waiting to be done in batches, each to be told its
/// result `R`; and whether a batch is running (then it takes them when it is
/// done; otherwise the next job to come starts one).
pub(super) struct Batches<J, R> {
    state: Mutex<Waiting<J, R>>,
}

struct Waiting<J, R> {
    jobs: Vec<(J, oneshot::Sender<R>)>,
    running: bool,
}

impl<J, R> Default for Batches<J, R> {
    fn default() -> Self {
        Batches {
            state: Mutex::new(Waiting {
                jobs: Vec::new(),
                running: false,
            }),
        }
    }
}

impl<J, R> Batches<J, R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting<J, R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job`. Returns where its result will come, and whether the
    /// caller must run [`Batches::drain`] (no batch was running).
    fn enqueue(&self, job: J) -> (oneshot::Receiver<R>, bool) {
        let (done, result) = oneshot::channel();
        let mut w = self.lock();
        w.jobs.push((job, done));
        (result, !std::mem::replace(&mut w.running, true))
    }

    /// Hands `batch` every job waiting, again and again until none waits.
    /// Blocking. `batch` tells each job its result through its sender; a job
    /// whose sender is dropped is told nothing (its receiver errs). If
    /// `batch` panics, the jobs still waiting are dropped the same way, and
    /// the next job to come starts batches again.
    fn drain(&self, mut batch: impl FnMut(Vec<(J, oneshot::Sender<R>)>)) {
        let _guard = PanicGuard(self);
        loop {
            let jobs = {
                let mut w = self.lock();
                if w.jobs.is_empty() {
                    w.running = false;
                    return;
                }
                std::mem::take(&mut w.jobs)
            };
            batch(jobs);
        }
    }
}

/// Clears the queue if a batch panics.
struct PanicGuard<'a, J, R>(&'a Batches<J, R>);

impl<J, R> Drop for PanicGuard<'_, J, R> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut w = self.0.lock();
            w.jobs.clear();
            w.running = false;
        }
    }
}

impl Node {
    /// Files an answer read from the network, in the next batch; returns
    /// once it is on disk (or refused).
    pub(super) async fn file_answer(&self, peer: PeerId, data: Vec<u8>) -> Filed {
        let (filed, start) = self.inner.answers.enqueue(Job { peer, data });
        if start {
            // Not awaited: the batches run until the queue is empty, which
            // may be long after this answer's own reply.
            let node = self.clone();
            drop(tokio::task::spawn_blocking(move || {
                node.inner.answers.drain(|batch| node.file_batch(batch))
            }));
        }
        // A sender dropped unfilled: filing panicked.
        filed.await.unwrap_or(Err(Refusal::Internal))
    }

    /// Checks and writes each answer of `batch`, flushes once, then replies
    /// to each: every reply, `ok` or refusal, after the flush, so that an
    /// `ok` for the same frame again never precedes the first copy's write
    /// reaching the disk.
    fn file_batch(&self, batch: Vec<(Job, oneshot::Sender<Filed>)>) {
        bump(&self.inner.counters.answer_batches);
        let mut replies = Vec::with_capacity(batch.len());
        let mut wrote = false;
        for (job, done) in batch {
            let r = self.file_answer_unflushed(job.peer, &job.data);
            wrote |= matches!(r, Ok(Some(_)));
            replies.push((r, done));
        }
        let flushed = if wrote { self.flush_filed() } else { Ok(()) };
        for (r, done) in replies {
            let reply = match (r, flushed) {
                (Err(r), _) => Err(r),
                (Ok(_), Err(r)) => Err(r),
                (Ok(None), Ok(())) => Ok(Vec::new()),
                (Ok(Some(w)), Ok(())) => self.after_filed(w),
            };
            // The sender may have gone (its request timed out): filed anyway.
            let _ = done.send(reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, mpsc};

    /// Runs `drain` as `file_answer` does, on a thread, with `batch` also
    /// recording each batch's size.
    fn start(
        b: &Arc<Batches<u32, u32>>,
        sizes: &Arc<Mutex<Vec<usize>>>,
        gate: Option<mpsc::Receiver<()>>,
    ) -> std::thread::JoinHandle<()> {
        let (b, sizes) = (b.clone(), sizes.clone());
        std::thread::spawn(move || {
            b.drain(|jobs| {
                if let Some(g) = &gate {
                    let _ = g.recv();
                }
                sizes.lock().unwrap().push(jobs.len());
                for (j, done) in jobs {
                    let _ = done.send(j * 10);
                }
            })
        })
    }

    #[test]
    fn jobs_that_come_while_a_batch_runs_are_done_together_next() {
        let b = Arc::new(Batches::<u32, u32>::default());
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let (first, must_start) = b.enqueue(0);
        assert!(must_start);
        let (open, gate) = mpsc::channel();
        let runner = start(&b, &sizes, Some(gate));
        // The first batch is held at its gate: these wait, and none of them
        // is told to start another runner.
        let rest: Vec<_> = (1..=5)
            .map(|i| {
                let (r, must_start) = b.enqueue(i);
                assert!(!must_start, "job {i} told to start a second runner");
                r
            })
            .collect();
        // The first batch took only the first job if it was already running;
        // either way every job is done, in at most two batches.
        // (A gate already dropped: one batch took them all.)
        let _ = open.send(());
        let _ = open.send(());
        runner.join().unwrap();
        assert_eq!(first.blocking_recv().unwrap(), 0);
        for (i, r) in rest.into_iter().enumerate() {
            assert_eq!(r.blocking_recv().unwrap(), (i as u32 + 1) * 10);
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 6);
        assert!(sizes.len() <= 2, "batches {sizes:?}");
        // Empty again: the next job starts a runner.
        assert!(b.enqueue(7).1);
    }

    #[test]
    fn no_job_is_lost_when_many_come_at_once() {
        let b = Arc::new(Batches::<u32, u32>::default());
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let senders: Vec<_> = (0..8u32)
            .map(|t| {
                let (b, sizes) = (b.clone(), sizes.clone());
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    for i in 0..200u32 {
                        let j = t * 1000 + i;
                        let (r, must_start) = b.enqueue(j);
                        if must_start {
                            start(&b, &sizes, None).join().unwrap();
                        }
                        got.push((j, r));
                    }
                    for (j, r) in got {
                        assert_eq!(r.blocking_recv().unwrap(), j * 10);
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 1600);
        assert!(!b.lock().running && b.lock().jobs.is_empty());
    }

    #[test]
    fn a_batch_that_panics_refuses_what_waits_and_the_next_job_starts_again() {
        let b = Arc::new(Batches::<u32, u32>::default());
        let (first, must_start) = b.enqueue(1);
        assert!(must_start);
        let (second, _) = b.enqueue(2);
        let b2 = b.clone();
        let panicked = std::thread::spawn(move || b2.drain(|_| panic!("filing failed")))
            .join()
            .is_err();
        assert!(panicked);
        assert!(first.blocking_recv().is_err());
        assert!(second.blocking_recv().is_err());
        let (third, must_start) = b.enqueue(3);
        assert!(must_start, "a panicked batch left the queue marked running");
        let sizes = Arc::new(Mutex::new(Vec::new()));
        start(&b, &sizes, None).join().unwrap();
        assert_eq!(third.blocking_recv().unwrap(), 30);
    }
}
