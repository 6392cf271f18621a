//! The control API's streamed listings (`GET /v1/audit`, `GET /v1/audit/export`,
//! `GET /v1/registry/export`): each is read on a thread of its own
//! (`tracenet-list`, as `top -H` shows it), outside
//! tokio's blocking pool, and paced by its client.
//!
//! A listing's reader waits for its client between pieces, up to [`STALL`]
//! per piece. On tokio's blocking pool that wait would hold a thread that
//! the node's own work shares (answering queries, filing answers, flushing
//! the stores), and that pool is bounded
//! ([`crate::node::blocking_threads`]): a few slow or hostile clients of
//! the API would then stall the node. So each listing gets a thread of its
//! own, and at most [`MAX_LISTINGS`] run at once in a process; one more is
//! refused with 503 until one ends.
//!
//! What the client sees: the reply's head goes with the reader's first piece
//! (the audit listings send it with their first 64 KiB, the registry export
//! an empty one at once; an error before then is a 500 with it, as any
//! call), and the
//! body ends with HTTP/1.1's last chunk only when the reader said it reached
//! its end ([`Sink::end`]). An error, the node stopping, a client that reads
//! nothing for [`STALL`], or a reader that stopped without a word ends the
//! body without it, so that an incomplete listing is seen as failed, never
//! as complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use futures::StreamExt as _;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::reply::Failure;

/// How many listings may stream at once in one process, each on its own
/// thread.
pub const MAX_LISTINGS: usize = 4;
/// How long a reader waits for a client that reads nothing before the
/// listing is given up.
pub const STALL: Duration = Duration::from_secs(60);
/// Pieces a reader may run ahead of its client.
const AHEAD: usize = 4;

/// The process's listing threads.
static SLOTS: Semaphore = Semaphore::const_new(MAX_LISTINGS);

/// A listing's body, piece by piece.
pub(super) type Pieces = futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>>;

/// What a reader hands the reply.
enum Item {
    Piece(Bytes),
    End,
}

/// A reader's side of a listing: where its pieces go.
pub(super) struct Sink {
    tx: mpsc::Sender<Result<Item, std::io::Error>>,
    /// Cancelled once the client read nothing for [`STALL`].
    stalled: CancellationToken,
    stopping: CancellationToken,
    /// Milliseconds since `began` at which the send under way began, plus
    /// one; 0 while no send waits.
    waiting: Arc<AtomicU64>,
    began: Instant,
}

impl Sink {
    /// Hands the client a piece (empty pieces are not sent on the wire: the
    /// first one, empty, says the source opened). False once the client is
    /// gone, has read nothing for [`STALL`], or the node is stopping: the
    /// reader should then return.
    pub fn send(&self, piece: Bytes) -> bool {
        self.put(Ok(Item::Piece(piece)))
    }

    /// The listing is whole: its last chunk goes after the pieces sent.
    pub fn end(self) {
        self.put(Ok(Item::End));
    }

    /// The listing failed: before its first piece, the call is a 500 with
    /// `e`; after, the body ends without its last chunk. Logged by the
    /// caller, which knows what it was reading.
    pub fn fail(self, e: std::io::Error) {
        self.put(Err(e));
    }

    fn put(&self, item: Result<Item, std::io::Error>) -> bool {
        if self.stalled.is_cancelled() || self.stopping.is_cancelled() {
            return false;
        }
        let since = self.began.elapsed().as_millis() as u64 + 1;
        self.waiting.store(since, Ordering::Relaxed);
        // No tokio timer here: this thread is not the runtime's, and may
        // outlive it at shutdown. The stall is the watchdog's to call.
        let sent = futures::executor::block_on(async {
            tokio::select! {
                sent = self.tx.send(item) => sent.is_ok(),
                _ = self.stalled.cancelled() => false,
                _ = self.stopping.cancelled() => false,
            }
        });
        self.waiting.store(0, Ordering::Relaxed);
        sent
    }
}

/// Starts a listing: `read` runs on a thread of its own, sending its pieces
/// to the [`Sink`] (the first once its source opened), then ending or
/// failing it. Returns the reply's body once the first piece (or the
/// failure) came.
///
/// # Errors
/// 503 when [`MAX_LISTINGS`] listings are streaming already, or no thread
/// could be started; 500 with the reader's error when it failed before its
/// first piece, or stopped without one.
pub(super) async fn start(
    what: &'static str,
    stopping: CancellationToken,
    read: impl FnOnce(Sink) + Send + 'static,
) -> Result<Pieces, Failure> {
    start_in(&SLOTS, STALL, what, stopping, read).await
}

async fn start_in(
    slots: &'static Semaphore,
    stall: Duration,
    what: &'static str,
    stopping: CancellationToken,
    read: impl FnOnce(Sink) + Send + 'static,
) -> Result<Pieces, Failure> {
    let busy = || {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{MAX_LISTINGS} listings (audit or registry exports) are streaming from this node already; try again when one has ended"
            ),
        )
    };
    let slot = slots.try_acquire().map_err(|_| busy())?;
    let (tx, mut rx) = mpsc::channel(AHEAD);
    let sink = Sink {
        tx,
        stalled: CancellationToken::new(),
        stopping,
        waiting: Arc::new(AtomicU64::new(0)),
        began: Instant::now(),
    };
    let (stalled, waiting, began) = (sink.stalled.clone(), sink.waiting.clone(), sink.began);
    let stopping = sink.stopping.clone();
    let done = CancellationToken::new();
    let finished = done.clone();
    std::thread::Builder::new()
        .name("tracenet-list".into())
        .spawn(move || {
            let _slot = slot;
            let _done = finished.drop_guard();
            read(sink);
        })
        .map_err(|e| {
            tracing::error!(error = %e, listing = what, "no thread for a listing");
            busy()
        })?;
    // The watchdog: gives up a send that has waited for the client for
    // `stall` (checked four times as often, so within 1.25 stall).
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(stall / 4);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = done.cancelled() => return,
            }
            // The clock first: a send that began after it reads as 0 s old.
            let now = began.elapsed().as_millis() as u64 + 1;
            let since = waiting.load(Ordering::Relaxed);
            if since != 0 && now.saturating_sub(since) >= stall.as_millis() as u64 {
                tracing::info!(
                    listing = what,
                    "a client of the control API read nothing for {} s: its listing is given up",
                    stall.as_secs()
                );
                stalled.cancel();
                return;
            }
        }
    });
    let first = match rx.recv().await {
        Some(Ok(Item::Piece(b))) => b,
        // Whole before its first piece: an empty body, ended.
        Some(Ok(Item::End)) => return Ok(futures::stream::empty().boxed()),
        Some(Err(e)) => return Err(Failure::internal(e)),
        None if stopping.is_cancelled() => {
            return Err(Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node began to stop; ask again once it has started",
            ));
        }
        None => {
            return Err(Failure::internal(format!(
                "reading the {what} stopped; see the node's log"
            )));
        }
    };
    Ok(pieces(what, first, rx).boxed())
}

/// The reply's body: `first`, then the pieces from `rx` until its end. A
/// channel closed before the end (the reader stopped or gave up) or an
/// error yields an error, so the body ends without its last chunk.
fn pieces(
    what: &'static str,
    first: Bytes,
    rx: mpsc::Receiver<Result<Item, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let rest = futures::stream::unfold((rx, false), move |(mut rx, ended)| async move {
        if ended {
            return None;
        }
        match rx.recv().await {
            Some(Ok(Item::Piece(b))) => Some((Ok(b), (rx, false))),
            Some(Ok(Item::End)) => None,
            Some(Err(e)) => Some((Err(e), (rx, true))),
            None => Some((
                Err(std::io::Error::other(format!(
                    "the {what} stopped before its end; see the node's log"
                ))),
                (rx, true),
            )),
        }
    });
    futures::stream::once(async move { Ok(first) })
        .chain(rest)
        .filter(|item| std::future::ready(!matches!(item, Ok(b) if b.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Body = Vec<Result<Vec<u8>, String>>;

    async fn collect(s: impl futures::Stream<Item = Result<Bytes, std::io::Error>>) -> Body {
        s.map(|r| r.map(|b| b.to_vec()).map_err(|e| e.to_string()))
            .collect()
            .await
    }

    async fn body(items: Vec<Result<Item, std::io::Error>>) -> Body {
        let (tx, rx) = mpsc::channel(16);
        for i in items {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        collect(pieces("audit log", Bytes::from_static(b"["), rx)).await
    }

    /// Only a listing whose reader said it ended ends cleanly: one that
    /// stopped (a stalled client given up, the thread gone) or failed ends
    /// with an error, which the HTTP layer turns into a body without its
    /// last chunk.
    #[tokio::test]
    async fn a_listing_ends_cleanly_only_when_its_end_was_sent() {
        let whole = body(vec![
            Ok(Item::Piece(Bytes::from_static(b"1"))),
            Ok(Item::Piece(Bytes::new())),
            Ok(Item::Piece(Bytes::from_static(b"]"))),
            Ok(Item::End),
        ])
        .await;
        assert_eq!(
            whole,
            vec![Ok(b"[".to_vec()), Ok(b"1".to_vec()), Ok(b"]".to_vec())]
        );
        let stopped = body(vec![Ok(Item::Piece(Bytes::from_static(b"1")))]).await;
        assert_eq!(stopped.len(), 3, "{stopped:?}");
        assert!(
            stopped[2]
                .as_ref()
                .is_err_and(|e| e.contains("before its end"))
        );
        let failed = body(vec![
            Err(std::io::Error::other("an archive file vanished")),
            Ok(Item::End),
        ])
        .await;
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(failed[1].as_ref().is_err_and(|e| e.contains("vanished")));
    }

    /// A reader that panics or returns without ending its listing: the
    /// body fails, it does not look complete.
    #[tokio::test]
    async fn a_reader_gone_without_a_word_fails_the_listing() {
        static SLOTS: Semaphore = Semaphore::const_new(2);
        let quiet = start_in(
            &SLOTS,
            STALL,
            "test listing",
            CancellationToken::new(),
            |s| {
                s.send(Bytes::from_static(b"a"));
            },
        )
        .await
        .map_err(|f| f.message)
        .unwrap();
        let got = collect(quiet).await;
        assert_eq!(got[0], Ok(b"a".to_vec()));
        assert!(got[1].as_ref().is_err_and(|e| e.contains("before its end")));
        let before = start_in(
            &SLOTS,
            STALL,
            "test listing",
            CancellationToken::new(),
            |_| {},
        )
        .await
        .err()
        .expect("a reader that sent nothing is a failed call");
        assert_eq!(before.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            before.message.contains("test listing"),
            "{}",
            before.message
        );
    }

    /// A listing whole before its first piece is an empty body that ends;
    /// one whose reader found the node stopping is a 503.
    #[tokio::test]
    async fn an_empty_listing_ends_and_a_stopping_node_says_so() {
        static SLOTS: Semaphore = Semaphore::const_new(2);
        let empty = start_in(
            &SLOTS,
            STALL,
            "test listing",
            CancellationToken::new(),
            |s| s.end(),
        )
        .await
        .map_err(|f| f.message)
        .unwrap();
        assert!(collect(empty).await.is_empty());
        let stopping = CancellationToken::new();
        stopping.cancel();
        let (said, heard) = std::sync::mpsc::channel();
        let refused = start_in(&SLOTS, STALL, "test listing", stopping, move |s| {
            let _ = said.send(s.send(Bytes::new()));
        })
        .await
        .err()
        .expect("a listing started as the node stops fails");
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            refused.message.contains("began to stop"),
            "{}",
            refused.message
        );
        assert_eq!(
            heard.recv(),
            Ok(false),
            "nothing is sent once the node stops"
        );
    }

    /// The point of the module: listings whose clients read nothing hold
    /// their own threads, not the runtime's blocking pool, so blocking work
    /// still runs on a pool bounded at one thread; one listing more than
    /// the slots is refused; a stalled client is given up after `stall`,
    /// freeing its slot.
    #[test]
    fn stalled_listings_hold_their_own_threads_and_are_given_up() {
        static SLOTS: Semaphore = Semaphore::const_new(2);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let stall = Duration::from_secs(3);
            let mut held = Vec::new();
            let (gave_up_tx, mut gave_up) = mpsc::unbounded_channel();
            for _ in 0..2 {
                let gave_up_tx = gave_up_tx.clone();
                let s = start_in(
                    &SLOTS,
                    stall,
                    "test listing",
                    CancellationToken::new(),
                    move |s| {
                        let mut n = 0u64;
                        // Endless: only the client (or the stall) stops it.
                        while s.send(Bytes::from(vec![b'x'; 1024])) {
                            n += 1;
                        }
                        let _ = gave_up_tx.send(n);
                    },
                )
                .await
                .map_err(|f| f.message)
                .unwrap();
                // Held, never read.
                held.push(s);
            }
            let refused = start_in(
                &SLOTS,
                stall,
                "test listing",
                CancellationToken::new(),
                |s| s.end(),
            )
            .await
            .err()
            .expect("a third listing while two stream is refused");
            assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(refused.message.contains("try again"), "{}", refused.message);
            // The pool's one thread is free for the node's work.
            let t = Instant::now();
            tokio::task::spawn_blocking(|| 7).await.unwrap();
            assert!(
                gave_up.try_recv().is_err(),
                "both listings still wait for their clients"
            );
            assert!(
                t.elapsed() < stall,
                "blocking work waited {:?}",
                t.elapsed()
            );
            // Both are given up once stalled, and their slots come back.
            for _ in 0..2 {
                let n = tokio::time::timeout(stall * 10, gave_up.recv())
                    .await
                    .expect("a stalled listing is given up")
                    .unwrap();
                assert!(
                    n <= AHEAD as u64 + 1,
                    "{n} pieces sent to a client that read none"
                );
            }
            let t = Instant::now();
            loop {
                match start_in(
                    &SLOTS,
                    stall,
                    "test listing",
                    CancellationToken::new(),
                    |s| {
                        s.send(Bytes::new());
                        s.end()
                    },
                )
                .await
                {
                    Ok(s) => {
                        assert!(collect(s).await.is_empty());
                        break;
                    }
                    // The slot is let go just after the reader returns.
                    Err(f) if f.status == StatusCode::SERVICE_UNAVAILABLE => {
                        assert!(t.elapsed() < Duration::from_secs(10), "no slot came back");
                        tokio::task::yield_now().await;
                    }
                    Err(f) => panic!("{}", f.message),
                }
            }
            // A client still holding a given-up listing sees it fail.
            let got = collect(held.pop().unwrap()).await;
            assert!(got.last().unwrap().is_err(), "{got:?}");
        });
    }
}
