//! # happn-provider-postgres
//!
//! `postgres`: records in one table `(path TEXT PRIMARY KEY, data JSONB, created, modified,
//! modified_by)`, created on first use with a `text_pattern_ops` index for path prefixes.
//! Path patterns become `LIKE` with every metacharacter escaped; criteria are pushed down as
//! JSONB SQL where the translation is exact (meta columns, top-level equality, `$in`,
//! `$exists`, `$and`/`$or`), used to narrow otherwise, and always confirmed by the SDK's
//! evaluator. Merge is JSONB `||` (shallow), increment one atomic `INSERT … ON CONFLICT`.
//!
//! Settings: `{"url": "postgres://user@host:5432/db", "table": "happn"}`.

mod translate;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt;
use happn_cluster_sdk::criteria::sort_records;
use happn_cluster_sdk::registry::redact_url;
use happn_cluster_sdk::{
    BuildContext, Criteria, Datastore, DatastorePlugin, Error, Features, FindOptions, PathQuery,
    Record, Result, UpsertItem, UpsertOptions, distinct_paths, inventory, now_millis, upsert_each,
};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use sqlx::postgres::{PgArguments, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row};

use translate::{Param, Params, translate};

/// Settings of the `postgres` provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSettings {
    /// Connection URL.
    #[serde(default = "default_url")]
    pub url: String,
    /// Table name (letters, digits, `_`).
    #[serde(default = "default_table")]
    pub table: String,
    /// Pool size.
    #[serde(
        default = "default_pool",
        rename = "maxConnections",
        alias = "max_connections"
    )]
    pub max_connections: u32,
}

fn default_url() -> String {
    "postgres://postgres@127.0.0.1:5432/postgres".into()
}

fn default_table() -> String {
    "happn".into()
}

fn default_pool() -> u32 {
    10
}

/// A datastore in one PostgreSQL table.
pub struct PostgresDatastore {
    pool: PgPool,
    table: String,
    url: String,
}

const COLUMNS: &str = "path, data, created, modified, modified_by";

fn bind_all<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    params: &[Param],
) -> Query<'q, Postgres, PgArguments> {
    for param in params {
        query = match param {
            Param::Text(s) => query.bind(s.clone()),
            Param::Int(i) => query.bind(*i),
            Param::Json(v) => query.bind(sqlx::types::Json(v.clone())),
            Param::Numeric(n) => query.bind(n.clone()),
        };
    }
    query
}

impl PostgresDatastore {
    /// Connects (failing fast, naming the URL, when the server cannot be reached) and creates
    /// the table and indexes if missing.
    pub async fn connect(settings: PostgresSettings) -> Result<Self> {
        let table = settings.table.clone();
        if table.is_empty() || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::bad_input(format!(
                "postgres table name {table:?} may only contain letters, digits and _"
            )));
        }
        let shown = redact_url(&settings.url);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect(&settings.url)
            .await
            .map_err(|e| {
                Error::unavailable(format!("cannot connect to postgres at {shown}: {e}"))
            })?;
        let store = PostgresDatastore {
            pool,
            table,
            url: shown,
        };
        store.create_schema().await?;
        Ok(store)
    }

    async fn create_schema(&self) -> Result<()> {
        let t = &self.table;
        let statements = [
            format!(
                "CREATE TABLE IF NOT EXISTS \"{t}\" (path TEXT PRIMARY KEY COLLATE \"C\", data JSONB NOT NULL, \
                 created BIGINT NOT NULL, modified BIGINT NOT NULL, modified_by TEXT)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS \"{t}_path_pattern\" ON \"{t}\" (path text_pattern_ops)"
            ),
            format!("CREATE INDEX IF NOT EXISTS \"{t}_modified\" ON \"{t}\" (modified)"),
        ];
        for statement in statements {
            // Several nodes may create the schema at once; a lost race is not an error
            // (unique violation, duplicate table, or the table's row type created by the
            // other node: 23505, 42P07, 42710).
            if let Err(e) = sqlx::query(AssertSqlSafe(statement.clone()))
                .execute(&self.pool)
                .await
            {
                let duplicate = e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == "23505" || c == "42P07" || c == "42710");
                if !duplicate {
                    return Err(self.err(e));
                }
            }
        }
        Ok(())
    }

    /// Drops the table (tests and tooling clean up after themselves with it).
    pub async fn drop_table(&self) -> Result<()> {
        let sql = format!("DROP TABLE IF EXISTS \"{}\"", self.table);
        sqlx::query(AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn err(&self, e: sqlx::Error) -> Error {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => {
                Error::unavailable(format!("postgres at {} unavailable: {e}", self.url))
            }
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c == "57P01" || c == "57P03") =>
            {
                Error::unavailable(format!("postgres at {} unavailable: {e}", self.url))
            }
            // U+0000 cannot be stored in JSONB (or PostgreSQL text at all).
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c == "22P05") => {
                Error::bad_input("PostgreSQL cannot store the NUL character (U+0000) in JSON data")
            }
            _ => Error::internal(format!("postgres: {e}")),
        }
    }

    /// Writes distinct `items` in one statement; the records in item order.
    async fn upsert_batch(&self, items: &[UpsertItem], merge: bool) -> Result<Vec<Result<Record>>> {
        let t = &self.table;
        let new_data = if merge {
            format!("\"{t}\".data || excluded.data")
        } else {
            "excluded.data".into()
        };
        let sql = format!(
            "INSERT INTO \"{t}\" ({COLUMNS}) \
             SELECT u.path, u.data, $3, $3, u.modified_by FROM unnest($1::text[], $2::jsonb[], $4::text[]) AS u(path, data, modified_by) \
             ON CONFLICT (path) DO UPDATE SET data = {new_data}, modified = GREATEST(excluded.modified, \"{t}\".modified), modified_by = excluded.modified_by \
             RETURNING {COLUMNS}"
        );
        let paths: Vec<&str> = items.iter().map(|i| i.path.as_str()).collect();
        let data: Vec<sqlx::types::Json<&Map<String, Value>>> =
            items.iter().map(|i| sqlx::types::Json(&i.data)).collect();
        let by: Vec<Option<&str>> = items
            .iter()
            .map(|i| i.options.modified_by.as_deref())
            .collect();
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&paths)
            .bind(&data)
            .bind(now_millis())
            .bind(&by)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let mut by_path: std::collections::HashMap<String, Record> =
            std::collections::HashMap::new();
        for row in &rows {
            let record = Self::record(row)?;
            by_path.insert(record.path.clone(), record);
        }
        Ok(items
            .iter()
            .map(|i| {
                by_path
                    .remove(&i.path)
                    .ok_or_else(|| Error::internal("a batched write returned no record"))
            })
            .collect())
    }

    fn record(row: &PgRow) -> Result<Record> {
        let get = |e: sqlx::Error| Error::internal(e.to_string());
        let data: sqlx::types::Json<Value> = row.try_get("data").map_err(get)?;
        let Value::Object(data) = data.0 else {
            return Err(Error::internal("corrupt record data (not a JSON object)"));
        };
        Ok(Record {
            path: row.try_get("path").map_err(get)?,
            data,
            created: row.try_get("created").map_err(get)?,
            modified: row.try_get("modified").map_err(get)?,
            modified_by: row.try_get("modified_by").map_err(get)?,
        })
    }

    /// `WHERE` clause (and its parameters) for a path query.
    fn path_clause(query: &PathQuery, params: &mut Params) -> String {
        match query {
            PathQuery::Exact(path) => format!("path = {}", params.push(Param::Text(path.clone()))),
            PathQuery::Wildcard(pattern) => {
                format!(
                    "path LIKE {} ESCAPE '\\'",
                    params.push(Param::Text(pattern.to_like('\\')))
                )
            }
        }
    }
}

fn sort_sql(options: &FindOptions) -> Option<String> {
    let mut keys = Vec::new();
    for key in &options.sort {
        let column = match key.field.as_str() {
            "path" => "path",
            "created" => "created",
            "modified" => "modified",
            _ => return None,
        };
        keys.push(format!(
            "{column} {}",
            if key.descending { "DESC" } else { "ASC" }
        ));
    }
    keys.push("path ASC".into());
    Some(keys.join(", "))
}

#[async_trait]
impl Datastore for PostgresDatastore {
    fn provider(&self) -> &'static str {
        "postgres"
    }

    async fn upsert(
        &self,
        path: &str,
        data: Map<String, Value>,
        options: &UpsertOptions,
    ) -> Result<Record> {
        let t = &self.table;
        let now = now_millis();
        let conflict = if options.if_absent {
            "DO NOTHING".to_string()
        } else {
            let new_data = if options.merge {
                format!("\"{t}\".data || excluded.data")
            } else {
                "excluded.data".into()
            };
            format!(
                "DO UPDATE SET data = {new_data}, modified = GREATEST(excluded.modified, \"{t}\".modified), modified_by = excluded.modified_by"
            )
        };
        let sql = format!(
            "INSERT INTO \"{t}\" ({COLUMNS}) VALUES ($1, $2, $3, $3, $4) ON CONFLICT (path) {conflict} RETURNING {COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(path)
            .bind(sqlx::types::Json(Value::Object(data)))
            .bind(now)
            .bind(options.modified_by.as_deref())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        match row {
            Some(row) => Self::record(&row),
            None => self
                .find_one(path)
                .await?
                .ok_or_else(|| Error::internal("record vanished after insert")),
        }
    }

    fn features(&self) -> Features {
        Features {
            batch_writes: true,
            ..Features::default()
        }
    }

    /// One multi-row `INSERT … SELECT FROM unnest(…) ON CONFLICT … RETURNING` for a batch of
    /// distinct paths written the same way (all replacing or all merging): one round trip,
    /// one commit. Anything else, or a batch the database refuses as a whole, is written one
    /// by one, so each item still gets its own result.
    async fn upsert_many(&self, items: Vec<UpsertItem>) -> Vec<Result<Record>> {
        let merge = items.first().is_some_and(|i| i.options.merge);
        let native = items.len() > 1
            && distinct_paths(&items)
            && items
                .iter()
                .all(|i| !i.options.if_absent && i.options.merge == merge);
        if native {
            match self.upsert_batch(&items, merge).await {
                Ok(records) => return records,
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
        happn_cluster_sdk::record::check_increment(by)?;
        let t = &self.table;
        let current = format!(
            "(CASE WHEN jsonb_typeof(\"{t}\".data -> $2::text -> 'value') = 'number' \
               THEN (\"{t}\".data -> $2::text ->> 'value')::numeric ELSE 0 END)"
        );
        // The update happens only when the sum stays in range (exact integers within
        // ±(2^63 − 1), floats finite); otherwise no row comes back and nothing is written.
        let sql = format!(
            "INSERT INTO \"{t}\" ({COLUMNS}) VALUES ($1, jsonb_build_object($2::text, jsonb_build_object('value', $3::numeric)), $4, $4, $5) \
             ON CONFLICT (path) DO UPDATE SET data = jsonb_set(\"{t}\".data, ARRAY[$2::text], \
               jsonb_build_object('value', {current} + $3::numeric)), \
               modified = GREATEST(excluded.modified, \"{t}\".modified), modified_by = excluded.modified_by \
             WHERE CASE WHEN $6::boolean OR scale({current}) > 0 \
               THEN abs({current} + $3::numeric) <= 1.7976931348623157e308 \
               ELSE abs({current} + $3::numeric) <= 9223372036854775807 END \
             RETURNING data -> $2::text -> 'value' AS value"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(path)
            .bind(gauge)
            .bind(by.to_string())
            .bind(now_millis())
            .bind(modified_by)
            .bind(by.as_i64().is_none())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            return Err(Error::bad_input(format!(
                "increment overflows: adding {by} to {path} {gauge} leaves the range a gauge can hold"
            )));
        };
        let value: sqlx::types::Json<Value> = row
            .try_get("value")
            .map_err(|e| Error::internal(e.to_string()))?;
        value
            .0
            .as_number()
            .cloned()
            .ok_or_else(|| Error::internal("increment produced a non-number"))
    }

    async fn find(&self, query: &PathQuery, options: &FindOptions) -> Result<Vec<Record>> {
        let mut params = Params::default();
        let mut clause = Self::path_clause(query, &mut params);
        let mut exact = true;
        if let Some(criteria) = &options.criteria {
            let fragment = translate(criteria.stored_form(), &mut params);
            exact = fragment.exact;
            clause = format!("{clause} AND {}", fragment.sql);
        }
        let t = &self.table;
        let pushed_sort = sort_sql(options).filter(|_| exact);
        let mut sql = format!("SELECT {COLUMNS} FROM \"{t}\" WHERE {clause}");
        match &pushed_sort {
            Some(order) => {
                sql.push_str(&format!(" ORDER BY {order}"));
                if let Some(limit) = options.limit.filter(|l| *l > 0) {
                    sql.push_str(&format!(" LIMIT {limit}"));
                }
                if let Some(skip) = options.skip {
                    sql.push_str(&format!(" OFFSET {skip}"));
                }
            }
            None => sql.push_str(" ORDER BY path"),
        }
        let rows = bind_all(sqlx::query(AssertSqlSafe(sql)), &params.values)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            let record = Self::record(row)?;
            if exact || options.criteria.as_ref().is_none_or(|c| c.matches(&record)) {
                found.push(record);
            }
        }
        let mut page = if pushed_sort.is_some() {
            found
        } else {
            sort_records(&mut found, &options.sort);
            let skip = options.skip.unwrap_or(0) as usize;
            let limit = options.limit.map(|l| l as usize).unwrap_or(usize::MAX);
            found.into_iter().skip(skip).take(limit).collect()
        };
        if let Some(projection) = &options.fields {
            for record in &mut page {
                record.data = projection.apply(&record.data);
            }
        }
        Ok(page)
    }

    async fn find_one(&self, path: &str) -> Result<Option<Record>> {
        let sql = format!("SELECT {COLUMNS} FROM \"{}\" WHERE path = $1", self.table);
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(path)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.as_ref().map(Self::record).transpose()
    }

    async fn count(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        let mut params = Params::default();
        let mut clause = Self::path_clause(query, &mut params);
        if let Some(criteria) = criteria {
            let fragment = translate(criteria.stored_form(), &mut params);
            if !fragment.exact {
                let options = FindOptions::matching(criteria);
                return Ok(self.find(query, &options).await?.len() as u64);
            }
            clause = format!("{clause} AND {}", fragment.sql);
        }
        let sql = format!(
            "SELECT count(*) AS n FROM \"{}\" WHERE {clause}",
            self.table
        );
        let row = bind_all(sqlx::query(AssertSqlSafe(sql)), &params.values)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let n: i64 = row
            .try_get("n")
            .map_err(|e| Error::internal(e.to_string()))?;
        Ok(n as u64)
    }

    async fn remove(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        let mut params = Params::default();
        let mut clause = Self::path_clause(query, &mut params);
        let t = &self.table;
        if let Some(criteria) = criteria {
            let fragment = translate(criteria.stored_form(), &mut params);
            clause = format!("{clause} AND {}", fragment.sql);
            if !fragment.exact {
                // The SQL only narrows: lock the candidates, decide in Rust, delete those,
                // all in one transaction so no concurrent write slips between.
                let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
                let sql = format!("SELECT {COLUMNS} FROM \"{t}\" WHERE {clause} FOR UPDATE");
                let rows = bind_all(sqlx::query(AssertSqlSafe(sql)), &params.values)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                let mut doomed = Vec::new();
                for row in &rows {
                    let record = Self::record(row)?;
                    if criteria.matches(&record) {
                        doomed.push(record.path);
                    }
                }
                let sql = format!("DELETE FROM \"{t}\" WHERE path = ANY($1)");
                let done = sqlx::query(AssertSqlSafe(sql))
                    .bind(&doomed)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                tx.commit().await.map_err(|e| self.err(e))?;
                return Ok(done.rows_affected());
            }
        }
        let sql = format!("DELETE FROM \"{t}\" WHERE {clause}");
        let done = bind_all(sqlx::query(AssertSqlSafe(sql)), &params.values)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

fn build(
    context: BuildContext,
) -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Datastore>>> {
    async move {
        let settings: PostgresSettings = context.parse_settings("postgres")?;
        Ok(Arc::new(PostgresDatastore::connect(settings).await?) as Arc<dyn Datastore>)
    }
    .boxed()
}

inventory::submit! {
    DatastorePlugin {
        name: "postgres",
        aliases: &["postgresql", "happn-db-provider-postgres"],
        description: "PostgreSQL table with JSONB data; criteria pushed down as SQL where exact.",
        example: r#"{"url": "postgres://postgres@127.0.0.1:5432/test", "table": "happn"}"#,
        build,
    }
}
