//! The `Datastore` trait: where records live.

use async_trait::async_trait;
use serde_json::{Map, Number, Value};

use crate::criteria::{Criteria, Projection, SortKey, parse_sort};
use crate::error::{Error, Result};
use crate::pathquery::PathQuery;
use crate::record::Record;

/// How an upsert writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpsertOptions {
    /// Shallow-merge the new top-level fields into the existing data instead of replacing it.
    pub merge: bool,
    /// Username recorded as `modifiedBy` (secure nodes).
    pub modified_by: Option<String>,
    /// Only create: when a record exists, leave it untouched and return it. Lets several
    /// nodes race to initialise one record (secrets, the admin user) without clobbering.
    pub if_absent: bool,
}

/// One write of a batch ([`Datastore::upsert_many`]).
#[derive(Debug, Clone, PartialEq)]
pub struct UpsertItem {
    /// The record's path.
    pub path: String,
    /// The data to write (or merge).
    pub data: Map<String, Value>,
    /// How to write it.
    pub options: UpsertOptions,
}

/// True when no path appears twice in `items` (a native batch may then apply them in any
/// order; with a repeated path, order matters and the items are applied one by one).
pub fn distinct_paths(items: &[UpsertItem]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    items.iter().all(|item| seen.insert(item.path.as_str()))
}

/// Writes `items` one by one through `store.upsert`, in order: what
/// [`Datastore::upsert_many`] does by default, and where a native batch falls back to.
pub async fn upsert_each<S: Datastore + ?Sized>(
    store: &S,
    items: Vec<UpsertItem>,
) -> Vec<Result<Record>> {
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        results.push(store.upsert(&item.path, item.data, &item.options).await);
    }
    results
}

/// Filters and shapes a `find`.
#[derive(Debug, Clone, Default)]
pub struct FindOptions {
    /// Mongo-style criteria over the data and `_meta` fields.
    pub criteria: Option<Criteria>,
    /// Sort keys, applied in order. Without any, records come back ordered by path.
    pub sort: Vec<SortKey>,
    /// Skip this many matches (after sorting).
    pub skip: Option<u64>,
    /// Return at most this many matches (after skipping).
    pub limit: Option<u64>,
    /// Which data fields to return.
    pub fields: Option<Projection>,
    /// A MongoDB collation document (`{locale: "en", strength: 2}`), for stores whose
    /// [`Features::collation`] is true; the host refuses it for the others.
    pub collation: Option<Value>,
}

/// Optional features a datastore implements beyond the required operations. The host refuses
/// requests that need a missing one, naming the feature and the path (as happn-3 does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// [`Datastore::aggregate`] runs pipelines.
    pub aggregate: bool,
    /// [`FindOptions::collation`] is honoured by `find` and `count`.
    pub collation: bool,
    /// [`Datastore::upsert_many`] writes a batch natively (one round trip, one commit), so
    /// the host gathers concurrent writes for it (group commit). Stores that loop gain
    /// nothing from gathering and are left alone.
    pub batch_writes: bool,
}

/// Aggregation stages a client may send: they read and reshape, never write, run code or
/// read other collections.
pub const AGGREGATE_STAGES: &[&str] = &[
    "$match",
    "$group",
    "$sort",
    "$limit",
    "$skip",
    "$project",
    "$count",
    "$unwind",
    "$addFields",
    "$set",
    "$unset",
    "$bucket",
    "$bucketAuto",
    "$sortByCount",
    "$replaceRoot",
    "$replaceWith",
    "$sample",
    "$facet",
];

/// Operators refused anywhere in a pipeline: code execution and cross-collection access.
const FORBIDDEN_IN_PIPELINES: &[&str] = &[
    "$where",
    "$function",
    "$accumulator",
    "$lookup",
    "$graphLookup",
    "$unionWith",
    "$out",
    "$merge",
];

/// Parses a client aggregation pipeline: an array of single-stage objects from
/// [`AGGREGATE_STAGES`], with none of the operators that run code or reach other collections.
pub fn parse_pipeline(value: &Value) -> Result<Vec<Value>> {
    let stages = value
        .as_array()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::bad_input("aggregate needs a non-empty array of stages"))?;
    for stage in stages {
        let name = match stage.as_object().map(|m| (m.len(), m.keys().next())) {
            Some((1, Some(name))) => name,
            _ => {
                return Err(Error::bad_input(
                    "each aggregate stage is an object with one key",
                ));
            }
        };
        if !AGGREGATE_STAGES.contains(&name.as_str()) {
            return Err(Error::bad_input(format!(
                "aggregate stage {name} is not allowed (allowed: {})",
                AGGREGATE_STAGES.join(" ")
            )));
        }
    }
    if let Some(key) = crate::criteria::find_key(value, FORBIDDEN_IN_PIPELINES) {
        return Err(Error::bad_input(format!(
            "{key} is not allowed in an aggregate pipeline"
        )));
    }
    Ok(stages.clone())
}

impl FindOptions {
    /// Only `criteria`: no sort, paging, projection or collation (for counting or removing
    /// what matches, decided in process).
    pub fn matching(criteria: &Criteria) -> Self {
        FindOptions {
            criteria: Some(criteria.clone()),
            ..FindOptions::default()
        }
    }

    /// Parses happn's `get`/`count` parameters: `{criteria, options: {sort, limit, skip, fields}}`
    /// (`sort` and `fields` are also accepted at the top level, as the original server does).
    pub fn from_params(params: Option<&Value>) -> Result<Self> {
        let mut out = FindOptions::default();
        let Some(params) = params else {
            return Ok(out);
        };
        let Value::Object(params) = params else {
            if params.is_null() {
                return Ok(out);
            }
            return Err(Error::bad_input("get parameters must be an object"));
        };
        let empty = Map::new();
        let options = match params.get("options") {
            Some(Value::Object(options)) => options,
            None | Some(Value::Null) => &empty,
            Some(_) => return Err(Error::bad_input("options must be an object")),
        };
        if let Some(criteria) = params.get("criteria").filter(|c| !c.is_null()) {
            out.criteria = Some(Criteria::parse(criteria)?);
        }
        if let Some(sort) = options
            .get("sort")
            .or(params.get("sort"))
            .filter(|s| !s.is_null())
        {
            out.sort = parse_sort(sort)?;
        }
        if let Some(fields) = options
            .get("fields")
            .or(params.get("fields"))
            .filter(|f| !f.is_null())
        {
            out.fields = Some(Projection::parse(fields)?);
        }
        if let Some(collation) = options
            .get("collation")
            .or(params.get("collation"))
            .filter(|c| !c.is_null())
        {
            if !collation.is_object() {
                return Err(Error::bad_input("collation must be an object"));
            }
            out.collation = Some(collation.clone());
        }
        // As in happn (and MongoDB), a limit of 0 means no limit.
        out.limit = non_negative(options.get("limit"), "limit")?.filter(|l| *l > 0);
        out.skip = non_negative(options.get("skip"), "skip")?;
        Ok(out)
    }
}

impl FindOptions {
    /// Applies the options in process to records already narrowed to the query's paths:
    /// criteria, then sort, skip, limit and projection. The reference behaviour providers
    /// fall back to when they cannot push work down.
    pub fn apply(&self, records: Vec<Record>) -> Vec<Record> {
        let mut found: Vec<Record> = records
            .into_iter()
            .filter(|r| self.criteria.as_ref().is_none_or(|c| c.matches(r)))
            .collect();
        crate::criteria::sort_records(&mut found, &self.sort);
        let skip = self.skip.unwrap_or(0) as usize;
        let limit = self
            .limit
            .filter(|l| *l > 0)
            .map(|l| l as usize)
            .unwrap_or(usize::MAX);
        let mut page: Vec<Record> = found.into_iter().skip(skip).take(limit).collect();
        if let Some(projection) = &self.fields {
            for record in &mut page {
                record.data = projection.apply(&record.data);
            }
        }
        page
    }
}

fn non_negative(value: Option<&Value>, name: &str) -> Result<Option<u64>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) => Ok(Some(v)),
            None => match n.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 => Ok(Some(f as u64)),
                _ => Err(Error::bad_input(format!(
                    "{name} must be a non-negative integer"
                ))),
            },
        },
        Some(_) => Err(Error::bad_input(format!(
            "{name} must be a non-negative integer"
        ))),
    }
}

/// A place records live. Implementations must be safe for concurrent use from many tasks and,
/// for shared databases, from many nodes at once: `upsert` of one path never leaves two
/// records, and `increment` is atomic.
#[async_trait]
pub trait Datastore: Send + Sync + 'static {
    /// The provider's registered name (`memory`, `mongo`, …).
    fn provider(&self) -> &'static str;

    /// Creates or updates the record at `path`. On update `created` is kept and `modified`
    /// advances; with `merge`, top-level fields are merged into the existing data.
    /// Returns the record as stored.
    async fn upsert(
        &self,
        path: &str,
        data: Map<String, Value>,
        options: &UpsertOptions,
    ) -> Result<Record>;

    /// Writes several records, as [`Datastore::upsert`] would one by one, in order; each
    /// item gets its own result (one failing item fails only itself). Providers override it
    /// to send a batch as one round trip and one commit; the default loops.
    async fn upsert_many(&self, items: Vec<UpsertItem>) -> Vec<Result<Record>> {
        upsert_each(self, items).await
    }

    /// Atomically adds `by` to `data.<gauge>.value` at `path` (creating record and gauge as
    /// needed) and returns the new value.
    async fn increment(
        &self,
        path: &str,
        gauge: &str,
        by: &Number,
        modified_by: Option<&str>,
    ) -> Result<Number>;

    /// Every record the query addresses that satisfies the options.
    async fn find(&self, query: &PathQuery, options: &FindOptions) -> Result<Vec<Record>>;

    /// The record at exactly `path`, if any.
    async fn find_one(&self, path: &str) -> Result<Option<Record>> {
        let mut found = self
            .find(&PathQuery::Exact(path.to_string()), &FindOptions::default())
            .await?;
        Ok(found.pop())
    }

    /// How many records the query addresses that satisfy `criteria`.
    async fn count(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64>;

    /// Removes every record the query addresses that satisfies `criteria` (all of them
    /// without criteria), atomically with respect to concurrent writes where the store can;
    /// returns how many were removed.
    async fn remove(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64>;

    /// The optional features this store implements (none by default).
    fn features(&self) -> Features {
        Features::default()
    }

    /// Runs an aggregation pipeline (already checked by [`parse_pipeline`]) over the records
    /// the query addresses that satisfy `criteria`; returns the pipeline's output documents.
    /// Only for stores whose [`Features::aggregate`] is true.
    async fn aggregate(
        &self,
        _query: &PathQuery,
        _criteria: Option<&Criteria>,
        _pipeline: &[Value],
    ) -> Result<Vec<Value>> {
        Err(Error::Unsupported(format!(
            "the {} datastore does not run aggregate pipelines",
            self.provider()
        )))
    }

    /// Checks that the backing store is reachable.
    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    /// Releases connections; called once on node shutdown.
    async fn close(&self) {}
}
