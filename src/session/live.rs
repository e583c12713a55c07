//! Applies security changes to live sessions: deleted users and revoked tokens are
//! disconnected; sessions whose groups or permissions changed get fresh permissions, lose
//! the subscriptions they may no longer hold, and are told with `security-data-changed`.
//! Also ends sessions whose token expired or that sat idle too long.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::context::SessionContext;
use super::handle::{SessionAuth, SessionHandle};
use crate::lifecycle::Shutdown;
use crate::protocol::system_frame;
use crate::security::{Action, Grantee, SecurityEvent};

/// What the live-update task reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveUpdate {
    /// One change.
    Event(SecurityEvent),
    /// Changes were missed (the feed lagged): every logged-in session is refreshed.
    Resync,
}

/// Ends sessions whose token expired or that sat idle past the inactivity threshold, even
/// when they only listen (checked every second), until `shutdown` fires.
pub async fn run_expiry_sweep(ctx: Arc<SessionContext>, mut shutdown: Shutdown) {
    if !ctx.access.is_secure() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.stopped() => return,
            _ = tick.tick() => {}
        }
        let now = happn_cluster_sdk::now_millis();
        for session in ctx.sessions.all() {
            if let Some(reason) = ctx.access.expired(&session, now) {
                session.terminate(reason, false);
            }
        }
    }
}

/// Follows the security change feed and applies each change to live sessions, until
/// `shutdown` fires or the feed closes.
pub async fn run_security_updates(ctx: Arc<SessionContext>, mut shutdown: Shutdown) {
    let mut events = ctx.security.subscribe_events();
    loop {
        let update = tokio::select! {
            _ = shutdown.stopped() => return,
            received = events.recv() => match received {
                Ok(event) => LiveUpdate::Event(event),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "security events lagged: refreshing every session");
                    LiveUpdate::Resync
                }
                Err(RecvError::Closed) => return,
            },
        };
        if ctx.access.is_secure() {
            apply(&ctx, &update).await;
        }
    }
}

/// Reacts to one update.
pub async fn apply(ctx: &SessionContext, update: &LiveUpdate) {
    let sessions: Vec<(Arc<SessionHandle>, Arc<SessionAuth>)> = ctx
        .sessions
        .all()
        .into_iter()
        .filter_map(|s| s.auth().map(|a| (s, a)))
        .collect();
    let event = match update {
        LiveUpdate::Resync => {
            for (session, auth) in sessions {
                refresh(ctx, &session, &auth, None).await;
            }
            return;
        }
        LiveUpdate::Event(event) => event,
    };
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
                    SecurityEvent::UpsertUser { username, .. }
                    | SecurityEvent::LinkGroup { username, .. }
                    | SecurityEvent::UnlinkGroup { username, .. } => &auth.username == username,
                    SecurityEvent::UpsertGroup { group, .. }
                    | SecurityEvent::DeleteGroup { group } => auth.groups.contains(group),
                    SecurityEvent::PermissionUpserted { grantee, .. }
                    | SecurityEvent::PermissionRemoved { grantee, .. } => match grantee {
                        Grantee::Group(group) => auth.groups.contains(group),
                        Grantee::User(user) => &auth.username == user,
                    },
                    _ => false,
                };
                if affected {
                    refresh(ctx, &session, &auth, Some(event)).await;
                }
            }
        }
    }
}

/// Reloads a session's groups and permissions, drops subscriptions it may no longer hold,
/// and tells it what changed (`event`; a resync says `resync`).
async fn refresh(
    ctx: &SessionContext,
    session: &SessionHandle,
    auth: &SessionAuth,
    event: Option<&SecurityEvent>,
) {
    let identity = match ctx.security.identity(&auth.username).await {
        Ok(Some(identity)) if auth.from_store => identity,
        // Users of a third-party auth plugin keep the groups asserted at login.
        Ok(_) => happn_cluster_sdk::Identity {
            username: auth.username.clone(),
            user_id: auth.user_id.clone(),
            groups: auth.groups.clone(),
            custom_data: serde_json::Value::Null,
        },
        Err(e) => {
            tracing::warn!(error = %e, session = %session.id, "cannot reload the user's groups");
            return;
        }
    };
    let groups = identity.groups.clone();
    let permissions = match ctx.security.permissions_for(&identity).await {
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
    let dropped = ctx.pubsub.retain_recipient(&session.id, |mask| {
        permissions.allows(Action::On, &crate::path::normalise(mask))
    });
    let (what_happened, mut changed) = match event {
        Some(event) => (event.what_happened(), event.changed_data()),
        None => ("resync", json!({})),
    };
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
            json!({"whatHappnd": what_happened, "changedData": changed}),
        )
        .into(),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use happn_cluster_sdk::memory::MemoryDatastore;
    use happn_cluster_sdk::{ByteBudget, Outbound, Terminator};
    use tokio::sync::mpsc;

    use super::*;
    use crate::config::{PermissionConfig, SecurityConfig, SessionConfig};
    use crate::data::DataService;
    use crate::metrics::Metrics;
    use crate::path::{EventFilter, Mask};
    use crate::pubsub::{PubSub, Subscription};
    use crate::security::SecurityService;
    use crate::session::{Access, Limits};

    /// A lagged feed must not leave sessions with stale permissions: a resync reloads every
    /// session, drops what it may no longer hold and says so.
    #[tokio::test]
    async fn a_resync_refreshes_every_session_from_the_store() {
        let data = Arc::new(DataService::single("mem", Arc::new(MemoryDatastore::new())));
        let config = SecurityConfig {
            pbkdf2_iterations: 1,
            ..SecurityConfig::default()
        };
        let security = SecurityService::start(data.clone(), config, "n")
            .await
            .unwrap();
        let mut permissions = BTreeMap::new();
        permissions.insert(
            "/a/*".to_string(),
            PermissionConfig {
                actions: vec!["on".into()],
                ..PermissionConfig::default()
            },
        );
        security
            .upsert_group("readers", serde_json::Value::Null, &permissions)
            .await
            .unwrap();
        security
            .upsert_user("u", Some("pw"), serde_json::Value::Null)
            .await
            .unwrap();
        security.link_group("u", "readers").await.unwrap();

        let metrics = Arc::new(Metrics::default());
        let pubsub = Arc::new(PubSub::new(metrics.clone(), Duration::from_secs(60)));
        let ctx = SessionContext::new(
            "n".into(),
            Access::new(true, None),
            data,
            security.clone(),
            pubsub.clone(),
            metrics.clone(),
            Limits::from_config(&SessionConfig::default(), 64),
        );
        let (outbound, mut frames) = mpsc::channel(16);
        let (terminator, _) = Terminator::new();
        let handle = Arc::new(SessionHandle::new(
            "s1".into(),
            outbound,
            ByteBudget::new(1 << 20),
            terminator,
            metrics,
        ));
        handle.set_auth(Some(Arc::new(SessionAuth {
            username: "u".into(),
            user_id: None,
            groups: vec!["readers".into()],
            permissions: Arc::new(
                security
                    .permissions_for_groups(&["readers".to_string()])
                    .await
                    .unwrap(),
            ),
            token: String::new(),
            sid: "sid".into(),
            inactivity_threshold: None,
            profile: "default-stateful".into(),
            expires_at: None,
            from_store: true,
        })));
        assert!(ctx.sessions.register(handle.clone()));
        let mask = Mask::parse("/a/*").unwrap();
        pubsub.subscribe(
            &mask,
            EventFilter::All,
            Subscription {
                recipient: handle.clone(),
                channel: "/ALL@/a/*".into(),
                mask: "/a/*".into(),
                checked: true,
                merge: false,
                depth: None,
            },
        );

        // The change happens while nobody follows the feed, as when it lags.
        security
            .remove_permission("readers", "/a/*", Some("on"))
            .await
            .unwrap();
        assert_eq!(pubsub.subscription_count(), 1);
        apply(&ctx, &LiveUpdate::Resync).await;

        assert_eq!(pubsub.subscription_count(), 0);
        let Some(Outbound::Text(frame)) = frames.recv().await else {
            panic!("the session is told")
        };
        let frame: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(frame["eventKey"], "security-data-changed");
        assert_eq!(frame["data"]["whatHappnd"], "resync");
        assert_eq!(
            frame["data"]["changedData"]["droppedSubscriptions"],
            serde_json::json!(["/ALL@/a/*"])
        );
    }
}
