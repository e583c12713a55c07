//! How a peer link authenticates: the dialling half of the peer handshake, run by the
//! link's client instead of a login on every (re)connection.

use std::sync::Arc;

use happn_cluster_sdk::Result;
use serde_json::{Value, json};

use crate::client::{Authenticator, Client};
use crate::trust::PeerAuthority;

/// Proves this node to the peer at `endpoint`, and the peer to this node.
#[derive(Debug)]
pub struct PeerProof {
    /// This node's keys and identity.
    pub authority: Arc<PeerAuthority>,
    /// The endpoint dialled: the peer must prove it is the node advertised there.
    pub endpoint: String,
}

#[async_trait::async_trait]
impl Authenticator for PeerProof {
    async fn authenticate(&self, client: &Client) -> Result<Value> {
        let (hello, state) = self.authority.hello();
        let reply = client.request("peer-hello", None, hello, None).await?;
        let answer = reply.get("data").unwrap_or(&Value::Null);
        // Nothing but a nonce was sent until the peer's proof checks out here.
        let (peer, prove) = self.authority.prove(state, &self.endpoint, answer)?;
        let reply = client.request("peer-prove", None, prove, None).await?;
        let id = reply.pointer("/data/id").cloned().unwrap_or(Value::Null);
        Ok(json!({"id": id, "happn": {"name": peer.name}, "peer": peer.to_json()}))
    }
}
