//! Plain HTTP routes served on the same ports as the WebSocket endpoint.

use std::sync::Arc;

use happn_cluster_sdk::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use crate::cluster::{Cluster, NodeState};
use crate::data::DataService;
use crate::metrics::Metrics;
use crate::protocol::HAPPN_COMPAT_VERSION;
use crate::pubsub::PubSub;
use crate::security::SecurityService;

mod auth;
mod dashboard;

/// What the HTTP routes read: defined here, built by the node.
pub struct HttpState {
    /// The node's name (in `/health`).
    pub name: String,
    /// Whether security is on (logins, admin-only reports on the client port).
    pub secure: bool,
    /// Datastores (pinged by `/health`).
    pub data: Arc<DataService>,
    /// Logins and tokens.
    pub security: Arc<SecurityService>,
    /// Subscription counts.
    pub pubsub: Arc<PubSub>,
    /// Counters (`/metrics`).
    pub metrics: Arc<Metrics>,
    /// The cluster, whose state `/health` reports.
    pub cluster: Option<Arc<Cluster>>,
    /// The node's stop signal (ends dashboard streams).
    pub shutdown: crate::lifecycle::Shutdown,
    /// The connected sessions as administrators see them (`/security/sessions`).
    pub active_sessions: Arc<dyn Fn() -> Vec<Value> + Send + Sync>,
}

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// The client port (`services.proxy.config.port`).
    Client,
    /// The internal port peers and operators use (`port`).
    Internal,
}

/// Answers `/ping`, `/version`, `/health`, `/metrics`, `/auth/login` and `/auth/session`,
/// and on the internal port the cluster dashboard (`/dashboard`, `/dashboard/events`);
/// everything else is 404. On a secure node, `/health` and `/metrics` on the client port
/// need an `_ADMIN` token (they count sessions and subscriptions); on the internal port
/// `/metrics` is open and `/health` tells anonymous callers the state only.
pub async fn route(ctx: &Arc<HttpState>, request: HttpRequest, port: Port) -> HttpResponse {
    match request.path.as_str() {
        "/auth/login" => return auth::login(ctx, &request).await,
        "/auth/session" => return auth::session(ctx, &request).await,
        "/dashboard" | "/dashboard/" if port == Port::Internal => return dashboard::page(ctx),
        "/dashboard/events" if port == Port::Internal => {
            return dashboard::events(ctx, &request).await;
        }
        _ => {}
    }
    if request.method != "GET" && request.method != "HEAD" {
        return HttpResponse::text(405, "method not allowed");
    }
    if matches!(request.path.as_str(), "/health" | "/metrics")
        && ctx.secure
        && port == Port::Client
        && let Err(refusal) = auth::require_admin(ctx, &request).await
    {
        return refusal;
    }
    if request.path.starts_with("/security/") {
        return security_report(ctx, &request).await;
    }
    match request.path.as_str() {
        "/ping" => HttpResponse::text(200, "pong"),
        "/version" => HttpResponse::json(
            200,
            &json!({"version": HAPPN_COMPAT_VERSION, "server": env!("CARGO_PKG_VERSION")}),
        ),
        "/health" if ctx.secure && port == Port::Internal => {
            // Anonymous callers of the internal port learn the state, not members, endpoints
            // or why links are down.
            if auth::require_admin(ctx, &request).await.is_ok() {
                health(ctx).await
            } else {
                state_only(ctx).await
            }
        }
        "/health" => health(ctx).await,
        "/metrics" => {
            let mut text = ctx.metrics.prometheus(ctx.pubsub.subscription_count());
            text.push_str(&format!(
                "# HELP happn_replay_buffer_depth Publications kept for peers to replay.\n# TYPE happn_replay_buffer_depth gauge\nhappn_replay_buffer_depth {}\n",
                ctx.pubsub.replay_depth()
            ));
            if let Some(cluster) = &ctx.cluster {
                text.push_str(&peer_metrics(&cluster.status().members));
            }
            let mut response = HttpResponse::text(200, text);
            response.headers = vec![("content-type".into(), "text/plain; version=0.0.4".into())];
            response
        }
        "/browser_client" => HttpResponse::text(
            404,
            "the happn browser client bundle is not served by this server: build it from the happn-3 npm package (lib/client.js) and serve it yourself",
        ),
        _ => HttpResponse::text(404, "not found"),
    }
}

/// `/security/sessions` (the connected sessions) and `/security/revoked-tokens`: session
/// management as happn-3 offers it, for `_ADMIN` tokens only, on either port.
async fn security_report(ctx: &HttpState, request: &HttpRequest) -> HttpResponse {
    if !ctx.secure {
        return HttpResponse::text(
            404,
            "this node is not secure: there are no sessions to manage",
        );
    }
    if let Err(refusal) = auth::require_admin(ctx, request).await {
        return refusal;
    }
    match request.path.as_str() {
        "/security/sessions" => HttpResponse::json(200, &json!((ctx.active_sessions)())),
        "/security/revoked-tokens" => match ctx.security.list_revoked_tokens().await {
            Ok(list) => HttpResponse::json(200, &json!(list)),
            Err(e) => HttpResponse::json(503, &json!({"error": crate::protocol::wire_error(&e)})),
        },
        _ => HttpResponse::text(404, "not found"),
    }
}

/// `/health`: 200 only when the datastore answers and the node is `STABLE`; the body holds
/// the cluster state, its members and the seed's health report either way.
async fn health(ctx: &HttpState) -> HttpResponse {
    let (ok, body) = health_report(ctx).await;
    HttpResponse::json(if ok { 200 } else { 503 }, &body)
}

/// `/health` for anonymous callers of a secure node's internal port: healthy or not, and
/// the node state.
async fn state_only(ctx: &HttpState) -> HttpResponse {
    let (ok, body) = health_report(ctx).await;
    let brief = json!({
        "name": body["name"],
        "status": body["status"],
        "state": body["state"],
        "detail": "pass an _ADMIN token (Authorization: Bearer …) for members and links",
    });
    HttpResponse::json(if ok { 200 } else { 503 }, &brief)
}

/// The `/health` document, and whether the node is healthy (datastore up, STABLE).
pub(crate) async fn health_report(ctx: &HttpState) -> (bool, serde_json::Value) {
    let data_ok = ctx.data.ping().await;
    let cluster = ctx.cluster.as_ref().map(|c| c.status());
    let stable = cluster
        .as_ref()
        .is_none_or(|c| c.state == Some(NodeState::Stable));
    let ok = data_ok.is_ok() && stable;
    let body = json!({
        "name": ctx.name,
        "status": if ok { "ok" } else { "degraded" },
        "datastore": data_ok.err().map(|e| e.to_string()),
        "sessions": ctx.metrics.sessions.get(),
        "subscriptions": ctx.pubsub.subscription_count(),
        "replayBufferDepth": ctx.pubsub.replay_depth(),
        "state": cluster.as_ref().and_then(|c| c.state),
        "endpoint": cluster.as_ref().map(|c| c.endpoint.clone()),
        "members": cluster.as_ref().map(|c| c.members.clone()),
        "peers": cluster.as_ref().map(|c| c.health.total_peers),
        "report": cluster.as_ref().map(|c| c.health.clone()),
    });
    (ok, body)
}

/// One per-peer series: name, kind, help, and how to read it from a member.
type PeerSeries = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::cluster::MemberReport) -> u64,
);

/// Per-peer replication series: events in and out, and the bytes queued to each peer.
fn peer_metrics(members: &[crate::cluster::MemberReport]) -> String {
    let mut out = String::new();
    let series: [PeerSeries; 3] = [
        (
            "peer_events_in_total",
            "counter",
            "Events received from each peer.",
            |m| m.events_in,
        ),
        (
            "peer_events_out_total",
            "counter",
            "Events sent to each peer.",
            |m| m.events_out,
        ),
        (
            "peer_queued_bytes",
            "gauge",
            "Bytes queued to each peer and not yet written.",
            |m| m.queued_bytes as u64,
        ),
    ];
    for (name, kind, help, value) in series {
        out.push_str(&format!(
            "# HELP happn_{name} {help}\n# TYPE happn_{name} {kind}\n"
        ));
        for member in members.iter().filter(|m| !m.is_self) {
            let peer = member.name.replace(['\\', '"', '\n'], "_");
            out.push_str(&format!(
                "happn_{name}{{peer=\"{peer}\"}} {}\n",
                value(member)
            ));
        }
    }
    out
}
