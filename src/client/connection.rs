//! Establishing the connection (dial + handshake), the reader task that routes replies,
//! events and acks, and reconnection.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use happn_cluster_sdk::{Inbound, Result, ServeOptions, Transport};
use happn_transport_websocket::WebSocketTransport;
use serde_json::{Map, Value, json};

use super::{Client, Event, Inner, Sink, Status};

/// Dials, starts the reader, and runs the handshake (configure-session, describe, login).
pub(super) fn establish(client: &Client) -> BoxFuture<'_, Result<()>> {
    Box::pin(establish_inner(client, true))
}

/// Connects and logs in again after a lost connection, without announcing `Active`.
fn reestablish(client: &Client) -> BoxFuture<'_, Result<()>> {
    Box::pin(establish_inner(client, false))
}

/// Connects and logs in; with `announce`, the status turns `Active` at once (a reconnect
/// announces it only after re-subscribing, so `Active` means the listeners hold again).
async fn establish_inner(client: &Client, announce: bool) -> Result<()> {
    let options = &client.inner.options;
    let serve = ServeOptions {
        max_message_bytes: options.max_message_bytes,
        outbound_queue: 1024,
        ping_interval: Duration::from_secs(10),
        // The server pings every 25 s by default (the happn client tolerates 45 s).
        dead_after: Duration::from_secs(60),
        tls: None,
        allow_self_signed_certs: options.allow_self_signed_certs,
        ..ServeOptions::default()
    };
    let connection = WebSocketTransport.dial(&options.url, &serve).await?;
    let generation = {
        let mut state = client.state();
        state.generation += 1;
        state.outbound = Some(connection.outbound.clone());
        state.terminator = Some(connection.terminator.clone());
        state.session = None;
        state.generation
    };
    let reader = Arc::downgrade(&client.inner);
    let inbound = connection.inbound;
    let inbound_bytes = connection.inbound_bytes;
    tokio::spawn(async move { read_loop(reader, inbound, inbound_bytes, generation).await });
    match handshake(client).await {
        Ok(()) => {
            if announce {
                let _ = client.inner.status.send_replace(Status::Active);
            }
            Ok(())
        }
        Err(e) => {
            // Close this attempt's connection; its reader will not touch later ones.
            let outbound = {
                let mut state = client.state();
                if state.generation == generation {
                    state.terminator = None;
                    state.outbound.take()
                } else {
                    None
                }
            };
            if let Some(outbound) = outbound {
                let _ = outbound.try_send(happn_cluster_sdk::Outbound::Close { reconnect: false });
            }
            Err(e)
        }
    }
}

async fn handshake(client: &Client) -> Result<()> {
    let options = &client.inner.options;
    client
        .request(
            "configure-session",
            None,
            json!({"protocol": "happn_4", "version": crate::protocol::HAPPN_COMPAT_VERSION, "browser": false}),
            None,
        )
        .await?;
    client.request("describe", None, Value::Null, None).await?;
    if let Some(authenticator) = options.authenticator.clone() {
        let session = authenticator.authenticate(client).await?;
        client.state().session = Some(session);
        return Ok(());
    }
    let mut login = Map::new();
    if let Some(username) = &options.username {
        login.insert("username".into(), username.clone().into());
    }
    if let Some(password) = &options.password {
        login.insert("password".into(), password.clone().into());
    }
    if let Some(token) = &options.token {
        login.insert("token".into(), token.clone().into());
    }
    login.insert("info".into(), options.info.clone());
    login.insert("protocol".into(), "happn_4".into());
    let reply = client
        .request("login", None, Value::Object(login), None)
        .await?;
    client.state().session = reply.get("data").cloned();
    Ok(())
}

async fn read_loop(
    weak: Weak<Inner>,
    mut inbound: tokio::sync::mpsc::Receiver<Inbound>,
    inbound_bytes: Arc<happn_cluster_sdk::ByteBudget>,
    generation: u64,
) {
    let reason = loop {
        let message = inbound.recv().await;
        // Frames are routed synchronously below: their bytes are free again at once.
        if let Some(message) = &message {
            inbound_bytes.give_back(message.queued_bytes());
        }
        // Every user handle is gone: let the connection close.
        let Some(inner) = weak.upgrade() else { return };
        let client = Client { inner };
        match message {
            Some(Inbound::Text(text)) => route(&client, &text),
            Some(Inbound::Oversized { size, .. }) => {
                tracing::warn!(size, "dropped an oversized frame from the server");
            }
            Some(Inbound::Rejected(reason)) => tracing::warn!(%reason, "dropped a frame"),
            Some(Inbound::Closed(reason)) => break reason,
            None => break "connection dropped".to_string(),
        }
    };
    tracing::debug!(%reason, "client connection ended");
    let Some(inner) = weak.upgrade() else { return };
    let client = Client { inner };
    let (reconnect, pending) = {
        let mut state = client.state();
        if state.generation != generation {
            // A newer connection has replaced this one: nothing of ours to clean up.
            return;
        }
        state.outbound = None;
        state.terminator = None;
        let pending: Vec<_> = state.pending.drain().collect();
        state.acks.clear();
        let reconnect = client.inner.options.reconnect
            && !state.closed_by_user
            && !reason.contains("no reconnect");
        (reconnect, pending)
    };
    drop(pending); // wakes waiting requests with "connection lost"
    if !reconnect {
        let _ = client.inner.status.send_replace(Status::Disconnected);
        return;
    }
    let _ = client.inner.status.send_replace(Status::Reconnecting);
    tokio::spawn(reconnect_loop(Arc::downgrade(&client.inner)));
}

async fn reconnect_loop(weak: Weak<Inner>) {
    let mut delay = Duration::from_millis(100);
    loop {
        tokio::time::sleep(delay).await;
        let Some(inner) = weak.upgrade() else { return };
        let client = Client { inner };
        if client.state().closed_by_user {
            return;
        }
        match reestablish(&client).await {
            Ok(()) => {
                resubscribe(&client).await;
                let _ = client.inner.status.send_replace(Status::Active);
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "reconnect attempt failed");
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Subscribes every listener again on the new session and records the new references.
async fn resubscribe(client: &Client) {
    let listeners: Vec<(u64, String, Map<String, Value>)> = {
        let state = client.state();
        state
            .listeners
            .iter()
            .map(|(handle, l)| {
                let path = l.channel.split_once('@').map(|(_, p)| p).unwrap_or("*");
                let mut options = l.options.to_map(path);
                options.remove("initialCallback");
                (*handle, l.channel.clone(), options)
            })
            .collect()
    };
    for (handle, channel, options) in listeners {
        match client
            .request("on", Some(&channel), Value::Null, Some(options))
            .await
        {
            Ok(reply) => {
                let reference = reply
                    .pointer("/data/id")
                    .map(super::subscribe::reference_text);
                if let Some(listener) = client.state().listeners.get_mut(&handle) {
                    listener.reference = reference;
                }
            }
            Err(e) => tracing::warn!(%channel, error = %e, "re-subscribe failed"),
        }
    }
}

/// Routes one frame: a reply (by `_meta.eventId`), an event, a system message or an ack.
fn route(client: &Client, text: &str) {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        tracing::warn!("undecodable frame from the server");
        return;
    };
    match value {
        Value::Array(mut items) => {
            let meta = items.pop().unwrap_or(Value::Null);
            let id = event_key(meta.get("eventId"));
            let waiter = client.state().pending.remove(&id);
            if let Some(waiter) = waiter {
                let _ = waiter.send(Value::Array(items));
            }
        }
        Value::Object(map) => {
            let kind = map
                .get("_meta")
                .and_then(|m| m.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("");
            match kind {
                "data" => deliver(client, map),
                "system" => {
                    if map.get("eventKey").and_then(Value::as_str) == Some("server-side-disconnect")
                    {
                        client.state().last_disconnect_reason = map
                            .get("data")
                            .and_then(|d| d.get("reason"))
                            .and_then(Value::as_str)
                            .map(str::to_string);
                    }
                }
                "ack" => {
                    let id = map
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let waiter = client.state().acks.remove(&id);
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(Value::Object(map));
                    }
                }
                _ => {
                    let id = event_key(map.get("_meta").and_then(|m| m.get("eventId")));
                    let waiter = client.state().pending.remove(&id);
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(Value::Object(map));
                    }
                }
            }
        }
        _ => tracing::warn!("unexpected frame from the server"),
    }
}

fn event_key(id: Option<&Value>) -> String {
    match id {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Delivers an event to every listener on its channel (acking first for consistency 3).
fn deliver(client: &Client, mut map: Map<String, Value>) {
    let meta = map.remove("_meta").unwrap_or(Value::Null);
    let data = map.remove("data").unwrap_or(Value::Null);
    if meta.get("consistency").and_then(Value::as_u64) == Some(3)
        && let Some(publication_id) = meta.get("publicationId").and_then(Value::as_str)
    {
        let acker = client.clone();
        let publication_id = publication_id.to_string();
        tokio::spawn(async move {
            let _ = acker
                .request("ack", None, Value::String(publication_id), None)
                .await;
        });
    }
    let channel = meta.get("channel").and_then(Value::as_str).unwrap_or("");
    let event_depth = meta.get("depth").and_then(Value::as_u64);
    let mut finished = Vec::new();
    let sinks: Vec<Arc<Sink>> = {
        let mut state = client.state();
        let mut sinks = Vec::new();
        for (handle, listener) in state.listeners.iter_mut() {
            if listener.channel != channel {
                continue;
            }
            if let (Some(event_depth), Some(depth)) = (event_depth, listener.options.depth)
                && u64::from(depth) < event_depth
            {
                continue;
            }
            if let Some(remaining) = listener.remaining.as_mut() {
                *remaining -= 1;
                if *remaining == 0 {
                    finished.push(*handle);
                }
            }
            sinks.push(listener.sink.clone());
        }
        for handle in &finished {
            if let Some(listener) = state.listeners.remove(handle) {
                let off = client.clone();
                tokio::spawn(async move {
                    let _ = off.remote_off(&listener).await;
                });
            }
        }
        sinks
    };
    let event = Event { data, meta };
    for sink in sinks {
        match sink.as_ref() {
            Sink::Handler(handler) => handler(event.clone()),
            Sink::Stream(tx) => {
                let _ = tx.send(event.clone());
            }
        }
    }
}
