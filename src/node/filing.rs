//! Answers read from the network are filed in batches, one flush per batch
//! (group commit with a queue in front of it).
//!
//! A trace's holders answer within milliseconds of each other. Filed one
//! blocking thread each, every answer paid a hand-off to a blocking thread
//! and most paid a flush of their own (sled writes its log from an I/O pool
//! that wakes all its waiting threads for each write). Here the answers that
//! arrive while a batch is being filed wait in a queue, and the next batch
//! takes all of them: one hand-off and one flush for the lot. A batch also
//! waits a little for the answers still coming ([`LINGER`]): while answers
//! that change a trace come within 2 ms of each other (for at most 5 ms,
//! and not once one calls for follow-ups), they join it before its flush.
//!
//! A trace's watchers (a `GET /v1/traces/ID?wait_ms=`, the console) are
//! woken as each round of a batch is written, before its flush: a reader sees sled's
//! writes as soon as they are made (a polling client always did), so the
//! flush is not on the path from an answer to the officer. What waits for
//! the flush is each sender's `ok` and the follow-ups the answers call for
//! (planned and written with them, sent after). If the node stops before
//! the flush (a crash, or a failed flush, which stops it), the answers not
//! on disk are gone from the trace until their holders are asked again:
//! once it runs again, a pending trace's query goes straight to each of its
//! listed holders without a final answer on file, when that holder connects
//! and in the once-a-minute pass (`node::holders`), and the holder sends
//! the signed answer it kept. Not asked again: past the trace's deadline,
//! and a holder the trace listed only because the lost answer came from it
//! (it answered without being expected), unless it is expected again.
//!
//! What does not change: every sender hears `ok` only once its answer (and
//! every answer filed before it) is on disk, a copy of an answer already
//! filed included; answers are never refused for load (at most
//! `FILING_AT_ONCE` wait, the rest wait for a place); a failed flush refuses
//! every answer of its batch and stops the node; an answer whose filing
//! panics is refused alone (`Internal`), the rest of its batch filed.
//!
//! What does: the answers of one batch are checked one after another on one
//! thread, where they used to be checked side by side (about 0.1 ms each,
//! most of it the signature). A member that floods a requester with answers
//! takes up to the whole bound, as before, and now delays the honest answers
//! queued beside its own by the time they take to be refused; its refusals
//! count towards its cool-down once their batch is flushed. Its flood does
//! not keep a batch gathering: only answers that change a trace do, and a
//! member files at most a few per trace (one acknowledgement, one final
//! answer, a few refusals); copies of answers filed and refusals join the
//! batch without extending it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::oneshot;

use super::{Node, bump};
use crate::model::CountryCode;
use crate::protocol::Refusal;

/// What filing one answer gives its sender: the follow-ups its chain of
/// custody calls for (State, trace id), or the refusal.
pub(super) type FilingResult = Result<Vec<(CountryCode, String)>, Refusal>;

/// One answer waiting to be filed.
pub(super) struct Job {
    peer: PeerId,
    data: Vec<u8>,
}

/// How a batch of answers gathers before its one flush ([`gather`]).
///
/// A trace's holders answer within a millisecond or so of each other, and
/// each flush costs the requester about 0.15 ms of CPU (sled's log write
/// and its I/O pool's wake-ups). Flushed as soon as the queue was empty, a
/// trace's nine answers took three flushes; gathered while they come
/// within 2 ms of each other, about one (proto-docs/PERFORMANCE.md,
/// "Twenty-eighth session"). The trace's watchers are woken as each round
/// is written, and an answer that calls for follow-ups is flushed at once,
/// as they are sent only once it is on disk. What waits is each sender's
/// `ok`, up to 5 ms more (plus the writing of the last answers taken). A
/// holder keeps one of the requester's `DELIVERING_PER_REQUESTER` (16)
/// delivery places until that `ok` (`node::delivery`), so this also bounds
/// what the wait costs it: 16 places held about 6 ms each (the gathering,
/// the flush) still carry about 2,500 answers a second to one requester.
const LINGER: Gather = Gather {
    gap: Duration::from_millis(2),
    longest: Duration::from_millis(5),
    at_most: super::FILING_AT_ONCE,
};

/// When a batch stops gathering: its last round changed no trace, no job
/// came within `gap` of the last, it has gathered for `longest` (no job is
/// taken after that), or it holds `at_most` jobs (at most `FILING_AT_ONCE`
/// answers are being filed at once).
struct Gather {
    gap: Duration,
    longest: Duration,
    at_most: usize,
}

/// Writes each job of `first` (`write`), then of those that come while
/// `rules` let the batch gather (`more(wait)`: the jobs waiting, after up to
/// `wait` for one to come, never past `rules.longest`; empty if none did).
/// `written` sees each round's writes as they are made. Gathering goes on
/// only while each round has a write for which `worth_waiting` holds (an
/// answer that changed a trace), and a write for which `prompt` holds ends
/// it: its batch is flushed at once. Returns every write, in order.
fn gather<J, W>(
    first: Vec<J>,
    rules: &Gather,
    mut write: impl FnMut(J) -> W,
    mut written: impl FnMut(&[W]),
    worth_waiting: impl Fn(&W) -> bool,
    prompt: impl Fn(&W) -> bool,
    more: impl Fn(Duration) -> Vec<J>,
) -> Vec<W> {
    let began = Instant::now();
    let mut out: Vec<W> = Vec::new();
    let mut jobs = first;
    loop {
        let from = out.len();
        out.extend(jobs.into_iter().map(&mut write));
        let new = &out[from..];
        written(new);
        let left = rules.longest.saturating_sub(began.elapsed());
        if new.iter().any(&prompt)
            || !new.iter().any(&worth_waiting)
            || out.len() >= rules.at_most
            || left.is_zero()
        {
            return out;
        }
        jobs = more(rules.gap.min(left));
        if jobs.is_empty() {
            return out;
        }
    }
}

/// The answers waiting to be filed.
pub(super) type AnswerQueue = Batches<Job, FilingResult>;

/// Jobs of type `J` waiting to be done in batches, each to be told its
/// result `R`; and whether a batch is running (then it takes them when it is
/// done; otherwise the next job to come starts one).
pub(super) struct Batches<J, R> {
    state: Mutex<Waiting<J, R>>,
    /// Signalled when a job comes while the runner lingers for more.
    arrived: Condvar,
}

struct Waiting<J, R> {
    jobs: Vec<(J, oneshot::Sender<R>)>,
    running: bool,
    /// The runner waits on `arrived` for more jobs ([`Runner::more_within`]).
    lingering: bool,
}

impl<J, R> Default for Batches<J, R> {
    fn default() -> Self {
        Batches {
            state: Mutex::new(Waiting {
                jobs: Vec::new(),
                running: false,
                lingering: false,
            }),
            arrived: Condvar::new(),
        }
    }
}

impl<J, R> Batches<J, R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting<J, R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `job`. Returns where its result will come, and the runner the
    /// caller must start ([`Runner::drain`]) when no batch was running.
    fn enqueue(self: &Arc<Self>, job: J) -> (oneshot::Receiver<R>, Option<Runner<J, R>>) {
        let (done, result) = oneshot::channel();
        let mut w = self.lock();
        w.jobs.push((job, done));
        let start = !std::mem::replace(&mut w.running, true);
        let wake = w.lingering;
        drop(w);
        if wake {
            self.arrived.notify_one();
        }
        (
            result,
            start.then(|| Runner {
                batches: self.clone(),
                finished: false,
            }),
        )
    }
}

/// The one right to run batches. Dropped without having drained (its
/// thread never ran, or a batch panicked), it drops the jobs waiting (their
/// receivers err) and lets the next job start a runner again.
pub(super) struct Runner<J, R> {
    batches: Arc<Batches<J, R>>,
    finished: bool,
}

impl<J, R> Runner<J, R> {
    /// Hands `batch` every job waiting, again and again until none waits.
    /// Blocking. `batch` tells each job its result through its sender; a job
    /// whose sender is dropped is told nothing (its receiver errs).
    /// `batch` may take more jobs as they come ([`Runner::more_within`]).
    fn drain(mut self, mut batch: impl FnMut(Vec<(J, oneshot::Sender<R>)>, &Self)) {
        loop {
            let jobs = {
                let mut w = self.batches.lock();
                if w.jobs.is_empty() {
                    w.running = false;
                    self.finished = true;
                    return;
                }
                std::mem::take(&mut w.jobs)
            };
            batch(jobs, &self);
        }
    }

    /// Every job waiting, waiting up to `gap` for one to come if none
    /// does; empty if none came. Blocking.
    fn more_within(&self, gap: Duration) -> Vec<(J, oneshot::Sender<R>)> {
        let until = Instant::now() + gap;
        let mut w = self.batches.lock();
        while w.jobs.is_empty() {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                break;
            };
            if left.is_zero() {
                break;
            }
            w.lingering = true;
            w = match self.batches.arrived.wait_timeout(w, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        w.lingering = false;
        std::mem::take(&mut w.jobs)
    }
}

impl<J, R> Drop for Runner<J, R> {
    fn drop(&mut self) {
        if !self.finished {
            let mut w = self.batches.lock();
            w.jobs.clear();
            w.running = false;
            w.lingering = false;
        }
    }
}

/// One answer of a batch once checked and written, unflushed (`Ok(None)`:
/// nothing to write), and where its reply goes.
type Written<W, F> = (
    Result<Option<W>, Refusal>,
    oneshot::Sender<Result<F, Refusal>>,
);

/// Replies to a batch's answers, each checked and written, unflushed:
/// flushes once if any reply would be `ok` (a copy of an answer already
/// filed included: the first copy may not be on disk yet), then replies to
/// each, `ok` or refusal, all after the flush. A failed flush refuses all.
/// `after` finishes a written answer once it is on disk.
fn reply_after_flush<W, F>(
    written: Vec<Written<W, F>>,
    flush: impl FnOnce() -> Result<(), Refusal>,
    mut after: impl FnMut(W) -> Result<F, Refusal>,
) where
    F: Default,
{
    let flushed = if written.iter().any(|(r, _)| r.is_ok()) {
        flush()
    } else {
        Ok(())
    };
    for (r, done) in written {
        let reply = match (r, flushed) {
            (Err(r), _) => Err(r),
            (Ok(_), Err(r)) => Err(r),
            (Ok(None), Ok(())) => Ok(F::default()),
            (Ok(Some(w)), Ok(())) => after(w),
        };
        // The sender may have gone (the node is stopping): filed anyway.
        let _ = done.send(reply);
    }
}

/// `f`, with a panic taken as an internal refusal of the one answer it was
/// filing, so that the rest of its batch is filed.
fn refused_if_panics<T>(what: &str, f: impl FnOnce() -> Result<T, Refusal>) -> Result<T, Refusal> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!("filing an answer panicked ({what}); the answer is refused");
        Err(Refusal::Internal)
    })
}

impl Node {
    /// Files an answer read from the network, in the next batch; returns
    /// once it is on disk (or refused).
    pub(super) async fn file_network_answer(&self, peer: PeerId, data: Vec<u8>) -> FilingResult {
        let (filed, runner) = self.inner.answers.enqueue(Job { peer, data });
        if let Some(runner) = runner {
            // Not awaited: the batches run until the queue is empty, which
            // may be long after this answer's own reply. If the closure
            // never runs, the runner's drop frees the queue.
            let node = self.clone();
            drop(tokio::task::spawn_blocking(move || {
                runner.drain(|batch, runner| node.file_batch(batch, &|gap| runner.more_within(gap)))
            }));
        }
        // A sender dropped unfilled: the runner never ran or panicked.
        filed.await.unwrap_or(Err(Refusal::Internal))
    }

    /// Checks and writes each answer of `batch`, and of those that come
    /// while it gathers ([`LINGER`]; `more`), then [`reply_after_flush`].
    fn file_batch(
        &self,
        batch: Vec<(Job, oneshot::Sender<FilingResult>)>,
        more: &dyn Fn(Duration) -> Vec<(Job, oneshot::Sender<FilingResult>)>,
    ) {
        let written = gather(
            batch,
            &LINGER,
            |(job, done)| {
                let r = refused_if_panics("checking and writing", || {
                    self.file_answer_unflushed(job.peer, &job.data)
                });
                (r, done)
            },
            |new| {
                // Readers see the batch's writes before they are on disk
                // (sled's reads do, a polling client's included): its
                // watchers are woken now, not after the flush.
                if new
                    .iter()
                    .any(|(r, _)| matches!(r, Ok(Some(w)) if w.changed_trace()))
                {
                    self.notify();
                }
            },
            |(r, _)| matches!(r, Ok(Some(w)) if w.changed_trace()),
            |(r, _)| matches!(r, Ok(Some(w)) if w.calls_for_follow_ups()),
            more,
        );
        let n = written.len() as u64;
        reply_after_flush(
            written,
            || {
                bump(&self.inner.counters.answer_flushes);
                self.inner
                    .counters
                    .answers_flushed
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                self.flush_filed()
            },
            |w| refused_if_panics("after its flush", || self.after_filed(w)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    use tokio::sync::oneshot::error::TryRecvError;

    type Q = Arc<Batches<u32, u32>>;

    /// The result `rx` is given, waiting up to 10 s; `None` if its sender was
    /// dropped unanswered.
    fn wait(mut rx: oneshot::Receiver<u32>) -> Option<u32> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            match rx.try_recv() {
                Ok(v) => return Some(v),
                Err(TryRecvError::Closed) => return None,
                Err(TryRecvError::Empty) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(TryRecvError::Empty) => panic!("no result after 10 s"),
            }
        }
    }

    /// What the batches of one queue did: their sizes, and how many ran at
    /// once (at most one).
    #[derive(Default)]
    struct Seen {
        sizes: Mutex<Vec<usize>>,
        running: AtomicUsize,
    }

    /// Drains on a thread as `file_network_answer` does; each batch first
    /// says it has begun on `began` and waits on `gate` if given, checks that
    /// it is the only batch of its queue running, records its size, and
    /// answers j * 10.
    fn run(
        runner: Runner<u32, u32>,
        seen: &Arc<Seen>,
        began: Option<mpsc::Sender<()>>,
        gate: Option<mpsc::Receiver<()>>,
    ) -> std::thread::JoinHandle<()> {
        let seen = seen.clone();
        std::thread::spawn(move || {
            runner.drain(|jobs, _| {
                if let Some(b) = &began {
                    let _ = b.send(());
                }
                if let Some(g) = &gate {
                    let _ = g.recv_timeout(Duration::from_secs(10));
                }
                let before = seen.running.fetch_add(1, Ordering::SeqCst);
                assert_eq!(before, 0, "two batches of one queue at once");
                seen.sizes.lock().unwrap().push(jobs.len());
                for (j, done) in jobs {
                    let _ = done.send(j * 10);
                }
                seen.running.fetch_sub(1, Ordering::SeqCst);
            })
        })
    }

    #[test]
    fn jobs_that_come_while_a_batch_runs_are_done_together_next() {
        let q: Q = Arc::default();
        let seen = Arc::new(Seen::default());
        let (first, runner) = q.enqueue(0);
        let runner = runner.expect("an empty queue starts a runner");
        let ((began_tx, began), (open, gate)) = (mpsc::channel(), mpsc::channel());
        let t = run(runner, &seen, Some(began_tx), Some(gate));
        began.recv_timeout(Duration::from_secs(10)).unwrap();
        // The first batch has its one job and is held: these wait, and none
        // of them starts a second runner.
        let rest: Vec<_> = (1..=5)
            .map(|i| {
                let (r, runner) = q.enqueue(i);
                assert!(runner.is_none(), "job {i} started a second runner");
                r
            })
            .collect();
        open.send(()).unwrap();
        open.send(()).unwrap();
        t.join().unwrap();
        assert_eq!(*seen.sizes.lock().unwrap(), vec![1, 5]);
        assert_eq!(wait(first), Some(0));
        for (i, r) in rest.into_iter().enumerate() {
            assert_eq!(wait(r), Some((i as u32 + 1) * 10));
        }
        // Empty again: the next job starts a runner.
        assert!(q.enqueue(7).1.is_some());
    }

    #[test]
    fn no_job_is_lost_when_many_come_at_once() {
        let q: Q = Arc::default();
        let seen = Arc::new(Seen::default());
        let senders: Vec<_> = (0..8u32)
            .map(|t| {
                let (q, seen) = (q.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    for i in 0..200u32 {
                        let j = t * 1000 + i;
                        let (r, runner) = q.enqueue(j);
                        if let Some(runner) = runner {
                            run(runner, &seen, None, None);
                        }
                        got.push((j, r));
                    }
                    for (j, r) in got {
                        assert_eq!(wait(r), Some(j * 10), "job {j}");
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        let until = Instant::now() + Duration::from_secs(10);
        while q.lock().running && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!q.lock().running && q.lock().jobs.is_empty());
        assert_eq!(seen.sizes.lock().unwrap().iter().sum::<usize>(), 1600);
    }

    #[test]
    fn a_batch_that_panics_drops_what_waits_and_the_next_job_starts_again() {
        let q: Q = Arc::default();
        let (first, runner) = q.enqueue(1);
        let runner = runner.unwrap();
        let ((began_tx, began), (open, gate)) = (mpsc::channel::<()>(), mpsc::channel::<()>());
        let t = std::thread::spawn(move || {
            runner.drain(|_, _| {
                let _ = began_tx.send(());
                let _ = gate.recv_timeout(Duration::from_secs(10));
                panic!("filing failed")
            })
        });
        began.recv_timeout(Duration::from_secs(10)).unwrap();
        // Queued while the batch that will panic is held.
        let (second, runner) = q.enqueue(2);
        assert!(runner.is_none());
        open.send(()).unwrap();
        assert!(t.join().is_err());
        assert_eq!(wait(first), None);
        assert_eq!(wait(second), None, "a job waiting behind a panic was kept");
        let (third, runner) = q.enqueue(3);
        let runner = runner.expect("a panicked batch left the queue marked running");
        run(runner, &Arc::default(), None, None).join().unwrap();
        assert_eq!(wait(third), Some(30));
    }

    #[test]
    fn a_runner_that_never_runs_frees_the_queue() {
        let q: Q = Arc::default();
        let (first, runner) = q.enqueue(1);
        drop(runner);
        assert_eq!(wait(first), None);
        assert!(q.enqueue(2).1.is_some());
    }

    /// `gather` with `first`, rounds of jobs handed by `more` one after
    /// another (then none), prompt writes for jobs over 100 and writes not
    /// worth waiting for (a copy, a refusal) for jobs of 50 to 99. Returns
    /// the writes, the rounds `written` saw and how many times `more` was
    /// asked.
    fn gathered(
        first: Vec<u32>,
        rounds: Vec<Vec<u32>>,
        rules: &Gather,
    ) -> (Vec<u32>, Vec<Vec<u32>>, usize) {
        let rounds = RefCell::new(rounds.into_iter());
        let asked = RefCell::new(0);
        let mut seen = Vec::new();
        let out = gather(
            first,
            rules,
            |j| j,
            |new: &[u32]| seen.push(new.to_vec()),
            |w| !(50..100).contains(w),
            |w| *w > 100,
            |wait| {
                assert!(wait <= rules.gap && !wait.is_zero(), "{wait:?}");
                *asked.borrow_mut() += 1;
                rounds.borrow_mut().next().unwrap_or_default()
            },
        );
        (out, seen, asked.into_inner())
    }

    const RULES: Gather = Gather {
        gap: Duration::from_millis(2),
        longest: Duration::from_secs(3600),
        at_most: 32,
    };

    #[test]
    fn a_batch_gathers_the_answers_that_come_until_none_comes() {
        let (out, seen, asked) = gathered(vec![1], vec![vec![2, 3], vec![4]], &RULES);
        assert_eq!(out, vec![1, 2, 3, 4]);
        assert_eq!(
            seen,
            vec![vec![1], vec![2, 3], vec![4]],
            "watchers woken per round"
        );
        assert_eq!(asked, 3, "asked again until nothing came");
    }

    #[test]
    fn an_answer_that_calls_for_follow_ups_is_flushed_at_once() {
        let (out, _, asked) = gathered(vec![1, 101], vec![vec![2]], &RULES);
        assert_eq!((out, asked), (vec![1, 101], 0));
        let (out, _, asked) = gathered(vec![1], vec![vec![2, 102], vec![3]], &RULES);
        assert_eq!((out, asked), (vec![1, 2, 102], 1));
    }

    #[test]
    fn only_answers_that_change_a_trace_keep_a_batch_gathering() {
        // A copy or a refusal joins the batch but does not extend it: a
        // member resending its answer cannot hold every batch open.
        let (out, _, asked) = gathered(vec![1], vec![vec![50], vec![2]], &RULES);
        assert_eq!((out, asked), (vec![1, 50], 1));
        let (out, _, asked) = gathered(vec![60, 61], vec![vec![2]], &RULES);
        assert_eq!((out, asked), (vec![60, 61], 0));
        let (out, _, asked) = gathered(vec![1], vec![vec![50, 3], vec![4]], &RULES);
        assert_eq!((out, asked), (vec![1, 50, 3, 4], 3));
    }

    #[test]
    fn a_batch_never_waits_past_its_longest() {
        let short = Gather {
            gap: Duration::from_secs(3600),
            longest: Duration::from_millis(50),
            ..RULES
        };
        let rounds = RefCell::new(vec![vec![2u32], vec![3]].into_iter());
        let waits = RefCell::new(Vec::new());
        let out = gather(
            vec![1u32],
            &short,
            |j| j,
            |_| {},
            |_| true,
            |_| false,
            |wait| {
                waits.borrow_mut().push(wait);
                rounds.borrow_mut().next().unwrap_or_default()
            },
        );
        assert!(!out.is_empty());
        for w in waits.into_inner() {
            assert!(
                w <= short.longest,
                "asked to wait {w:?}, past the 50 ms bound"
            );
        }
    }

    #[test]
    fn a_batch_stops_gathering_at_its_bounds() {
        let few = Gather {
            at_most: 3,
            ..RULES
        };
        let (out, _, asked) = gathered(vec![1, 2], vec![vec![3, 4], vec![5]], &few);
        assert_eq!((out, asked), (vec![1, 2, 3, 4], 1));
        let at_once = Gather {
            longest: Duration::ZERO,
            ..RULES
        };
        let (out, _, asked) = gathered(vec![1], vec![vec![2]], &at_once);
        assert_eq!((out, asked), (vec![1], 0));
    }

    #[test]
    fn a_lingering_runner_is_woken_by_the_next_job_and_stays_the_only_one() {
        let q: Q = Arc::default();
        let (first, runner) = q.enqueue(1);
        let runner = runner.unwrap();
        let t = std::thread::spawn(move || {
            let mut got = Vec::new();
            runner.drain(|jobs, r| {
                let mut all = jobs;
                // Long enough that only the job's coming ends it in time.
                let started = Instant::now();
                all.extend(r.more_within(Duration::from_secs(20)));
                let waited = started.elapsed();
                // Nothing more comes: back at once with none.
                assert!(r.more_within(Duration::from_millis(1)).is_empty());
                for (j, done) in all {
                    got.push(j);
                    let _ = done.send(j * 10);
                }
                assert!(waited < Duration::from_secs(10), "not woken by the job");
            });
            got
        });
        // The runner waits for a job before this one comes, so that its
        // coming is what wakes it.
        let until = Instant::now() + Duration::from_secs(10);
        while !q.lock().lingering {
            assert!(Instant::now() < until, "the runner never lingered");
            std::thread::yield_now();
        }
        let (second, runner) = q.enqueue(2);
        assert!(runner.is_none(), "a second runner while one lingers");
        assert_eq!(t.join().unwrap(), vec![1, 2]);
        assert_eq!((wait(first), wait(second)), (Some(10), Some(20)));
        let w = q.lock();
        assert!(!w.running && !w.lingering && w.jobs.is_empty());
    }

    type Reply = Result<Vec<u8>, Refusal>;

    /// `reply_after_flush` over `items`, with a flush that checks no reply
    /// has left yet and returns `flush`; `after` answers vec![w]. Returns
    /// whether the flush ran and each reply.
    fn replies(
        items: Vec<Result<Option<u8>, Refusal>>,
        flush: Result<(), Refusal>,
    ) -> (bool, Vec<Reply>) {
        let (written, rxs): (Vec<_>, Vec<_>) = items
            .into_iter()
            .map(|r| {
                let (tx, rx) = oneshot::channel::<Reply>();
                ((r, tx), rx)
            })
            .unzip();
        let rxs = RefCell::new(rxs);
        let flushed = RefCell::new(false);
        reply_after_flush(
            written,
            || {
                for rx in rxs.borrow_mut().iter_mut() {
                    assert!(
                        matches!(rx.try_recv(), Err(TryRecvError::Empty)),
                        "a reply left before the flush"
                    );
                }
                *flushed.borrow_mut() = true;
                flush
            },
            |w| {
                assert!(*flushed.borrow(), "an answer finished before its flush");
                Ok(vec![w])
            },
        );
        let out = rxs
            .into_inner()
            .into_iter()
            .map(|mut rx| rx.try_recv().expect("every job is told"))
            .collect();
        (flushed.into_inner(), out)
    }

    #[test]
    fn every_ok_waits_for_the_flush_a_copy_of_a_filed_answer_too() {
        let (flushed, out) = replies(vec![Ok(None)], Ok(()));
        assert!(flushed, "a copy was told ok without a flush");
        assert_eq!(out, vec![Ok(Vec::new())]);
        let (flushed, out) = replies(
            vec![Ok(Some(4)), Err(Refusal::UnknownTrace), Ok(None)],
            Ok(()),
        );
        assert!(flushed);
        assert_eq!(
            out,
            vec![Ok(vec![4]), Err(Refusal::UnknownTrace), Ok(Vec::new())]
        );
    }

    #[test]
    fn a_batch_of_refusals_is_not_flushed() {
        let (flushed, out) = replies(
            vec![Err(Refusal::Malformed), Err(Refusal::NotAMember)],
            Ok(()),
        );
        assert!(!flushed);
        assert_eq!(out, vec![Err(Refusal::Malformed), Err(Refusal::NotAMember)]);
    }

    #[test]
    fn a_failed_flush_refuses_every_answer_that_would_have_been_ok() {
        let (flushed, out) = replies(
            vec![Ok(Some(1)), Ok(None), Err(Refusal::Malformed)],
            Err(Refusal::AuditUnavailable),
        );
        assert!(flushed);
        assert_eq!(
            out,
            vec![
                Err(Refusal::AuditUnavailable),
                Err(Refusal::AuditUnavailable),
                Err(Refusal::Malformed)
            ]
        );
    }

    #[test]
    fn a_panic_refuses_only_its_own_answer() {
        let r: Result<u8, Refusal> = refused_if_panics("test", || panic!("bad frame"));
        assert_eq!(r, Err(Refusal::Internal));
        assert_eq!(refused_if_panics("test", || Ok(3u8)), Ok(3));
    }
}
