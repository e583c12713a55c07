//! Data operations: set, publish, increment, remove, get, count.

use std::sync::atomic::Ordering;

use happn_cluster_sdk::{Error, Result};
use serde_json::{Map, Number, Value, json};
use tokio::sync::oneshot;

use super::{Client, GetOptions, SetOptions, Written};

impl Client {
    /// Writes `data` at `path` (replacing what was there); returns the stored data + `_meta`.
    pub async fn set(&self, path: &str, data: Value) -> Result<Value> {
        Ok(self
            .set_with(path, data, SetOptions::default())
            .await?
            .reply)
    }

    /// Writes with options (merge, consistency, noPublish, meta, targetClients, …).
    pub async fn set_with(&self, path: &str, data: Value, options: SetOptions) -> Result<Written> {
        let wait_ack = matches!(options.consistency, Some(1) | Some(3));
        let map = options.to_map();
        self.write("set", path, data, map, wait_ack).await
    }

    /// Publishes an event without storing anything.
    pub async fn publish(&self, path: &str, data: Value) -> Result<Value> {
        let mut options = SetOptions::default().to_map();
        options.insert("noStore".into(), true.into());
        options.insert("noDataResponse".into(), true.into());
        Ok(self.write("set", path, data, options, false).await?.reply)
    }

    /// Atomically adds `by` to gauge `gauge` at `path`; returns the new value.
    pub async fn increment(
        &self,
        path: &str,
        gauge: &str,
        by: impl Into<Number>,
    ) -> Result<Number> {
        let mut options = Map::new();
        options.insert("increment".into(), Value::Number(by.into()));
        let reply = self
            .request("set", Some(path), gauge.into(), Some(options))
            .await?;
        reply
            .get("data")
            .and_then(|d| d.get("value"))
            .and_then(Value::as_number)
            .cloned()
            .ok_or_else(|| Error::internal("increment reply has no value"))
    }

    /// Removes the record(s) at `path` (wildcards allowed); returns how many.
    pub async fn remove(&self, path: &str) -> Result<u64> {
        let written = self.remove_with(path, SetOptions::default()).await?;
        Ok(written
            .reply
            .get("removed")
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    /// Removes with options (consistency, noPublish, meta, …).
    pub async fn remove_with(&self, path: &str, options: SetOptions) -> Result<Written> {
        let wait_ack = matches!(options.consistency, Some(1) | Some(3));
        self.write("remove", path, Value::Null, options.to_map(), wait_ack)
            .await
    }

    async fn write(
        &self,
        action: &str,
        path: &str,
        data: Value,
        options: Map<String, Value>,
        wait_ack: bool,
    ) -> Result<Written> {
        let event_id = self.inner.next_event_id.fetch_add(1, Ordering::Relaxed);
        let ack_id = format!("{}-{event_id}", self.session_id().unwrap_or_default());
        let ack = if wait_ack {
            let (tx, rx) = oneshot::channel();
            self.state().acks.insert(ack_id.clone(), tx);
            Some(rx)
        } else {
            None
        };
        let reply = match self
            .request_with_id(event_id, action, Some(path), data, Some(options))
            .await
        {
            Ok(reply) => reply,
            Err(e) => {
                self.state().acks.remove(&ack_id);
                return Err(e);
            }
        };
        let publication = match ack {
            None => None,
            Some(rx) => Some(
                match tokio::time::timeout(self.inner.options.call_timeout, rx).await {
                    Ok(Ok(ack)) => {
                        if ack.get("status").and_then(Value::as_str) == Some("error") {
                            Err(Error::Timeout(
                                ack.get("error")
                                    .and_then(Value::as_str)
                                    .unwrap_or("publication failed")
                                    .to_string(),
                            ))
                        } else {
                            Ok(ack.get("result").cloned().unwrap_or(Value::Null))
                        }
                    }
                    Ok(Err(_)) => Err(Error::unavailable("connection lost")),
                    Err(_) => {
                        self.state().acks.remove(&ack_id);
                        Err(Error::Timeout("publish timed out".into()))
                    }
                },
            ),
        };
        Ok(Written {
            reply: flatten(reply),
            publication,
        })
    }

    /// The record at exactly `path`, or `None`.
    pub async fn get(&self, path: &str) -> Result<Option<Value>> {
        let reply = self.get_with(path, GetOptions::default()).await?;
        Ok(match reply {
            Value::Null => None,
            other => Some(other),
        })
    }

    /// Every record matching a wildcard `path` and the options.
    pub async fn get_many(&self, path: &str, options: GetOptions) -> Result<Vec<Value>> {
        match self.get_with(path, options).await? {
            Value::Array(items) => Ok(items),
            Value::Null => Ok(Vec::new()),
            other => Ok(vec![other]),
        }
    }

    /// A raw get: an object (exact path), `null`, or an array (wildcard path).
    pub async fn get_with(&self, path: &str, options: GetOptions) -> Result<Value> {
        let reply = self
            .request("get", Some(path), Value::Null, Some(options.to_map()))
            .await?;
        Ok(flatten(reply))
    }

    /// The paths of the records matching `path`.
    pub async fn get_paths(&self, path: &str) -> Result<Vec<String>> {
        let options = GetOptions {
            path_only: true,
            ..GetOptions::default()
        };
        Ok(self
            .get_many(path, options)
            .await?
            .iter()
            .filter_map(|item| item.pointer("/_meta/path").and_then(Value::as_str))
            .map(str::to_string)
            .collect())
    }

    /// Counts records matching `path` (and criteria).
    pub async fn count(&self, path: &str, options: GetOptions) -> Result<u64> {
        let reply = self
            .request("count", Some(path), Value::Null, Some(options.to_map()))
            .await?;
        reply
            .pointer("/data/value")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::internal("count reply has no value"))
    }
}

/// The client view of a reply: `data` with `_meta` attached (objects), the array (arrays),
/// or `null`.
fn flatten(reply: Value) -> Value {
    match reply {
        Value::Array(items) => Value::Array(items),
        Value::Object(mut map) => {
            let meta = map.remove("_meta").unwrap_or(Value::Null);
            match map.remove("data") {
                Some(Value::Object(mut data)) => {
                    data.insert("_meta".into(), meta);
                    Value::Object(data)
                }
                Some(Value::Null) => Value::Null,
                Some(other) => other,
                None => json!({"_meta": meta}),
            }
        }
        other => other,
    }
}
