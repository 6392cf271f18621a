//! The running node's log: lines to stderr, written by a thread of their own,
//! so that a stderr nobody reads never stops the node.
//!
//! Each line used to be written to stderr by the thread that logged it. A
//! stderr that is not read (a terminal paused with Ctrl-S, `tracenet node
//! run 2>&1 | less` left unscrolled, a log collector that stalls) fills its pipe
//! (64 KiB on Linux), and then every thread that logged waited on it: the
//! node stopped answering its control API and the federation, without a
//! word. Now a line goes into a buffer of [`BUFFERED_LINES`] lines that a
//! thread of its own (`tracenet-log`) writes out; while stderr is not read
//! and the buffer is full, further lines are dropped and counted
//! ([`lines_dropped`]: `tracenet_log_lines_dropped_total` in `/metrics`,
//! and a WARN line each minute that had drops, once stderr is read again).
//!
//! What a dropped line can lose is the operator's view, never the record:
//! every trace sent, answer given and refusal is in the audit log (sled),
//! whatever the log does. The lines come out in the order they were logged;
//! those still in the buffer when the node stops are written before it
//! exits, waited for at most [`SAY_WITHIN`] ([`LogGuard`]'s drop: while
//! stderr is still not read they are lost, and tracing-appender's own
//! complaint, which it prints on stdout, may be too). Lines still in the
//! buffer when the process is killed (SIGKILL, out of memory) are lost too,
//! where a line written by its own thread was not. Lines stderr refuses (a
//! pipe whose reader has gone, as in `node run 2>&1 | head`; a redirect to
//! a file on a full disk) are lost and counted ([`lines_lost`]:
//! `tracenet_log_lines_lost_total`): no log line can say so, since the log
//! is what failed. A stderr closed before the node started is `/dev/null`
//! to it (Rust's runtime opens it there), so what goes there is gone by
//! the operator's choice, uncounted. What the node must say on its
//! way out, it says again in its exit line (a store failure's cause), and
//! that line, like a panic's, is written by [`say`]: never waited on for
//! more than [`SAY_WITHIN`] while a node's log is set up.
//!
//! Built on `tracing-appender`'s non-blocking writer (tokio-rs, the writer
//! `tracing`'s own users reach for), in its lossy mode.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};

/// Lines held for stderr at most: past them, while stderr is not read, lines
/// are dropped and counted. About 2 to 4 MiB of JSON lines; a node at `info`
/// writes a few lines a minute, so this is hours of its log, or seconds of
/// `RUST_LOG=trace`.
pub const BUFFERED_LINES: usize = 8_192;

/// The count of dropped lines, once [`init`] has run.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Dropped lines already reported by [`report_dropped`].
static REPORTED: AtomicU64 = AtomicU64::new(0);

/// Lines stderr refused ([`lines_lost`]).
static LOST: AtomicU64 = AtomicU64::new(0);

/// stderr as the log's writer thread writes it: each event logged is one
/// `write_all` (tracing-appender hands its writer one message at a time:
/// a line, or in text format the lines of one event), and one stderr
/// refuses is counted once in [`LOST`]. tracing-appender drops a failed
/// write without a word.
struct CountedStderr;

impl std::io::Write for CountedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().write(buf)
    }

    fn write_all(&mut self, line: &[u8]) -> std::io::Result<()> {
        let written = std::io::stderr().write_all(line);
        if written.is_err() {
            LOST.fetch_add(1, Ordering::Relaxed);
        }
        written
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Set once a node's log is set up ([`init`]): from then on [`say`] does not
/// wait on stderr for good.
static NODE_LOG: AtomicBool = AtomicBool::new(false);

/// A line of [`say`]'s still being written: a second waits for no other.
static SAYING: AtomicBool = AtomicBool::new(false);

/// The thread that ends the log's writer ([`LogGuard`]'s drop); a panic
/// there (tracing-appender printing to a stdout that was closed) is its own
/// and ends nothing else: the panic hook leaves it alone.
pub const ENDING_THREAD: &str = "tracenet-log-end";

/// Keeps the log's writer thread. Dropped when the node stops: the lines
/// still held are written first, waited for at most [`SAY_WITHIN`].
#[must_use = "the log's writer stops when this is dropped"]
pub struct LogGuard {
    writer: Option<WorkerGuard>,
}

impl Drop for LogGuard {
    /// Ends the writer on a thread of its own ([`ENDING_THREAD`]) and waits
    /// for it at most [`SAY_WITHIN`]. tracing-appender's own end gives the
    /// writer a second, or, when its buffer is full (stderr not read), says
    /// so with a `println!`: on a stdout as stuck as stderr (`2>&1`, a
    /// paused terminal, a collector of both) that would hold the node's exit
    /// for good.
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        let cell = Arc::new(Mutex::new(Some(writer)));
        let in_thread = cell.clone();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name(ENDING_THREAD.into())
            .spawn(move || {
                let writer = in_thread.lock().ok().and_then(|mut w| w.take());
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(writer)));
                let _ = done.send(());
            });
        if spawned.is_ok() {
            let _ = wait.recv_timeout(SAY_WITHIN);
        } else if let Some(w) = cell.lock().ok().and_then(|mut w| w.take()) {
            // No thread to end it on: its lines are given up, not waited for.
            std::mem::forget(w);
        }
    }
}

/// Logs to stderr through the writer thread: text by default, JSON for
/// `format` "json"; levels from `RUST_LOG` (default `info`, with libp2p's
/// gossipsub and Kademlia at `warn`). `None` if a log was set up already
/// (then that one stays).
pub fn init(format: &str) -> Option<LogGuard> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,libp2p_gossipsub=warn,libp2p_kad=warn")
    });
    // Colours only for a person at a terminal: a log file or a pipe gets
    // plain text (and NO_COLOR is honoured).
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("tracenet-log")
        .finish(CountedStderr);
    let counter = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let set = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    set.ok()?;
    let _ = DROPPED.set(counter);
    NODE_LOG.store(true, Ordering::Release);
    Some(LogGuard {
        writer: Some(guard),
    })
}

/// Log lines dropped since the node started, because stderr was not read
/// and the buffer of [`BUFFERED_LINES`] was full; 0 before [`init`].
pub fn lines_dropped() -> u64 {
    DROPPED
        .get()
        .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX))
}

/// Log lines stderr refused since the node started (a pipe whose reader
/// has gone, a redirect to a file on a full disk), the log's and
/// [`say`]'s: lost, and said by nothing but this count (an event of
/// several lines counts once; one cut short by a full disk counts as
/// lost). 0 before [`init`].
pub fn lines_lost() -> u64 {
    LOST.load(Ordering::Relaxed)
}

/// Says in the log how many lines were dropped since the last call that
/// found any (the node calls it each minute); nothing if none were. The
/// line itself is dropped too, and counted, while stderr is still not read:
/// the next call says it with the rest.
pub fn report_dropped() {
    let now = lines_dropped();
    let before = REPORTED.swap(now, Ordering::Relaxed);
    if now > before {
        tracing::warn!(
            dropped = now - before,
            since_start = now,
            "log lines dropped: stderr was not read fast enough (a paused terminal, a pipe nobody reads, a stalled log collector), and the node ran on rather than wait for it; the audit log holds every trace, answer and refusal in full"
        );
    }
}

/// How long [`say`], and the log's end ([`LogGuard`]), wait for a stderr
/// nobody reads, while a node's log is set up.
pub const SAY_WITHIN: Duration = Duration::from_secs(2);

/// Writes `line` and a newline to stderr. Where no node's log is set up (a
/// CLI command) it waits for stderr as `eprintln!` does: its reader sees
/// every line, however slowly it reads. Under `node run` it writes from a
/// thread of its own and waits at most [`SAY_WITHIN`]: the log's writer
/// may be stuck on a stderr nobody reads, holding stderr's lock, and the
/// caller (a panicking thread, the node's exit) must not wait on it for
/// good. Then the line may be lost, or come out later; and while one line
/// is still stuck, the next is given up at once (no thread and no wait
/// for it), so that panics repeated against a stuck stderr do not pile up
/// threads. Where no thread can be made, the line is given up too.
pub fn say(line: &str) {
    if !NODE_LOG.load(Ordering::Acquire) {
        // Not `eprintln!`, which panics on a stderr whose reader has gone
        // (`2>&1 | head -1`): the line has nowhere to go, and the command
        // ends with the code it was ending with.
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "{line}");
        return;
    }
    say_from_a_thread(line, SAY_WITHIN);
}

fn say_from_a_thread(line: &str, within: Duration) {
    if SAYING.swap(true, Ordering::AcqRel) {
        return;
    }
    let line = format!("{line}\n");
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("tracenet-say".into())
        .spawn(move || {
            use std::io::Write;
            if std::io::stderr().write_all(line.as_bytes()).is_err() {
                LOST.fetch_add(1, Ordering::Relaxed);
            }
            SAYING.store(false, Ordering::Release);
            let _ = done.send(());
        });
    match spawned {
        Ok(_) => {
            let _ = wait.recv_timeout(within);
        }
        Err(_) => SAYING.store(false, Ordering::Release),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With stderr's lock held by another thread (the log's writer stuck on
    /// a pipe nobody reads), a line is waited for at most its limit, and a
    /// second line while the first is still stuck not at all; once stderr
    /// is free, lines are written again.
    #[test]
    fn a_line_said_to_a_stuck_stderr_is_waited_for_at_most_its_limit() {
        let (held, hold) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let lock = std::io::stderr().lock();
            held.send(()).unwrap();
            released.recv().unwrap();
            drop(lock);
        });
        hold.recv().unwrap();
        let within = Duration::from_millis(300);
        let t = std::time::Instant::now();
        say_from_a_thread("tracenet logging test: first line", within);
        let first = t.elapsed();
        assert!(first >= within, "{first:?}");
        assert!(first < within * 10, "{first:?}");
        let t = std::time::Instant::now();
        say_from_a_thread("tracenet logging test: second line", within);
        assert!(t.elapsed() < within, "{:?}", t.elapsed());
        release.send(()).unwrap();
        holder.join().unwrap();
        // The first line gets out; the next is said again, in time.
        let t = std::time::Instant::now();
        while SAYING.load(Ordering::Acquire) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the stuck line never got out"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let t = std::time::Instant::now();
        say_from_a_thread("tracenet logging test: third line", Duration::from_secs(10));
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
}
