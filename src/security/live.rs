//! Applies security changes to live sessions: deleted users and revoked tokens are
//! disconnected; sessions whose groups or permissions changed get fresh permissions, lose
//! the subscriptions they may no longer hold, and are told with `security-data-changed`.

use std::sync::{Arc, Weak};

use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::events::SecurityEvent;
use super::permissions::Action;
use crate::node::NodeContext;
use crate::protocol::system_frame;
use crate::session::{SessionAuth, SessionHandle};

/// Ends sessions whose token expired or that sat idle past the inactivity threshold, even
/// when they only listen (checked every second).
fn spawn_expiry_sweep(ctx: &Arc<NodeContext>) {
    let weak: Weak<NodeContext> = Arc::downgrade(ctx);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(ctx) = weak.upgrade() else { return };
            if !ctx.secure {
                return;
            }
            let now = happn_cluster_sdk::now_millis();
            for session in ctx.sessions() {
                let Some(auth) = session.auth() else { continue };
                if auth.expires_at.is_some_and(|exp| now >= exp) {
                    session.terminate("token-expired", false);
                } else if ctx
                    .inactivity_threshold
                    .is_some_and(|limit| now - session.last_activity() > limit)
                {
                    session.terminate("inactivity-threshold", false);
                }
            }
        }
    });
}

/// Starts the tasks that follow the node's security events and expire sessions (they end
/// with the node).
pub fn spawn(ctx: &Arc<NodeContext>) {
    spawn_expiry_sweep(ctx);
    let mut events = ctx.security.subscribe_events();
    let weak: Weak<NodeContext> = Arc::downgrade(ctx);
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "security events lagged: refreshing every session");
                    SecurityEvent::UpsertGroup {
                        group: String::new(),
                    }
                }
                Err(RecvError::Closed) => return,
            };
            let Some(ctx) = weak.upgrade() else { return };
            if !ctx.secure {
                continue;
            }
            apply(&ctx, &event).await;
        }
    });
}

/// Reacts to one event.
pub async fn apply(ctx: &NodeContext, event: &SecurityEvent) {
    let sessions: Vec<(Arc<SessionHandle>, Arc<SessionAuth>)> = ctx
        .sessions()
        .into_iter()
        .filter_map(|s| s.auth().map(|a| (s, a)))
        .collect();
    match event {
        SecurityEvent::DeleteUser { username } => {
            for (session, auth) in &sessions {
                if &auth.username == username {
                    session.terminate("security directory update: user deleted", false);
                }
            }
        }
        SecurityEvent::TokenRevoked { sid, .. } => {
            for (session, auth) in &sessions {
                if &auth.sid == sid && !session.is_closing_itself() {
                    session.terminate("token-revoked", false);
                }
            }
        }
        _ => {
            for (session, auth) in sessions {
                let affected = match event {
                    SecurityEvent::UpsertUser { username }
                    | SecurityEvent::LinkGroup { username, .. }
                    | SecurityEvent::UnlinkGroup { username, .. } => &auth.username == username,
                    SecurityEvent::UpsertGroup { group } if group.is_empty() => true,
                    SecurityEvent::UpsertGroup { group }
                    | SecurityEvent::DeleteGroup { group }
                    | SecurityEvent::PermissionUpserted { group, .. }
                    | SecurityEvent::PermissionRemoved { group, .. } => auth.groups.contains(group),
                    _ => false,
                };
                if affected {
                    refresh(ctx, &session, &auth, event).await;
                }
            }
        }
    }
}

async fn refresh(
    ctx: &NodeContext,
    session: &SessionHandle,
    auth: &SessionAuth,
    event: &SecurityEvent,
) {
    let groups = match ctx.security.identity(&auth.username).await {
        Ok(Some(identity)) => identity.groups,
        Ok(None) => auth.groups.clone(),
        Err(e) => {
            tracing::warn!(error = %e, session = %session.id, "cannot reload the user's groups");
            return;
        }
    };
    let permissions = match ctx.security.permissions_for_groups(&groups).await {
        Ok(permissions) => Arc::new(permissions),
        Err(e) => {
            tracing::warn!(error = %e, session = %session.id, "cannot reload permissions");
            return;
        }
    };
    let mut updated = auth.clone();
    updated.groups = groups;
    updated.permissions = permissions.clone();
    session.set_auth(Some(Arc::new(updated)));
    let dropped = ctx.pubsub.retain_session(&session.id, |mask| {
        permissions.allows(Action::On, &crate::path::normalise(mask))
    });
    let mut changed = event.changed_data();
    if !dropped.is_empty()
        && let Some(map) = changed.as_object_mut()
    {
        map.insert(
            "droppedSubscriptions".into(),
            json!(dropped.iter().map(|c| c.as_ref()).collect::<Vec<_>>()),
        );
    }
    session.send(
        system_frame(
            "security-data-changed",
            json!({"whatHappnd": event.what_happened(), "changedData": changed}),
        )
        .into(),
    );
}
