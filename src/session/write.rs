//! Data actions: set (with merge, increment, publish-only), get, count, remove; and the
//! publication each write makes under the requested consistency.

use happn_cluster_sdk::{Error, FindOptions, PathQuery, Record, wrap_data};
use serde_json::{Map, Value, json};

use super::{HandlerResult, Session};
use crate::path::{self, EventKind};
use crate::protocol::{Consistency, Request, publication_ack_frame};
use crate::pubsub::{Origin, Publication, PublishResults};
use crate::security::{Action, is_system_path};

fn reserved() -> Error {
    Error::Forbidden("the /_SYSTEM tree is reserved".into())
}

/// True if a wildcard query could address records under `/_SYSTEM`.
fn may_reach_system(query: &PathQuery) -> bool {
    match query {
        PathQuery::Exact(path) => is_system_path(path),
        PathQuery::Wildcard(pattern) => {
            let prefix = pattern.literal_prefix();
            "/_SYSTEM/".starts_with(prefix) || prefix.starts_with("/_SYSTEM")
        }
    }
}

/// Adds "not under /_SYSTEM" to the client's criteria.
fn exclude_system(params: &mut serde_json::Map<String, Value>) {
    let exclusion = json!({"_meta.path": {"$not": {"$regex": "^/_SYSTEM(/|$)"}}});
    let combined = match params.remove("criteria") {
        None | Some(Value::Null) => exclusion,
        Some(criteria) => json!({"$and": [criteria, exclusion]}),
    };
    params.insert("criteria".into(), combined);
}

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

impl Session {
    pub(super) async fn set(&mut self, request: &Request) -> HandlerResult {
        let raw_path = request.require_path().map_err(Error::bad_input)?;
        path::validate(raw_path, false).map_err(|e| Error::bad_input(e.to_string()))?;
        let path = path::normalise(raw_path).into_owned();
        if is_system_path(&path) {
            return Err(reserved());
        }
        self.authorize(Action::Set, &path)?;
        let consistency = Consistency::from_option(request.options.get("consistency"))
            .map_err(Error::bad_input)?;
        let by = self.username.as_deref().filter(|_| self.ctx.secure);
        let posted = if request.flag("nullValue") {
            Value::Null
        } else {
            request.data.clone()
        };

        let written = if let Some(amount) = request.options.get("increment") {
            let amount = amount
                .as_number()
                .cloned()
                .ok_or_else(|| Error::System("increment option value must be a number".into()))?;
            let gauge = match &request.data {
                Value::String(gauge) if !gauge.is_empty() => gauge.clone(),
                Value::Null => "counter".to_string(),
                _ => {
                    return Err(Error::System(
                        "invalid increment counter field name, must be a string".into(),
                    ));
                }
            };
            let value = self.ctx.data.increment(&path, &gauge, &amount, by).await?;
            Written {
                blind: Some(json!({"gauge": gauge})),
                data: json!({"value": value, "gauge": gauge}),
                meta: Map::new(),
                created: None,
                modified: None,
                posted: None,
            }
        } else if request.flag("noStore") {
            let mut meta = Map::new();
            meta.insert("path".into(), path.clone().into());
            Written {
                data: Value::Object(wrap_data(posted)),
                meta,
                created: None,
                modified: None,
                posted: None,
                blind: None,
            }
        } else {
            let merge = request.flag("merge");
            let data = wrap_data(posted);
            let posted = merge.then(|| Value::Object(data.clone()));
            let record = self.ctx.data.set(&path, data, merge, by).await?;
            Written {
                posted,
                ..written_record(record)
            }
        };

        self.finish_write(request, EventKind::Set, &path, written, consistency)
    }

    pub(super) async fn remove(&mut self, request: &Request) -> HandlerResult {
        let raw_path = request.require_path().map_err(Error::bad_input)?;
        path::validate(raw_path, true).map_err(|e| Error::bad_input(e.to_string()))?;
        let path = path::normalise(raw_path).into_owned();
        let query = PathQuery::parse(&path);
        if is_system_path(&path) {
            return Err(reserved());
        }
        self.authorize(Action::Remove, &path)?;
        let consistency = Consistency::from_option(request.options.get("consistency"))
            .map_err(Error::bad_input)?;
        let restricted = self.restricted().filter(|_| query.is_wildcard());
        // `remove(path, {criteria})` removes only the records that match (happn-3 does).
        let mut params = serde_json::Map::new();
        if let Some(criteria) = request.options.get("criteria").filter(|c| !c.is_null()) {
            params.insert("criteria".into(), criteria.clone());
        }
        let removed = if may_reach_system(&query) || restricted.is_some() {
            // Never let a broad wildcard delete reserved records, nor records the session may
            // not remove: remove the rest one by one.
            exclude_system(&mut params);
            let options = FindOptions::from_params(Some(&Value::Object(params)))?;
            let mut removed = 0;
            for record in self.ctx.data.get(&query, &options).await? {
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
                    .remove_where(&PathQuery::Exact(record.path), options.criteria.as_ref())
                    .await?;
            }
            removed
        } else {
            let options = FindOptions::from_params(Some(&Value::Object(params)))?;
            self.ctx
                .data
                .remove_where(&query, options.criteria.as_ref())
                .await?
        };
        let mut meta = Map::new();
        meta.insert("timestamp".into(), happn_cluster_sdk::now_millis().into());
        meta.insert("path".into(), path.clone().into());
        let written = Written {
            data: json!({"removed": removed}),
            meta,
            created: None,
            modified: None,
            posted: None,
            blind: None,
        };
        self.finish_write(request, EventKind::Remove, &path, written, consistency)
    }

    /// Publishes a write (unless `noPublish`) and replies. A writer who may not read the
    /// path gets back nothing it did not send (see [`Written::blind`]); events carry what
    /// was stored.
    fn finish_write(
        &self,
        request: &Request,
        kind: EventKind,
        path: &str,
        mut written: Written,
        consistency: Consistency,
    ) -> HandlerResult {
        let publication = if request.flag("noPublish") {
            None
        } else {
            Some(self.publication(request, kind, path, &written, consistency)?)
        };
        if self
            .restricted()
            .is_some_and(|permissions| !permissions.allows(Action::Get, path))
        {
            // Merges: what was posted; increments: the gauge name; sets: their own data.
            if let Some(blind) = written.blind.take().or_else(|| written.posted.clone()) {
                written.data = blind;
            }
            written.meta.retain(|key, _| key == "path");
        }
        match publication {
            None => Ok(Some(self.write_reply(
                request,
                path,
                written.data,
                written.meta,
                None,
            ))),
            Some(publication) => self.publish_and_reply(request, path, publication, written),
        }
    }

    /// The path, query and options of a read (get or count), authorized, with `/_SYSTEM`
    /// refused or excluded.
    fn read_query(&self, request: &Request) -> Result<(String, PathQuery, FindOptions), Error> {
        let raw_path = request.require_path().map_err(Error::bad_input)?;
        let path = path::normalise(raw_path).into_owned();
        let query = PathQuery::parse(&path);
        if is_system_path(&path) {
            return Err(reserved());
        }
        self.authorize(Action::Get, &path)?;
        let mut params = request.options.clone();
        if may_reach_system(&query) {
            exclude_system(&mut params);
        }
        let options = FindOptions::from_params(Some(&Value::Object(params)))?;
        Ok((path, query, options))
    }

    pub(super) async fn get(&mut self, request: &Request) -> HandlerResult {
        let (_, query, options) = self.read_query(request)?;
        let aggregate = request
            .options
            .get("options")
            .and_then(|o| o.get("aggregate"))
            .or(request.options.get("aggregate"))
            .filter(|a| !a.is_null());
        if let Some(pipeline) = aggregate {
            let pipeline = happn_cluster_sdk::parse_pipeline(pipeline)?;
            if self.restricted().is_some() {
                // A pipeline's output cannot be filtered record by record afterwards.
                return Err(Error::Forbidden(
                    "aggregate needs unrestricted read access (an _ADMIN session)".into(),
                ));
            }
            let results = self.ctx.data.aggregate(&query, &options, &pipeline).await?;
            return Ok(Some(self.reply(request).ok(
                json!({"value": results}),
                Map::new(),
                false,
            )));
        }
        let path_only = request.flag("path_only")
            || request
                .options
                .get("options")
                .and_then(|o| o.get("path_only"))
                .is_some_and(|v| v == &Value::Bool(true));
        let records = match self.restricted().filter(|_| query.is_wildcard()) {
            // Page after filtering out records the session may not read.
            Some(permissions) => {
                let unpaged = FindOptions {
                    skip: None,
                    limit: None,
                    ..options.clone()
                };
                self.ctx
                    .data
                    .get(&query, &unpaged)
                    .await?
                    .into_iter()
                    .filter(|r| permissions.allows(Action::Get, &r.path))
                    .skip(options.skip.unwrap_or(0) as usize)
                    .take(options.limit.map(|l| l as usize).unwrap_or(usize::MAX))
                    .collect()
            }
            None => self.ctx.data.get(&query, &options).await?,
        };
        let reply = self.reply(request);
        let shape = |record: &Record| {
            if path_only {
                json!({"_meta": {"path": record.path}})
            } else {
                record.to_client_json()
            }
        };
        Ok(Some(if query.is_wildcard() {
            reply.ok_array(records.iter().map(shape).collect())
        } else {
            match records.first() {
                Some(record) if path_only => reply.ok(shape(record), Map::new(), false),
                Some(record) => reply.ok(
                    Value::Object(record.data.clone()),
                    record.meta_json(),
                    false,
                ),
                None => reply.ok(Value::Null, Map::new(), false),
            }
        }))
    }

    pub(super) async fn count(&mut self, request: &Request) -> HandlerResult {
        let (_, query, options) = self.read_query(request)?;
        if let Some(permissions) = self.restricted().filter(|_| query.is_wildcard()) {
            // Count only what the session may read (paging does not apply to counts).
            let unpaged = FindOptions {
                criteria: options.criteria.clone(),
                ..FindOptions::default()
            };
            let n = self
                .ctx
                .data
                .get(&query, &unpaged)
                .await?
                .iter()
                .filter(|r| permissions.allows(Action::Get, &r.path))
                .count();
            return Ok(Some(self.reply(request).ok(
                json!({"value": n}),
                Map::new(),
                false,
            )));
        }
        let n = self.ctx.data.count(&query, &options).await?;
        Ok(Some(self.reply(request).ok(
            json!({"value": n}),
            Map::new(),
            false,
        )))
    }

    fn publication(
        &self,
        request: &Request,
        kind: EventKind,
        path: &str,
        written: &Written,
        consistency: Consistency,
    ) -> Result<Publication, Error> {
        let target_clients = match request.options.get("targetClients") {
            None | Some(Value::Null) => None,
            Some(Value::Array(ids)) => Some(
                ids.iter()
                    .map(|id| {
                        id.as_str().map(str::to_string).ok_or_else(|| {
                            Error::bad_input("targetClients must be session id strings")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(Error::bad_input("targetClients must be an array")),
        };
        let meta = match request.options.get("meta") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(meta)) => meta.clone(),
            Some(_) => return Err(Error::bad_input("options.meta must be an object")),
        };
        let event_id = match &request.event_id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Ok(Publication {
            kind,
            path: path.to_string(),
            data: written.data.clone(),
            merge_data: written.posted.clone(),
            created: written.created,
            modified: written.modified,
            origin: Origin {
                node: self.ctx.name.clone(),
                session_id: self.handle.id.clone(),
                username: self.username.clone().filter(|_| self.ctx.secure),
            },
            publication_id: format!("{}-{}", self.handle.id, event_id),
            consistency,
            target_clients,
            meta,
            no_cluster: request.flag("noCluster"),
        })
    }

    fn write_reply(
        &self,
        request: &Request,
        path: &str,
        data: Value,
        meta: Map<String, Value>,
        results: Option<(bool, PublishResults)>,
    ) -> String {
        let reply = self.reply(request);
        let published = results.is_some_and(|(published, _)| published);
        if request.flag("noDataResponse") {
            return reply.ok_slim(path, published);
        }
        let mut meta = meta;
        if let Some((_, results)) = results
            && request.flag("publishResults")
        {
            meta.insert("publishResults".into(), json!(results));
        }
        reply.ok(data, meta, published)
    }

    /// Publishes and replies in the order the consistency level promises.
    fn publish_and_reply(
        &self,
        request: &Request,
        path: &str,
        publication: Publication,
        written: Written,
    ) -> HandlerResult {
        let pubsub = &self.ctx.pubsub;
        match publication.consistency {
            Consistency::Transactional => {
                let (results, _) = pubsub.publish(&publication);
                Ok(Some(self.write_reply(
                    request,
                    path,
                    written.data,
                    written.meta,
                    Some((true, results)),
                )))
            }
            Consistency::Queued => {
                self.send(self.write_reply(request, path, written.data, written.meta, None));
                pubsub.publish(&publication);
                Ok(None)
            }
            Consistency::Deferred => {
                self.send(self.write_reply(request, path, written.data, written.meta, None));
                let (results, _) = pubsub.publish(&publication);
                self.send(publication_ack_frame(
                    &publication.publication_id,
                    &request.event_id,
                    json!(results),
                    None,
                ));
                Ok(None)
            }
            Consistency::Acknowledged => {
                self.send(self.write_reply(request, path, written.data, written.meta, None));
                let id = publication.publication_id.clone();
                let tracked =
                    pubsub
                        .acks()
                        .start(id.clone(), self.handle.clone(), request.event_id.clone());
                let (results, recipients) = pubsub.publish(&publication);
                if tracked {
                    pubsub
                        .acks()
                        .settle(&id, results, recipients.iter().map(|s| s.id.clone()));
                }
                Ok(None)
            }
        }
    }
}

fn written_record(record: Record) -> Written {
    Written {
        meta: record.meta_json(),
        created: Some(record.created),
        modified: Some(record.modified),
        data: Value::Object(record.data),
        posted: None,
        blind: None,
    }
}
