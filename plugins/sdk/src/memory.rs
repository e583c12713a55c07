//! `memory`: the reference datastore. Records live in an ordered map inside the process; it
//! is what every other provider is measured against by the conformance kit.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use futures_util::FutureExt;
use serde_json::{Map, Number, Value};

use crate::criteria::Criteria;
use crate::datastore::{Datastore, FindOptions, UpsertOptions};
use crate::error::{Error, Result};
use crate::pathquery::PathQuery;
use crate::record::{Record, add_numbers, now_millis};
use crate::registry::{BuildContext, DatastorePlugin};

/// An in-process datastore (data is lost when the process stops).
#[derive(Debug, Default)]
pub struct MemoryDatastore {
    records: RwLock<BTreeMap<String, Record>>,
}

impl MemoryDatastore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `record` in the store exactly as given (timestamps and author kept), replacing
    /// any record at its path: for providers built on this store that reload saved records.
    pub fn restore(&self, record: Record) -> Result<()> {
        self.write()?.insert(record.path.clone(), record);
        Ok(())
    }

    /// Drops the record at `path`, if any (the counterpart of [`MemoryDatastore::restore`]).
    pub fn forget(&self, path: &str) -> Result<()> {
        self.write()?.remove(path);
        Ok(())
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, BTreeMap<String, Record>>> {
        self.records
            .read()
            .map_err(|_| Error::internal("memory store lock poisoned"))
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, BTreeMap<String, Record>>> {
        self.records
            .write()
            .map_err(|_| Error::internal("memory store lock poisoned"))
    }
}

/// Visits every record a query addresses, using the literal prefix to narrow the scan.
fn matching<'a>(
    records: &'a BTreeMap<String, Record>,
    query: &'a PathQuery,
) -> Box<dyn Iterator<Item = &'a Record> + 'a> {
    match query {
        PathQuery::Exact(path) => Box::new(records.get(path).into_iter()),
        PathQuery::Wildcard(pattern) => {
            let prefix = pattern.literal_prefix();
            Box::new(
                records
                    .range::<str, _>((
                        std::ops::Bound::Included(prefix),
                        std::ops::Bound::Unbounded,
                    ))
                    .take_while(move |(k, _)| k.starts_with(prefix))
                    .map(|(_, r)| r)
                    .filter(move |r| pattern.matches(&r.path)),
            )
        }
    }
}

#[async_trait]
impl Datastore for MemoryDatastore {
    fn provider(&self) -> &'static str {
        "memory"
    }

    async fn upsert(
        &self,
        path: &str,
        data: Map<String, Value>,
        options: &UpsertOptions,
    ) -> Result<Record> {
        let now = now_millis();
        let mut records = self.write()?;
        let record = match records.get_mut(path) {
            Some(existing) if options.if_absent => existing.clone(),
            Some(existing) => {
                if options.merge {
                    existing.data.extend(data);
                } else {
                    existing.data = data;
                }
                existing.modified = now.max(existing.modified);
                existing.modified_by = options.modified_by.clone();
                existing.clone()
            }
            None => {
                let record = Record {
                    path: path.to_string(),
                    data,
                    created: now,
                    modified: now,
                    modified_by: options.modified_by.clone(),
                };
                records.insert(path.to_string(), record.clone());
                record
            }
        };
        Ok(record)
    }

    async fn increment(
        &self,
        path: &str,
        gauge: &str,
        by: &Number,
        modified_by: Option<&str>,
    ) -> Result<Number> {
        let now = now_millis();
        let mut records = self.write()?;
        let current = records
            .get(path)
            .and_then(|r| r.data.get(gauge))
            .and_then(|g| g.get("value"))
            .and_then(Value::as_number)
            .cloned()
            .unwrap_or_else(|| 0.into());
        // Checked before anything is touched: an overflow writes nothing.
        let next = add_numbers(&current, by)?;
        let record = records.entry(path.to_string()).or_insert_with(|| Record {
            path: path.to_string(),
            data: Map::new(),
            created: now,
            modified: now,
            modified_by: None,
        });
        let mut gauge_value = Map::new();
        gauge_value.insert("value".into(), Value::Number(next.clone()));
        record
            .data
            .insert(gauge.to_string(), Value::Object(gauge_value));
        record.modified = now.max(record.modified);
        record.modified_by = modified_by.map(str::to_string);
        Ok(next)
    }

    async fn find(&self, query: &PathQuery, options: &FindOptions) -> Result<Vec<Record>> {
        let candidates: Vec<Record> = {
            let records = self.read()?;
            matching(&records, query).cloned().collect()
        };
        Ok(options.apply(candidates))
    }

    async fn count(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        let records = self.read()?;
        Ok(matching(&records, query)
            .filter(|r| criteria.is_none_or(|c| c.matches(r)))
            .count() as u64)
    }

    async fn remove(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        let mut records = self.write()?;
        let doomed: Vec<String> = matching(&records, query)
            .filter(|r| criteria.is_none_or(|c| c.matches(r)))
            .map(|r| r.path.clone())
            .collect();
        for path in &doomed {
            records.remove(path);
        }
        Ok(doomed.len() as u64)
    }
}

fn build(
    context: BuildContext,
) -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Datastore>>> {
    let settings = context.settings;
    async move {
        match &settings {
            Value::Null => {}
            Value::Object(map) if map.is_empty() => {}
            Value::Object(map) => {
                let keys: Vec<&String> = map.keys().collect();
                return Err(Error::bad_input(format!(
                    "the memory datastore takes no settings (got {keys:?})"
                )));
            }
            _ => {
                return Err(Error::bad_input(
                    "memory datastore settings must be an object",
                ));
            }
        }
        Ok(Arc::new(MemoryDatastore::new()) as Arc<dyn Datastore>)
    }
    .boxed()
}

inventory::submit! {
    DatastorePlugin {
        name: "memory",
        aliases: &["mem"],
        description: "In-process store: fast, zero setup, data lost on restart; not shared between nodes.",
        example: "{}",
        build,
    }
}
