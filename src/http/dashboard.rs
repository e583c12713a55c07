//! The cluster dashboard on the internal port: one page compiled into the binary
//! (`/dashboard`, no external assets), fed by a Server-Sent Events stream
//! (`/dashboard/events`) that sends this node's view every second. On a secure node the
//! stream needs an `_ADMIN` token (`?happn_token=…`, from `/auth/login`).

use std::sync::Arc;
use std::time::Duration;

use happn_cluster_sdk::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::{HttpState, auth, health_report};

/// The page: HTML, CSS and script in one file.
const PAGE: &str = include_str!("dashboard.html");

/// How often the stream sends a snapshot.
const INTERVAL: Duration = Duration::from_secs(1);

/// `GET /dashboard`.
pub fn page(ctx: &HttpState) -> HttpResponse {
    let settings = json!({"name": ctx.name, "secure": ctx.secure}).to_string();
    // `</` cannot appear in the JSON of a name (it is escaped), so the script tag holds.
    let html = PAGE.replace("/*SETTINGS*/null", &settings.replace("</", "<\\/"));
    let mut response = HttpResponse::bytes(200, "text/html; charset=utf-8", html);
    response
        .headers
        .push(("cache-control".into(), "no-store".into()));
    response
}

/// `GET /dashboard/events`: a snapshot now and every second after, until the viewer
/// leaves or the node stops.
pub async fn events(ctx: &Arc<HttpState>, request: &HttpRequest) -> HttpResponse {
    if ctx.secure
        && let Err(refusal) = auth::require_admin(ctx, request).await
    {
        return refusal;
    }
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let state = ctx.clone();
    let mut shutdown = ctx.shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        loop {
            tokio::select! {
                _ = shutdown.stopped() => break,
                _ = tick.tick() => {}
            }
            let event = format!("data: {}\n\n", snapshot(&state).await);
            // The viewer left (or reads too slowly to matter): stop.
            if sender.try_send(event.into_bytes()).is_err() && sender.is_closed() {
                break;
            }
        }
    });
    let mut response = HttpResponse::streaming(200, "text/event-stream", receiver);
    response
        .headers
        .push(("cache-control".into(), "no-store".into()));
    response
}

/// The `/health` document plus the counters the page turns into rates.
async fn snapshot(ctx: &HttpState) -> Value {
    let (healthy, mut health) = health_report(ctx).await;
    let m = &ctx.metrics;
    if let Value::Object(map) = &mut health {
        map.insert("healthy".into(), healthy.into());
        map.insert("at".into(), happn_cluster_sdk::now_millis().into());
        map.insert(
            "counters".into(),
            json!({
                "requests": m.requests.get(),
                "requestMicros": m.request_micros.get(),
                "requestErrors": m.request_errors.get(),
                "publications": m.publications.get(),
                "deliveries": m.deliveries.get(),
                "replicatedIn": m.replicated_in.get(),
                "replicationErrors": m.replication_errors.get(),
                "peerLinkReconnects": m.peer_link_reconnects.get(),
            }),
        );
    }
    health
}
