//! An example datastore provider crate, the shape a team's own provider takes: the SDK's
//! memory store made durable by an append-only journal (one JSON line per changed record),
//! replayed when the store opens. It registers itself as `journal` at link time, so a host
//! that links this crate selects it by name in config:
//!
//! ```json
//! {"name": "main", "provider": "journal", "settings": {"path": "happn.journal"}, "isDefault": true}
//! ```
//!
//! Reads are the memory store's. Every write holds one lock from the change to its journal
//! line, so the journal's order is the order of the changes. One process owns a journal: it
//! is not a shared store, so a cluster's nodes each need their own.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt;
use happn_cluster_sdk::memory::MemoryDatastore;
use happn_cluster_sdk::{
    BuildContext, Criteria, Datastore, DatastorePlugin, Error, FindOptions, PathQuery, Record,
    Result, UpsertOptions,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Entry {
    /// The record at `path` is now this.
    Put {
        path: String,
        data: Map<String, Value>,
        created: i64,
        modified: i64,
        #[serde(default, rename = "modifiedBy")]
        modified_by: Option<String>,
    },
    /// These records are gone.
    Remove { paths: Vec<String> },
}

impl Entry {
    fn put(record: &Record) -> Entry {
        Entry::Put {
            path: record.path.clone(),
            data: record.data.clone(),
            created: record.created,
            modified: record.modified,
            modified_by: record.modified_by.clone(),
        }
    }
}

/// The store: records in memory, every change appended to the journal file.
#[derive(Debug)]
pub struct JournalDatastore {
    memory: MemoryDatastore,
    journal: tokio::sync::Mutex<std::fs::File>,
    path: PathBuf,
}

/// Settings: `{"path": "happn.journal"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_path")]
    path: PathBuf,
}

fn default_path() -> PathBuf {
    PathBuf::from("happn.journal")
}

impl JournalDatastore {
    /// Opens (or creates) the journal at `path` and replays it.
    pub fn open(path: impl AsRef<Path>) -> Result<JournalDatastore> {
        let path = path.as_ref().to_path_buf();
        let failed = |what: &str, e: std::io::Error| {
            Error::unavailable(format!("journal {}: {what}: {e}", path.display()))
        };
        let memory = MemoryDatastore::new();
        if path.exists() {
            let file = std::fs::File::open(&path).map_err(|e| failed("cannot read", e))?;
            for (number, line) in BufReader::new(file).lines().enumerate() {
                let line = line.map_err(|e| failed("cannot read", e))?;
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Entry>(&line) {
                    Ok(entry) => apply(&memory, entry)?,
                    // A torn last line (the process died mid-write) is skipped; anything
                    // else is corruption the operator must see.
                    Err(e) if e.is_eof() => break,
                    Err(e) => {
                        return Err(Error::internal(format!(
                            "journal {} line {}: {e}",
                            path.display(),
                            number + 1
                        )));
                    }
                }
            }
        }
        let journal = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| failed("cannot open for appending", e))?;
        Ok(JournalDatastore {
            memory,
            journal: tokio::sync::Mutex::new(journal),
            path,
        })
    }

    /// Where the journal lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&self, journal: &mut std::fs::File, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(|e| Error::internal(e.to_string()))?;
        line.push(b'\n');
        journal.write_all(&line).map_err(|e| {
            Error::unavailable(format!(
                "journal {}: cannot append: {e}",
                self.path.display()
            ))
        })
    }
}

fn apply(memory: &MemoryDatastore, entry: Entry) -> Result<()> {
    match entry {
        Entry::Put {
            path,
            data,
            created,
            modified,
            modified_by,
        } => memory.restore(Record {
            path,
            data,
            created,
            modified,
            modified_by,
        }),
        Entry::Remove { paths } => paths.iter().try_for_each(|p| memory.forget(p)),
    }
}

#[async_trait]
impl Datastore for JournalDatastore {
    fn provider(&self) -> &'static str {
        "journal"
    }

    async fn upsert(
        &self,
        path: &str,
        data: Map<String, Value>,
        options: &UpsertOptions,
    ) -> Result<Record> {
        let mut journal = self.journal.lock().await;
        let record = self.memory.upsert(path, data, options).await?;
        self.append(&mut journal, &Entry::put(&record))?;
        Ok(record)
    }

    async fn increment(
        &self,
        path: &str,
        gauge: &str,
        by: &Number,
        modified_by: Option<&str>,
    ) -> Result<Number> {
        let mut journal = self.journal.lock().await;
        let value = self.memory.increment(path, gauge, by, modified_by).await?;
        if let Some(record) = self.memory.find_one(path).await? {
            self.append(&mut journal, &Entry::put(&record))?;
        }
        Ok(value)
    }

    async fn find(&self, query: &PathQuery, options: &FindOptions) -> Result<Vec<Record>> {
        self.memory.find(query, options).await
    }

    async fn count(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        self.memory.count(query, criteria).await
    }

    async fn remove(&self, query: &PathQuery, criteria: Option<&Criteria>) -> Result<u64> {
        let mut journal = self.journal.lock().await;
        let doomed = self
            .memory
            .find(
                query,
                &FindOptions {
                    criteria: criteria.cloned(),
                    ..FindOptions::default()
                },
            )
            .await?;
        let paths: Vec<String> = doomed.into_iter().map(|r| r.path).collect();
        for path in &paths {
            self.memory.forget(path)?;
        }
        if !paths.is_empty() {
            self.append(
                &mut journal,
                &Entry::Remove {
                    paths: paths.clone(),
                },
            )?;
        }
        Ok(paths.len() as u64)
    }

    async fn ping(&self) -> Result<()> {
        let journal = self.journal.lock().await;
        journal
            .sync_data()
            .map_err(|e| Error::unavailable(format!("journal {}: {e}", self.path.display())))
    }

    async fn close(&self) {
        let _ = self.journal.lock().await.sync_all();
    }
}

fn build(
    context: BuildContext,
) -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Datastore>>> {
    async move {
        let settings: Settings = context.parse_settings("journal")?;
        let store = tokio::task::spawn_blocking(move || JournalDatastore::open(settings.path))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        Ok(Arc::new(store) as Arc<dyn Datastore>)
    }
    .boxed()
}

happn_cluster_sdk::inventory::submit! {
    DatastorePlugin {
        name: "journal",
        aliases: &[],
        description: "Example provider crate: the memory store made durable by an append-only journal file (one process).",
        example: r#"{"path": "happn.journal"}"#,
        build,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn passes_the_conformance_kit() {
        let dir = tempfile::tempdir().unwrap();
        let store = JournalDatastore::open(dir.path().join("kit.journal")).unwrap();
        happn_cluster_sdk::testkit::run(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn a_reopened_journal_holds_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.journal");
        let store = JournalDatastore::open(&path).unwrap();
        let mut data = Map::new();
        data.insert("n".into(), 1.into());
        let first = store
            .upsert("/a", data.clone(), &UpsertOptions::default())
            .await
            .unwrap();
        store
            .upsert("/b", data, &UpsertOptions::default())
            .await
            .unwrap();
        store
            .increment("/c", "hits", &Number::from(2), None)
            .await
            .unwrap();
        assert_eq!(
            store.remove(&PathQuery::parse("/b"), None).await.unwrap(),
            1
        );
        drop(store);
        let reopened = JournalDatastore::open(&path).unwrap();
        let a = reopened.find_one("/a").await.unwrap().unwrap();
        assert_eq!(a, first, "data and timestamps survive");
        assert!(reopened.find_one("/b").await.unwrap().is_none());
        let c = reopened.find_one("/c").await.unwrap().unwrap();
        assert_eq!(c.data["hits"]["value"], 2);
        // A torn last line is ignored.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"op\":\"put\",\"path\":\"/d\"")
            .unwrap();
        let reopened = JournalDatastore::open(&path).unwrap();
        assert!(reopened.find_one("/d").await.unwrap().is_none());
        assert!(reopened.find_one("/a").await.unwrap().is_some());
    }
}
