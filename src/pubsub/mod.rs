//! Subscriptions and publication: the subscription index, fan-out to [`Recipient`]s in
//! publish order, acknowledgement tracking for ACKNOWLEDGED publications (with its own
//! expiry loop), and the two cluster hooks (a replication sink seeing every local
//! publication, and injection of remote ones). It knows nothing of sessions or security:
//! recipients answer for themselves.

mod acks;
mod publication;
mod recipient;
pub mod replay;

pub use acks::{AckTracker, MAX_PENDING_PER_PUBLISHER};
pub use publication::{Origin, Publication, RESERVED_META};
pub use recipient::{Recipient, WriteMark};
pub use replay::{ReplayLimits, ReplayWindow, Stamp};

use std::sync::{Arc, Mutex, RwLock};

use rustc_hash::FxHashSet;
use serde::Serialize;

use crate::lifecycle::Shutdown;
use crate::metrics::Metrics;
use crate::path::{EventFilter, Mask, SubId, SubscriptionIndex};
use crate::protocol::event_frame;

/// The cluster replicator's channel: its publications reach cluster peers only (they carry
/// security changesets and custom cluster messages, not client data).
pub const PEERS_ONLY_PATH: &str = "/__REPLICATE";

/// One live subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Who receives its events.
    pub recipient: Arc<dyn Recipient>,
    /// The client's channel key (`/SET@/a/*`), echoed in every event.
    pub channel: Arc<str>,
    /// The mask text (the channel without its `/ACTION@` prefix), re-authorized when
    /// permissions change.
    pub mask: Arc<str>,
    /// Ask [`Recipient::may_receive`] for every event (restricted sessions: a prohibit may
    /// cover part of what the mask matches).
    pub checked: bool,
    /// Deliver the posted fields (not the merged record) for merge writes.
    pub merge: bool,
    /// Depth of a trailing `**`, echoed as `_meta.depth`.
    pub depth: Option<u32>,
}

/// Sees every publication made on this node (the cluster replicator plugs in here).
pub trait ReplicationSink: Send + Sync + 'static {
    /// Called after local delivery, in publish order, under the publisher's lock: keep it
    /// quick (hand the publication to a queue).
    fn publication(&self, publication: &Publication);
}

/// What happened to one publication's deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PublishResults {
    /// Event frames queued.
    pub successful: u32,
    /// Recipients that could not take the event (closed or slow).
    pub failed: u32,
    /// Recipients filtered out (`targetClients`, `noCluster`).
    pub skipped: u32,
    /// Recipients the event was queued for (happn-3's count): `successful + failed`.
    pub queued: u32,
}

/// The publisher and its subscription index.
pub struct PubSub {
    index: Mutex<SubscriptionIndex<Subscription>>,
    sink: RwLock<Option<Arc<dyn ReplicationSink>>>,
    /// Numbered publications kept for peers (taken under the index lock, after it).
    replay: Mutex<Option<replay::ReplayLog>>,
    /// The last number sent to each peer session (the `prev` of its next event).
    sent_to_peers: Mutex<rustc_hash::FxHashMap<String, u64>>,
    /// Whether publications are numbered and kept now: only while the node has peers (a
    /// lone node keeps nothing). A peer's first `replay {head}` turns it on at once.
    replay_active: std::sync::atomic::AtomicBool,
    /// Peer sessions catching up through replays in parts: live events are not queued for
    /// them (the next part carries them) until a replay reaches the newest publication.
    catching_up: Mutex<rustc_hash::FxHashSet<String>>,
    acks: AckTracker,
    metrics: Arc<Metrics>,
}

impl PubSub {
    /// An empty publisher whose ACKNOWLEDGED publications wait `acknowledge_timeout`.
    pub fn new(metrics: Arc<Metrics>, acknowledge_timeout: std::time::Duration) -> Self {
        PubSub {
            index: Mutex::new(SubscriptionIndex::new()),
            sink: RwLock::new(None),
            replay: Mutex::new(None),
            sent_to_peers: Mutex::new(rustc_hash::FxHashMap::default()),
            catching_up: Mutex::new(FxHashSet::default()),
            replay_active: std::sync::atomic::AtomicBool::new(false),
            acks: AckTracker::new(acknowledge_timeout),
            metrics,
        }
    }

    fn index(&self) -> std::sync::MutexGuard<'_, SubscriptionIndex<Subscription>> {
        // A panic while holding the lock cannot leave the index half-updated in a way that
        // matters more than losing every subscription, so keep serving.
        self.index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a subscription.
    pub fn subscribe(&self, mask: &Mask, filter: EventFilter, subscription: Subscription) -> SubId {
        self.index().insert(mask, filter, subscription)
    }

    /// Removes a subscription; true if it existed.
    pub fn unsubscribe(&self, id: SubId) -> bool {
        self.index().remove(id).is_some()
    }

    /// Removes several subscriptions under one hold of the index lock.
    pub fn unsubscribe_many(&self, ids: &[SubId]) {
        let mut index = self.index();
        for id in ids {
            index.remove(*id);
        }
    }

    /// Forgets what was sent to recipient `id` (its session ended).
    pub fn forget_recipient(&self, id: &str) {
        self.sent_to_peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.catching_up
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// The channel a subscription was made on, if it is still live.
    pub fn channel_of(&self, id: SubId) -> Option<Arc<str>> {
        self.index().get(id).map(|s| s.channel.clone())
    }

    /// Number of live subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.index().len()
    }

    /// Installs the replication sink (replacing any previous one).
    pub fn set_replication_sink(&self, sink: Arc<dyn ReplicationSink>) {
        if let Ok(mut slot) = self.sink.write() {
            *slot = Some(sink);
        }
    }

    /// Starts numbering this node's publications for peers (`origin` is the node name) and
    /// keeping them within `limits` for replay.
    pub fn enable_replay(&self, origin: &str, limits: ReplayLimits) {
        *self.replay.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(replay::ReplayLog::new(origin, limits));
    }

    /// Replays to recipient `id` (a peer that last saw number `after` of `epoch`) every kept
    /// publication it missed that its subscriptions match, in order, under the publisher's
    /// lock (so nothing published meanwhile overtakes them). Returns the window (what was
    /// lost for good) and how many events were sent; None without replay.
    pub fn replay_to(&self, id: &str, epoch: &str, after: u64) -> Option<(ReplayWindow, u64)> {
        let index = self.index();
        let log = self.replay.lock().unwrap_or_else(|p| p.into_inner());
        let log = log.as_ref()?;
        let mut window = log.window(epoch, after);
        if index.ids_where(|s| s.recipient.id() == id).is_empty() {
            // Asked before its subscriptions were re-made: settling now would skip what
            // they will match.
            window.ready = false;
            window.upto = after;
            return Some((window, 0));
        }
        let mut sent = 0;
        let mut prev = after;
        let mut last_sent = self.sent_to_peers.lock().unwrap_or_else(|p| p.into_inner());
        for (seq, _, publication) in log.since(window.from) {
            let stamp = log.stamp(*seq, prev, id);
            let mut channels: Vec<&Subscription> = Vec::new();
            index.for_each_match(&publication.path, publication.kind, |_, s| {
                if s.recipient.id() == id
                    && admits(publication, s)
                    && !channels.iter().any(|c| c.channel == s.channel)
                {
                    channels.push(s);
                }
            });
            for sub in channels {
                let frame: Arc<str> =
                    peer_frame(publication, &sub.channel, sub.depth, &stamp).into();
                if !sub.recipient.offer(frame) {
                    // What does not fit now is sent on the next request: the requester has
                    // everything before this publication. Until a replay reaches the newest
                    // publication, live events for it wait for the replay too.
                    window.upto = seq - 1;
                    window.more = true;
                    self.metrics.replayed_events.add(sent);
                    self.catching_up
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id.to_string());
                    return Some((window, sent));
                }
                sent += 1;
                prev = *seq;
                let entry = last_sent.entry(id.to_string()).or_insert(0);
                *entry = (*entry).max(*seq);
            }
        }
        self.metrics.replayed_events.add(sent);
        self.catching_up
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        Some((window, sent))
    }

    /// This node's epoch and its newest publication number (None without replay): a peer
    /// asks before it first subscribes, and replays after this number later cover
    /// whatever a fault made it miss from the start.
    pub fn replay_head(&self) -> Option<(Arc<str>, u64)> {
        let _index = self.index();
        self.replay_active
            .store(true, std::sync::atomic::Ordering::Release);
        let log = self.replay.lock().unwrap_or_else(|p| p.into_inner());
        log.as_ref().map(|log| {
            let window = log.window("", 0);
            (window.epoch, window.upto)
        })
    }

    /// Sends `frame` once to every recipient holding a subscription, peers excepted (system
    /// notices such as a replication gap).
    pub fn notify_subscribers(&self, frame: &str) -> usize {
        let index = self.index();
        let mut seen: FxHashSet<*const ()> = FxHashSet::default();
        let mut told = 0;
        for id in index.ids_where(|s| !s.recipient.is_peer()) {
            if let Some(s) = index.get(id) {
                let key = Arc::as_ptr(&s.recipient) as *const ();
                if seen.insert(key) && s.recipient.send(frame.into()) {
                    told += 1;
                }
            }
        }
        told
    }

    /// Turns numbering and keeping publications on (the node has peers) or off (it is
    /// alone: what was kept is dropped).
    pub fn set_replay_active(&self, active: bool) {
        let was = self
            .replay_active
            .swap(active, std::sync::atomic::Ordering::AcqRel);
        if was && !active {
            let _index = self.index();
            if let Some(log) = self
                .replay
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
            {
                log.clear();
                self.metrics.replay_buffer_bytes.set(0);
            }
        }
    }

    /// Publications kept for replay now.
    pub fn replay_depth(&self) -> usize {
        self.replay
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |log| log.depth())
    }

    /// Acknowledgement tracking for ACKNOWLEDGED publications.
    pub fn acks(&self) -> &AckTracker {
        &self.acks
    }

    /// Expires ACKNOWLEDGED publications that waited too long, until `shutdown` fires.
    pub async fn run_ack_expiry(&self, shutdown: Shutdown) {
        self.acks.run_expiry(shutdown).await
    }

    /// Delivers a publication made on this node to local subscribers, then hands it to the
    /// replication sink.
    pub fn publish(&self, publication: &Publication) -> PublishResults {
        self.deliver(publication, true, Reach::default())
    }

    /// Publishes like [`PubSub::publish`] and returns a [`WriteMark`] for every local
    /// session the event was queued to, other than `writer` (its own queue keeps its order):
    /// a TRANSACTIONAL writer replies once they are written, so another session of the same
    /// client sees the event before the writer sees its reply.
    pub fn publish_marked(
        &self,
        publication: &Publication,
        writer: &str,
    ) -> (PublishResults, Vec<WriteMark>) {
        let mut marks = Vec::new();
        let results = self.deliver(
            publication,
            true,
            Reach {
                ids: None,
                marks: Some((writer, &mut marks)),
            },
        );
        (results, marks)
    }

    /// Publishes an ACKNOWLEDGED publication: tracks it for `publisher` (answering request
    /// `event_id`) before delivery, so an ack racing the fan-out is never lost, then settles
    /// it with the recipients the event reached. The publisher receives a `publication-ack`
    /// when every recipient acked, or when the ack timeout passes.
    pub fn publish_acknowledged(
        &self,
        publication: &Publication,
        publisher: Arc<dyn Recipient>,
        event_id: serde_json::Value,
    ) -> PublishResults {
        let id = publication.publication_id.clone();
        if !self.acks.start(id.clone(), publisher, event_id) {
            return self.publish(publication);
        }
        let mut recipients = Vec::new();
        let results = self.deliver(
            publication,
            true,
            Reach {
                ids: Some(&mut recipients),
                marks: None,
            },
        );
        self.acks.settle(&id, results, recipients);
        results
    }

    /// Delivers a publication that was made on another node to local sessions only (never
    /// to peers, never to the replication sink).
    pub fn inject_remote(&self, mut publication: Publication) -> PublishResults {
        publication.no_cluster = true;
        self.deliver(&publication, false, Reach::default())
    }

    /// Fan-out under the index lock, so every subscriber (and the replication sink, for
    /// local publications) sees publications in one order. What the event reached is
    /// collected into `reached` as asked.
    fn deliver(&self, p: &Publication, local: bool, mut reached: Reach<'_>) -> PublishResults {
        self.metrics.publications.inc();
        let mut results = PublishResults::default();
        let index = self.index();
        // (recipient, channel) pairs already served: a session subscribed twice on the same
        // channel (e.g. after a client reconnect) gets the event once.
        let mut seen: FxHashSet<(*const (), Arc<str>)> = FxHashSet::default();
        // Peers' copies carry the publication's number; local ones are numbered here.
        let stamp = if local
            && !p.no_cluster
            && self
                .replay_active
                .load(std::sync::atomic::Ordering::Acquire)
        {
            self.replay
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
                .map(|log| {
                    let (seq, evicted) = log.record(p, std::time::Instant::now());
                    self.metrics.replay_evicted_bytes.add(evicted as u64);
                    self.metrics.replay_buffer_bytes.set(log.bytes() as u64);
                    seq
                })
        } else {
            None
        };
        let mut encoded: rustc_hash::FxHashMap<(Arc<str>, bool, Option<u32>), Arc<str>> =
            rustc_hash::FxHashMap::default();

        let mut recipients: Vec<&Subscription> = Vec::new();
        index.for_each_match(&p.path, p.kind, |_, s| recipients.push(s));
        for sub in recipients {
            let recipient = &sub.recipient;
            let key = (Arc::as_ptr(recipient) as *const (), sub.channel.clone());
            if !seen.insert(key) {
                continue;
            }
            if !admits(p, sub) {
                results.skipped += 1;
                continue;
            }
            let merge = sub.merge && p.merge_data.is_some();
            if stamp.is_some()
                && recipient.is_peer()
                && self
                    .catching_up
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(recipient.id())
            {
                // Its replay will carry this one.
                results.skipped += 1;
                continue;
            }
            let frame = if let Some(seq) = stamp.filter(|_| recipient.is_peer()) {
                // Each peer session's copy names the event sent to it before this one.
                let mut last_sent = self.sent_to_peers.lock().unwrap_or_else(|p| p.into_inner());
                let prev = last_sent
                    .insert(recipient.id().to_string(), seq)
                    .unwrap_or(0);
                let log = self.replay.lock().unwrap_or_else(|p| p.into_inner());
                match log.as_ref() {
                    Some(log) => peer_frame(
                        p,
                        &sub.channel,
                        sub.depth,
                        &log.stamp(seq, prev, recipient.id()),
                    )
                    .into(),
                    None => event_frame(&p.data, p.event_meta(&sub.channel, sub.depth)).into(),
                }
            } else {
                encoded
                    .entry((sub.channel.clone(), merge, sub.depth))
                    .or_insert_with(|| {
                        let data = if merge {
                            p.merge_data.as_ref().unwrap_or(&p.data)
                        } else {
                            &p.data
                        };
                        event_frame(data, p.event_meta(&sub.channel, sub.depth)).into()
                    })
                    .clone()
            };
            if recipient.send(frame) {
                results.successful += 1;
                self.metrics.deliveries.inc();
                if let Some(ids) = reached.ids.as_deref_mut() {
                    ids.push(recipient.id().to_string());
                }
                if let Some((writer, marks)) = reached.marks.as_mut()
                    && !recipient.is_peer()
                    && recipient.id() != *writer
                    && let Some(mark) = recipient.write_mark()
                {
                    marks.push(mark);
                }
            } else {
                results.failed += 1;
            }
        }
        results.queued = results.successful + results.failed;
        if local {
            let sink = self.sink.read().ok().and_then(|s| s.clone());
            if let Some(sink) = sink {
                sink.publication(p);
            }
        }
        drop(index);
        results
    }

    /// Drops the subscriptions of recipient `id` whose mask `keep` refuses; returns their
    /// channels.
    pub fn retain_recipient(&self, id: &str, keep: impl Fn(&str) -> bool) -> Vec<Arc<str>> {
        let mut index = self.index();
        let doomed = index.ids_where(|s| s.recipient.id() == id && !keep(&s.mask));
        doomed
            .into_iter()
            .filter_map(|id| index.remove(id).map(|s| s.channel))
            .collect()
    }

    /// Removes every subscription whose recipient is closed; returns how many.
    pub fn sweep_closed(&self) -> usize {
        let mut index = self.index();
        let dead: Vec<SubId> = index.ids_where(|s| s.recipient.is_closed());
        let gone: Vec<String> = dead
            .iter()
            .filter_map(|id| index.get(*id).map(|s| s.recipient.id().to_string()))
            .collect();
        let mut last_sent = self.sent_to_peers.lock().unwrap_or_else(|p| p.into_inner());
        for id in gone {
            last_sent.remove(&id);
        }
        drop(last_sent);
        for id in &dead {
            index.remove(*id);
        }
        dead.len()
    }
}

/// The delivery rules every event passes, live or replayed: `targetClients`, `noCluster`
/// (never to peers), the peers-only channel, and the subscriber's own permissions where a
/// prohibit may cover part of its mask.
fn admits(p: &Publication, sub: &Subscription) -> bool {
    let recipient = &sub.recipient;
    let targeted_elsewhere = p
        .target_clients
        .as_ref()
        .is_some_and(|targets| !targets.iter().any(|t| t == recipient.id()));
    !(targeted_elsewhere
        || (p.no_cluster && recipient.is_peer())
        || (p.path == PEERS_ONLY_PATH && !recipient.is_peer())
        || (sub.checked && !recipient.may_receive(&p.path)))
}

/// A peer's copy of an event: the subscriber's frame plus `_meta.replication`.
fn peer_frame(p: &Publication, channel: &str, depth: Option<u32>, stamp: &Stamp) -> String {
    let mut meta = p.event_meta(channel, depth);
    meta.insert("replication".into(), stamp.to_json());
    event_frame(&p.data, meta)
}

/// What a delivery collects besides its counts.
#[derive(Default)]
struct Reach<'a> {
    /// The ids of the recipients reached (ACKNOWLEDGED publications wait for their acks).
    ids: Option<&'a mut Vec<String>>,
    /// Write marks of the local sessions reached, except the writer named (TRANSACTIONAL).
    marks: Option<(&'a str, &'a mut Vec<WriteMark>)>,
}
