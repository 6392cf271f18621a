//! Requests on one lasting stream per peer (`/tracenet/frames/1`).
//!
//! A holder sends an answer to each trace it holds records for, and a
//! requester sends follow-ups: many small requests to the same few peers.
//! On request-response each one opens a yamux stream of its own, negotiates
//! the protocol, arms a timer and closes the stream again: about four
//! frames each way, each its own encryption and system call, for one frame
//! of payload. Here a node opens one stream to a connected peer the first
//! time it has a request for it, and writes every request after that on
//! the same stream; the peer writes the replies back on it, in the order
//! the requests came. The frames are those of `/tracenet/rr/1` (u32
//! big-endian length, then the bytes), so what the node reads and answers
//! is the same, and a member that does not speak this protocol is still
//! reached on request-response.
//!
//! The stream opens with one byte from the side that accepted it
//! ([`GREETING`]); nothing is written on it before. A stream refused or
//! dropped before its greeting carried nothing, so what was queued for it
//! goes by request-response and nothing is lost or sent twice.
//!
//! Bounds, since the other end may be hostile:
//! - each request has the request timeout from the moment it was handed to
//!   the link, as on request-response: not written by then, it fails
//!   unsent; written and not answered by then, it fails, and the stream,
//!   whose replies come in order, is closed with the requests behind it;
//! - a frame above this node's limit is skipped unread (up to
//!   [`MAX_FRAME_CEILING`]; above that the stream ends) and only its request
//!   fails: the empty reply frame for a request, an error for a reply;
//! - at most [`IN_FLIGHT`] requests of a stream await their replies (the
//!   stream is not read further meanwhile), at most [`STREAMS_PER_PEER`]
//!   inbound streams per peer (more are reset), and a reply not written
//!   within the request timeout (a peer that does not read) ends the stream;
//! - an inbound stream with no request for [`INBOUND_IDLE`] is closed, and a
//!   node closes its own after [`OUTBOUND_IDLE`] without a request;
//! - a request read while the node's queue is full is answered with the
//!   empty frame at once (dropped, as a request by request-response is).
//!
//! The behaviour here is this crate's own, not `libp2p-stream`'s: that
//! crate (0.5.0-alpha) resets an inbound stream when a second one arrives
//! before its single-slot queue is read, which is the moment every holder
//! answers a trace, and keeps a sender for every connection ever made.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::core::{Endpoint, transport::PortUse};
use libp2p::swarm::handler::{
    ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, NotifyHandler, Stream, StreamUpgradeError, SubstreamProtocol, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use tokio::sync::{mpsc, oneshot};

use super::codec::frame_of;
use super::{Command, Inbound, InboundId, NetError, NetEvent, ReplyTo};
use crate::protocol::MAX_FRAME_CEILING;

pub const FRAMES: StreamProtocol = StreamProtocol::new("/tracenet/frames/1");

/// Requests of one stream that may await their replies at once.
pub const IN_FLIGHT: usize = 64;
/// Requests queued for one peer's stream before more go by request-response.
pub const QUEUED: usize = 256;
/// Inbound streams one peer may hold open at once (two: a stream being
/// replaced as the old one closes).
pub const STREAMS_PER_PEER: usize = 2;
/// How long a node keeps its stream to a peer without a request for it.
pub const OUTBOUND_IDLE: Duration = Duration::from_secs(300);
/// How long an inbound stream may stay without a request before it is
/// closed: longer than [`OUTBOUND_IDLE`], so that the side that opened a
/// stream is the one that closes it.
pub const INBOUND_IDLE: Duration = Duration::from_secs(600);
/// How long a node sends a peer its requests by request-response after the
/// peer refused this protocol (an older member), before trying again.
pub const UNSUPPORTED_FOR: Duration = Duration::from_secs(600);
/// The same after a stream to the peer failed (a reply late, the stream
/// reset): a peer in trouble is not sent a new stream for every request.
pub const FAILED_FOR: Duration = Duration::from_secs(30);
/// The byte that opens a stream, written by the side that accepted it.
pub const GREETING: u8 = 1;
/// Inbound streams negotiated and not yet taken by [`accept`]: a burst of
/// holders opening theirs at once waits here instead of being reset.
const ACCEPT_QUEUE: usize = 256;
/// Inbound streams one connection may have open or waiting in
/// [`ACCEPT_QUEUE`] at once: a member flooding streams fills no more of
/// the queue than this, and other members' streams are still taken.
const STREAMS_PER_CONNECTION: usize = 4;

/// Opens and accepts `/tracenet/frames/1` streams on every connection.
pub struct Behaviour {
    inbound: mpsc::Sender<InboundStream>,
    incoming: Option<mpsc::Receiver<InboundStream>>,
    opens: VecDeque<(PeerId, OpenReply)>,
    waker: Option<Waker>,
}

/// Where a stream asked for goes: the stream and the connection that
/// carries it, or why there is none.
type OpenReply = oneshot::Sender<Result<(Stream, ConnectionId), OpenError>>;

/// A stream a peer opened, counted against its connection's
/// [`STREAMS_PER_CONNECTION`] while the guard lives.
pub(super) struct InboundStream {
    pub peer: PeerId,
    pub stream: Stream,
    live: Live,
}

/// One of a connection's inbound streams, given back on drop.
struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a stream did not open.
#[derive(Debug)]
pub enum OpenError {
    /// The peer does not speak `/tracenet/frames/1`.
    Unsupported,
    Failed(String),
}

impl Default for Behaviour {
    fn default() -> Self {
        let (inbound, incoming) = mpsc::channel(ACCEPT_QUEUE);
        Behaviour {
            inbound,
            incoming: Some(incoming),
            opens: VecDeque::new(),
            waker: None,
        }
    }
}

impl Behaviour {
    /// The streams peers open, once: for [`accept`].
    pub fn take_incoming(&mut self) -> Option<mpsc::Receiver<InboundStream>> {
        self.incoming.take()
    }

    /// Asks a connection to `peer` for a new stream. Not connected: the ask
    /// is dropped, and `reply` with it.
    pub fn open(&mut self, peer: PeerId, reply: OpenReply) {
        self.opens.push_back((peer, reply));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::new(peer, connection, self.inbound.clone()))
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler::new(peer, connection, self.inbound.clone()))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        while let Some((peer_id, reply)) = self.opens.pop_front() {
            // Its link gave up waiting.
            if reply.is_closed() {
                continue;
            }
            return Poll::Ready(ToSwarm::NotifyHandler {
                peer_id,
                handler: NotifyHandler::Any,
                event: reply,
            });
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// One connection's side of [`Behaviour`].
pub struct Handler {
    peer: PeerId,
    connection: ConnectionId,
    inbound: mpsc::Sender<InboundStream>,
    /// Inbound streams of this connection open or queued.
    live: Arc<AtomicUsize>,
    opens: VecDeque<OpenReply>,
}

impl Handler {
    fn new(peer: PeerId, connection: ConnectionId, inbound: mpsc::Sender<InboundStream>) -> Self {
        Handler {
            peer,
            connection,
            inbound,
            live: Arc::default(),
            opens: VecDeque::new(),
        }
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = OpenReply;
    type ToBehaviour = Infallible;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = OpenReply;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, ()> {
        SubstreamProtocol::new(ReadyUpgrade::new(FRAMES), ())
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, OpenReply, Infallible>> {
        while let Some(reply) = self.opens.pop_front() {
            if reply.is_closed() {
                continue;
            }
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(FRAMES), reply),
            });
        }
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, reply: OpenReply) {
        self.opens.push_back(reply);
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol, (), OpenReply>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: stream,
                ..
            }) => {
                // Beyond its connection's share, or the queue full: reset.
                if self.live.fetch_add(1, Ordering::Relaxed) >= STREAMS_PER_CONNECTION {
                    self.live.fetch_sub(1, Ordering::Relaxed);
                    tracing::debug!(peer = %self.peer, "more request streams on one connection than allowed; reset");
                    return;
                }
                let taken = self.inbound.try_send(InboundStream {
                    peer: self.peer,
                    stream,
                    live: Live(self.live.clone()),
                });
                if taken.is_err() {
                    tracing::debug!(peer = %self.peer, "request streams arriving faster than taken; reset");
                }
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: stream,
                info: reply,
            }) => {
                let _ = reply.send(Ok((stream, self.connection)));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info: reply, error }) => {
                let _ = reply.send(Err(match error {
                    StreamUpgradeError::NegotiationFailed => OpenError::Unsupported,
                    StreamUpgradeError::Timeout => OpenError::Failed("timed out".into()),
                    StreamUpgradeError::Io(e) => OpenError::Failed(e.to_string()),
                    StreamUpgradeError::Apply(never) => match never {},
                }));
            }
            _ => {}
        }
    }
}

/// A request handed to a peer's stream, and where its reply goes.
pub(super) struct Outgoing {
    pub data: Vec<u8>,
    pub reply: ReplyTo,
    /// When it fails if not answered: the request timeout from when it
    /// was handed to the link.
    pub deadline: tokio::time::Instant,
    /// Counts the request as in flight until it is answered or handed back.
    _busy: Busy,
}

/// Marks one request as in flight on a link while alive.
struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a link's task tells the event loop as it ends.
pub(super) struct LinkEnd {
    pub peer: PeerId,
    /// Which link of the peer's it was ([`Link::id`]).
    pub link: u64,
    /// Requests to send again: by request-response unless `plain_for` is
    /// `None` (an idle close, after which a new stream may be opened).
    pub again: Vec<Outgoing>,
    /// How long to send this peer's requests by request-response.
    pub plain_for: Option<Duration>,
}

/// This node's stream to one peer, as the event loop holds it.
pub(super) struct Link {
    tx: mpsc::Sender<Outgoing>,
    in_flight: Arc<AtomicUsize>,
    timeout: Duration,
    /// Tells this link from the peer's earlier and later ones.
    pub id: u64,
    /// The connection that carries its stream, once open.
    connection: Arc<std::sync::OnceLock<ConnectionId>>,
}

impl Link {
    /// Starts the task that waits for the stream `opened` and carries the
    /// requests on it; `written` counts the requests written.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn(
        peer: PeerId,
        id: u64,
        opened: oneshot::Receiver<Result<(Stream, ConnectionId), OpenError>>,
        max_bytes: usize,
        timeout: Duration,
        written: Arc<AtomicU64>,
        back: mpsc::WeakSender<Command>,
    ) -> Link {
        let (tx, rx) = mpsc::channel(QUEUED);
        let connection = Arc::new(std::sync::OnceLock::new());
        let carrier = Carrier {
            peer,
            id,
            max_bytes,
            timeout,
            written,
            connection: connection.clone(),
        };
        tokio::spawn(carrier.run(opened, rx, back));
        Link {
            tx,
            in_flight: Arc::new(AtomicUsize::new(0)),
            timeout,
            id,
            connection,
        }
    }

    /// Whether its stream is on `connection`, or may be (not open yet).
    pub fn may_ride(&self, connection: ConnectionId) -> bool {
        self.connection.get().is_none_or(|c| *c == connection)
    }

    /// Its count of requests in flight, to watch after it is let go.
    pub fn in_flight(&self) -> Arc<AtomicUsize> {
        self.in_flight.clone()
    }

    /// Queues a request; gives it back if the link is full or has ended.
    pub fn send(
        &self,
        data: Vec<u8>,
        reply: ReplyTo,
    ) -> Result<(), mpsc::error::TrySendError<Outgoing>> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.tx.try_send(Outgoing {
            data,
            reply,
            deadline: tokio::time::Instant::now() + self.timeout,
            _busy: Busy(self.in_flight.clone()),
        })
    }

    /// Whether a request waits on this link for its reply.
    pub fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// How a stream ended, for the requests still held.
enum Ended {
    /// Idle: closed by this node.
    Done,
    /// Closed by the peer, or gone with its connection, while nothing was
    /// in flight: nothing lost. What was queued meanwhile goes on a new
    /// stream, unless the peer closes the stream with requests waiting.
    Closed,
    /// Refused before its greeting: nothing was written on it.
    Unsupported,
    /// Failed: requests in flight failed with the reason.
    Failed(String),
}

/// A link's task.
struct Carrier {
    peer: PeerId,
    id: u64,
    max_bytes: usize,
    timeout: Duration,
    written: Arc<AtomicU64>,
    connection: Arc<std::sync::OnceLock<ConnectionId>>,
}

impl Carrier {
    async fn run(
        self,
        opened: oneshot::Receiver<Result<(Stream, ConnectionId), OpenError>>,
        mut rx: mpsc::Receiver<Outgoing>,
        back: mpsc::WeakSender<Command>,
    ) {
        let peer = self.peer;
        let ended = match tokio::time::timeout(self.timeout, opened).await {
            Ok(Ok(Ok((stream, connection)))) => {
                let _ = self.connection.set(connection);
                self.carry(stream, &mut rx).await
            }
            Ok(Ok(Err(OpenError::Unsupported))) => Ended::Unsupported,
            Ok(Ok(Err(OpenError::Failed(reason)))) => Ended::Failed(reason),
            // The connection was closing as the stream was asked of it.
            Ok(Err(_)) => Ended::Closed,
            Err(_) => Ended::Failed("the stream did not open in time".into()),
        };
        // What is still queued was never written.
        rx.close();
        let mut again = Vec::new();
        while let Ok(out) = rx.try_recv() {
            again.push(out);
        }
        let plain_for = match ended {
            Ended::Done => None,
            Ended::Closed if again.is_empty() => None,
            Ended::Closed => {
                tracing::debug!(%peer, "request stream closed with requests waiting");
                Some(FAILED_FOR)
            }
            Ended::Unsupported => {
                tracing::debug!(%peer, "peer does not speak /tracenet/frames/1; request-response for it");
                Some(UNSUPPORTED_FOR)
            }
            Ended::Failed(reason) => {
                tracing::debug!(%peer, %reason, "request stream failed");
                Some(FAILED_FOR)
            }
        };
        if let Some(back) = back.upgrade() {
            let _ = back
                .send(Command::LinkEnded(LinkEnd {
                    peer,
                    link: self.id,
                    again,
                    plain_for,
                }))
                .await;
        }
    }

    /// Reads the greeting, then writes the queued requests on `stream` and
    /// hands each reply back, until the link is idle or the stream fails.
    async fn carry(&self, stream: Stream, rx: &mut mpsc::Receiver<Outgoing>) -> Ended {
        let peer = self.peer;
        let (mut rd, mut wr) = stream.split();
        // Nothing is written before the greeting; a peer that does not
        // speak the protocol says so here (lazy negotiation).
        let mut greeting = [0u8; 1];
        match tokio::time::timeout(self.timeout, rd.read_exact(&mut greeting)).await {
            Ok(Ok(())) if greeting[0] == GREETING => {}
            Ok(Ok(())) => return Ended::Failed("the peer opened the stream wrongly".into()),
            Ok(Err(e)) if refused_protocol(&e) => return Ended::Unsupported,
            Ok(Err(e)) => return Ended::Failed(e.to_string()),
            Err(_) => return Ended::Failed("no greeting within the request timeout".into()),
        }
        // Requests written, in order; the one whose reply is being read is
        // kept in `head`, outside the reader, so that it is not lost if the
        // reader is dropped for the writer's failure.
        let (sent_tx, mut sent_rx) = mpsc::channel::<Outgoing>(IN_FLIGHT - 1);
        let head: Mutex<Option<Outgoing>> = Mutex::new(None);
        let head = &head;
        let failed = {
            let writer = async move {
                loop {
                    // Room first, then a request: a request taken is never
                    // held where the writer could be dropped with it.
                    let Ok(room) = sent_tx.reserve().await else {
                        return Ok(());
                    };
                    let out = match tokio::time::timeout(OUTBOUND_IDLE, rx.recv()).await {
                        Ok(Some(out)) => out,
                        // Idle, or the event loop dropped the link.
                        Ok(None) | Err(_) => break,
                    };
                    let now = tokio::time::Instant::now();
                    let frame = if now >= out.deadline {
                        Err("not sent within the request timeout".to_string())
                    } else {
                        frame_of(&out.data, self.max_bytes).map_err(|e| e.to_string())
                    };
                    let frame = match frame {
                        Ok(frame) => frame,
                        Err(reason) => {
                            let _ = out.reply.send(Err(NetError::Request { peer, reason }));
                            continue;
                        }
                    };
                    // Counted as written before it is: should the stream
                    // fail as it is written, the request fails with the
                    // reason rather than vanish with the writer.
                    room.send(out);
                    match tokio::time::timeout(self.timeout, async {
                        wr.write_all(&frame).await?;
                        wr.flush().await
                    })
                    .await
                    {
                        Ok(Ok(())) => self.written.fetch_add(1, Ordering::Relaxed),
                        Ok(Err(e)) => return Err(e.to_string()),
                        Err(_) => return Err("the peer does not read its stream".into()),
                    };
                }
                let _ = tokio::time::timeout(self.timeout, wr.close()).await;
                Ok(())
            };
            let reader = async {
                let mut probe = [0u8; 1];
                loop {
                    let deadline = tokio::select! {
                        biased;
                        out = sent_rx.recv() => match out {
                            Some(out) => {
                                let deadline = out.deadline;
                                *lock(head) = Some(out);
                                deadline
                            }
                            None => return Ok(()),
                        },
                        // Nothing in flight: the peer may only close, or
                        // the connection end; nothing is lost either way.
                        r = rd.read(&mut probe) => return match r {
                            Ok(1..) => Err(Some("a reply no request asked for".into())),
                            Ok(0) | Err(_) => Err(None),
                        },
                    };
                    let reason = match tokio::time::timeout_at(
                        deadline,
                        read_or_skip(&mut rd, self.max_bytes),
                    )
                    .await
                    {
                        Ok(Ok(reply)) => {
                            let Some(out) = lock(head).take() else {
                                continue;
                            };
                            let _ = out.reply.send(match reply {
                                Some(reply) if !reply.is_empty() => Ok(reply),
                                Some(_) => Err(NetError::Request {
                                    peer,
                                    reason: "the peer dropped the request unanswered (overloaded, or the request too large for it)".into(),
                                }),
                                None => Err(NetError::Request {
                                    peer,
                                    reason: format!(
                                        "the reply exceeds this node's limit of {} bytes",
                                        self.max_bytes
                                    ),
                                }),
                            });
                            continue;
                        }
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "no reply within the request timeout".into(),
                    };
                    return Err(Some(reason));
                }
            };
            tokio::pin!(writer, reader);
            let mut writing = true;
            loop {
                tokio::select! {
                    w = &mut writer, if writing => {
                        writing = false;
                        if let Err(reason) = w {
                            break Some(Some(reason));
                        }
                    }
                    r = &mut reader => break r.err(),
                }
            }
        };
        let Some(reason) = failed else {
            return Ended::Done;
        };
        // Every request written and not answered fails with the reason.
        sent_rx.close();
        let mut pending: Vec<Outgoing> = lock(head).take().into_iter().collect();
        while let Ok(out) = sent_rx.try_recv() {
            pending.push(out);
        }
        let Some(reason) = reason else {
            // Closed, or its connection gone, with nothing in flight.
            return Ended::Closed;
        };
        for out in pending {
            let _ = out.reply.send(Err(NetError::Request {
                peer,
                reason: reason.clone(),
            }));
        }
        Ended::Failed(reason)
    }
}

/// Reads one frame; `None` for one above `max_bytes`, whose body is read and
/// dropped (up to [`MAX_FRAME_CEILING`]; above that, an error).
async fn read_or_skip<T: futures::AsyncRead + Unpin>(
    io: &mut T,
    max_bytes: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max_bytes.max(MAX_FRAME_CEILING) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {MAX_FRAME_CEILING}"),
        ));
    }
    if len > max_bytes {
        let skipped = futures::io::copy(&mut io.take(len as u64), &mut futures::io::sink()).await?;
        if skipped < len as u64 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        return Ok(None);
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a stream's read failed because the peer refused the protocol.
fn refused_protocol(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<libp2p::core::upgrade::NegotiationError>())
        .is_some_and(|n| matches!(n, libp2p::core::upgrade::NegotiationError::Failed))
}

/// What the event loop knows of the requests peers send on their streams,
/// which the tasks reading them hand to the node themselves: per peer, its
/// streams open, its requests awaiting replies and when it last sent one.
#[derive(Default)]
pub(super) struct Inflow {
    peers: Mutex<HashMap<PeerId, PeerStreams>>,
    received: AtomicU64,
    /// Requests answered with the empty frame at once: the node's queue was
    /// full.
    dropped: AtomicU64,
}

#[derive(Default)]
struct PeerStreams {
    open: usize,
    in_flight: usize,
    /// The last request, until the event loop took it.
    last: Option<Instant>,
}

impl Inflow {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, PeerStreams>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests received on streams since start.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Requests dropped since the last call (the node's queue full).
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }

    /// Peers with a request awaiting its reply.
    pub fn busy_peers(&self) -> Vec<PeerId> {
        self.lock()
            .iter()
            .filter(|(_, s)| s.in_flight > 0)
            .map(|(p, _)| *p)
            .collect()
    }

    /// When each peer last sent a request, for those that did since the last
    /// call.
    pub fn take_last_requests(&self) -> Vec<(PeerId, Instant)> {
        self.lock()
            .iter_mut()
            .filter_map(|(p, s)| s.last.take().map(|t| (*p, t)))
            .collect()
    }

    /// Forgets the peers with nothing open.
    pub fn tidy(&self) {
        self.lock().retain(|_, s| s.open > 0 || s.in_flight > 0);
    }

    /// One of a peer's [`STREAMS_PER_PEER`], if it has one left.
    fn open(self: &Arc<Self>, peer: PeerId) -> Option<Slot> {
        let mut peers = self.lock();
        let s = peers.entry(peer).or_default();
        if s.open >= STREAMS_PER_PEER {
            return None;
        }
        s.open += 1;
        Some(Slot {
            inflow: self.clone(),
            peer,
        })
    }
}

/// One of a peer's inbound streams, given back on drop.
struct Slot {
    inflow: Arc<Inflow>,
    peer: PeerId,
}

impl Slot {
    /// A request read: awaiting its reply while the guard lives.
    fn request(&self) -> Awaiting {
        self.inflow.received.fetch_add(1, Ordering::Relaxed);
        let mut peers = self.inflow.lock();
        let s = peers.entry(self.peer).or_default();
        s.in_flight += 1;
        s.last = Some(Instant::now());
        Awaiting {
            inflow: self.inflow.clone(),
            peer: self.peer,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(s) = self.inflow.lock().get_mut(&self.peer) {
            s.open = s.open.saturating_sub(1);
        }
    }
}

/// A request of a peer's stream awaiting its reply.
struct Awaiting {
    inflow: Arc<Inflow>,
    peer: PeerId,
}

impl Drop for Awaiting {
    fn drop(&mut self) {
        if let Some(s) = self.inflow.lock().get_mut(&self.peer) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }
}

/// How the tasks serving inbound streams are set up.
#[derive(Clone)]
pub(super) struct Serving {
    pub events: mpsc::Sender<NetEvent>,
    pub inflow: Arc<Inflow>,
    pub max_bytes: usize,
    pub timeout: Duration,
}

/// Takes every inbound stream of this protocol until the swarm that gave
/// them is dropped, serving each in a task of its own: its requests go
/// straight to the node, their replies straight back to the stream.
pub(super) async fn accept(mut incoming: mpsc::Receiver<InboundStream>, serving: Serving) {
    while let Some(InboundStream { peer, stream, live }) = incoming.recv().await {
        let Some(slot) = serving.inflow.open(peer) else {
            tracing::debug!(%peer, "peer opened more request streams than allowed; reset");
            drop(stream);
            continue;
        };
        tokio::spawn(serve(peer, stream, serving.clone(), (slot, live)));
    }
}

/// Reads a peer's requests from one stream and writes the node's replies
/// back in the same order.
async fn serve(peer: PeerId, stream: Stream, serving: Serving, held: (Slot, Live)) {
    // Held until the stream is done, replies owed included.
    let slot = &held.0;
    let Serving {
        events,
        inflow,
        max_bytes,
        timeout,
    } = serving;
    let (mut rd, mut wr) = stream.split();
    let greeted = tokio::time::timeout(timeout, async {
        wr.write_all(&[GREETING]).await?;
        wr.flush().await
    })
    .await;
    if !matches!(greeted, Ok(Ok(()))) {
        return;
    }
    // Each request's reply, and until when the node may take to give it.
    type Owed = (oneshot::Receiver<Vec<u8>>, Awaiting, tokio::time::Instant);
    let (pending_tx, mut pending_rx) = mpsc::channel::<Owed>(IN_FLIGHT - 1);
    // A reply the node has not given by then is the empty frame: the
    // requester, whose own deadline for it is the request timeout from
    // when it sent it, hears of that one failing alone instead of losing
    // every request behind it on the stream.
    let reply_within = timeout * 3 / 4;
    // Ok when the peer closed its side (the replies owed are still
    // written), Err when the stream failed (nothing more is written).
    let reader = async move {
        loop {
            // At most IN_FLIGHT requests await the node: the stream is not
            // read further until one is answered.
            let Ok(room) = pending_tx.reserve().await else {
                return Ok(());
            };
            let data =
                match tokio::time::timeout(INBOUND_IDLE, read_or_skip(&mut rd, max_bytes)).await {
                    Ok(Ok(Some(data))) if !data.is_empty() => Some(data),
                    // Too large for this node: that request fails alone.
                    Ok(Ok(None)) => None,
                    Ok(Ok(Some(_))) => return Err("an empty request frame".to_string()),
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                    Ok(Err(e)) => return Err(e.to_string()),
                    // Idle: closed as if the peer had.
                    Err(_) => return Ok(()),
                };
            let awaiting = slot.request();
            let due = tokio::time::Instant::now() + reply_within;
            let (reply, rx) = oneshot::channel();
            if let Some(data) = data {
                let ev = NetEvent::Request {
                    id: InboundId(Inbound::Stream(reply)),
                    peer,
                    data,
                };
                // As the event loop does for every event: never waits. A
                // full queue drops the request (its reply, the empty frame).
                match events.try_send(ev) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        inflow.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return Ok(()),
                }
            }
            room.send((rx, awaiting, due));
        }
    };
    let writer = async move {
        while let Some((rx, _awaiting, due)) = pending_rx.recv().await {
            // Dropped unanswered, or not answered in time: the empty frame.
            let mut reply = match tokio::time::timeout_at(due, rx).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(_)) => Vec::new(),
                Err(_) => {
                    tracing::debug!(%peer, "the node did not reply in time; the empty frame sent");
                    Vec::new()
                }
            };
            if reply.len() > max_bytes {
                tracing::debug!(%peer, bytes = reply.len(), "reply above the frame limit not sent");
                reply.clear();
            }
            let frame = frame_of(&reply, max_bytes)?;
            tokio::time::timeout(timeout, async {
                wr.write_all(&frame).await?;
                wr.flush().await
            })
            .await
            .map_err(|_| std::io::Error::other("the peer does not read its replies"))??;
        }
        tokio::time::timeout(timeout, wr.close())
            .await
            .map_err(|_| std::io::Error::other("the stream did not close in time"))?
    };
    tokio::pin!(reader, writer);
    let mut reading = true;
    loop {
        tokio::select! {
            r = &mut reader, if reading => match r {
                Ok(()) => reading = false,
                Err(reason) => {
                    tracing::debug!(%peer, %reason, "request stream closed");
                    return;
                }
            },
            w = &mut writer => {
                if let Err(e) = w {
                    tracing::debug!(%peer, error = %e, "request stream closed");
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the event loop reads of inbound streams: a peer's streams are
    /// bounded and given back, a request counts as in flight until its
    /// reply is written, and its time reaches the link pruning once.
    #[test]
    fn inflow_counts_streams_and_requests_in_flight() {
        let inflow = Arc::new(Inflow::default());
        let peer = PeerId::random();
        let one = inflow.open(peer).expect("a first stream");
        let two = inflow.open(peer).expect("a second stream");
        assert!(inflow.open(peer).is_none(), "a third stream at once");
        assert!(inflow.open(PeerId::random()).is_some(), "another peer's");
        drop(two);
        let two = inflow.open(peer).expect("a stream given back");
        assert!(inflow.busy_peers().is_empty());
        let awaiting = one.request();
        assert_eq!(inflow.busy_peers(), vec![peer]);
        assert_eq!(inflow.received(), 1);
        let last = inflow.take_last_requests();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].0, peer);
        assert!(inflow.take_last_requests().is_empty(), "taken once");
        drop(awaiting);
        assert!(inflow.busy_peers().is_empty());
        drop((one, two));
        inflow.tidy();
        assert!(inflow.lock().is_empty(), "peers with nothing open");
    }
}
