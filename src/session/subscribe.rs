//! `on` and `off`: subscriptions, with initial values.

use happn_cluster_sdk::{Error, FindOptions, PathQuery, SortKey};
use serde_json::{Map, Value, json};

use super::{HandlerResult, Session};
use crate::path::{self, EventFilter, Mask, mask::DEFAULT_DEPTH};
use crate::protocol::Request;
use crate::pubsub::Subscription;
use crate::security::{Action, is_system_path};

/// Splits a channel key (`/SET@/a/*`, `/ALL@*`) into its event filter and mask text.
/// A bare path (no `@`) subscribes to all events.
pub(crate) fn parse_channel(channel: &str) -> Result<(EventFilter, &str), Error> {
    let Some(rest) = channel.strip_prefix('/') else {
        return Ok((EventFilter::All, channel));
    };
    let Some((action, path)) = rest.split_once('@') else {
        return Ok((EventFilter::All, channel));
    };
    let filter = match action {
        "SET" => EventFilter::Set,
        "REMOVE" => EventFilter::Remove,
        "ALL" | "*" => EventFilter::All,
        // Not a channel prefix after all: a plain path containing '@'.
        _ => return Ok((EventFilter::All, channel)),
    };
    if path.is_empty() {
        return Err(Error::bad_input(format!("channel {channel:?} has no path")));
    }
    Ok((filter, path))
}

impl Session {
    pub(super) async fn on(&mut self, request: &Request) -> HandlerResult {
        let channel = request.require_path().map_err(Error::bad_input)?;
        let (mut filter, mask_text) = parse_channel(channel)?;
        if let Some(event_type) = request.options.get("event_type").and_then(Value::as_str) {
            filter = match event_type.to_ascii_lowercase().as_str() {
                "set" => EventFilter::Set,
                "remove" => EventFilter::Remove,
                "all" | "*" => EventFilter::All,
                other => return Err(Error::bad_input(format!("unknown event_type {other:?}"))),
            };
        }
        path::validate(mask_text, true).map_err(|e| Error::bad_input(e.to_string()))?;
        if is_system_path(&path::normalise(mask_text)) {
            return Err(Error::Forbidden("the /_SYSTEM tree is reserved".into()));
        }
        self.authorize(Action::On, mask_text)?;
        let depth = match request.options.get("depth") {
            None | Some(Value::Null) => DEFAULT_DEPTH,
            Some(v) => v
                .as_u64()
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| Error::bad_input("depth must be a positive integer"))?,
        };
        let mask =
            Mask::with_depth(mask_text, depth).map_err(|e| Error::bad_input(e.to_string()))?;
        let initial = request.flag("initialCallback") || request.flag("initialEmit");
        let reference = format!("{}", self.next_reference);
        self.next_reference += 1;
        let subscription = Subscription {
            session: self.handle.clone(),
            channel: channel.into(),
            mask: mask_text.into(),
            checked: self.restricted().is_some(),
            merge: request.flag("merge"),
            depth: mask.globstar_depth(),
        };
        // Subscribe before reading initial values: a write racing the subscription is then
        // seen at least once (as an event, an initial value, or both), never lost.
        let id = self.ctx.pubsub.subscribe(&mask, filter, subscription);
        self.subscriptions.insert(reference.clone(), id);
        let initial_items = if initial {
            match self.initial_values(&mask).await {
                Ok(items) => Some(items),
                Err(e) => {
                    self.subscriptions.remove(&reference);
                    self.ctx.pubsub.unsubscribe(id);
                    return Err(e);
                }
            }
        } else {
            None
        };
        let reply = self.reply(request);
        Ok(Some(match initial_items {
            Some(items) => {
                let mut meta = Map::new();
                meta.insert("referenceId".into(), reference.into());
                reply.ok(Value::Array(items), meta, false)
            }
            None => reply.ok(json!({"id": reference}), Map::new(), false),
        }))
    }

    /// Current records the subscription covers, oldest change first. Unlike the original
    /// (whose initial query lets `*` cross `/`), only records the mask would fire for are
    /// returned.
    async fn initial_values(&self, mask: &Mask) -> Result<Vec<Value>, Error> {
        // The query matcher's `*` crosses `/`, so this finds a superset; the mask filters it.
        let query_text = if mask.is_any() { "*" } else { mask.as_str() };
        let options = FindOptions {
            sort: vec![SortKey {
                field: "modified".into(),
                descending: false,
            }],
            ..FindOptions::default()
        };
        let records = self
            .ctx
            .data
            .get(&PathQuery::parse(query_text), &options)
            .await?;
        let restricted = self.restricted();
        Ok(records
            .iter()
            .filter(|r| mask.matches(&r.path) && !is_system_path(&r.path))
            .filter(|r| {
                restricted
                    .as_ref()
                    .is_none_or(|p| p.allows(Action::On, &r.path))
            })
            .map(|r| r.to_client_json())
            .collect())
    }

    pub(super) fn off(&mut self, request: &Request) -> HandlerResult {
        let channel = request.require_path().map_err(Error::bad_input)?;
        let reference = match request.options.get("referenceId") {
            Some(Value::String(r)) => Some(r.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let mut removed = 0u32;
        if channel == "*" {
            for (_, id) in self.subscriptions.drain() {
                if self.ctx.pubsub.unsubscribe(id) {
                    removed += 1;
                }
            }
        } else if let Some(reference) = &reference {
            if let Some(id) = self.subscriptions.remove(reference)
                && self.ctx.pubsub.unsubscribe(id)
            {
                removed += 1;
            }
        } else {
            // happn-3 clients send no referenceId when the last local handler of a channel
            // goes (a second handler on one path, offPath, once/count expiry): as happn-3
            // does, drop every subscription this session holds on that channel.
            let doomed: Vec<String> = self
                .subscriptions
                .iter()
                .filter(|(_, id)| {
                    self.ctx
                        .pubsub
                        .channel_of(**id)
                        .is_none_or(|c| *c == *channel)
                })
                .map(|(reference, _)| reference.clone())
                .collect();
            for reference in doomed {
                if let Some(id) = self.subscriptions.remove(&reference)
                    && self.ctx.pubsub.unsubscribe(id)
                {
                    removed += 1;
                }
            }
        }
        Ok(Some(self.reply(request).ok(
            json!({"id": reference.map(Value::from).unwrap_or(Value::Bool(false)), "removed": removed}),
            Map::new(),
            false,
        )))
    }
}
