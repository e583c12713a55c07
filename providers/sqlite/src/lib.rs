//! # happn-provider-sqlite
//!
//! `sqlite`: the embedded, zero-setup datastore. One file (WAL mode, so several node
//! processes on one machine can share it), one table of `(path, data JSON, created,
//! modified, modified_by)`. Path queries are narrowed with an indexed key range and
//! checked exactly in Rust; criteria, sort and paging use the SDK's evaluator.
//!
//! Settings: `{"filename": "happn.sqlite", "table": "happn"}` (`":memory:"` for a private
//! in-memory database).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt;
use happn_cluster_sdk::record::add_numbers;
use happn_cluster_sdk::{
    BuildContext, Criteria, Datastore, DatastorePlugin, Error, Features, FindOptions, PathQuery,
    Record, Result, UpsertItem, UpsertOptions, inventory, now_millis, upsert_each,
};
use serde::Deserialize;
use serde_json::{Map, Number, Value};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqliteConnection};

/// Settings of the `sqlite` provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteSettings {
    /// Database file (created if missing); `:memory:` for a private in-memory database.
    #[serde(default = "default_filename")]
    pub filename: String,
    /// Table name (letters, digits, `_`).
    #[serde(default = "default_table")]
    pub table: String,
}

fn default_filename() -> String {
    "happn.sqlite".into()
}

fn default_table() -> String {
    "happn".into()
}

struct Sql {
    select_exact: String,
    select_like: String,
    upsert: String,
    insert_if_absent: String,
    delete_exact: String,
}

/// A datastore in one SQLite file.
pub struct SqliteDatastore {
    pool: SqlitePool,
    sql: Sql,
    filename: String,
}

/// SQLITE_BUSY or SQLITE_LOCKED, extended codes included (their low byte is 5 or 6).
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

fn db_error(filename: &str, e: sqlx::Error) -> Error {
    // SQLITE_BUSY / SQLITE_LOCKED (5, 6 and their extended codes): another process holds
    // the write lock past the busy timeout; retrying later works.
    let busy = e
        .as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6));
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            Error::unavailable(format!("sqlite {filename}: {e}"))
        }
        other if busy => Error::unavailable(format!("sqlite {filename} is busy: {other}")),
        other => Error::internal(format!("sqlite {filename}: {other}")),
    }
}

/// The smallest string greater than every string starting with `prefix` (for range scans
/// that use the primary-key index; SQLite's LIKE cannot here).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}\u{10FFFF}")
}

impl SqliteDatastore {
    /// Opens (creating if needed) the database and its table.
    pub async fn open(settings: SqliteSettings) -> Result<Self> {
        let table = &settings.table;
        if table.is_empty() || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::bad_input(format!(
                "sqlite table name {table:?} may only contain letters, digits and _"
            )));
        }
        let memory = settings.filename == ":memory:";
        let options = if memory {
            SqliteConnectOptions::from_str("sqlite::memory:")
                .map_err(|e| Error::bad_input(e.to_string()))?
        } else {
            SqliteConnectOptions::new()
                .filename(&settings.filename)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
        }
        .busy_timeout(BUSY_WAIT);
        let mut pool_options = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 4 })
            .acquire_timeout(Duration::from_secs(10));
        if memory {
            // The in-memory database lives only as long as its one connection: keep it.
            pool_options = pool_options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        // Several processes opening a new file at once race to switch it to WAL, and the
        // losers get SQLITE_BUSY at once (the busy timeout does not cover the journal-mode
        // switch): retry for a few seconds.
        let mut attempts = 0;
        let pool = loop {
            match pool_options.clone().connect_with(options.clone()).await {
                Ok(pool) => break pool,
                Err(e) if attempts < 50 && is_busy(&e) => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    return Err(Error::unavailable(format!(
                        "cannot open sqlite {}: {e}",
                        settings.filename
                    )));
                }
            }
        };
        let create = format!(
            "CREATE TABLE IF NOT EXISTS \"{table}\" (path TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, \
             created INTEGER NOT NULL, modified INTEGER NOT NULL, modified_by TEXT)"
        );
        sqlx::query(AssertSqlSafe(create))
            .execute(&pool)
            .await
            .map_err(|e| db_error(&settings.filename, e))?;
        let sql = Sql {
            select_exact: format!(
                "SELECT path, data, created, modified, modified_by FROM \"{table}\" WHERE path = ?1"
            ),
            select_like: format!(
                "SELECT path, data, created, modified, modified_by FROM \"{table}\" WHERE path >= ?1 AND path < ?2 ORDER BY path"
            ),
            upsert: format!(
                "INSERT INTO \"{table}\" (path, data, created, modified, modified_by) VALUES (?1, ?2, ?3, ?3, ?4) \
                 ON CONFLICT(path) DO UPDATE SET data = excluded.data, \
                 modified = MAX(excluded.modified, \"{table}\".modified), modified_by = excluded.modified_by \
                 RETURNING created, modified"
            ),
            insert_if_absent: format!(
                "INSERT INTO \"{table}\" (path, data, created, modified, modified_by) VALUES (?1, ?2, ?3, ?3, ?4) \
                 ON CONFLICT(path) DO NOTHING"
            ),
            delete_exact: format!("DELETE FROM \"{table}\" WHERE path = ?1"),
        };
        Ok(SqliteDatastore {
            pool,
            sql,
            filename: settings.filename,
        })
    }

    fn err(&self, e: sqlx::Error) -> Error {
        db_error(&self.filename, e)
    }

    fn record(row: &sqlx::sqlite::SqliteRow) -> Result<Record> {
        let text: String = row
            .try_get("data")
            .map_err(|e| Error::internal(e.to_string()))?;
        let data = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map,
            Ok(_) | Err(_) => {
                return Err(Error::internal("corrupt record data (not a JSON object)"));
            }
        };
        Ok(Record {
            path: row
                .try_get("path")
                .map_err(|e| Error::internal(e.to_string()))?,
            data,
            created: row
                .try_get("created")
                .map_err(|e| Error::internal(e.to_string()))?,
            modified: row
                .try_get("modified")
                .map_err(|e| Error::internal(e.to_string()))?,
            modified_by: row
                .try_get("modified_by")
                .map_err(|e| Error::internal(e.to_string()))?,
        })
    }

    /// Every record the query addresses, in path order.
    async fn matching(
        &self,
        conn: &mut SqliteConnection,
        query: &PathQuery,
    ) -> Result<Vec<Record>> {
        match query {
            PathQuery::Exact(path) => {
                let row = sqlx::query(AssertSqlSafe(self.sql.select_exact.as_str()))
                    .bind(path)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(|e| self.err(e))?;
                row.as_ref()
                    .map(Self::record)
                    .transpose()
                    .map(|r| r.into_iter().collect())
            }
            PathQuery::Wildcard(pattern) => {
                let prefix = pattern.literal_prefix();
                let rows = sqlx::query(AssertSqlSafe(self.sql.select_like.as_str()))
                    .bind(prefix)
                    .bind(prefix_end(prefix))
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| self.err(e))?;
                let mut out = Vec::new();
                for row in &rows {
                    // The range only narrows by prefix: check exactly here.
                    let path: String = row
                        .try_get("path")
                        .map_err(|e| Error::internal(e.to_string()))?;
                    if pattern.matches(&path) {
                        out.push(Self::record(row)?);
                    }
                }
                Ok(out)
            }
        }
    }

    async fn write(
        &self,
        conn: &mut SqliteConnection,
        path: &str,
        data: &Map<String, Value>,
        modified_by: Option<&str>,
    ) -> Result<(i64, i64)> {
        let row = sqlx::query(AssertSqlSafe(self.sql.upsert.as_str()))
            .bind(path)
            .bind(Value::Object(data.clone()).to_string())
            .bind(now_millis())
            .bind(modified_by)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok((
            row.try_get("created")
                .map_err(|e| Error::internal(e.to_string()))?,
            row.try_get("modified")
                .map_err(|e| Error::internal(e.to_string()))?,
        ))
    }

    /// One upsert on `conn`, inside the caller's transaction.
    async fn upsert_in(&self, conn: &mut SqliteConnection, item: UpsertItem) -> Result<Record> {
        let (path, data, options) = (item.path, item.data, item.options);
        let existing = self
            .matching(conn, &PathQuery::Exact(path.clone()))
            .await?
            .pop();
        if options.if_absent {
            if let Some(existing) = existing {
                return Ok(existing);
            }
            sqlx::query(AssertSqlSafe(self.sql.insert_if_absent.as_str()))
                .bind(&path)
                .bind(Value::Object(data.clone()).to_string())
                .bind(now_millis())
                .bind(options.modified_by.as_deref())
                .execute(&mut *conn)
                .await
                .map_err(|e| self.err(e))?;
            return self
                .matching(conn, &PathQuery::Exact(path.clone()))
                .await?
                .pop()
                .ok_or_else(|| Error::internal("record vanished after insert"));
        }
        let data = match (options.merge, existing) {
            (true, Some(existing)) => {
                let mut merged = existing.data;
                merged.extend(data);
                merged
            }
            _ => data,
        };
        let (created, modified) = self
            .write(conn, &path, &data, options.modified_by.as_deref())
            .await?;
        Ok(Record {
            path,
            data,
            created,
            modified,
            modified_by: options.modified_by.clone(),
        })
    }

    /// Runs `work` inside `BEGIN IMMEDIATE … COMMIT` (one writer at a time, across
    /// processes). The transaction rolls back if `work` fails or the call is dropped.
    async fn exclusive<T>(
        &self,
        work: impl for<'c> FnOnce(
            &'c Self,
            &'c mut SqliteConnection,
        ) -> futures_util::future::BoxFuture<'c, Result<T>>,
    ) -> Result<T> {
        let mut held = Held(Some(self.pool.acquire().await.map_err(|e| self.err(e))?));
        let Some(conn) = held.0.as_deref_mut() else {
            return Err(Error::internal("no connection"));
        };
        self.begin_immediate(conn).await?;
        let value = match work(self, conn).await {
            Ok(value) => value,
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                held.release();
                return Err(e);
            }
        };
        if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            held.release();
            return Err(self.err(e));
        }
        held.release();
        Ok(value)
    }

    /// `BEGIN IMMEDIATE` on `conn`, taking turns with other processes on the same file.
    /// SQLite's own busy handler sleeps longer and longer (up to 100 ms a try), so several
    /// node processes writing one file saw p99s of 80 ms; here a busy write lock is tried
    /// again after 0.2–2 ms (jittered), for up to `BUSY_WAIT` in all. The connection's
    /// busy timeout is back to `BUSY_WAIT` afterwards.
    async fn begin_immediate(&self, conn: &mut SqliteConnection) -> Result<()> {
        let deadline = tokio::time::Instant::now() + BUSY_WAIT;
        let mut pause = Duration::from_micros(100);
        sqlx::query("PRAGMA busy_timeout = 0")
            .execute(&mut *conn)
            .await
            .map_err(|e| self.err(e))?;
        let begun = loop {
            match sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
                Ok(_) => break Ok(()),
                Err(e) if is_busy(&e) && tokio::time::Instant::now() < deadline => {
                    let jitter = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos() % 200_000);
                    tokio::time::sleep(pause + Duration::from_nanos(u64::from(jitter))).await;
                    pause = (pause * 2).min(Duration::from_micros(500));
                }
                Err(e) => break Err(self.err(e)),
            }
        };
        sqlx::query(AssertSqlSafe(RESTORE_BUSY_TIMEOUT))
            .execute(&mut *conn)
            .await
            .map_err(|e| self.err(e))?;
        begun
    }
}

/// A pooled connection in a transaction this provider opened by hand. Dropped while still
/// held (the caller went away mid-transaction), the connection is closed instead of going
/// back to the pool, and SQLite rolls the transaction back.
struct Held(Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>);

impl Held {
    /// The transaction ended: the connection goes back to the pool.
    fn release(&mut self) {
        self.0.take();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// How long a write waits for another process's write lock in all.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Sets a connection's busy timeout back to [`BUSY_WAIT`].
const RESTORE_BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 10000";

#[async_trait]
impl Datastore for SqliteDatastore {
    fn provider(&self) -> &'static str {
        "sqlite"
    }

    async fn upsert(
        &self,
        path: &str,
        data: Map<String, Value>,
        options: &UpsertOptions,
    ) -> Result<Record> {
        let item = UpsertItem {
            path: path.to_string(),
            data,
            options: options.clone(),
        };
        self.exclusive(move |this, conn| this.upsert_in(conn, item).boxed())
            .await
    }

    fn features(&self) -> Features {
        Features {
            batch_writes: true,
            ..Features::default()
        }
    }

    /// The whole batch in one `BEGIN IMMEDIATE … COMMIT`: one hold of the write lock and
    /// one commit (one fsync) for every item. An item that fails fails alone; the rest
    /// commit.
    async fn upsert_many(&self, items: Vec<UpsertItem>) -> Vec<Result<Record>> {
        let count = items.len();
        if count < 2 {
            return upsert_each(self, items).await;
        }
        let outcome = self
            .exclusive(move |this, conn| {
                async move {
                    let mut results = Vec::with_capacity(items.len());
                    for item in items {
                        results.push(this.upsert_in(conn, item).await);
                    }
                    Ok(results)
                }
                .boxed()
            })
            .await;
        match outcome {
            Ok(results) => results,
            // The transaction itself failed (busy, commit): every item shares that error.
            Err(e) => (0..count).map(|_| Err(e.clone())).collect(),
        }
    }

    async fn increment(
        &self,
        path: &str,
        gauge: &str,
        by: &Number,
        modified_by: Option<&str>,
    ) -> Result<Number> {
        let (path, gauge, by, modified_by) = (
            path.to_string(),
            gauge.to_string(),
            by.clone(),
            modified_by.map(str::to_string),
        );
        self.exclusive(move |this, conn| {
            async move {
                let mut data = this
                    .matching(conn, &PathQuery::Exact(path.clone()))
                    .await?
                    .pop()
                    .map(|r| r.data)
                    .unwrap_or_default();
                let current = data
                    .get(&gauge)
                    .and_then(|g| g.get("value"))
                    .and_then(Value::as_number)
                    .cloned()
                    .unwrap_or_else(|| 0.into());
                let next = add_numbers(&current, &by)?;
                let mut value = Map::new();
                value.insert("value".into(), Value::Number(next.clone()));
                data.insert(gauge, Value::Object(value));
                this.write(conn, &path, &data, modified_by.as_deref())
                    .await?;
                Ok(next)
            }
            .boxed()
        })
        .await
    }

    async fn find(&self, query: &PathQuery, options: &FindOptions) -> Result<Vec<Record>> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        Ok(options.apply(self.matching(&mut conn, query).await?))
    }

    async fn count(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        Ok(self
            .matching(&mut conn, query)
            .await?
            .iter()
            .filter(|r| criteria.is_none_or(|c| c.matches(r)))
            .count() as u64)
    }

    async fn remove(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        let query = query.clone();
        let criteria = criteria.cloned();
        self.exclusive(move |this, conn| {
            async move {
                let mut doomed = this.matching(conn, &query).await?;
                if let Some(criteria) = &criteria {
                    doomed.retain(|r| criteria.matches(r));
                }
                for record in &doomed {
                    sqlx::query(AssertSqlSafe(this.sql.delete_exact.as_str()))
                        .bind(&record.path)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| this.err(e))?;
                }
                Ok(doomed.len() as u64)
            }
            .boxed()
        })
        .await
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
        let settings: SqliteSettings = context.parse_settings("sqlite")?;
        Ok(Arc::new(SqliteDatastore::open(settings).await?) as Arc<dyn Datastore>)
    }
    .boxed()
}

inventory::submit! {
    DatastorePlugin {
        name: "sqlite",
        aliases: &["happn-db-provider-sqlite"],
        description: "Embedded SQLite file (WAL): zero setup, shared by node processes on one machine.",
        example: r#"{"filename": ":memory:", "table": "happn"}"#,
        build,
    }
}
