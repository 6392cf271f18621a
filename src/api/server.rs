//! Accepting and serving the control API's connections: a cap on open
//! connections, a pause that grows while accepting fails (descriptors run out),
//! and a header-read timeout. `axum::serve` has neither a header timeout nor a
//! connection cap, so the `Router` is served through hyper's own HTTP/1.1
//! connection builder (axum's "serve with hyper" pattern).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// The default for `node.api_header_timeout_secs`.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The first pause after a failed accept; it doubles up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const MAX_PAUSE: Duration = Duration::from_secs(1);
/// At most one log line about failed accepts per this interval.
const LOG_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection that has not sent a full request head within this is closed.
    pub header_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: HEADER_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Accepts connections on `listener` for ever, serving each with `app`.
///
/// A slot is taken *before* accepting: beyond `max_connections`, new
/// connections wait in the kernel's listen queue, where they hold none of the
/// node's descriptors, and are served in arrival order as slots free (at the
/// latest when an idle holder hits the header timeout). Closing them at once
/// instead would need a descriptor for each just to close it, and would turn
/// a burst into refusals for the CLI as well.
pub async fn accept_loop(listener: TcpListener, app: Router, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut failures = AcceptFailures::default();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                if let Some(n) = failures.succeeded(Instant::now()) {
                    tracing::info!(failed = n, "control API accepting connections again");
                }
                tokio::spawn(serve_connection(stream, app.clone(), limits, slot));
            }
            // The client gave up before we accepted: nothing of ours is short.
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                let (pause, report) = failures.failed(Instant::now());
                if let Some(n) = report {
                    tracing::warn!(
                        error = %e,
                        failed = n,
                        pause_ms = pause.as_millis() as u64,
                        "control API cannot accept connections (at most one line per {} s); \
                         if descriptors ran out, raise the limit (`ulimit -n`)",
                        LOG_EVERY.as_secs()
                    );
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}

async fn serve_connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    _slot: OwnedSemaphorePermit,
) {
    // Small request/response pairs: no waiting for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
        .await;
    if let Err(e) = conn {
        // Header timeouts and clients that hang up are the client's doing; one
        // line each would let any local process write our log.
        tracing::trace!(error = %e, "control API connection ended with an error");
    }
}

/// Failed accepts since the last success: how long to pause, and when to say so.
#[derive(Debug, Default)]
struct AcceptFailures {
    pause: Option<Duration>,
    /// Failures not yet reported in a log line.
    unreported: u64,
    last_report: Option<Instant>,
}

impl AcceptFailures {
    /// Records a failure; returns the pause before the next attempt and, when a
    /// line is due, the number of failures it reports.
    fn failed(&mut self, now: Instant) -> (Duration, Option<u64>) {
        let pause = self.pause.map_or(FIRST_PAUSE, |p| (p * 2).min(MAX_PAUSE));
        self.pause = Some(pause);
        self.unreported += 1;
        (pause, self.take_report(now))
    }

    /// Records a success; returns the failures to report if a line is due.
    fn succeeded(&mut self, now: Instant) -> Option<u64> {
        self.pause = None;
        if self.unreported == 0 {
            return None;
        }
        self.take_report(now)
    }

    fn take_report(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .last_report
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY);
        if !due {
            return None;
        }
        self.last_report = Some(now);
        Some(std::mem::take(&mut self.unreported))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_to_a_second_and_resets_on_success() {
        let mut f = AcceptFailures::default();
        let t = Instant::now();
        let pauses: Vec<u64> = (0..9).map(|_| f.failed(t).0.as_millis() as u64).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        f.succeeded(t);
        assert_eq!(f.failed(t).0, FIRST_PAUSE);
    }

    #[test]
    fn failures_are_reported_at_most_once_per_interval_with_their_count() {
        let mut f = AcceptFailures::default();
        let t0 = Instant::now();
        assert_eq!(
            f.failed(t0).1,
            Some(1),
            "the first failure is reported at once"
        );
        let mut lines = 0;
        // A million failures over 12 s, with successes between them.
        for i in 1..1_000_000u64 {
            let now = t0 + Duration::from_micros(i * 12);
            if f.failed(now).1.is_some() {
                lines += 1;
            }
            if i % 3 == 0 && f.succeeded(now).is_some() {
                lines += 1;
            }
        }
        assert!(lines <= 2, "{lines} lines for 12 s of failures");
        let pending = f.unreported;
        assert!(pending > 0);
        let later = t0 + Duration::from_secs(20);
        assert_eq!(
            f.succeeded(later),
            Some(pending),
            "the rest is reported later"
        );
        assert_eq!(f.succeeded(later), None);
    }

    /// A server of `limits` whose every path answers "hi".
    async fn start(limits: Limits) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(|| async { "hi" });
        tokio::spawn(accept_loop(listener, app, limits));
        addr
    }

    /// Reads until the server closes; the bytes read, or None if it did not
    /// close within `within`.
    async fn read_to_close(s: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        let mut out = Vec::new();
        match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
            Ok(Ok(_)) => Some(out),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Some(out),
            _ => None,
        }
    }

    const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

    #[tokio::test]
    async fn a_connection_without_a_full_request_head_is_closed() {
        let limits = Limits {
            header_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let addr = start(limits).await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut partial = TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut partial, b"GET /x HTTP/1.1\r\nHost: t\r\n")
            .await
            .unwrap();
        let t = Instant::now();
        assert!(
            read_to_close(&mut silent, Duration::from_secs(5))
                .await
                .is_some()
        );
        assert!(
            read_to_close(&mut partial, Duration::from_secs(5))
                .await
                .is_some()
        );
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        // A request that arrives in time is served.
        let mut s = TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, GET)
            .await
            .unwrap();
        let reply = read_to_close(&mut s, Duration::from_secs(5)).await.unwrap();
        assert!(
            reply.ends_with(b"hi"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait_for_a_free_slot() {
        let limits = Limits {
            max_connections: 2,
            ..Limits::default()
        };
        let addr = start(limits).await;
        let idle_a = TcpStream::connect(addr).await.unwrap();
        let _idle_b = TcpStream::connect(addr).await.unwrap();
        let mut third = TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut third, GET)
            .await
            .unwrap();
        // Both slots are held by idle connections: the third is not served...
        assert!(
            read_to_close(&mut third, Duration::from_millis(500))
                .await
                .is_none()
        );
        // ...until one of them goes.
        drop(idle_a);
        let reply = read_to_close(&mut third, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            reply.ends_with(b"hi"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }
}
