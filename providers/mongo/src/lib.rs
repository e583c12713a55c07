//! # happn-provider-mongo
//!
//! `mongo` (alias `happn-db-provider-mongo`): the default datastore. Documents are shaped as
//! the original happn-cluster provider stores them — `{path, data, created, modified,
//! modifiedBy}` with a unique index on `path` — so an existing happn-cluster collection can
//! be read. Path patterns become anchored regexes with every literal escaped; criteria,
//! sort and paging are pushed down to MongoDB; shallow merge is `$set` of `data.<key>` and
//! increment is `$inc`, both atomic.
//!
//! Settings: `{"url": "mongodb://127.0.0.1:27017", "database": "happn-cluster",
//! "collection": "happn-cluster"}`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{FutureExt, TryStreamExt};
use happn_cluster_sdk::registry::redact_url;
use happn_cluster_sdk::{
    BuildContext, Criteria, Datastore, DatastorePlugin, Error, Features, FindOptions, PathQuery,
    Record, Result, UpsertItem, UpsertOptions, distinct_paths, inventory, now_millis, upsert_each,
};
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::{ClientOptions, Collation, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, IndexModel};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// Settings of the `mongo` provider (the seed's defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSettings {
    /// Connection string.
    #[serde(default = "default_url")]
    pub url: String,
    /// Database name.
    #[serde(default = "default_name")]
    pub database: String,
    /// Collection name.
    #[serde(default = "default_name")]
    pub collection: String,
}

fn default_url() -> String {
    "mongodb://127.0.0.1:27017".into()
}

fn default_name() -> String {
    "happn-cluster".into()
}

/// A datastore in one MongoDB collection.
pub struct MongoDatastore {
    client: Client,
    collection: Collection<Document>,
    url: String,
}

fn to_bson(value: &Value) -> Result<Bson> {
    bson::to_bson(value).map_err(|e| Error::bad_input(format!("cannot store value: {e}")))
}

/// A client collation document as the driver's type (`{locale, strength, …}`).
fn collation(value: Option<&Value>) -> Result<Option<Collation>> {
    value
        .map(|v| {
            serde_json::from_value::<Collation>(v.clone())
                .map_err(|e| Error::bad_input(format!("invalid collation: {e}")))
        })
        .transpose()
}

fn json_number(bson: &Bson) -> Option<i64> {
    match bson {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(f) => Some(*f as i64),
        Bson::DateTime(d) => Some(d.timestamp_millis()),
        _ => None,
    }
}

/// Rewrites stored-form criteria into what MongoDB accepts: `$regex: [pattern, flags]`
/// becomes `$regex` + `$options`, and `$not: "regex"` becomes `$not: {$regex}`.
fn mongo_criteria(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$regex", Value::Array(items)) => {
                        out.insert(
                            "$regex".into(),
                            items.first().cloned().unwrap_or(Value::Null),
                        );
                        if let Some(flags) = items.get(1).and_then(Value::as_str) {
                            out.insert("$options".into(), mongo_flags(flags).into());
                        }
                    }
                    ("$options", Value::String(flags)) => {
                        out.insert("$options".into(), mongo_flags(flags).into());
                    }
                    ("$not", Value::String(pattern)) => {
                        out.insert("$not".into(), serde_json::json!({"$regex": pattern}));
                    }
                    ("$not", Value::Array(items)) => {
                        let mut regex = Map::new();
                        regex.insert(
                            "$regex".into(),
                            items.first().cloned().unwrap_or(Value::Null),
                        );
                        if let Some(flags) = items.get(1).and_then(Value::as_str) {
                            regex.insert("$options".into(), mongo_flags(flags).into());
                        }
                        out.insert("$not".into(), Value::Object(regex));
                    }
                    _ => {
                        out.insert(key.clone(), mongo_criteria(inner));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(mongo_criteria).collect()),
        other => other.clone(),
    }
}

/// JavaScript regex flags MongoDB understands (`g`, `u`, `y` are dropped, as the evaluator
/// ignores them).
fn mongo_flags(flags: &str) -> String {
    flags
        .chars()
        .filter(|c| matches!(c, 'i' | 'm' | 's' | 'x'))
        .collect()
}

fn field_ok(name: &str) -> bool {
    !name.is_empty() && !name.contains('.') && !name.starts_with('$')
}

impl MongoDatastore {
    /// Connects, failing fast (naming the URL) when no server answers within 5 s, and ensures
    /// the unique index on `path`.
    pub async fn connect(settings: MongoSettings) -> Result<Self> {
        let shown = redact_url(&settings.url);
        let mut options = ClientOptions::parse(&settings.url)
            .await
            .map_err(|e| Error::bad_input(format!("invalid mongo url {shown}: {e}")))?;
        // Fail fast by default (the driver's own default waits 30 s); the URL may override.
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(5));
        options
            .connect_timeout
            .get_or_insert(Duration::from_secs(5));
        options.app_name = Some("happn-cluster".into());
        let client = Client::with_options(options)
            .map_err(|e| Error::bad_input(format!("invalid mongo options for {shown}: {e}")))?;
        let database = client.database(&settings.database);
        database
            .run_command(doc! {"ping": 1})
            .await
            .map_err(|e| Error::unavailable(format!("cannot reach MongoDB at {shown}: {e}")))?;
        let collection = database.collection::<Document>(&settings.collection);
        let index = IndexModel::builder()
            .keys(doc! {"path": 1})
            .options(
                IndexOptions::builder()
                    .unique(true)
                    .name("happn_path_index".to_string())
                    .build(),
            )
            .build();
        let store = MongoDatastore {
            client,
            collection,
            url: shown,
        };
        store
            .collection
            .create_index(index)
            .await
            .map_err(|e| store.err(e))?;
        Ok(store)
    }

    /// Drops the collection (tests and tooling clean up after themselves with it).
    pub async fn drop_collection(&self) -> Result<()> {
        self.collection.drop().await.map_err(|e| self.err(e))
    }

    fn err(&self, e: mongodb::error::Error) -> Error {
        use mongodb::error::ErrorKind;
        let text = e.to_string();
        match *e.kind {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. } => {
                Error::unavailable(format!("MongoDB at {} unavailable: {text}", self.url))
            }
            _ if text.contains("E11000") => Error::Conflict(text),
            ErrorKind::Command(_) => {
                Error::bad_input(format!("MongoDB refused the request: {text}"))
            }
            _ => Error::internal(format!("MongoDB: {text}")),
        }
    }

    fn record(document: &Document) -> Result<Record> {
        let path = document
            .get_str("path")
            .map_err(|_| Error::internal("stored document has no path"))?
            .to_string();
        let data = match document.get("data") {
            Some(Bson::Document(data)) => {
                match bson::from_bson::<Value>(Bson::Document(data.clone())) {
                    Ok(Value::Object(map)) => map,
                    _ => return Err(Error::internal(format!("corrupt data at {path}"))),
                }
            }
            None | Some(Bson::Null) => Map::new(),
            Some(other) => {
                // Old records may hold a bare value: present it as happn does, wrapped.
                let value = bson::from_bson::<Value>(other.clone()).unwrap_or(Value::Null);
                happn_cluster_sdk::wrap_data(value)
            }
        };
        Ok(Record {
            data,
            created: document.get("created").and_then(json_number).unwrap_or(0),
            modified: document.get("modified").and_then(json_number).unwrap_or(0),
            modified_by: document.get_str("modifiedBy").ok().map(str::to_string),
            path,
        })
    }

    fn path_filter(query: &PathQuery) -> Document {
        match query {
            PathQuery::Exact(path) => doc! {"path": path},
            PathQuery::Wildcard(pattern) => {
                let regex = pattern.to_regex();
                let regex = regex.strip_prefix("(?s)").unwrap_or(&regex).to_string();
                doc! {"path": {"$regex": regex, "$options": "s"}}
            }
        }
    }

    fn filter(query: &PathQuery, criteria: Option<&Criteria>) -> Result<Document> {
        let mut filter = Self::path_filter(query);
        if let Some(criteria) = criteria {
            let converted = to_bson(&mongo_criteria(criteria.stored_form()))?;
            let Bson::Document(criteria) = converted else {
                return Err(Error::bad_input("criteria must be an object"));
            };
            filter = doc! {"$and": [filter, criteria]};
        }
        Ok(filter)
    }

    async fn upsert_once(
        &self,
        path: &str,
        data: &Map<String, Value>,
        options: &UpsertOptions,
    ) -> Result<std::result::Result<Option<Document>, mongodb::error::Error>> {
        let update = Self::update_document(path, data, options, now_millis())?;
        let found = self
            .collection
            .find_one_and_update(doc! {"path": path}, update)
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await;
        Ok(found)
    }

    /// The update document that upserts `data` at `path` written at `now`.
    fn update_document(
        path: &str,
        data: &Map<String, Value>,
        options: &UpsertOptions,
        now: i64,
    ) -> Result<Document> {
        let data_bson = to_bson(&Value::Object(data.clone()))?;
        let update = if options.if_absent {
            let mut insert =
                doc! {"path": path, "data": data_bson, "created": now, "modified": now};
            if let Some(by) = &options.modified_by {
                insert.insert("modifiedBy", by);
            }
            doc! {"$setOnInsert": insert}
        } else {
            let mut set = Document::new();
            if options.merge && data.keys().all(|k| field_ok(k)) {
                for (key, value) in data {
                    set.insert(
                        format!("data.{key}"),
                        bson::to_bson(value).unwrap_or(Bson::Null),
                    );
                }
                if data.is_empty() {
                    // Merging nothing still creates the record.
                    set.insert("path", path);
                }
            } else {
                set.insert("data", data_bson);
            }
            let mut update = doc! {
                "$max": {"modified": now},
                "$setOnInsert": {"created": now},
            };
            match &options.modified_by {
                Some(by) => {
                    set.insert("modifiedBy", by);
                }
                // A write without a user clears the previous writer, as the other stores do.
                None => {
                    update.insert("$unset", doc! {"modifiedBy": ""});
                }
            }
            update.insert("$set", set);
            update
        };
        let update = if options.if_absent {
            update
        } else {
            let mut update = update;
            if let Ok(on_insert) = update.get_document_mut("$setOnInsert") {
                on_insert.insert("path", path);
            }
            // `path` may not be in both $set and $setOnInsert.
            if let Ok(set) = update.get_document_mut("$set") {
                set.remove("path");
            }
            update
        };
        Ok(update)
    }

    /// Distinct `items` as one `update` command carrying one upsert statement each (one
    /// round trip), then one `find` of their paths for the records. An item whose statement
    /// failed is written again on its own (a unique-index race, say), so each item still gets
    /// its own result.
    async fn upsert_batch(&self, items: &[UpsertItem]) -> Result<Vec<Result<Record>>> {
        let now = now_millis();
        let mut statements = Vec::with_capacity(items.len());
        for item in items {
            let update = Self::update_document(&item.path, &item.data, &item.options, now)?;
            statements.push(doc! {"q": {"path": &item.path}, "u": update, "upsert": true});
        }
        let reply = self
            .collection
            .client()
            .database(self.collection.namespace().db.as_str())
            .run_command(doc! {
                "update": self.collection.name(),
                "updates": statements,
                "ordered": false,
            })
            .await
            .map_err(|e| self.err(e))?;
        let failed: std::collections::HashSet<usize> = reply
            .get_array("writeErrors")
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e.as_document())
                    .filter_map(|e| e.get_i32("index").ok())
                    .filter_map(|i| usize::try_from(i).ok())
                    .collect()
            })
            .unwrap_or_default();
        let paths: Vec<&str> = items.iter().map(|i| i.path.as_str()).collect();
        let mut cursor = self
            .collection
            .find(doc! {"path": {"$in": paths}})
            .await
            .map_err(|e| self.err(e))?;
        let mut by_path: std::collections::HashMap<String, Record> =
            std::collections::HashMap::new();
        while cursor.advance().await.map_err(|e| self.err(e))? {
            let document = cursor.deserialize_current().map_err(|e| self.err(e))?;
            let record = Self::record(&document)?;
            by_path.insert(record.path.clone(), record);
        }
        let mut results = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let found = by_path.remove(&item.path).filter(|_| !failed.contains(&i));
            results.push(match found {
                Some(record) => Ok(record),
                None => {
                    self.upsert(&item.path, item.data.clone(), &item.options)
                        .await
                }
            });
        }
        Ok(results)
    }
}

#[async_trait]
impl Datastore for MongoDatastore {
    fn provider(&self) -> &'static str {
        "mongo"
    }

    async fn upsert(
        &self,
        path: &str,
        data: Map<String, Value>,
        options: &UpsertOptions,
    ) -> Result<Record> {
        let mut options = options.clone();
        let mut data = data;
        if options.merge && !data.keys().all(|k| field_ok(k)) {
            // Keys MongoDB cannot address with `$set`: merge here (not atomic).
            if let Some(existing) = self.find_one(path).await? {
                let mut merged = existing.data;
                merged.extend(data);
                data = merged;
            }
            options.merge = false;
        }
        // Two concurrent first writes of one path may both try to insert: the loser of the
        // unique-index race retries and updates.
        let document = match self.upsert_once(path, &data, &options).await? {
            Ok(document) => document,
            Err(e) if e.to_string().contains("E11000") => self
                .upsert_once(path, &data, &options)
                .await?
                .map_err(|e| self.err(e))?,
            Err(e) => return Err(self.err(e)),
        };
        match document {
            Some(document) => Self::record(&document),
            // Some servers return no document for an upserting insert: read it back.
            None => self
                .find_one(path)
                .await?
                .ok_or_else(|| Error::internal(format!("record {path} vanished after upsert"))),
        }
    }

    /// A batch of distinct paths whose writes MongoDB can address (`upsert_batch`); anything
    /// else, or a batch the server refuses as a whole, one by one.
    async fn upsert_many(&self, items: Vec<UpsertItem>) -> Vec<Result<Record>> {
        let native = items.len() > 1
            && distinct_paths(&items)
            && items
                .iter()
                .all(|i| !i.options.merge || i.data.keys().all(|k| field_ok(k)));
        if native {
            match self.upsert_batch(&items).await {
                Ok(results) => return results,
                Err(e) => {
                    tracing::debug!(error = %e, "batch refused as a whole; writing its items one by one");
                }
            }
        }
        upsert_each(self, items).await
    }

    async fn increment(
        &self,
        path: &str,
        gauge: &str,
        by: &Number,
        modified_by: Option<&str>,
    ) -> Result<Number> {
        if !field_ok(gauge) {
            return Err(Error::bad_input(format!(
                "gauge name {gauge:?} may not be empty, contain '.' or start with '$'"
            )));
        }
        happn_cluster_sdk::record::check_increment(by)?;
        let amount = match (by.as_i64(), by.as_f64()) {
            (Some(i), _) => Bson::Int64(i),
            (None, Some(f)) => Bson::Double(f),
            _ => return Err(Error::bad_input("increment must be a number")),
        };
        let now = now_millis();
        let field = format!("data.{gauge}.value");
        // Only a value whose sum stays in range is updated; an out-of-range one matches
        // nothing, the upsert then collides with the existing path, and that is reported as
        // the overflow it is (nothing is written).
        let (above, below) = match by.as_i64() {
            Some(i) => (
                Bson::Int64(i64::MAX.saturating_sub(i.max(0))),
                Bson::Int64(i64::MIN.saturating_sub(i.min(0))),
            ),
            None => {
                let f = by.as_f64().unwrap_or(0.0);
                (
                    Bson::Double(f64::MAX - f.max(0.0)),
                    Bson::Double(-f64::MAX - f.min(0.0)),
                )
            }
        };
        let in_range = doc! {"path": path, "$nor": [
            {field.as_str(): {"$gt": above}},
            {field.as_str(): {"$lt": below}},
        ]};
        let mut update = doc! {
            "$inc": {field.as_str(): amount.clone()},
            "$max": {"modified": now},
            "$setOnInsert": {"created": now, "path": path},
        };
        if let Some(by) = modified_by {
            update.insert("$set", doc! {"modifiedBy": by});
        }
        let run = || async {
            self.collection
                .find_one_and_update(in_range.clone(), update.clone())
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await
        };
        let document = match run().await {
            Ok(document) => document,
            Err(e) if e.to_string().contains("E11000") => {
                // Either a concurrent first increment created the path, or the stored value
                // is out of range for this amount: look, and say which.
                if let Some(stored) = self.find_one(path).await?
                    && let Some(current) = stored
                        .data
                        .get(gauge)
                        .and_then(|g| g.get("value"))
                        .and_then(Value::as_number)
                {
                    happn_cluster_sdk::record::add_numbers(current, by)?;
                }
                run().await.map_err(|e| self.err(e))?
            }
            // The gauge holds something that is not `{value: number}` (TypeMismatch,
            // PathNotViable): start it again from `by`, as the other stores do.
            Err(e) if matches!(*e.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 14 || c.code == 28) =>
            {
                let mut set = doc! {format!("data.{gauge}"): {"value": amount.clone()}};
                if let Some(by) = modified_by {
                    set.insert("modifiedBy", by);
                }
                self.collection
                    .find_one_and_update(
                        doc! {"path": path},
                        doc! {"$set": set, "$max": {"modified": now}},
                    )
                    .return_document(ReturnDocument::After)
                    .await
                    .map_err(|e| self.err(e))?
            }
            Err(e) => return Err(self.err(e)),
        };
        let document = match document {
            Some(document) => document,
            // Some servers return no document for an upserting update: read it back.
            None => self
                .collection
                .find_one(doc! {"path": path})
                .await
                .map_err(|e| self.err(e))?
                .unwrap_or_default(),
        };
        let value = document
            .get_document("data")
            .ok()
            .and_then(|d| d.get_document(gauge).ok())
            .and_then(|g| g.get("value"))
            .cloned()
            .unwrap_or(Bson::Null);
        match bson::from_bson::<Value>(value) {
            Ok(Value::Number(n)) => Ok(n),
            _ => Err(Error::internal("increment produced a non-number")),
        }
    }

    async fn find(&self, query: &PathQuery, options: &FindOptions) -> Result<Vec<Record>> {
        if options
            .criteria
            .as_ref()
            .is_some_and(|c| !c.is_mongo_native())
        {
            // happn-3's extra operators (LokiJS's) are unknown to MongoDB: narrow by path
            // there, decide here.
            let candidates = self.find(query, &FindOptions::default()).await?;
            return Ok(options.apply(candidates));
        }
        let filter = Self::filter(query, options.criteria.as_ref())?;
        let mut sort = Document::new();
        for key in &options.sort {
            sort.insert(key.field.clone(), if key.descending { -1 } else { 1 });
        }
        if !sort.contains_key("path") {
            sort.insert("path", 1);
        }
        let mut action = self.collection.find(filter).sort(sort);
        if let Some(collation) = collation(options.collation.as_ref())? {
            action = action.collation(collation);
        }
        if let Some(skip) = options.skip {
            action = action.skip(skip);
        }
        if let Some(limit) = options.limit {
            action = action.limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        let documents: Vec<Document> = action
            .await
            .map_err(|e| self.err(e))?
            .try_collect()
            .await
            .map_err(|e| self.err(e))?;
        let mut records = documents
            .iter()
            .map(Self::record)
            .collect::<Result<Vec<_>>>()?;
        if let Some(projection) = &options.fields {
            for record in &mut records {
                record.data = projection.apply(&record.data);
            }
        }
        Ok(records)
    }

    async fn find_one(&self, path: &str) -> Result<Option<Record>> {
        let found = self
            .collection
            .find_one(doc! {"path": path})
            .await
            .map_err(|e| self.err(e))?;
        found.as_ref().map(Self::record).transpose()
    }

    async fn count(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        if let Some(criteria) = criteria.filter(|c| !c.is_mongo_native()) {
            let options = FindOptions::matching(criteria);
            return Ok(self.find(query, &options).await?.len() as u64);
        }
        let filter = Self::filter(query, criteria)?;
        self.collection
            .count_documents(filter)
            .await
            .map_err(|e| self.err(e))
    }

    async fn remove(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        let filter = match criteria.filter(|c| !c.is_mongo_native()) {
            // Decided in process, then removed by path, each only if unchanged since it was
            // read (its `modified` still the same), so a concurrent rewrite is not removed.
            Some(criteria) => {
                let options = FindOptions::matching(criteria);
                let doomed: Vec<Document> = self
                    .find(query, &options)
                    .await?
                    .into_iter()
                    .map(|r| doc! {"path": r.path, "modified": r.modified})
                    .collect();
                if doomed.is_empty() {
                    return Ok(0);
                }
                doc! {"$or": doomed}
            }
            None => Self::filter(query, criteria)?,
        };
        let result = self
            .collection
            .delete_many(filter)
            .await
            .map_err(|e| self.err(e))?;
        Ok(result.deleted_count)
    }

    fn features(&self) -> Features {
        Features {
            aggregate: true,
            collation: true,
            batch_writes: true,
        }
    }

    async fn aggregate(
        &self,
        query: &PathQuery,
        criteria: Option<&Criteria>,
        pipeline: &[Value],
    ) -> Result<Vec<Value>> {
        if criteria.is_some_and(|c| !c.is_mongo_native()) {
            return Err(Error::bad_input(
                "aggregate criteria may use MongoDB operators only (not $containsAny and the like)",
            ));
        }
        let mut stages = vec![doc! {"$match": Self::filter(query, criteria)?}];
        for stage in pipeline {
            match to_bson(&mongo_criteria(stage))? {
                Bson::Document(stage) => stages.push(stage),
                _ => return Err(Error::bad_input("each aggregate stage must be an object")),
            }
        }
        let documents: Vec<Document> = self
            .collection
            .aggregate(stages)
            .await
            .map_err(|e| self.err(e))?
            .try_collect()
            .await
            .map_err(|e| self.err(e))?;
        Ok(documents
            .into_iter()
            .map(|d| Bson::Document(d).into_relaxed_extjson())
            .collect())
    }

    async fn ping(&self) -> Result<()> {
        self.collection
            .find_one(doc! {"path": "/_SYSTEM/_PING"})
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    async fn close(&self) {
        self.client.clone().shutdown().await;
    }
}

fn build(
    context: BuildContext,
) -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Datastore>>> {
    async move {
        let settings: MongoSettings = context.parse_settings("mongo")?;
        Ok(Arc::new(MongoDatastore::connect(settings).await?) as Arc<dyn Datastore>)
    }
    .boxed()
}

inventory::submit! {
    DatastorePlugin {
        name: "mongo",
        aliases: &["happn-db-provider-mongo", "mongodb"],
        description: "MongoDB collection in happn-cluster's document shape (the default datastore).",
        example: r#"{"url": "mongodb://127.0.0.1:27017/?retryWrites=false", "database": "happn-cluster", "collection": "happn-cluster"}"#,
        build,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_are_converted_for_mongodb() {
        let converted = mongo_criteria(&serde_json::json!({
            "$or": [{"data.n": {"$regex": ["^a", "i"]}}, {"data.m": {"$not": "^b"}}]
        }));
        assert_eq!(
            converted,
            serde_json::json!({"$or": [{"data.n": {"$regex": "^a", "$options": "i"}}, {"data.m": {"$not": {"$regex": "^b"}}}]})
        );
    }
}
