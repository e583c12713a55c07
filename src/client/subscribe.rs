//! Subscriptions: `on` with a handler or a stream, `off`, and local listener bookkeeping.

use std::sync::Arc;

use happn_cluster_sdk::Result;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::{Client, Event, Listener, OnOptions, Sink};

impl Client {
    /// Subscribes with a handler called for every event (on the client's reader task: keep
    /// it quick). Returns the listener handle and any initial values requested.
    pub async fn on(
        &self,
        path: &str,
        options: OnOptions,
        handler: impl Fn(Event) + Send + Sync + 'static,
    ) -> Result<(u64, Vec<Value>)> {
        self.subscribe(path, options, Sink::Handler(Box::new(handler)))
            .await
    }

    /// Subscribes and returns a stream of events.
    pub async fn on_stream(
        &self,
        path: &str,
        options: OnOptions,
    ) -> Result<(u64, mpsc::UnboundedReceiver<Event>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (handle, initial) = self
            .subscribe(path, options, Sink::Stream(tx.clone()))
            .await?;
        for item in initial {
            let meta = item.get("_meta").cloned().unwrap_or(Value::Null);
            let _ = tx.send(Event { data: item, meta });
        }
        Ok((handle, rx))
    }

    async fn subscribe(
        &self,
        path: &str,
        options: OnOptions,
        sink: Sink,
    ) -> Result<(u64, Vec<Value>)> {
        let channel = options.channel(path);
        let reply = self
            .request(
                "on",
                Some(&channel),
                Value::Null,
                Some(options.to_map(path)),
            )
            .await?;
        let (reference, initial) = match reply.get("data") {
            Some(Value::Array(items)) => (
                reply.pointer("/_meta/referenceId").map(reference_text),
                items.clone(),
            ),
            Some(data) => (data.get("id").map(reference_text), Vec::new()),
            None => (None, Vec::new()),
        };
        let mut state = self.state();
        let handle = state.next_handle;
        state.next_handle += 1;
        state.listeners.insert(
            handle,
            Listener {
                channel,
                remaining: (options.count > 0).then_some(options.count),
                options,
                reference,
                sink: Arc::new(sink),
            },
        );
        Ok((handle, initial))
    }

    /// Removes one listener.
    pub async fn off(&self, handle: u64) -> Result<()> {
        let listener = self.state().listeners.remove(&handle);
        let Some(listener) = listener else {
            return Ok(());
        };
        self.remote_off(&listener).await
    }

    pub(super) async fn remote_off(&self, listener: &Listener) -> Result<()> {
        let mut options = Map::new();
        if let Some(reference) = &listener.reference {
            options.insert("referenceId".into(), reference.clone().into());
        }
        self.request("off", Some(&listener.channel), Value::Null, Some(options))
            .await
            .map(|_| ())
    }

    /// Removes every listener of this client.
    pub async fn off_all(&self) -> Result<()> {
        self.state().listeners.clear();
        let mut options = Map::new();
        options.insert("referenceId".into(), 0.into());
        self.request("off", Some("*"), Value::Null, Some(options))
            .await
            .map(|_| ())
    }

    /// Number of local listeners.
    pub fn listener_count(&self) -> usize {
        self.state().listeners.len()
    }
}

pub(super) fn reference_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
