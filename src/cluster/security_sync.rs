//! Security changes cluster-wide: this node's own changes are batched every
//! `securityChangesetReplicateInterval`, repeated changes collapsed, and sent to every
//! node through the replicator; changes from other nodes are applied here as if made here
//! (live sessions refreshed, ended or pruned), and never sent on again. Token revocations
//! travel too (the seed dropped them).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::replicator::Replicator;
use crate::data::DataService;
use crate::lifecycle::Shutdown;
use crate::security::{SecurityEvent, SecurityService, journal};

/// Journal entries are removed once a node has known them this long (by its own clock):
/// every running node has read them many times over by then.
pub const JOURNAL_RETENTION: Duration = Duration::from_secs(60);

/// The replicator topic security changesets travel on (the seed's).
pub const SECURITY_TOPIC: &str = "/security/dataChanged";

/// Drops each change that repeats the one before it (order is kept: a link then an unlink
/// of the same pair replays as it happened).
pub fn collapse(events: Vec<SecurityEvent>) -> Vec<SecurityEvent> {
    let mut out: Vec<SecurityEvent> = Vec::with_capacity(events.len());
    for event in events {
        if out.last() != Some(&event) {
            out.push(event);
        }
    }
    out
}

/// The replicator topic login outcomes travel on, so account lockout counts cluster-wide.
pub const LOGIN_OUTCOME_TOPIC: &str = "/security/loginOutcome";

/// Shares this node's counted login outcomes with the other nodes at once (not batched:
/// guesses spread over nodes must add up before the next one), and counts theirs here.
pub fn share_login_outcomes(replicator: &Arc<Replicator>, security: &Arc<SecurityService>) {
    // Weak: the security service outlives nothing it holds (no reference cycle).
    let sender = Arc::downgrade(replicator);
    security.share_login_outcomes(move |message| {
        if let Some(replicator) = sender.upgrade()
            && let Err(e) = replicator.send(LOGIN_OUTCOME_TOPIC, message)
        {
            tracing::warn!(error = %e, "could not share a login outcome");
        }
    });
    let security = Arc::downgrade(security);
    replicator.on(
        LOGIN_OUTCOME_TOPIC,
        move |payload: &Value, is_local, _origin| {
            if let (false, Some(security)) = (is_local, security.upgrade()) {
                security.apply_shared_login_outcome(payload);
            }
        },
    );
}

/// Applies changesets from other nodes to this node's security feed.
pub fn receive_changesets(replicator: &Replicator, security: Arc<SecurityService>) {
    replicator.on(SECURITY_TOPIC, move |payload: &Value, is_local, origin| {
        if is_local {
            return;
        }
        let events: Vec<SecurityEvent> =
            match serde_json::from_value(payload.get("events").cloned().unwrap_or(Value::Null)) {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(%origin, error = %e, "malformed security changeset ignored");
                    return;
                }
            };
        for event in events {
            security.apply_remote(event);
        }
    });
}

/// Batches this node's security changes and sends them every `interval`, until shutdown
/// (the last batch is flushed on the way out).
pub async fn run_changesets(
    security: Arc<SecurityService>,
    replicator: Arc<Replicator>,
    interval: Duration,
    mut shutdown: Shutdown,
) {
    let mut local = security.subscribe_local_events();
    let mut batch: Vec<SecurityEvent> = Vec::new();
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.stopped() => {
                flush(&replicator, &mut batch);
                return;
            }
            _ = tick.tick() => flush(&replicator, &mut batch),
            received = local.recv() => match received {
                Ok(event) => batch.push(event),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "security changes missed: other nodes apply them only to new logins");
                }
                Err(RecvError::Closed) => {
                    flush(&replicator, &mut batch);
                    return;
                }
            },
        }
    }
}

/// Applies the change journal (changes made by the admin CLI in another process) to this
/// node's live sessions every `interval`, until shutdown.
pub async fn run_journal(
    security: Arc<SecurityService>,
    data: Arc<DataService>,
    interval: Duration,
    retention: Duration,
    mut shutdown: Shutdown,
) {
    let mut seen: HashMap<String, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = shutdown.stopped() => return,
            _ = tick.tick() => {}
        }
        let entries = match journal::entries(&data).await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the security change journal");
                continue;
            }
        };
        let now = Instant::now();
        let present: Vec<String> = entries.iter().map(|(path, _)| path.clone()).collect();
        for (path, events) in entries {
            match seen.get(&path) {
                None => {
                    for event in events {
                        security.apply_remote(event);
                    }
                    seen.insert(path, now);
                }
                Some(first) if now.duration_since(*first) > retention => {
                    if let Err(e) = journal::forget(&data, &path).await {
                        tracing::warn!(error = %e, "cannot prune the security change journal");
                    }
                }
                Some(_) => {}
            }
        }
        seen.retain(|path, _| present.contains(path));
    }
}

fn flush(replicator: &Replicator, batch: &mut Vec<SecurityEvent>) {
    if batch.is_empty() {
        return;
    }
    let events = collapse(std::mem::take(batch));
    if let Err(e) = replicator.send(SECURITY_TOPIC, json!({"events": events})) {
        tracing::warn!(error = %e, "could not send a security changeset");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_collapse_and_order_is_kept() {
        let link = SecurityEvent::LinkGroup {
            username: "u".into(),
            group: "g".into(),
        };
        let unlink = SecurityEvent::UnlinkGroup {
            username: "u".into(),
            group: "g".into(),
            permissions: serde_json::json!({"/a/*": {"actions": ["on"]}}),
        };
        let revoked = SecurityEvent::TokenRevoked {
            username: "u".into(),
            sid: "s".into(),
        };
        assert_eq!(
            collapse(vec![
                link.clone(),
                link.clone(),
                unlink.clone(),
                revoked.clone(),
                revoked.clone()
            ]),
            vec![link, unlink, revoked]
        );
    }
}
