//! `on` and `off`: subscriptions, with initial values.

use happn_cluster_sdk::{Error, FindOptions, PathQuery, SortKey};
use serde_json::{Map, Value, json};

use super::guard::PathSyntax;
use super::{HandlerResult, Session};
use crate::path::Mask;
use crate::protocol::Frame;
use crate::protocol::options::{OffOptions, OnOptions};
use crate::pubsub::Subscription;
use crate::security::{Action, is_system_path};

impl Session {
    pub(super) async fn on(
        &mut self,
        frame: &Frame,
        channel: &str,
        options: &OnOptions,
    ) -> HandlerResult {
        self.checked_path(&options.mask, PathSyntax::Pattern, Action::On)?;
        if self.handle.is_peer() && options.initial {
            // A peer link replicates events; it does not read the store.
            return Err(Error::Forbidden(
                "cluster peers subscribe without initial values".into(),
            ));
        }
        let limit = self.ctx.limits.max_subscriptions;
        if self.subscriptions.len() >= limit {
            return Err(Error::bad_input(format!(
                "subscription limit reached: a session holds at most {limit} subscriptions (services.session.config.maxSubscriptions)"
            )));
        }
        let mask = Mask::with_depth(&options.mask, options.depth)
            .map_err(|e| Error::bad_input(e.to_string()))?;
        let reference = format!("{}", self.next_reference);
        self.next_reference += 1;
        let subscription = Subscription {
            recipient: self.handle.clone(),
            channel: channel.into(),
            mask: options.mask.as_str().into(),
            checked: self.restricted().is_some(),
            merge: options.merge,
            depth: mask.globstar_depth(),
        };
        // Subscribe before reading initial values: a write racing the subscription is then
        // seen at least once (as an event, an initial value, or both), never lost.
        let id = self
            .ctx
            .pubsub
            .subscribe(&mask, options.filter, subscription);
        self.subscriptions.insert(reference.clone(), id);
        self.handle.note_subscription();
        let initial_items = if options.initial {
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
        let reply = self.reply(frame);
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

    pub(super) fn off(
        &mut self,
        frame: &Frame,
        channel: &str,
        options: &OffOptions,
    ) -> HandlerResult {
        let reference = options.reference.clone();
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
                        .is_none_or(|c| &*c == channel)
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
        Ok(Some(self.reply(frame).ok(
            json!({"id": reference.map(Value::from).unwrap_or(Value::Bool(false)), "removed": removed}),
            Map::new(),
            false,
        )))
    }
}
