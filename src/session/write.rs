//! Writes: `set` (store, merge, increment, publish only) and `remove`; and the publication
//! each write makes under the requested consistency.

use happn_cluster_sdk::{FindOptions, PathQuery, Record, wrap_data};
use serde_json::{Map, Value, json};

use super::guard::{PathSyntax, exclude_system, may_reach_system};
use super::{HandlerResult, Session};
use crate::path::EventKind;
use crate::protocol::options::{
    PublishOptions, RemoveOptions, ReplyOptions, SetOptions, WriteMode,
};
use crate::protocol::{Consistency, Frame, publication_ack_frame};
use crate::pubsub::{Origin, Publication, PublishResults};
use crate::security::Action;

/// What a write stored, for the reply and the event.
struct Written {
    /// Reply/event data.
    data: Value,
    /// Extra reply `_meta` (record meta).
    meta: Map<String, Value>,
    created: Option<i64>,
    modified: Option<i64>,
    /// For merges: the posted fields (what merge subscribers receive).
    posted: Option<Value>,
    /// What the reply carries for a writer without `get` on the path, where that is neither
    /// `data` nor `posted` (increments: the gauge name only). Such a writer's reply `_meta`
    /// keeps only the path, so it cannot tell whether the record existed.
    blind: Option<Value>,
}

impl Written {
    fn new(data: Value, meta: Map<String, Value>) -> Written {
        Written {
            data,
            meta,
            created: None,
            modified: None,
            posted: None,
            blind: None,
        }
    }

    fn record(record: Record) -> Written {
        Written {
            meta: record.meta_json(),
            created: Some(record.created),
            modified: Some(record.modified),
            data: Value::Object(record.data),
            posted: None,
            blind: None,
        }
    }
}

/// A write's request, as the publication and reply need it.
struct WriteRequest<'a> {
    frame: &'a Frame,
    kind: EventKind,
    path: String,
    publish: &'a PublishOptions,
    reply: ReplyOptions,
}

impl Session {
    pub(super) async fn set(
        &mut self,
        frame: &Frame,
        raw: &str,
        data: &Value,
        options: &SetOptions,
    ) -> HandlerResult {
        let path = self.checked_path(raw, PathSyntax::Exact, Action::Set)?;
        let by = self.author();
        // Held until the event is published: one path's events follow its commit order.
        let _turn = match options.write {
            WriteMode::NoStore => None,
            _ => Some(self.ctx.data.path_turn(&path).await),
        };
        let posted = if options.null_value {
            Value::Null
        } else {
            data.clone()
        };
        let written = match &options.write {
            WriteMode::Increment { gauge, amount } => {
                let value = self.ctx.data.increment(&path, gauge, amount, by).await?;
                Written {
                    blind: Some(json!({"gauge": gauge})),
                    ..Written::new(json!({"value": value, "gauge": gauge}), Map::new())
                }
            }
            WriteMode::NoStore => {
                let mut meta = Map::new();
                meta.insert("path".into(), path.clone().into());
                Written::new(Value::Object(wrap_data(posted)), meta)
            }
            WriteMode::Store { merge } => {
                let data = wrap_data(posted);
                let posted = merge.then(|| Value::Object(data.clone()));
                let record = self.ctx.data.set(&path, data, *merge, by).await?;
                Written {
                    posted,
                    ..Written::record(record)
                }
            }
        };
        let request = WriteRequest {
            frame,
            kind: EventKind::Set,
            path,
            publish: &options.publish,
            reply: options.reply,
        };
        self.finish_write(request, written)
    }

    pub(super) async fn remove(
        &mut self,
        frame: &Frame,
        raw: &str,
        options: &RemoveOptions,
    ) -> HandlerResult {
        let path = self.checked_path(raw, PathSyntax::Pattern, Action::Remove)?;
        let query = PathQuery::parse(&path);
        let restricted = self.restricted().filter(|_| query.is_wildcard());
        // `remove(path, {criteria})` removes only the records that match (happn-3 does).
        let mut find = FindOptions {
            criteria: options.criteria.clone(),
            ..FindOptions::default()
        };
        let removed = if may_reach_system(&query) || restricted.is_some() {
            // Never let a broad wildcard delete reserved records, nor records the session may
            // not remove: remove the rest one by one.
            exclude_system(&mut find)?;
            let mut removed = 0;
            for record in self.ctx.data.get(&query, &find).await? {
                if restricted
                    .as_ref()
                    .is_some_and(|p| !p.allows(Action::Remove, &record.path))
                {
                    continue;
                }
                // Checked again at removal: the record may have changed since it was read.
                removed += self
                    .ctx
                    .data
                    .remove_where(&PathQuery::Exact(record.path), find.criteria.as_ref())
                    .await?;
            }
            removed
        } else {
            self.ctx
                .data
                .remove_where(&query, find.criteria.as_ref())
                .await?
        };
        let mut meta = Map::new();
        meta.insert("timestamp".into(), happn_cluster_sdk::now_millis().into());
        meta.insert("path".into(), path.clone().into());
        let request = WriteRequest {
            frame,
            kind: EventKind::Remove,
            path,
            publish: &options.publish,
            reply: options.reply,
        };
        self.finish_write(request, Written::new(json!({"removed": removed}), meta))
    }

    /// Publishes a write (unless `noPublish`) and replies. A writer who may not read the
    /// path gets back nothing it did not send (see [`Written::blind`]); events carry what
    /// was stored.
    fn finish_write(&mut self, request: WriteRequest<'_>, mut written: Written) -> HandlerResult {
        let publication =
            (!request.publish.no_publish).then(|| self.publication(&request, &written));
        if self
            .restricted()
            .is_some_and(|permissions| !permissions.allows(Action::Get, &request.path))
        {
            // Merges: what was posted; increments: the gauge name; sets: their own data.
            if let Some(blind) = written.blind.take().or_else(|| written.posted.clone()) {
                written.data = blind;
            }
            written.meta.retain(|key, _| key == "path");
        }
        match publication {
            None => Ok(Some(self.write_reply(&request, written, None))),
            Some(publication) => self.publish_and_reply(&request, publication, written),
        }
    }

    fn publication(&self, request: &WriteRequest<'_>, written: &Written) -> Publication {
        let publish = request.publish;
        let event_id = match &request.frame.event_id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Publication {
            kind: request.kind,
            path: request.path.clone(),
            data: written.data.clone(),
            merge_data: written.posted.clone(),
            created: written.created,
            modified: written.modified,
            origin: Origin {
                node: self.ctx.name.clone(),
                session_id: self.handle.id.clone(),
                username: self.author().map(str::to_string),
            },
            publication_id: format!("{}-{}", self.handle.id, event_id),
            consistency: publish.consistency,
            target_clients: publish.target_clients.clone(),
            meta: publish.meta.clone(),
            no_cluster: publish.no_cluster,
        }
    }

    fn write_reply(
        &self,
        request: &WriteRequest<'_>,
        written: Written,
        results: Option<(bool, PublishResults)>,
    ) -> String {
        let reply = self.reply(request.frame);
        let published = results.is_some_and(|(published, _)| published);
        if request.reply.no_data_response {
            return reply.ok_slim(&request.path, published);
        }
        let mut meta = written.meta;
        if let Some((_, results)) = results
            && request.reply.publish_results
        {
            meta.insert("publishResults".into(), json!(results));
        }
        reply.ok(written.data, meta, published)
    }

    /// Publishes and replies in the order the consistency level promises.
    fn publish_and_reply(
        &mut self,
        request: &WriteRequest<'_>,
        publication: Publication,
        written: Written,
    ) -> HandlerResult {
        let pubsub = &self.ctx.pubsub;
        match publication.consistency {
            Consistency::Transactional => {
                // The reply waits (in dispatch, after the path's turn is released) until the
                // other local subscribers' copies are written.
                let (results, marks) = pubsub.publish_marked(&publication, &self.handle.id);
                self.awaiting_writes.extend(marks);
                Ok(Some(self.write_reply(
                    request,
                    written,
                    Some((true, results)),
                )))
            }
            Consistency::Queued => {
                self.send(self.write_reply(request, written, None));
                pubsub.publish(&publication);
                Ok(None)
            }
            Consistency::Deferred => {
                self.send(self.write_reply(request, written, None));
                let results = pubsub.publish(&publication);
                self.send(publication_ack_frame(
                    &publication.publication_id,
                    &request.frame.event_id,
                    json!(results),
                    None,
                ));
                Ok(None)
            }
            Consistency::Acknowledged => {
                self.send(self.write_reply(request, written, None));
                pubsub.publish_acknowledged(
                    &publication,
                    self.handle.clone(),
                    request.frame.event_id.clone(),
                );
                Ok(None)
            }
        }
    }
}
