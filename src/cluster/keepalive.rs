//! `datastore`: the default discovery plugin. Every node keeps a keepalive record at
//! `/SYSTEM/DEPLOYMENT/<deployment>/<serviceName>/<endpoint>` in the shared datastore (routed
//! by the normal datastore patterns, so membership may live in its own store), advancing a
//! heartbeat counter on every keepalive.
//!
//! Liveness is judged without comparing clocks of different machines: a reader remembers,
//! by its own monotonic clock, when it first saw each record and when its heartbeat last
//! changed. A record is live until it has gone `keepAliveThreshold` without advancing (a
//! record seen for the first time is given that long to prove itself). A clean stop deletes the node's own record, so others see it leave
//! at their next refresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::FutureExt;
use happn_cluster_sdk::{
    BuildContext, Datastore, Discovery, DiscoveryPlugin, Error, FindOptions, Member, PathQuery,
    Result, UpsertOptions,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Where every deployment's keepalive records live (not under `/_SYSTEM`, as in the seed).
pub const DEPLOYMENT_PREFIX: &str = "/SYSTEM/DEPLOYMENT/";

/// The keepalive record path of a member.
pub fn record_path(deployment: &str, service: &str, endpoint: &str) -> String {
    format!("{DEPLOYMENT_PREFIX}{deployment}/{service}/{endpoint}")
}

/// Settings of the `datastore` discovery plugin (the node fills them from
/// `services.orchestrator.config` when they are not given).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeepaliveSettings {
    /// The deployment whose records are read and written.
    pub deployment: String,
    /// A record whose heartbeat has not advanced for this long is dead (ms).
    pub keep_alive_threshold: u64,
}

/// What a reader remembers of one record.
#[derive(Debug, Clone)]
struct Seen {
    beat: u64,
    epoch: String,
    /// When (by this reader's clock) the heartbeat last changed, or was first seen.
    changed_at: Instant,
}

/// Keepalive-record discovery over a datastore.
pub struct KeepaliveDiscovery {
    store: Arc<dyn Datastore>,
    settings: KeepaliveSettings,
    /// Changes on every process start, so a restarted node's first beat counts as an advance.
    epoch: String,
    beat: Mutex<u64>,
    seen: Mutex<HashMap<String, Seen>>,
    /// The last read of the member list failed (the database was unreachable).
    blind: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for KeepaliveDiscovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepaliveDiscovery")
            .field("store", &self.store.provider())
            .field("settings", &self.settings)
            .finish()
    }
}

impl KeepaliveDiscovery {
    /// Discovery over `store` with `settings`.
    pub fn new(store: Arc<dyn Datastore>, settings: KeepaliveSettings) -> Self {
        KeepaliveDiscovery {
            store,
            settings,
            epoch: uuid::Uuid::new_v4().simple().to_string(),
            beat: Mutex::new(0),
            seen: Mutex::new(HashMap::new()),
            blind: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn threshold(&self) -> Duration {
        Duration::from_millis(self.settings.keep_alive_threshold)
    }

    /// Folds one observation in; true if the record is live now.
    fn observe(&self, path: &str, beat: u64, epoch: &str, now: Instant) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let entry = seen.entry(path.to_string()).or_insert_with(|| Seen {
            beat,
            epoch: epoch.to_string(),
            changed_at: now,
        });
        if entry.beat != beat || entry.epoch != epoch {
            entry.beat = beat;
            entry.epoch = epoch.to_string();
            entry.changed_at = now;
        }
        now.duration_since(entry.changed_at) <= self.threshold()
    }
}

fn text(data: &Map<String, Value>, key: &str) -> String {
    data.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[async_trait]
impl Discovery for KeepaliveDiscovery {
    async fn announce(&self, me: &Member) -> Result<()> {
        let beat = {
            let mut beat = self.beat.lock().unwrap_or_else(|p| p.into_inner());
            *beat += 1;
            *beat
        };
        let data = json!({
            "service": me.service,
            "endpoint": me.endpoint,
            "name": me.name,
            "clusterName": me.cluster_name,
            "beat": beat,
            "epoch": self.epoch,
            "signature": me.signature,
        });
        let Value::Object(data) = data else {
            return Err(Error::internal("keepalive record is not an object"));
        };
        let path = record_path(&self.settings.deployment, &me.service, &me.endpoint);
        self.store
            .upsert(&path, data, &UpsertOptions::default())
            .await?;
        Ok(())
    }

    async fn members(&self) -> Result<Vec<Member>> {
        let prefix = format!("{DEPLOYMENT_PREFIX}{}/", self.settings.deployment);
        let found = self
            .store
            .find(
                &PathQuery::parse(&format!("{prefix}*")),
                &FindOptions::default(),
            )
            .await;
        let records = match found {
            Ok(records) => records,
            Err(e) => {
                self.blind.store(true, std::sync::atomic::Ordering::Relaxed);
                return Err(e);
            }
        };
        let now = Instant::now();
        // After a blind spell (the database was unreachable, so nobody's heartbeat could be
        // written or seen), judge every member afresh instead of dropping them all at once:
        // no reconnect storm after an outage.
        if self.blind.swap(false, std::sync::atomic::Ordering::Relaxed) {
            for seen in self
                .seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values_mut()
            {
                seen.changed_at = now;
            }
        }
        let mut live = Vec::new();
        let mut present = Vec::with_capacity(records.len());
        for record in records {
            // Exactly `<service>/<endpoint>` below the deployment.
            let Some(rest) = record.path.strip_prefix(&prefix) else {
                continue;
            };
            if rest.split('/').count() != 2 {
                continue;
            }
            let beat = record.data.get("beat").and_then(Value::as_u64).unwrap_or(0);
            let epoch = text(&record.data, "epoch");
            present.push(record.path.clone());
            let mine = epoch == self.epoch;
            if !self.observe(&record.path, beat, &epoch, now) && !mine {
                continue;
            }
            live.push(Member {
                name: text(&record.data, "name"),
                service: text(&record.data, "service"),
                cluster_name: text(&record.data, "clusterName"),
                deployment: self.settings.deployment.clone(),
                endpoint: text(&record.data, "endpoint"),
                beat,
                signature: text(&record.data, "signature"),
            });
        }
        // Forget records that are gone.
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|path, _| present.contains(path));
        Ok(live)
    }

    async fn leave(&self, me: &Member) -> Result<()> {
        let path = record_path(&self.settings.deployment, &me.service, &me.endpoint);
        self.store.remove(&PathQuery::Exact(path), None).await?;
        Ok(())
    }
}

fn build(
    context: BuildContext,
) -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Discovery>>> {
    async move {
        let settings: KeepaliveSettings = context.parse_settings("datastore discovery")?;
        let store = context.datastore.clone().ok_or_else(|| {
            Error::bad_input(
                "datastore discovery needs the node's datastore (it is given by the node)",
            )
        })?;
        Ok(Arc::new(KeepaliveDiscovery::new(store, settings)) as Arc<dyn Discovery>)
    }
    .boxed()
}

inventory::submit! {
    DiscoveryPlugin {
        name: "datastore",
        aliases: &["keepalive"],
        description: "Keepalive records in the shared datastore under /SYSTEM/DEPLOYMENT/<deployment>/ (the default); liveness by heartbeat advance, never by comparing clocks.",
        example: r#"{"deployment": "Test-Deploy", "keepAliveThreshold": 6000}"#,
        build,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use happn_cluster_sdk::memory::MemoryDatastore;

    fn member(endpoint: &str) -> Member {
        Member {
            name: endpoint.replace([':', '.'], "-"),
            service: "svc".into(),
            cluster_name: "c".into(),
            deployment: "d".into(),
            endpoint: endpoint.into(),
            beat: 0,
            signature: String::new(),
        }
    }

    fn discovery(store: &Arc<dyn Datastore>, threshold: u64) -> KeepaliveDiscovery {
        KeepaliveDiscovery::new(
            store.clone(),
            KeepaliveSettings {
                deployment: "d".into(),
                keep_alive_threshold: threshold,
            },
        )
    }

    #[tokio::test]
    async fn a_member_is_live_while_its_heartbeat_advances() {
        let store: Arc<dyn Datastore> = Arc::new(MemoryDatastore::new());
        let a = discovery(&store, 150);
        let b = discovery(&store, 150);
        let (ma, mb) = (member("127.0.0.1:1"), member("127.0.0.1:2"));
        a.announce(&ma).await.unwrap();
        b.announce(&mb).await.unwrap();
        let mut seen: Vec<_> = b
            .members()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.endpoint)
            .collect();
        seen.sort();
        assert_eq!(seen, vec!["127.0.0.1:1", "127.0.0.1:2"]);
        // a keeps beating: live however long it runs.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(80)).await;
            a.announce(&ma).await.unwrap();
            b.announce(&mb).await.unwrap();
            assert_eq!(b.members().await.unwrap().len(), 2);
        }
        // a stops beating: gone after the threshold, judged by b's clock alone.
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.announce(&mb).await.unwrap();
        let seen: Vec<_> = b
            .members()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.endpoint)
            .collect();
        assert_eq!(seen, vec!["127.0.0.1:2"]);
        // A clean leave removes the record.
        b.leave(&mb).await.unwrap();
        assert!(
            a.members()
                .await
                .unwrap()
                .iter()
                .all(|m| m.endpoint != "127.0.0.1:2")
        );
        // Another deployment is invisible.
        let other = KeepaliveDiscovery::new(
            store.clone(),
            KeepaliveSettings {
                deployment: "e".into(),
                keep_alive_threshold: 150,
            },
        );
        other.announce(&member("127.0.0.1:3")).await.unwrap();
        a.announce(&ma).await.unwrap();
        assert!(
            a.members()
                .await
                .unwrap()
                .iter()
                .all(|m| m.endpoint != "127.0.0.1:3")
        );
    }
}
