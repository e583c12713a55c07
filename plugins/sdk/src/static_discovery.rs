//! `static`: discovery from a fixed member list in config (no database involved).

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt;
use serde::Deserialize;

use crate::discovery::{Discovery, Member};
use crate::error::{Error, Result};
use crate::registry::{BuildContext, DiscoveryPlugin};

/// Settings of the `static` discovery plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticDiscoverySettings {
    /// The members of the cluster, this node included.
    pub members: Vec<Member>,
}

/// A discovery that always reports the configured members.
#[derive(Debug)]
pub struct StaticDiscovery {
    members: Vec<Member>,
}

impl StaticDiscovery {
    /// A discovery reporting exactly `members`.
    pub fn new(members: Vec<Member>) -> Self {
        StaticDiscovery { members }
    }
}

#[async_trait]
impl Discovery for StaticDiscovery {
    async fn announce(&self, _me: &Member) -> Result<()> {
        Ok(())
    }

    async fn members(&self) -> Result<Vec<Member>> {
        Ok(self.members.clone())
    }

    fn trusted_source(&self) -> bool {
        true
    }

    async fn leave(&self, _me: &Member) -> Result<()> {
        Ok(())
    }
}

fn build(
    context: BuildContext,
) -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Discovery>>> {
    let settings = context.settings;
    async move {
        let settings: StaticDiscoverySettings = serde_json::from_value(settings)
            .map_err(|e| Error::bad_input(format!("static discovery settings: {e}")))?;
        Ok(Arc::new(StaticDiscovery::new(settings.members)) as Arc<dyn Discovery>)
    }
    .boxed()
}

inventory::submit! {
    DiscoveryPlugin {
        name: "static",
        aliases: &[],
        description: "A fixed member list from config; for tests and fixed topologies.",
        example: r#"{"members": [{"name": "node-1", "service": "happn-cluster-node", "clusterName": "happn-cluster", "deployment": "Test-Deploy", "endpoint": "127.0.0.1:57000"}]}"#,
        build,
    }
}
