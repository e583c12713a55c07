//! One client connection: decode each frame, dispatch it, reply; keep the session's
//! subscriptions; clean up when it ends.

mod auth;
mod dispatch;
mod handle;
mod subscribe;
mod write;

pub use handle::{SessionAuth, SessionHandle};

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::FutureExt;
use happn_cluster_sdk::{Connection, Error, Inbound};
use serde_json::Value;

use crate::node::NodeContext;
use crate::path::SubId;
use crate::protocol::{Request, error_reply, event_id_from_head};

/// Per-connection state owned by the session task.
pub(crate) struct Session {
    ctx: Arc<NodeContext>,
    handle: Arc<SessionHandle>,
    /// The client's address (the rest of the upgrade request is not kept: idle sessions
    /// stay small).
    remote: Option<std::net::SocketAddr>,
    protocol: Option<String>,
    logged_in: bool,
    username: Option<String>,
    login_info: Value,
    /// Subscription reference → index ids (one reference per `on`).
    subscriptions: HashMap<String, SubId>,
    next_reference: u64,
    /// Set when the current request must end the session once its reply is queued.
    end_after_reply: std::sync::Mutex<Option<&'static str>>,
}

/// Runs a session until its connection ends.
pub(crate) async fn run(ctx: Arc<NodeContext>, connection: Connection) {
    let Connection {
        info,
        outbound,
        outbound_bytes,
        mut inbound,
        inbound_bytes,
        terminator,
    } = connection;
    let id = uuid::Uuid::new_v4().to_string();
    let handle = Arc::new(SessionHandle::new(
        id.clone(),
        outbound,
        outbound_bytes,
        terminator,
        ctx.metrics.clone(),
    ));
    if !ctx.register_session(handle.clone()) {
        // The node is shutting down: refuse politely so the client tries elsewhere.
        handle.terminate("server-shutdown", true);
        return;
    }
    tracing::debug!(session = %id, remote = ?info.remote, "session started");
    let mut session = Session {
        ctx: ctx.clone(),
        handle: handle.clone(),
        remote: info.remote,
        protocol: None,
        logged_in: false,
        username: None,
        login_info: Value::Null,
        subscriptions: HashMap::new(),
        next_reference: 1,
        end_after_reply: std::sync::Mutex::new(None),
    };
    // A bug in a handler must not leak the session: catch the panic, end the session, clean
    // up its subscriptions, keep the node running.
    let served = std::panic::AssertUnwindSafe(serve(&mut session, &mut inbound, &inbound_bytes))
        .catch_unwind()
        .await;
    let reason = served.unwrap_or_else(|_| {
        tracing::error!(session = %id, "session handler panicked; session closed");
        handle.terminate("internal-error", true);
        "handler panicked".to_string()
    });
    session.end();
    tracing::debug!(session = %id, %reason, "session ended");
}

/// Reads frames until the connection ends; returns why it ended. Each frame's bytes go back
/// to the transport once it is handled, so the socket is read only as fast as requests are
/// served. On secure nodes a session that has not logged in by the login deadline is closed.
async fn serve(
    session: &mut Session,
    inbound: &mut tokio::sync::mpsc::Receiver<Inbound>,
    inbound_bytes: &happn_cluster_sdk::ByteBudget,
) -> String {
    let ctx = session.ctx.clone();
    let login_deadline = tokio::time::Instant::now() + ctx.limits.login_timeout;
    loop {
        let item = tokio::select! {
            item = inbound.recv() => item,
            _ = tokio::time::sleep_until(login_deadline), if ctx.secure && !session.logged_in => {
                ctx.metrics.login_timeouts.inc();
                session.handle.terminate("login-timeout", true);
                return "no login before the deadline".to_string();
            }
        };
        let handled = item.as_ref().map(Inbound::queued_bytes).unwrap_or(0);
        match item {
            Some(Inbound::Text(text)) => session.on_text(&text).await,
            Some(Inbound::Oversized { size, head }) => {
                ctx.metrics.oversized_frames.inc();
                ctx.metrics.request_errors.inc();
                let error = Error::bad_input(format!(
                    "message of {size} bytes exceeds the limit of {} bytes",
                    ctx.limits.max_message_bytes
                ));
                session.send(error_reply(&event_id_from_head(&head), None, &error));
            }
            Some(Inbound::Rejected(reason)) => {
                ctx.metrics.request_errors.inc();
                session.send(error_reply(&Value::Null, None, &Error::bad_input(reason)));
            }
            Some(Inbound::Closed(reason)) => return reason,
            None => return "connection dropped".to_string(),
        }
        inbound_bytes.give_back(handled);
    }
}

impl Session {
    async fn on_text(&mut self, text: &str) {
        self.ctx.metrics.requests.inc();
        match Request::parse(text) {
            // Boxed: an idle session then holds no handler state (idle connections stay small).
            Ok(request) => Box::pin(self.dispatch(request)).await,
            Err(e) => {
                self.ctx.metrics.request_errors.inc();
                self.send(error_reply(
                    &e.event_id,
                    e.action.as_deref(),
                    &Error::bad_input(e.message),
                ));
            }
        }
    }

    /// Queues a frame for this session.
    fn send(&self, frame: String) {
        self.handle.send(frame.into());
    }

    /// Removes every subscription and unregisters the session.
    fn end(&mut self) {
        for (_, id) in self.subscriptions.drain() {
            self.ctx.pubsub.unsubscribe(id);
        }
        self.ctx.unregister_session(&self.handle.id);
    }
}

/// Parses `Request` dispatch helpers' shared error type.
pub(crate) type HandlerResult = Result<Option<String>, Error>;

#[allow(unused_imports)]
pub(crate) use subscribe::parse_channel;
