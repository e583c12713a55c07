//! One peer link: this node's client session on a peer's internal port, holding the
//! replication subscriptions. Exactly one per peer endpoint; it reconnects (and
//! re-subscribes) by itself until it is stopped, and stopping it closes the client for good.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::sequencer::{Outcome, ReplayRequest, Sequencer};
use crate::client::{Client, ClientOptions, Event, OnOptions, Status};
use crate::metrics::Metrics;

/// Receives every event a link's subscriptions deliver, in the origin's order, with the
/// peer's name.
pub type EventSink = Arc<dyn Fn(Event, &str) + Send + Sync>;

/// Told when events from a peer were lost for good: (peer name, how many).
pub type GapSink = Arc<dyn Fn(&str, u64) + Send + Sync>;

/// What every link of a node shares.
pub struct LinkContext {
    /// This node's keys and identity: every link proves membership with them (and makes
    /// the peer prove its own) before it subscribes to anything.
    pub authority: Arc<crate::trust::PeerAuthority>,
    /// The masks subscribed to on every peer.
    pub masks: Vec<String>,
    /// Where received events go.
    pub sink: EventSink,
    /// Where lost events are reported.
    pub on_gap: GapSink,
    /// Each peer endpoint's receiving state, kept across its links (a re-created link
    /// resumes where the last one stopped).
    pub sequencers: Mutex<HashMap<String, Arc<Mutex<Sequencer>>>>,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// Pause between failed connection attempts.
    pub retry_interval: Duration,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

/// How a link stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStatus {
    /// Logged in to the peer.
    pub connected: bool,
    /// Every replication subscription is held.
    pub subscribed: bool,
    /// The peer's node name, once known.
    pub name: Option<String>,
    /// The last connection error, if the link is down.
    pub error: Option<String>,
    /// Events received over this link and delivered here (once each).
    pub events_in: u64,
}

/// A running link.
pub struct PeerLink {
    status: watch::Receiver<LinkStatus>,
    events_in: Arc<std::sync::atomic::AtomicU64>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl PeerLink {
    /// Starts dialling `endpoint` (`host:port` of its internal port).
    pub fn start(endpoint: &str, context: Arc<LinkContext>) -> PeerLink {
        let (status_tx, status) = watch::channel(LinkStatus::default());
        let (stop, stop_rx) = watch::channel(false);
        let url = format!("http://{endpoint}");
        let events_in = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sequencer = context
            .sequencers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(endpoint.to_string())
            .or_default()
            .clone();
        let task = tokio::spawn(run(
            endpoint.to_string(),
            url,
            context,
            sequencer,
            events_in.clone(),
            status_tx,
            stop_rx,
        ));
        PeerLink {
            status,
            events_in,
            stop,
            task,
        }
    }

    /// The link's current status.
    pub fn status(&self) -> LinkStatus {
        LinkStatus {
            events_in: self.events_in.load(std::sync::atomic::Ordering::Relaxed),
            ..self.status.borrow().clone()
        }
    }

    /// Stops the link: the client is closed for good (no reconnect) and the task joined.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(3), self.task)
            .await
            .is_err()
        {
            tracing::warn!("peer link did not stop in time");
        }
    }
}

/// Delivers what the sequencer released (counting it as received from the peer, once
/// each) and counts the rest.
fn apply(
    out: Outcome,
    context: &LinkContext,
    peer: &str,
    received: &std::sync::atomic::AtomicU64,
) -> Option<ReplayRequest> {
    received.fetch_add(
        out.deliver.len() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    for event in out.deliver {
        (context.sink)(event, peer);
    }
    context.metrics.replication_duplicates.add(out.duplicates);
    if out.lost > 0 {
        context.metrics.replication_lost.add(out.lost);
        (context.on_gap)(peer, out.lost);
    }
    out.replay
}

fn lock(sequencer: &Mutex<Sequencer>) -> std::sync::MutexGuard<'_, Sequencer> {
    sequencer.lock().unwrap_or_else(|p| p.into_inner())
}

/// Asks the peer to replay what this node missed, and settles the sequencer with its answer.
async fn replay(
    client: &Client,
    request: ReplayRequest,
    sequencer: &Mutex<Sequencer>,
    context: &LinkContext,
    peer: &str,
    again: &mpsc::UnboundedSender<ReplayRequest>,
    received: &std::sync::atomic::AtomicU64,
) {
    context.metrics.replay_requests.inc();
    let data = json!({"epoch": request.epoch, "after": request.after});
    match client.request("replay", None, data, None).await {
        Ok(reply) => {
            let answer = reply.get("data").cloned().unwrap_or(Value::Null);
            let epoch = answer
                .get("epoch")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let missed = answer.get("missed").and_then(Value::as_u64).unwrap_or(0);
            let upto = answer.get("upto").and_then(Value::as_u64).unwrap_or(0);
            let more = answer.get("more").and_then(Value::as_bool).unwrap_or(false);
            if answer.get("ready").and_then(Value::as_bool) == Some(false) {
                // The peer has not seen this link's subscriptions yet (the client re-makes
                // them after a reconnect): ask again in a moment.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = again.send(request);
                return;
            }
            if missed > 0 {
                tracing::warn!(%peer, missed, "events older than the peer's replay buffer were lost");
            }
            // Delivered under the sequencer's lock, so live events cannot overtake.
            let mut state = lock(sequencer);
            let out = state.replayed(epoch, missed, upto, more);
            if let Some(request) = apply(out, context, peer, received) {
                let _ = again.send(request);
            }
        }
        Err(e) => {
            tracing::debug!(%peer, error = %e, "replay request failed; the next reconnect asks again")
        }
    }
}

async fn run(
    endpoint: String,
    url: String,
    context: Arc<LinkContext>,
    sequencer: Arc<Mutex<Sequencer>>,
    events_in: Arc<std::sync::atomic::AtomicU64>,
    status: watch::Sender<LinkStatus>,
    mut stop: watch::Receiver<bool>,
) {
    let (replays, mut replay_requests) = mpsc::unbounded_channel::<ReplayRequest>();
    let mut options = ClientOptions::new(url.clone());
    options.authenticator = Some(Arc::new(super::peer_proof::PeerProof {
        authority: context.authority.clone(),
        endpoint,
    }));
    // The link's own loop retries with a fresh client; a client's internal reconnects cover
    // short drops.
    options.call_timeout = context.connect_timeout;
    let mut first = true;
    loop {
        if !first {
            context.metrics.peer_link_reconnects.inc();
        }
        first = false;
        let attempt =
            tokio::time::timeout(context.connect_timeout, Client::connect(options.clone()));
        let outcome = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            attempt = attempt => attempt,
        };
        let client = match outcome {
            Ok(Ok(client)) => client,
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "connection timed out".to_string(),
                };
                down(&status, error);
                if pause(&mut stop, context.retry_interval).await {
                    return;
                }
                continue;
            }
        };
        let name = client.session().and_then(|s| {
            s.pointer("/happn/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let peer = name.clone().unwrap_or_else(|| url.clone());
        // Before the first subscription, learn where the peer's numbering stands: every
        // event after that is ours, even if a fault hits before the first one arrives.
        if !lock(&sequencer).started()
            && let Ok(reply) = client
                .request("replay", None, json!({"head": true}), None)
                .await
        {
            let answer = reply.get("data").cloned().unwrap_or(Value::Null);
            if let Some(epoch) = answer.get("epoch").and_then(Value::as_str) {
                let head = answer.get("upto").and_then(Value::as_u64).unwrap_or(0);
                lock(&sequencer).baseline(epoch, head);
            }
        }
        let mut subscribed = true;
        for mask in &context.masks {
            let context = context.clone();
            let peer = peer.clone();
            let counter = events_in.clone();
            let sequencer = sequencer.clone();
            let replays = replays.clone();
            if let Err(e) = client
                .on(mask, OnOptions::default(), move |event| {
                    // A peer forwards only its own publications: another origin is a lie.
                    // (Read in place: the sequencer parses the whole stamp next.)
                    if let Some(origin) = event
                        .meta
                        .pointer("/replication/origin")
                        .and_then(Value::as_str)
                        && origin != peer
                    {
                        context.metrics.replication_errors.inc();
                        tracing::warn!(peer = %peer, origin = ?origin, "event with another node's origin refused");
                        return;
                    }
                    let mut state = lock(&sequencer);
                    let out = state.accept(event);
                    if let Some(request) = apply(out, &context, &peer, &counter) {
                        let _ = replays.send(request);
                    }
                })
                .await
            {
                tracing::error!(%url, mask, error = %e, "could not subscribe to a peer");
                subscribed = false;
                break;
            }
        }
        if !subscribed {
            client.disconnect().await;
            down(&status, "replication subscription refused".into());
            if pause(&mut stop, context.retry_interval).await {
                return;
            }
            continue;
        }
        status.send_replace(LinkStatus {
            connected: true,
            subscribed: true,
            name: name.clone(),
            error: None,
            events_in: 0,
        });
        tracing::info!(%url, peer = %peer, "peer link up");
        // Resume: whatever was published while this node was not subscribed.
        let resume = |replays: &mpsc::UnboundedSender<ReplayRequest>| {
            let mut state = lock(&sequencer);
            if let Some(request) = state.resume_point() {
                state.replay_requested();
                let _ = replays.send(request);
            }
        };
        resume(&replays);
        let mut client_status = client.watch_status();
        let gone = loop {
            tokio::select! {
                // Mapped to (): the watch guard must not live across the replay's await.
                () = async { let _ = stop.wait_for(|s| *s).await; } => break false,
                Some(request) = replay_requests.recv() => {
                    replay(&client, request, &sequencer, &context, &peer, &replays, &events_in).await;
                }
                changed = client_status.changed() => {
                    let now = *client_status.borrow();
                    match (changed, now) {
                        (Err(_), _) | (_, Status::Disconnected) => break true,
                        (_, Status::Active) => {
                            status.send_modify(|s| { s.connected = true; s.subscribed = true; s.error = None; });
                            resume(&replays);
                        }
                        (_, Status::Reconnecting) => {
                            context.metrics.peer_link_reconnects.inc();
                            status.send_modify(|s| { s.connected = false; s.subscribed = false; });
                        }
                    }
                }
            }
        };
        client.disconnect().await;
        if !gone {
            return;
        }
        down(&status, "connection closed".into());
        if pause(&mut stop, context.retry_interval).await {
            return;
        }
    }
}

fn down(status: &watch::Sender<LinkStatus>, error: String) {
    status.send_modify(|s| {
        s.connected = false;
        s.subscribed = false;
        s.error = Some(error);
    });
}

/// Waits `interval`; true if the link was stopped meanwhile.
async fn pause(stop: &mut watch::Receiver<bool>, interval: Duration) -> bool {
    tokio::select! {
        _ = stop.wait_for(|s| *s) => true,
        _ = tokio::time::sleep(interval) => false,
    }
}
