//! One WebSocket connection: a reader task and a writer task bridging the socket and the
//! two queues of a [`Connection`], plus primus heartbeats.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use happn_cluster_sdk::{
    ByteBudget, Connection, ConnectionInfo, Inbound, Outbound, ServeOptions, Termination,
    Terminator,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Which side of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We accepted it: we send pings and expect pongs.
    Server,
    /// We dialled it: we answer pings and expect them regularly.
    Client,
}

/// Frames above this many times the configured limit close the connection (the socket layer
/// refuses to buffer them); frames between the limit and this cap get an error reply.
const HARD_CAP_FACTOR: usize = 2;
const HEAD_BYTES: usize = 512;
/// Frames written before one flush.
const MAX_BATCH: usize = 64;
/// Socket read buffer per connection. Small, because idle connections dominate a server's
/// memory (and it is zeroed per read); larger frames grow it as needed.
const READ_BUFFER_BYTES: usize = 2 * 1024;
/// Frames queued from the socket to the host (bytes are bounded separately).
const INBOUND_FRAMES: usize = 64;

pub(crate) use crate::slots::Slot;

/// tungstenite settings for the configured limits.
pub fn ws_config(options: &ServeOptions) -> WebSocketConfig {
    let cap = options
        .max_message_bytes
        .saturating_mul(HARD_CAP_FACTOR)
        .saturating_add(64 * 1024);
    WebSocketConfig::default()
        .max_message_size(Some(cap))
        .max_frame_size(Some(cap))
        .read_buffer_size(READ_BUFFER_BYTES)
}

/// When the peer was last heard from, on the monotonic clock (wall-clock steps never make
/// peers look dead or alive).
pub(crate) struct Clock {
    start: std::time::Instant,
    last_seen_ms: AtomicU64,
}

impl Clock {
    fn new() -> Self {
        Clock {
            start: std::time::Instant::now(),
            last_seen_ms: AtomicU64::new(0),
        }
    }

    fn heard(&self) {
        self.last_seen_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn silent_for_ms(&self) -> u64 {
        (self.start.elapsed().as_millis() as u64)
            .saturating_sub(self.last_seen_ms.load(Ordering::Relaxed))
    }
}

fn millis_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A primus control message carried as a JSON string, if `text` is one.
fn primus_control(text: &str) -> Option<String> {
    if !text.starts_with("\"primus::") {
        return None;
    }
    serde_json::from_str::<String>(text).ok()
}

/// Spawns the reader and writer tasks for an established WebSocket.
pub fn spawn<S>(
    stream: WebSocketStream<S>,
    info: ConnectionInfo,
    options: ServeOptions,
    role: Role,
    slot: Option<Slot>,
) -> Connection
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (outbound_tx, outbound_rx) = mpsc::channel(options.outbound_queue.max(1));
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_FRAMES);
    let outbound_bytes = ByteBudget::new(options.outbound_bytes);
    let inbound_bytes = ByteBudget::new(options.max_message_bytes);
    let slot = slot.map(Arc::new);
    let (terminator, terminate_rx) = Terminator::new();
    let (sink, source) = stream.split();
    let clock = Arc::new(Clock::new());
    let (control_tx, control_rx) = mpsc::channel::<String>(8);
    let (stop_tx, stop_rx) = oneshot::channel::<String>();
    let reader = Reader {
        inbound: inbound_tx,
        budget: inbound_bytes.clone(),
        control: control_tx,
        clock: clock.clone(),
        max_message_bytes: options.max_message_bytes,
        role,
    };
    let reader_slot = slot.clone();
    tokio::spawn(async move {
        reader.run(source, stop_rx).await;
        drop(reader_slot);
    });
    let written = outbound_bytes.clone();
    tokio::spawn(async move {
        write_loop(
            sink,
            outbound_rx,
            control_rx,
            terminate_rx,
            clock,
            options,
            stop_tx,
            role,
            &written,
        )
        .await;
        // Nothing more will be written: a host waiting for room must not wait forever.
        written.close();
        drop(slot);
    });
    Connection {
        info,
        outbound: outbound_tx,
        outbound_bytes,
        inbound: inbound_rx,
        inbound_bytes,
        terminator,
    }
}

/// The socket-reading half of a connection.
struct Reader {
    inbound: mpsc::Sender<Inbound>,
    /// Bytes queued to the host and not handled yet: reading pauses while it is spent.
    budget: Arc<ByteBudget>,
    control: mpsc::Sender<String>,
    clock: Arc<Clock>,
    max_message_bytes: usize,
    role: Role,
}

impl Reader {
    async fn run<S>(
        self,
        mut source: futures_util::stream::SplitStream<WebSocketStream<S>>,
        mut stop: oneshot::Receiver<String>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let reason = loop {
            let message = tokio::select! {
                reason = &mut stop => break reason.unwrap_or_else(|_| "closed".into()),
                message = source.next() => message,
            };
            let message = match message {
                None => break "connection closed by peer".to_string(),
                Some(Err(e)) => break format!("socket error: {e}"),
                Some(Ok(message)) => message,
            };
            self.clock.heard();
            let forward = match message {
                Message::Text(text) => match self.text_frame(text.as_str()) {
                    Ok(Some(forward)) => forward,
                    Ok(None) => continue,
                    Err(reason) => break reason,
                },
                Message::Binary(_) => {
                    Inbound::Rejected("binary frames are not supported; send JSON text".into())
                }
                Message::Close(frame) => {
                    break frame
                        .map(|f| format!("closed by peer: {} {}", u16::from(f.code), f.reason))
                        .unwrap_or_else(|| "closed by peer".into());
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            // Backpressure: while the host has a full budget of unhandled bytes, stop reading
            // the socket (the peer's sends then block in TCP).
            let bytes = forward.queued_bytes();
            let admitted = tokio::select! {
                reason = &mut stop => break reason.unwrap_or_else(|_| "closed".into()),
                admitted = self.budget.take(bytes) => admitted,
            };
            if !admitted || self.inbound.send(forward).await.is_err() {
                break "host dropped the connection".to_string();
            }
        };
        self.budget.close();
        let _ = self.inbound.send(Inbound::Closed(reason)).await;
    }

    /// What a text frame becomes: a control message handled here (`None`), a frame for the
    /// host, or the end of the connection.
    fn text_frame(&self, text: &str) -> Result<Option<Inbound>, String> {
        if let Some(control_text) = primus_control(text) {
            if let Some(stamp) = control_text.strip_prefix("primus::ping::") {
                // Legacy client pings (server role) or server pings (client role).
                let _ = self.control.try_send(format!("primus::pong::{stamp}"));
            } else if self.role == Role::Client && control_text == "primus::server::close" {
                return Err("server closed the connection (no reconnect)".to_string());
            }
            return Ok(None);
        }
        if text.len() > self.max_message_bytes {
            let mut cut = HEAD_BYTES.min(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return Ok(Some(Inbound::Oversized {
                size: text.len(),
                head: text[..cut].to_string(),
            }));
        }
        Ok(Some(Inbound::Text(text.to_string())))
    }
}

/// What one writer step decided.
enum Step {
    /// Keep going.
    Continue,
    /// Stop, for this reason.
    Stop(String),
}

/// One writer iteration: wait for a frame, a control message or a heartbeat tick and write
/// it, each write bounded by `dead_after`.
#[allow(clippy::too_many_arguments)]
async fn writer_step<S>(
    sink: &mut Sink<S>,
    outbound: &mut mpsc::Receiver<Outbound>,
    control: &mut mpsc::Receiver<String>,
    ping: &mut tokio::time::Interval,
    clock: &Clock,
    options: &ServeOptions,
    role: Role,
    written: &ByteBudget,
) -> Step
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let deadline = options.dead_after;
    let bounded = |result: Result<Result<(), String>, tokio::time::error::Elapsed>| match result {
        Ok(Ok(())) => Step::Continue,
        Ok(Err(e)) => Step::Stop(e),
        Err(_) => Step::Stop(format!(
            "peer not reading: a write stalled for {} ms",
            deadline.as_millis()
        )),
    };
    tokio::select! {
        biased;
        frame = control.recv() => match frame {
            // The reader is gone: the connection is over.
            None => Step::Stop("reader finished".into()),
            Some(frame) => {
                let text = serde_json::Value::String(frame).to_string();
                bounded(tokio::time::timeout(deadline, async {
                    sink.send(Message::text(text)).await.map_err(|e| format!("write failed: {e}"))
                }).await)
            }
        },
        item = outbound.recv() => match item {
            Some(Outbound::Text(text)) => {
                match tokio::time::timeout(deadline, write_batch(sink, text, outbound, written)).await {
                    Ok(Ok(None)) => Step::Continue,
                    Ok(Ok(Some(reconnect))) => {
                        close_notice(sink, reconnect, deadline).await;
                        Step::Stop("closed by host".into())
                    }
                    Ok(Err(e)) => Step::Stop(e),
                    Err(_) => Step::Stop(format!(
                        "peer not reading: a write stalled for {} ms",
                        deadline.as_millis()
                    )),
                }
            }
            Some(Outbound::Close { reconnect }) => {
                close_notice(sink, reconnect, deadline).await;
                Step::Stop("closed by host".into())
            }
            None => Step::Stop("host dropped the connection".into()),
        },
        _ = ping.tick() => {
            let silent_for = clock.silent_for_ms();
            if silent_for > deadline.as_millis() as u64 {
                return Step::Stop(format!("peer silent for {silent_for} ms: considered dead"));
            }
            if role != Role::Server {
                return Step::Continue;
            }
            let text = serde_json::Value::String(format!("primus::ping::{}", millis_now())).to_string();
            bounded(tokio::time::timeout(deadline, async {
                sink.send(Message::text(text)).await.map_err(|e| format!("write failed: {e}"))
            }).await)
        }
    }
}

async fn close_notice<S>(sink: &mut Sink<S>, reconnect: bool, deadline: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if !reconnect {
        let _ = tokio::time::timeout(deadline, async {
            sink.send(Message::text("\"primus::server::close\"")).await
        })
        .await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn write_loop<S>(
    mut sink: Sink<S>,
    mut outbound: mpsc::Receiver<Outbound>,
    mut control: mpsc::Receiver<String>,
    mut terminate: watch::Receiver<Option<Termination>>,
    clock: Arc<Clock>,
    options: ServeOptions,
    stop_reader: oneshot::Sender<String>,
    role: Role,
    written: &ByteBudget,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + options.ping_interval,
        options.ping_interval,
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Once every Terminator handle is dropped, nobody can terminate: stop watching.
    let mut terminator_alive = true;
    let reason = loop {
        enum Next {
            Step(Step),
            Terminated(Option<Termination>),
            TerminatorGone,
        }
        // Termination is watched around every step, so a write blocked on a peer that does
        // not read never delays it.
        let next = tokio::select! {
            biased;
            changed = terminate.changed(), if terminator_alive => match changed {
                Ok(()) => Next::Terminated(terminate.borrow().clone()),
                Err(_) => Next::TerminatorGone,
            },
            step = writer_step(&mut sink, &mut outbound, &mut control, &mut ping, &clock, &options, role, written) => Next::Step(step),
        };
        match next {
            Next::Step(Step::Continue) | Next::Terminated(None) => {}
            Next::Step(Step::Stop(reason)) => break reason,
            Next::TerminatorGone => terminator_alive = false,
            Next::Terminated(Some(termination)) => {
                finish(&mut sink, termination).await;
                break "terminated by host".to_string();
            }
        }
    };
    tracing::debug!(%reason, "websocket writer finished");
    let _ = stop_reader.send(reason);
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        let _ = sink.send(Message::Close(None)).await;
        let _ = sink.close().await;
    })
    .await;
}

type Sink<S> = futures_util::stream::SplitSink<WebSocketStream<S>, Message>;

/// Writes `first` and whatever else is queued, then flushes once. Returns `Some(reconnect)`
/// when a close request was found in the queue.
async fn write_batch<S>(
    sink: &mut Sink<S>,
    first: std::sync::Arc<str>,
    outbound: &mut mpsc::Receiver<Outbound>,
    written: &ByteBudget,
) -> Result<Option<bool>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Bytes are given back once flushed: the host's write marks then mean "on the socket".
    let mut fed = first.len();
    let result = feed_queued(sink, first, outbound, &mut fed).await;
    let flushed = match result {
        Ok(close) => sink
            .flush()
            .await
            .map(|()| close)
            .map_err(|e| format!("write failed: {e}")),
        Err(e) => Err(e),
    };
    written.give_back(fed);
    flushed
}

/// Feeds `first` and up to a batch of what is queued behind it; adds their bytes to `fed`.
async fn feed_queued<S>(
    sink: &mut Sink<S>,
    first: std::sync::Arc<str>,
    outbound: &mut mpsc::Receiver<Outbound>,
    fed: &mut usize,
) -> Result<Option<bool>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    sink.feed(Message::text(first.as_ref()))
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    // Bounded, so heartbeats and termination are looked at between batches even when the
    // queue never empties.
    let mut batched = 1;
    while batched < MAX_BATCH
        && let Ok(next) = outbound.try_recv()
    {
        batched += 1;
        match next {
            Outbound::Text(text) => {
                *fed += text.len();
                sink.feed(Message::text(text.as_ref()))
                    .await
                    .map_err(|e| format!("write failed: {e}"))?;
            }
            Outbound::Close { reconnect } => return Ok(Some(reconnect)),
        }
    }
    Ok(None)
}

/// Best-effort last words before an immediate close: a peer that does not read gets a
/// bounded wait, not a hang.
async fn finish<S>(sink: &mut Sink<S>, termination: Termination)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        for words in termination.last_words {
            sink.feed(Message::text(words.as_ref())).await?;
        }
        if !termination.reconnect {
            sink.feed(Message::text("\"primus::server::close\""))
                .await?;
        }
        sink.flush().await
    })
    .await;
}
