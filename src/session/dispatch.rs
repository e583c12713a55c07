//! Dispatch: the checks every frame passes in order (session, path size, handshake, login),
//! then the handler of its typed request; and the session-level actions (handshake, ack).

use happn_cluster_sdk::Error;
use serde_json::{Map, Value, json};

use super::{HandlerResult, Session};
use crate::protocol::{Frame, HAPPN_COMPAT_VERSION, Reply, Request};

impl Session {
    pub(super) async fn dispatch(&mut self, frame: Frame) {
        let result = self.route(&frame).await;
        let reply = match result {
            Ok(reply) => reply,
            Err(error) => {
                self.ctx.metrics.request_errors.inc();
                Some(self.reply(&frame).error(&error))
            }
        };
        self.await_other_sessions().await;
        if let Some(reply) = reply {
            self.handle.send_reply(reply.into()).await;
        }
        if let Some(reason) = self.end_after_reply.take() {
            self.handle.disconnect_after_queue(reason, false);
        }
    }

    /// TRANSACTIONAL: waits (bounded by `transactionalWait`) until the other local
    /// sessions' copies of this request's event are written, so they see it before the
    /// writer sees its reply.
    async fn await_other_sessions(&mut self) {
        if self.awaiting_writes.is_empty() {
            return;
        }
        let marks = std::mem::take(&mut self.awaiting_writes);
        let wait = self.ctx.limits.transactional_wait;
        if wait.is_zero() {
            return;
        }
        let all = futures_util::future::join_all(marks.iter().map(|m| m.written()));
        if tokio::time::timeout(wait, all).await.is_err() {
            self.ctx.metrics.transactional_wait_timeouts.inc();
        }
    }

    /// The checks, in order, then the handler.
    async fn route(&mut self, frame: &Frame) -> HandlerResult {
        let access = self.ctx.access;
        // Expired or idle sessions are refused before anything else is looked at.
        let refused = if self.logged_in && !frame.is_handshake() {
            access.check_session(&self.handle).err()
        } else {
            None
        };
        if let Some(end) = refused.as_ref().and_then(|r| r.end) {
            self.end_after_reply = Some(end);
        }
        // Every path and mask is size-checked once, here, before any handler sees it.
        if let Some(path) = frame.path.as_deref() {
            self.ctx
                .limits
                .paths
                .check(path)
                .map_err(|e| Error::bad_input(e.to_string()))?;
        }
        if !frame.is_handshake() {
            if !self.logged_in && access.requires_login() {
                return Err(Error::Unauthorized(format!(
                    "please log in before sending {} requests",
                    frame.action
                )));
            }
            if let Some(refusal) = refused {
                return Err(refusal.error);
            }
        }
        let request = frame.request.as_ref().map_err(Clone::clone)?;
        if self.handle.is_peer() && !super::peer::allowed_for_peer(request) {
            return Err(super::peer::not_for_peers(&frame.action));
        }
        self.delegation = None;
        if let Some(user) = frame.on_behalf_of.as_deref()
            && user != crate::security::ADMIN
            && access.is_secure()
            && !frame.is_handshake()
        {
            let groups = self
                .handle
                .auth()
                .map(|a| a.groups.clone())
                .unwrap_or_default();
            self.delegation = Some(self.ctx.security.on_behalf_of(&groups, user).await?);
        }
        match request {
            Request::ConfigureSession { protocol } => {
                self.protocol = Some(protocol.clone());
                Ok(Some(self.reply(frame).ok(Value::Null, Map::new(), false)))
            }
            Request::Describe => Ok(Some(self.reply(frame).ok(
                self.describe(),
                Map::new(),
                false,
            ))),
            Request::Login(login) => self.login(frame, login).await,
            Request::Set {
                path,
                data,
                options,
            } => self.set(frame, path, data, options).await,
            Request::Get { path, options } => self.get(frame, path, options).await,
            Request::Count { path, options } => self.count(frame, path, options).await,
            Request::Remove { path, options } => self.remove(frame, path, options).await,
            Request::On { channel, options } => self.on(frame, channel, options).await,
            Request::Off { channel, options } => self.off(frame, channel, options),
            Request::Ack { publication_id } => {
                // An ack for an unknown or expired publication is harmless: answer ok.
                self.ctx.pubsub.acks().ack(publication_id, &self.handle.id);
                Ok(Some(self.reply(frame).ok(Value::Null, Map::new(), false)))
            }
            Request::PeerHello(hello) => self.peer_hello(frame, hello),
            Request::PeerProve(prove) => self.peer_prove(frame, prove),
            Request::Replay { epoch, after } => self.replay(frame, epoch, *after),
            Request::RevokeToken => self.revoke_token(frame).await,
            Request::DisconnectChildSessions => self.disconnect_children(frame),
            Request::Disconnect => Ok(Some(self.reply(frame).ok(Value::Null, Map::new(), false))),
            Request::Unknown => Err(Error::bad_input(format!(
                "unknown action: {}",
                frame.action
            ))),
        }
    }

    /// The reply builder for a frame of this session.
    pub(super) fn reply<'a>(&'a self, frame: &'a Frame) -> Reply<'a> {
        Reply {
            event_id: &frame.event_id,
            action: &frame.action,
            session_id: self.logged_in.then_some(self.handle.id.as_str()),
        }
    }

    fn describe(&self) -> Value {
        json!({
            "name": self.ctx.name,
            "secure": self.ctx.access.is_secure(),
            "version": HAPPN_COMPAT_VERSION,
            "server": concat!("happn-cluster-rs/", env!("CARGO_PKG_VERSION")),
        })
    }
}
