//! Action dispatch and the session-level actions (handshake, ack, unknown).

use happn_cluster_sdk::Error;
use serde_json::{Map, Value, json};

use super::{HandlerResult, Session};
use crate::protocol::{HAPPN_COMPAT_VERSION, PROTOCOL, Reply, Request};

impl Session {
    pub(super) async fn dispatch(&mut self, request: Request) {
        let result = match request.action.as_str() {
            "configure-session" => self.configure_session(&request),
            "describe" => Ok(Some(self.reply(&request).ok(
                self.describe(),
                Map::new(),
                false,
            ))),
            "login" => self.login(&request),
            action if !self.logged_in && self.ctx.secure => Err(Error::Unauthorized(format!(
                "please log in before sending {action} requests"
            ))),
            "set" => self.set(&request).await,
            "get" => self.get(&request).await,
            "count" => self.count(&request).await,
            "remove" => self.remove(&request).await,
            "on" => self.on(&request).await,
            "off" => self.off(&request),
            "ack" => self.ack(&request),
            "revoke-token" | "disconnect-child-sessions" | "disconnect" => Ok(Some(
                self.reply(&request).ok(Value::Null, Map::new(), false),
            )),
            other => Err(Error::bad_input(format!("unknown action: {other}"))),
        };
        match result {
            Ok(Some(frame)) => self.send(frame),
            Ok(None) => {}
            Err(error) => {
                self.ctx.metrics.request_errors.inc();
                let frame = self.reply(&request).error(&error);
                self.send(frame);
            }
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

    fn login(&mut self, request: &Request) -> HandlerResult {
        let data = match &request.data {
            Value::Object(map) => map,
            Value::Null => &Map::new(),
            _ => return Err(Error::bad_input("login data must be an object")),
        };
        if self.ctx.secure {
            return Err(Error::Unsupported(
                "this node is secure but user authentication is not available in this build".into(),
            ));
        }
        let username = data
            .get("username")
            .and_then(Value::as_str)
            .map(str::to_string);
        let info = match data.get("info") {
            Some(Value::Object(info)) => Value::Object(info.clone()),
            None | Some(Value::Null) => json!({}),
            Some(other) => json!({"data": other}),
        };
        let is_peer = info.get("clusterName").is_some_and(|c| !c.is_null());
        self.handle.set_peer(is_peer);
        self.username = username;
        self.login_info = info;
        self.logged_in = true;
        let session = json!({
            "id": self.handle.id,
            "protocol": self.protocol.as_deref().unwrap_or(PROTOCOL),
            "happn": {"name": self.ctx.name, "secure": self.ctx.secure},
            "info": self.login_info,
            "type": 1,
            "timestamp": happn_cluster_sdk::now_millis(),
            "user": self.username.as_ref().map(|u| json!({"username": u})),
            "address": self.info.remote.map(|r| json!({"ip": r.ip().to_string(), "port": r.port()})),
        });
        Ok(Some(self.reply(request).ok(session, Map::new(), false)))
    }

    fn ack(&mut self, request: &Request) -> HandlerResult {
        let publication_id = request
            .data
            .as_str()
            .ok_or_else(|| Error::bad_input("ack data must be the publication id string"))?;
        // An ack for an unknown or expired publication is harmless: answer ok.
        self.ctx.pubsub.acks().ack(publication_id);
        Ok(Some(self.reply(request).ok(Value::Null, Map::new(), false)))
    }
}
