//! The listening half of the peer handshake (`peer-hello`, `peer-prove`), what a proven
//! peer session may ask for, and `replay`, which only peers may.

use happn_cluster_sdk::Error;
use serde_json::{Map, Value, json};

use super::{HandlerResult, Session};
use crate::protocol::{Frame, Request};

/// Replay requests one peer session may make per second (a catch-up in parts and the
/// not-ready retries stay far below it).
pub(super) const REPLAYS_PER_SECOND: u32 = 200;

/// True at most once a second across the node: refused handshakes cannot flood the log.
fn log_allowed() -> bool {
    static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let now = happn_cluster_sdk::now_millis();
    let last = LAST.load(std::sync::atomic::Ordering::Relaxed);
    now - last >= 1_000
        && LAST
            .compare_exchange(
                last,
                now,
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            )
            .is_ok()
}

/// Why a peer session asked for something a peer link does not carry.
pub(super) fn not_for_peers(action: &str) -> Error {
    Error::Forbidden(format!(
        "a cluster peer link carries replication only, not {action}"
    ))
}

/// True for the requests a proven peer session may make: subscribing, replay, and the
/// session-level actions.
pub(super) fn allowed_for_peer(request: &Request) -> bool {
    matches!(
        request,
        Request::ConfigureSession { .. }
            | Request::Describe
            | Request::On { .. }
            | Request::Off { .. }
            | Request::Replay { .. }
            | Request::Disconnect
    )
}

impl Session {
    /// Refuses a failed peer handshake: counted, logged with the remote address, and the
    /// connection ends after the reply.
    fn refuse_peer(&mut self, error: impl Into<Error> + std::fmt::Display) -> HandlerResult {
        self.ctx.metrics.peer_handshake_failures.inc();
        // Anyone can send a hello: at most one warning a second, the rest at debug level.
        if log_allowed() {
            tracing::warn!(remote = ?self.remote, error = %error, "peer handshake refused");
        } else {
            tracing::debug!(remote = ?self.remote, error = %error, "peer handshake refused");
        }
        self.end_after_reply = Some("peer-handshake-refused");
        Err(error.into())
    }

    /// `peer-hello`: answers a dialling node's challenge with this node's proof.
    pub(super) fn peer_hello(&mut self, frame: &Frame, hello: &Value) -> HandlerResult {
        let Some(authority) = self.ctx.peer_authority.get().cloned() else {
            return self.refuse_peer(Error::Forbidden("this node is not a cluster member".into()));
        };
        if !self.internal {
            return self.refuse_peer(Error::Forbidden(
                "peers connect to the internal port".into(),
            ));
        }
        if self.logged_in || self.pending_peer.is_some() {
            return self.refuse_peer(Error::bad_input(
                "a connection runs the peer handshake once, before anything else",
            ));
        }
        match authority.answer(hello) {
            Ok((answer, pending)) => {
                self.pending_peer = Some(pending);
                Ok(Some(self.reply(frame).ok(answer, Map::new(), false)))
            }
            Err(e) => self.refuse_peer(e),
        }
    }

    /// `peer-prove`: checks the dialling node's proof; the session becomes its peer session.
    pub(super) fn peer_prove(&mut self, frame: &Frame, prove: &Value) -> HandlerResult {
        let (Some(authority), Some(pending)) = (
            self.ctx.peer_authority.get().cloned(),
            self.pending_peer.take(),
        ) else {
            return self.refuse_peer(Error::bad_input("peer-prove without peer-hello"));
        };
        match pending.verify(&authority, prove) {
            Ok(peer) => {
                tracing::info!(peer = %peer.name, endpoint = %peer.endpoint, "peer proved membership");
                self.handle.set_peer(Some(peer));
                self.logged_in = true;
                self.handle.touch();
                let session = json!({
                    "id": self.handle.id,
                    "happn": {"name": authority.me().name},
                    "peer": authority.me().to_json(),
                });
                Ok(Some(self.reply(frame).ok(session, Map::new(), false)))
            }
            Err(e) => self.refuse_peer(e),
        }
    }

    /// `replay`: resends what this node published after number `after` of `epoch`, through
    /// the same delivery filter as live events; only for proven peers, at a bounded rate.
    pub(super) fn replay(
        &mut self,
        frame: &Frame,
        epoch: &str,
        after: Option<u64>,
    ) -> HandlerResult {
        if !self.handle.is_peer() {
            return Err(Error::Forbidden("replay is for cluster peers".into()));
        }
        let now = std::time::Instant::now();
        if now.duration_since(self.replays.0) >= std::time::Duration::from_secs(1) {
            self.replays = (now, 0);
        }
        self.replays.1 += 1;
        if self.replays.1 > REPLAYS_PER_SECOND {
            self.ctx.metrics.replay_rate_limited.inc();
            return Err(Error::unavailable(format!(
                "replay rate limit: at most {REPLAYS_PER_SECOND} requests per second"
            )));
        }
        let Some(after) = after else {
            let head = self.ctx.pubsub.replay_head();
            let data = json!({
                "epoch": head.as_ref().map(|(epoch, _)| epoch.to_string()),
                "upto": head.map(|(_, upto)| upto).unwrap_or(0),
            });
            return Ok(Some(self.reply(frame).ok(data, Map::new(), false)));
        };
        let data = match self.ctx.pubsub.replay_to(&self.handle.id, epoch, after) {
            Some((window, sent)) => json!({
                "epoch": &*window.epoch,
                "missed": window.missed,
                "from": window.from,
                "upto": window.upto,
                "more": window.more,
                "ready": window.ready,
                "sent": sent,
            }),
            None => json!({"epoch": null, "missed": 0, "from": 0, "upto": 0, "sent": 0}),
        };
        Ok(Some(self.reply(frame).ok(data, Map::new(), false)))
    }
}
