//! The shared handle of one client session: how others (the publisher, admin code, shutdown)
//! reach it.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use happn_cluster_sdk::{ByteBudget, Outbound, Termination, Terminator};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::metrics::Metrics;
use crate::protocol::system_frame;
use crate::security::PermissionSet;
use crate::trust::PeerIdentity;

/// Who a session is logged in as (secure nodes).
#[derive(Debug, Clone)]
pub struct SessionAuth {
    /// The user.
    pub username: String,
    /// The user's stable id, when the store has one.
    pub user_id: Option<String>,
    /// The user's groups.
    pub groups: Vec<String>,
    /// What the session may do.
    pub permissions: Arc<PermissionSet>,
    /// The session's token.
    pub token: String,
    /// The token's session family id.
    pub sid: String,
    /// When the token expires (ms since epoch).
    pub expires_at: Option<i64>,
    /// True when the user is a stored user (false for third-party auth plugin users).
    pub from_store: bool,
    /// Longest idle time (ms) the session's profile allows; None: the node's setting.
    pub inactivity_threshold: Option<i64>,
    /// The profile the session matched at login.
    pub profile: String,
}

/// One connected session as seen from outside its own task.
#[derive(Debug)]
pub struct SessionHandle {
    /// The happn session id (a UUID) given to the client at login.
    pub id: String,
    outbound: mpsc::Sender<Outbound>,
    /// Bytes queued in `outbound` and not yet written.
    outbound_bytes: Arc<ByteBudget>,
    terminator: Terminator,
    closed: AtomicBool,
    peer: RwLock<Option<PeerIdentity>>,
    /// A peer session that holds a subscription (its replication is set up).
    peer_subscribed: AtomicBool,
    /// Event frames queued for this session.
    events_out: std::sync::atomic::AtomicU64,
    closing_itself: AtomicBool,
    auth: RwLock<Option<Arc<SessionAuth>>>,
    last_activity: AtomicI64,
    metrics: Arc<Metrics>,
}

impl SessionHandle {
    /// Wraps a connection's outbound side.
    pub fn new(
        id: String,
        outbound: mpsc::Sender<Outbound>,
        outbound_bytes: Arc<ByteBudget>,
        terminator: Terminator,
        metrics: Arc<Metrics>,
    ) -> Self {
        SessionHandle {
            id,
            outbound,
            outbound_bytes,
            terminator,
            closed: AtomicBool::new(false),
            peer: RwLock::new(None),
            peer_subscribed: AtomicBool::new(false),
            events_out: std::sync::atomic::AtomicU64::new(0),
            closing_itself: AtomicBool::new(false),
            auth: RwLock::new(None),
            last_activity: AtomicI64::new(happn_cluster_sdk::now_millis()),
            metrics,
        }
    }

    /// The session's login, if any.
    pub fn auth(&self) -> Option<Arc<SessionAuth>> {
        self.auth.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the session's login (at login, and when the security directory changes).
    pub fn set_auth(&self, auth: Option<Arc<SessionAuth>>) {
        *self.auth.write().unwrap_or_else(|p| p.into_inner()) = auth;
    }

    /// What an administrator sees of the session (happn-3's `listActiveSessions`): its id,
    /// user, groups, matched profile, token family, expiry and last activity.
    pub fn summary(&self) -> serde_json::Value {
        let auth = self.auth();
        serde_json::json!({
            "id": self.id,
            "peer": self.is_peer(),
            "username": auth.as_ref().map(|a| a.username.clone()),
            "groups": auth.as_ref().map(|a| a.groups.clone()),
            "profile": auth.as_ref().map(|a| a.profile.clone()),
            "tokenFamily": auth.as_ref().map(|a| a.sid.clone()),
            "expires": auth.as_ref().and_then(|a| a.expires_at),
            "lastActivity": self.last_activity(),
        })
    }

    /// Records activity now; returns the previous activity time.
    pub fn touch(&self) -> i64 {
        self.last_activity
            .swap(happn_cluster_sdk::now_millis(), Ordering::AcqRel)
    }

    /// When the session last made a request (ms since epoch).
    pub fn last_activity(&self) -> i64 {
        self.last_activity.load(Ordering::Acquire)
    }

    /// Clears the self-closing mark (its revoke request failed).
    pub fn clear_closing_itself(&self) {
        self.closing_itself.store(false, Ordering::Release);
    }

    /// Marks the session as ending itself (it answers its own revoke request before closing,
    /// so revocation fan-out must not cut it off first).
    pub fn set_closing_itself(&self) {
        self.closing_itself.store(true, Ordering::Release);
    }

    /// True once the session is ending itself.
    pub fn is_closing_itself(&self) -> bool {
        self.closing_itself.load(Ordering::Acquire)
    }

    /// Queues a frame without waiting (events, notices). A queue full in frames or bytes
    /// means the client is not reading: it is disconnected (reason `slow-consumer`,
    /// reconnect allowed) and `false` is returned. Publishers are never held up.
    pub fn send(&self, frame: Arc<str>) -> bool {
        if self.is_closed() {
            return false;
        }
        let bytes = frame.len();
        if !self.outbound_bytes.try_take(bytes) {
            self.slow_consumer("outbound bytes over the limit");
            return false;
        }
        match self.outbound.try_send(Outbound::Text(frame)) {
            Ok(()) => {
                self.metrics.frames_out.inc();
                true
            }
            Err(TrySendError::Full(_)) => {
                self.outbound_bytes.give_back(bytes);
                self.slow_consumer("outbound queue full");
                false
            }
            Err(TrySendError::Closed(_)) => {
                self.outbound_bytes.give_back(bytes);
                self.closed.store(true, Ordering::Release);
                false
            }
        }
    }

    /// Queues a frame only if it fits in the outbound budget and queue now; false otherwise,
    /// without disconnecting anyone.
    pub fn offer(&self, frame: Arc<str>) -> bool {
        if self.is_closed() {
            return false;
        }
        let bytes = frame.len();
        if !self.outbound_bytes.try_take(bytes) {
            return false;
        }
        match self.outbound.try_send(Outbound::Text(frame)) {
            Ok(()) => {
                self.metrics.frames_out.inc();
                true
            }
            Err(_) => {
                self.outbound_bytes.give_back(bytes);
                false
            }
        }
    }

    /// Queues the reply to this session's own request, waiting while the outbound queue is
    /// full in frames or bytes: a client that stops reading stops its own requests being
    /// served (and its socket being read), instead of growing the node's memory.
    pub async fn send_reply(&self, frame: Arc<str>) -> bool {
        if self.is_closed() {
            return false;
        }
        let bytes = frame.len();
        if !self.outbound_bytes.take(bytes).await {
            self.closed.store(true, Ordering::Release);
            return false;
        }
        match self.outbound.send(Outbound::Text(frame)).await {
            Ok(()) => {
                self.metrics.frames_out.inc();
                true
            }
            Err(_) => {
                self.outbound_bytes.give_back(bytes);
                self.closed.store(true, Ordering::Release);
                false
            }
        }
    }

    fn slow_consumer(&self, why: &str) {
        self.metrics.slow_consumer_disconnects.inc();
        tracing::warn!(session = %self.id, why, "disconnecting slow consumer");
        self.terminate("slow-consumer", true);
    }

    /// Sends `server-side-disconnect {reason}` and closes at once, skipping queued frames.
    pub fn terminate(&self, reason: &str, reconnect: bool) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let notice: Arc<str> = system_frame(
            "server-side-disconnect",
            serde_json::json!({"reason": reason}),
        )
        .into();
        self.terminator.terminate(Termination {
            last_words: vec![notice],
            reconnect,
        });
    }

    /// Closes after the frames already queued (used after a final reply). A full queue
    /// means the peer is not reading: it is terminated instead.
    pub fn close_after_queue(&self, reconnect: bool) {
        if self.is_closed() {
            return;
        }
        match self.outbound.try_send(Outbound::Close { reconnect }) {
            Ok(()) => self.closed.store(true, Ordering::Release),
            Err(_) => self.terminate("closing", reconnect),
        }
    }

    /// Queues `server-side-disconnect {reason}` after the frames already queued, then closes.
    pub fn disconnect_after_queue(&self, reason: &str, reconnect: bool) {
        let notice: Arc<str> = system_frame(
            "server-side-disconnect",
            serde_json::json!({"reason": reason}),
        )
        .into();
        if self.send(notice) {
            self.close_after_queue(reconnect);
        }
    }

    /// True once the session is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Records the cluster peer identity the session proved in the peer handshake.
    pub fn set_peer(&self, peer: Option<PeerIdentity>) {
        *self.peer.write().unwrap_or_else(|p| p.into_inner()) = peer;
    }

    /// The session's proven peer identity, for cluster peers.
    pub fn peer(&self) -> Option<PeerIdentity> {
        self.peer.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// True for proven cluster peers (they never receive `noCluster` publications).
    pub fn is_peer(&self) -> bool {
        self.peer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Notes that the session subscribed to something.
    pub fn note_subscription(&self) {
        if self.is_peer() {
            self.peer_subscribed.store(true, Ordering::Release);
        }
    }

    /// True for a peer session holding a subscription.
    pub fn peer_subscribed(&self) -> bool {
        self.peer_subscribed.load(Ordering::Acquire)
    }

    /// Event frames queued for this session so far.
    pub fn events_out(&self) -> u64 {
        self.events_out.load(Ordering::Relaxed)
    }

    /// Bytes queued for this session and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.outbound_bytes.used()
    }
}

impl crate::pubsub::Recipient for SessionHandle {
    fn id(&self) -> &str {
        &self.id
    }

    fn send(&self, frame: Arc<str>) -> bool {
        let sent = SessionHandle::send(self, frame);
        if sent {
            self.events_out.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    fn offer(&self, frame: Arc<str>) -> bool {
        let sent = SessionHandle::offer(self, frame);
        if sent {
            self.events_out.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    fn is_peer(&self) -> bool {
        SessionHandle::is_peer(self)
    }

    fn is_closed(&self) -> bool {
        SessionHandle::is_closed(self)
    }

    fn may_receive(&self, path: &str) -> bool {
        if self.is_peer() {
            return true;
        }
        self.auth()
            .is_some_and(|a| a.permissions.allows(crate::security::Action::On, path))
    }

    fn write_mark(&self) -> Option<crate::pubsub::WriteMark> {
        Some(crate::pubsub::WriteMark::now(self.outbound_bytes.clone()))
    }
}
