//! The data service: routes each path to a datastore (by `patterns`, longest first, else the
//! default store) and performs set / merge / increment / get / count / remove on it.

use std::sync::Arc;

use happn_cluster_sdk::{
    Criteria, Datastore, Error, FindOptions, PathQuery, Record, Result, UpsertOptions,
    WildcardPattern, registry,
};
use serde_json::{Map, Number, Value};

use crate::config::DatastoreConfig;

pub mod group_commit;
pub mod path_order;

struct Route {
    pattern: WildcardPattern,
    store_name: String,
    store: Arc<dyn Datastore>,
}

/// happn-3's refusal for a feature the path's datastore lacks.
fn missing_feature(feature: &str, query: &PathQuery) -> Error {
    Error::System(format!(
        "{feature} feature not available for provider on path: {}",
        query.as_str()
    ))
}

fn require_collation(
    store: &dyn Datastore,
    query: &PathQuery,
    options: &FindOptions,
) -> Result<()> {
    if options.collation.is_some() && !store.features().collation {
        return Err(missing_feature("collation", query));
    }
    Ok(())
}

/// Datastores and the routing between them.
pub struct DataService {
    routes: Vec<Route>,
    default: Arc<dyn Datastore>,
    default_name: String,
    stores: Vec<(String, Arc<dyn Datastore>)>,
    order: path_order::PathOrder,
}

impl DataService {
    /// One default store and no routes.
    pub fn single(name: &str, store: Arc<dyn Datastore>) -> Self {
        DataService {
            routes: Vec::new(),
            default: store.clone(),
            default_name: name.to_string(),
            stores: vec![(name.to_string(), store)],
            order: path_order::PathOrder::default(),
        }
    }

    /// Builds every configured store through the registry (an effective config: providers
    /// resolved, one default).
    pub async fn from_config(stores: &[DatastoreConfig]) -> Result<Self> {
        let plugins = registry::datastores();
        let mut built = Vec::new();
        let mut routes = Vec::new();
        let mut default = None;
        for config in stores {
            let provider = config.provider.as_deref().unwrap_or("mongo");
            let plugin = registry::find(&plugins, provider).ok_or_else(|| {
                Error::bad_input(format!(
                    "datastore {}: unknown provider {provider}",
                    config.name
                ))
            })?;
            let context = happn_cluster_sdk::BuildContext::settings(config.settings.clone());
            let store = (plugin.build)(context).await.map_err(|e| {
                Error::unavailable(format!("datastore {} ({provider}): {e}", config.name))
            })?;
            let batch = &config.write_batch;
            let store: Arc<dyn Datastore> = if batch.max_items > 1 && store.features().batch_writes
            {
                Arc::new(group_commit::GroupCommit::new(
                    store,
                    group_commit::BatchLimits {
                        max_items: batch.max_items,
                        in_flight: batch.in_flight,
                    },
                ))
            } else {
                store
            };
            for pattern in &config.patterns {
                routes.push(Route {
                    pattern: WildcardPattern::new(pattern),
                    store_name: config.name.clone(),
                    store: store.clone(),
                });
            }
            if config.is_default || default.is_none() {
                default = Some((config.name.clone(), store.clone()));
            }
            built.push((config.name.clone(), store));
        }
        let (default_name, default) =
            default.ok_or_else(|| Error::bad_input("no datastore configured"))?;
        routes.sort_by_key(|r| std::cmp::Reverse(r.pattern.as_str().len()));
        Ok(DataService {
            routes,
            default,
            default_name,
            stores: built,
            order: path_order::PathOrder::default(),
        })
    }

    /// The store responsible for `path` (a wildcard query is routed by its own text).
    pub fn route(&self, path: &str) -> &Arc<dyn Datastore> {
        self.routes
            .iter()
            .find(|r| r.pattern.matches(path))
            .map(|r| &r.store)
            .unwrap_or(&self.default)
    }

    /// The name of the store responsible for `path`.
    pub fn route_name(&self, path: &str) -> &str {
        self.routes
            .iter()
            .find(|r| r.pattern.matches(path))
            .map(|r| r.store_name.as_str())
            .unwrap_or(&self.default_name)
    }

    /// Waits for `path`'s turn to write and publish: hold the guard until the write's event
    /// is published, so events of one path follow its commit order.
    pub async fn path_turn(&self, path: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.order.lock(path).await
    }

    /// Writes (or merges) data at `path`.
    pub async fn set(
        &self,
        path: &str,
        data: Map<String, Value>,
        merge: bool,
        modified_by: Option<&str>,
    ) -> Result<Record> {
        let options = UpsertOptions {
            merge,
            modified_by: modified_by.map(str::to_string),
            if_absent: false,
        };
        self.route(path).upsert(path, data, &options).await
    }

    /// Creates the record at `path` unless one exists; returns whichever is stored.
    pub async fn create_if_absent(&self, path: &str, data: Map<String, Value>) -> Result<Record> {
        let options = UpsertOptions {
            if_absent: true,
            ..UpsertOptions::default()
        };
        self.route(path).upsert(path, data, &options).await
    }

    /// Adds `by` to the gauge at `path`; returns the new value.
    pub async fn increment(
        &self,
        path: &str,
        gauge: &str,
        by: &Number,
        modified_by: Option<&str>,
    ) -> Result<Number> {
        self.route(path)
            .increment(path, gauge, by, modified_by)
            .await
    }

    /// Records addressed by `query`.
    pub async fn get(&self, query: &PathQuery, options: &FindOptions) -> Result<Vec<Record>> {
        let store = self.route(query.as_str());
        require_collation(store.as_ref(), query, options)?;
        store.find(query, options).await
    }

    /// Counts records addressed by `query`.
    pub async fn count(&self, query: &PathQuery, options: &FindOptions) -> Result<u64> {
        let store = self.route(query.as_str());
        require_collation(store.as_ref(), query, options)?;
        if options.collation.is_some() {
            // Collation changes what criteria match: count what a collated find returns.
            let unpaged = FindOptions {
                skip: None,
                limit: None,
                ..options.clone()
            };
            return Ok(store.find(query, &unpaged).await?.len() as u64);
        }
        store.count(query, options.criteria.as_ref()).await
    }

    /// Runs an aggregation pipeline over the records `query` addresses that satisfy the
    /// options' criteria, on a store that supports it.
    pub async fn aggregate(
        &self,
        query: &PathQuery,
        options: &FindOptions,
        pipeline: &[Value],
    ) -> Result<Vec<Value>> {
        let store = self.route(query.as_str());
        if !store.features().aggregate {
            return Err(missing_feature("aggregate", query));
        }
        store
            .aggregate(query, options.criteria.as_ref(), pipeline)
            .await
    }

    /// Removes records addressed by `query`.
    pub async fn remove(&self, query: &PathQuery) -> Result<u64> {
        self.remove_where(query, None).await
    }

    /// Removes the records the query addresses that satisfy `criteria`; returns the count.
    pub async fn remove_where(
        &self,
        query: &PathQuery,
        criteria: Option<&Criteria>,
    ) -> Result<u64> {
        self.route(query.as_str()).remove(query, criteria).await
    }

    /// Pings every store; the first failure names its store.
    pub async fn ping(&self) -> Result<()> {
        for (name, store) in &self.stores {
            store
                .ping()
                .await
                .map_err(|e| Error::unavailable(format!("datastore {name}: {e}")))?;
        }
        Ok(())
    }

    /// Every store by name.
    pub fn stores(&self) -> &[(String, Arc<dyn Datastore>)] {
        &self.stores
    }

    /// Closes every store.
    pub async fn close(&self) {
        for (_, store) in &self.stores {
            store.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str, patterns: &[&str], default: bool) -> DatastoreConfig {
        DatastoreConfig {
            name: name.into(),
            provider: Some("memory".into()),
            settings: Value::Null,
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
            is_default: default,
            ..DatastoreConfig::default()
        }
    }

    #[tokio::test]
    async fn longest_pattern_wins_and_default_takes_the_rest() {
        let data = DataService::from_config(&[
            store("cache", &["/cache/*"], false),
            store("hot", &["/cache/hot/*"], false),
            store("main", &[], true),
        ])
        .await
        .unwrap();
        assert_eq!(data.route_name("/cache/x"), "cache");
        assert_eq!(data.route_name("/cache/hot/x"), "hot");
        assert_eq!(data.route_name("/Cache/x"), "main", "case-sensitive");
        assert_eq!(data.route_name("/other"), "main");
        data.set("/cache/hot/a", Map::new(), false, None)
            .await
            .unwrap();
        let hot = &data.stores()[1].1;
        assert_eq!(hot.count(&PathQuery::parse("*"), None).await.unwrap(), 1);
        let main = &data.stores()[2].1;
        assert_eq!(main.count(&PathQuery::parse("*"), None).await.unwrap(), 0);
    }
}
