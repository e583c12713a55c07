//! Action dispatch and the session-level actions (handshake, ack, unknown).

use happn_cluster_sdk::Error;
use serde_json::{Map, Value, json};

use super::{HandlerResult, Session};
use crate::protocol::{HAPPN_COMPAT_VERSION, PROTOCOL, Reply, Request};

impl Session {
    pub(super) async fn dispatch(&mut self, request: Request) {
        // Expired or idle sessions are refused before anything else is looked at.
        let handshake = matches!(
            request.action.as_str(),
            "configure-session" | "describe" | "login"
        );
        let mut session_error = if self.logged_in && self.ctx.secure && !handshake {
            self.check_session().err()
        } else {
            None
        };
        let session_ok = session_error.is_none();
        // Every path and mask is size-checked once, here, before any handler sees it.
        let path_error = request
            .path
            .as_deref()
            .and_then(|path| self.ctx.limits.paths.check(path).err());
        let result = match request.action.as_str() {
            _ if path_error.is_some() => Err(Error::bad_input(
                path_error.map(|e| e.to_string()).unwrap_or_default(),
            )),
            "configure-session" => self.configure_session(&request),
            "describe" => Ok(Some(self.reply(&request).ok(
                self.describe(),
                Map::new(),
                false,
            ))),
            "login" => self.login(&request).await,
            action if !self.logged_in && self.ctx.secure => Err(Error::Unauthorized(format!(
                "please log in before sending {action} requests"
            ))),
            _ if self.logged_in && self.ctx.secure && !session_ok => Err(session_error
                .take()
                .unwrap_or_else(|| Error::Unauthorized("session refused".into()))),
            "set" => self.set(&request).await,
            "get" => self.get(&request).await,
            "count" => self.count(&request).await,
            "remove" => self.remove(&request).await,
            "on" => self.on(&request).await,
            "off" => self.off(&request),
            "ack" => self.ack(&request),
            "revoke-token" => self.revoke_token(&request).await,
            "disconnect-child-sessions" => self.disconnect_children(&request),
            "disconnect" => Ok(Some(self.reply(&request).ok(
                Value::Null,
                Map::new(),
                false,
            ))),
            other => Err(Error::bad_input(format!("unknown action: {other}"))),
        };
        let reply = match result {
            Ok(reply) => reply,
            Err(error) => {
                self.ctx.metrics.request_errors.inc();
                Some(self.reply(&request).error(&error))
            }
        };
        if let Some(frame) = reply {
            self.handle.send_reply(frame.into()).await;
        }
        let end = self
            .end_after_reply
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(reason) = end {
            self.handle.disconnect_after_queue(reason, false);
        }
    }

    /// The reply builder for a request of this session.
    pub(super) fn reply<'a>(&'a self, request: &'a Request) -> Reply<'a> {
        Reply {
            event_id: &request.event_id,
            action: &request.action,
            session_id: self.logged_in.then_some(self.handle.id.as_str()),
        }
    }

    fn configure_session(&mut self, request: &Request) -> HandlerResult {
        let protocol = request
            .data
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or(PROTOCOL);
        if !matches!(protocol, "happn_4" | "happn_3") {
            return Err(Error::bad_input(format!(
                "unknown inbound protocol: {protocol}"
            )));
        }
        self.protocol = Some(protocol.to_string());
        Ok(Some(self.reply(request).ok(Value::Null, Map::new(), false)))
    }

    fn describe(&self) -> Value {
        json!({
            "name": self.ctx.name,
            "secure": self.ctx.secure,
            "version": HAPPN_COMPAT_VERSION,
            "server": concat!("happn-cluster-rs/", env!("CARGO_PKG_VERSION")),
        })
    }

    fn ack(&mut self, request: &Request) -> HandlerResult {
        let publication_id = request
            .data
            .as_str()
            .ok_or_else(|| Error::bad_input("ack data must be the publication id string"))?;
        // An ack for an unknown or expired publication is harmless: answer ok.
        self.ctx.pubsub.acks().ack(publication_id, &self.handle.id);
        Ok(Some(self.reply(request).ok(Value::Null, Map::new(), false)))
    }
}
