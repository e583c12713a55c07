//! Reads: `get` (records, paths only, or an aggregation) and `count`.

use happn_cluster_sdk::{Error, FindOptions, PathQuery, Record};
use serde_json::{Map, Value, json};

use super::guard::{PathSyntax, exclude_system, filter_then_page, may_reach_system, unpaged};
use super::{HandlerResult, Session};
use crate::protocol::Frame;
use crate::protocol::options::GetOptions;
use crate::security::Action;

impl Session {
    /// The query and find options of a read, authorized, with `/_SYSTEM` refused or
    /// excluded.
    fn read_query(
        &self,
        raw: &str,
        options: &GetOptions,
    ) -> Result<(PathQuery, FindOptions), Error> {
        let path = self.checked_path(raw, PathSyntax::Query, Action::Get)?;
        let query = PathQuery::parse(&path);
        let mut find = options.find.clone();
        if may_reach_system(&query) {
            exclude_system(&mut find)?;
        }
        Ok((query, find))
    }

    pub(super) async fn get(
        &mut self,
        frame: &Frame,
        raw: &str,
        options: &GetOptions,
    ) -> HandlerResult {
        let (query, find) = self.read_query(raw, options)?;
        if let Some(pipeline) = &options.aggregate {
            if self.restricted().is_some() {
                // A pipeline's output cannot be filtered record by record afterwards.
                return Err(Error::Forbidden(
                    "aggregate needs unrestricted read access (an _ADMIN session)".into(),
                ));
            }
            let results = self.ctx.data.aggregate(&query, &find, pipeline).await?;
            return Ok(Some(self.reply(frame).ok(
                json!({"value": results}),
                Map::new(),
                false,
            )));
        }
        let records = match self.restricted().filter(|_| query.is_wildcard()) {
            Some(permissions) => filter_then_page(
                self.ctx.data.get(&query, &unpaged(&find)).await?,
                &permissions,
                Action::Get,
                &find,
            ),
            None => self.ctx.data.get(&query, &find).await?,
        };
        let reply = self.reply(frame);
        let path_only = options.path_only;
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

    pub(super) async fn count(
        &mut self,
        frame: &Frame,
        raw: &str,
        options: &GetOptions,
    ) -> HandlerResult {
        let (query, find) = self.read_query(raw, options)?;
        let n = match self.restricted().filter(|_| query.is_wildcard()) {
            // Count only what the session may read (paging does not apply to counts).
            Some(permissions) => {
                let criteria_only = FindOptions {
                    criteria: find.criteria.clone(),
                    ..FindOptions::default()
                };
                let records = self.ctx.data.get(&query, &criteria_only).await?;
                filter_then_page(records, &permissions, Action::Get, &criteria_only).len() as u64
            }
            None => self.ctx.data.count(&query, &find).await?,
        };
        Ok(Some(self.reply(frame).ok(
            json!({"value": n}),
            Map::new(),
            false,
        )))
    }
}
