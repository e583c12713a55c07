//! Client sessions: one task per connection decodes each frame, dispatches it, replies,
//! keeps the session's subscriptions and cleans up when it ends. Also the node's session
//! registry and accept gate ([`Sessions`]), its access policy ([`Access`]), and the live
//! application of security changes ([`live`]).

mod access;
mod auth;
mod context;
mod dispatch;
mod guard;
mod handle;
mod limits;
pub mod live;
mod peer;
mod read;
mod registry;
mod subscribe;
mod write;

pub use access::{Access, SessionRefusal};
pub use context::SessionContext;
pub use handle::{SessionAuth, SessionHandle};
pub use limits::Limits;
pub use registry::{DrainToken, Sessions};

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::FutureExt;
use happn_cluster_sdk::{Connection, Error, Inbound};
use serde_json::Value;

use crate::path::SubId;
use crate::protocol::{Frame, error_reply, event_id_from_head};

/// Per-connection state owned by the session task.
pub(crate) struct Session {
    ctx: Arc<SessionContext>,
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
    end_after_reply: Option<&'static str>,
    /// The connection arrived on the internal port, where peers may prove membership.
    internal: bool,
    /// The peer handshake between this node's answer and the dialer's proof.
    pending_peer: Option<crate::trust::PendingProof>,
    /// Replay requests served in the current one-second window, and when it began.
    replays: (std::time::Instant, u32),
    /// The user the current request acts for (`onBehalfOf`), whose permissions apply.
    delegation: Option<crate::security::Delegation>,
    /// Other sessions' copies of the current TRANSACTIONAL write's event: its reply waits
    /// until they are written.
    awaiting_writes: Vec<crate::pubsub::WriteMark>,
}

/// Runs a session until its connection ends. The drain token is dropped when it does, so
/// the node's shutdown can wait for every session.
///
/// `internal` says the connection came in on the internal port: only there may a cluster
/// peer prove membership.
pub async fn run(
    ctx: Arc<SessionContext>,
    connection: Connection,
    token: Option<DrainToken>,
    internal: bool,
) {
    serve_connection(ctx, connection, internal).await;
    drop(token);
}

async fn serve_connection(ctx: Arc<SessionContext>, connection: Connection, internal: bool) {
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
    if !ctx.sessions.register(handle.clone()) {
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
        end_after_reply: None,
        internal,
        pending_peer: None,
        replays: (std::time::Instant::now(), 0),
        delegation: None,
        awaiting_writes: Vec::new(),
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
    session.end().await;
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
            _ = tokio::time::sleep_until(login_deadline),
                if ctx.access.requires_login() && !session.logged_in => {
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
        let started = std::time::Instant::now();
        self.handle_text(text).await;
        let metrics = &self.ctx.metrics;
        metrics
            .request_micros
            .add(started.elapsed().as_micros() as u64);
        metrics.requests.inc();
    }

    async fn handle_text(&mut self, text: &str) {
        match Frame::parse(text) {
            // Boxed: an idle session then holds no handler state (idle connections stay small).
            Ok(frame) => Box::pin(self.dispatch(frame)).await,
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

    /// Removes every subscription (in slices, yielding between them, so a session with
    /// many does not hold up the others) and unregisters the session.
    async fn end(&mut self) {
        let ids: Vec<SubId> = self.subscriptions.drain().map(|(_, id)| id).collect();
        for slice in ids.chunks(UNSUBSCRIBE_SLICE) {
            self.ctx.pubsub.unsubscribe_many(slice);
            if ids.len() > UNSUBSCRIBE_SLICE {
                tokio::task::yield_now().await;
            }
        }
        self.ctx.pubsub.forget_recipient(&self.handle.id);
        self.ctx.sessions.unregister(&self.handle.id);
    }
}

/// Subscriptions removed under one hold of the index lock when a session ends.
const UNSUBSCRIBE_SLICE: usize = 1024;

/// What a handler returns: the reply frame (None when it queued its own), or the error the
/// client is told.
pub(crate) type HandlerResult = Result<Option<String>, Error>;
