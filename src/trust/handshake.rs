//! The peer handshake: mutual challenge–response over the cluster key, run by a peer
//! link before anything else.
//!
//! ```text
//! dialer D                                        listener L (internal port)
//! peer-hello {nonce: Nd, keys: [ids]}      ──▶
//!                                          ◀──    {nonce: Nl, key, identity: L, proof: MAC(listener, Nd, Nl, L)}
//! (D checks L's cluster, that L is the endpoint it dialled, and the proof)
//! peer-prove {identity: D, proof: MAC(dialer, Nd, Nl, L.endpoint, D)} ──▶
//!                                          ◀──    session (L checks the proof; D is a peer)
//! ```
//!
//! Before L has proven itself, D has sent a random nonce and the public ids of its keys,
//! nothing else. Each MAC covers both fresh nonces and names its role, so no answer can be
//! replayed, reflected or relayed to another endpoint; the key never crosses the wire.

use std::sync::Arc;

use serde_json::{Value, json};

use super::TrustError;
use super::identity::PeerIdentity;
use super::key::ClusterKeys;

/// Domain label of every handshake MAC.
const LABEL: &str = "happn-cluster peer handshake v1";

/// Most key ids a hello may offer.
const MAX_OFFERED_KEYS: usize = 8;

/// A fresh 256-bit nonce, in hex.
fn nonce() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS random source failing is not recoverable; a predictable nonce would be worse.
        panic!("the operating system's random source failed");
    }
    hex::encode(bytes)
}

fn text<'a>(value: &'a Value, key: &str) -> Result<&'a str, TrustError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| TrustError::Malformed(format!("{key} must be a string")))
}

/// A nonce from the wire: 64 hex digits.
fn wire_nonce<'a>(value: &'a Value, key: &str) -> Result<&'a str, TrustError> {
    let nonce = text(value, key)?;
    if nonce.len() != 64 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TrustError::Malformed(format!(
            "{key} must be 64 hex digits"
        )));
    }
    Ok(nonce)
}

/// This node's side of every handshake: its keys and its own identity.
#[derive(Debug, Clone)]
pub struct PeerAuthority {
    keys: Arc<ClusterKeys>,
    me: PeerIdentity,
}

/// What a dialer remembers between its hello and the answer.
#[derive(Debug)]
pub struct DialerHello {
    nonce: String,
}

/// What a listener remembers between its answer and the dialer's proof.
#[derive(Debug)]
pub struct PendingProof {
    key_id: String,
    dialer_nonce: String,
    listener_nonce: String,
}

impl PeerAuthority {
    /// The authority of node `me` holding `keys`.
    pub fn new(keys: Arc<ClusterKeys>, me: PeerIdentity) -> PeerAuthority {
        PeerAuthority { keys, me }
    }

    /// This node's identity.
    pub fn me(&self) -> &PeerIdentity {
        &self.me
    }

    /// This node's keys.
    pub fn keys(&self) -> &ClusterKeys {
        &self.keys
    }

    fn same_cluster(&self, peer: &PeerIdentity) -> Result<(), TrustError> {
        if peer.cluster_name != self.me.cluster_name {
            return Err(TrustError::WrongCluster {
                expected: self.me.cluster_name.clone(),
                claimed: peer.cluster_name.clone(),
            });
        }
        Ok(())
    }

    /// Dialer, step 1: the `peer-hello` data, and what to check the answer with.
    pub fn hello(&self) -> (Value, DialerHello) {
        let nonce = nonce();
        (
            json!({"nonce": nonce, "keys": self.keys.ids()}),
            DialerHello { nonce },
        )
    }

    /// Listener: answers a `peer-hello` with this node's identity and proof.
    pub fn answer(&self, hello: &Value) -> Result<(Value, PendingProof), TrustError> {
        let dialer_nonce = wire_nonce(hello, "nonce")?.to_string();
        let offered: Vec<&str> = hello
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| TrustError::Malformed("keys must be a list of key ids".into()))?
            .iter()
            .take(MAX_OFFERED_KEYS)
            .filter_map(Value::as_str)
            .filter(|id| ClusterKeys::is_key_id(id))
            .collect();
        if !self.keys.usable() {
            return Err(TrustError::NoCommonKey);
        }
        let key = self
            .keys
            .first_of(&offered)
            .ok_or(TrustError::NoCommonKey)?;
        let listener_nonce = nonce();
        let [name, cluster, service, endpoint] = self.me.parts();
        let proof = key.tag(&[
            LABEL,
            "listener",
            &dialer_nonce,
            &listener_nonce,
            name,
            cluster,
            service,
            endpoint,
        ]);
        let answer = json!({
            "nonce": listener_nonce,
            "key": key.id(),
            "identity": self.me.to_json(),
            "proof": proof,
        });
        Ok((
            answer,
            PendingProof {
                key_id: key.id().to_string(),
                dialer_nonce,
                listener_nonce,
            },
        ))
    }

    /// Dialer, step 2: checks the answer of the node dialled at `dialled` and returns its
    /// proven identity with the `peer-prove` data proving this node.
    pub fn prove(
        &self,
        hello: DialerHello,
        dialled: &str,
        answer: &Value,
    ) -> Result<(PeerIdentity, Value), TrustError> {
        let listener_nonce = wire_nonce(answer, "nonce")?;
        let key_id = text(answer, "key")?;
        let proof = text(answer, "proof")?;
        let listener = PeerIdentity::from_json(answer.get("identity").unwrap_or(&Value::Null))?;
        self.same_cluster(&listener)?;
        if listener.endpoint != dialled {
            return Err(TrustError::EndpointMismatch {
                dialled: dialled.to_string(),
                claimed: listener.endpoint,
            });
        }
        let key = self
            .keys
            .get(key_id)
            .filter(|_| self.keys.usable())
            .ok_or(TrustError::NoCommonKey)?;
        let [name, cluster, service, endpoint] = listener.parts();
        if !key.verify(
            &[
                LABEL,
                "listener",
                &hello.nonce,
                listener_nonce,
                name,
                cluster,
                service,
                endpoint,
            ],
            proof,
        ) {
            return Err(TrustError::BadProof);
        }
        let [my_name, my_cluster, my_service, my_endpoint] = self.me.parts();
        let my_proof = key.tag(&[
            LABEL,
            "dialer",
            &hello.nonce,
            listener_nonce,
            endpoint,
            my_name,
            my_cluster,
            my_service,
            my_endpoint,
        ]);
        let message = json!({"identity": self.me.to_json(), "proof": my_proof});
        Ok((listener, message))
    }
}

impl PendingProof {
    /// Listener: checks a `peer-prove`; the dialer's proven identity.
    pub fn verify(
        self,
        authority: &PeerAuthority,
        prove: &Value,
    ) -> Result<PeerIdentity, TrustError> {
        let proof = text(prove, "proof")?;
        let dialer = PeerIdentity::from_json(prove.get("identity").unwrap_or(&Value::Null))?;
        authority.same_cluster(&dialer)?;
        let key = authority
            .keys
            .get(&self.key_id)
            .ok_or(TrustError::BadProof)?;
        let [name, cluster, service, endpoint] = dialer.parts();
        let verified = key.verify(
            &[
                LABEL,
                "dialer",
                &self.dialer_nonce,
                &self.listener_nonce,
                &authority.me.endpoint,
                name,
                cluster,
                service,
                endpoint,
            ],
            proof,
        );
        if !verified {
            return Err(TrustError::BadProof);
        }
        Ok(dialer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::KeySource;

    fn authority(secret: &str, name: &str, endpoint: &str) -> PeerAuthority {
        PeerAuthority::new(
            Arc::new(ClusterKeys::derive(
                "c",
                secret,
                &[],
                KeySource::ClusterSecret,
            )),
            PeerIdentity::new(name, "c", "svc", endpoint).unwrap(),
        )
    }

    #[test]
    fn two_holders_of_the_key_prove_themselves_to_each_other() {
        let d = authority("sixteen bytes at least", "d", "127.0.0.1:1");
        let l = authority("sixteen bytes at least", "l", "127.0.0.1:2");
        let (hello, state) = d.hello();
        let (answer, pending) = l.answer(&hello).unwrap();
        let (listener, prove) = d.prove(state, "127.0.0.1:2", &answer).unwrap();
        assert_eq!(listener.name, "l");
        assert_eq!(pending.verify(&l, &prove).unwrap().name, "d");
        // Nothing but a nonce and key ids before the listener proved itself.
        let keys: Vec<&str> = hello
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["nonce", "keys"]);
    }

    #[test]
    fn no_proof_without_the_key_and_no_replay() {
        let d = authority("sixteen bytes at least", "d", "127.0.0.1:1");
        let l = authority("sixteen bytes at least", "l", "127.0.0.1:2");
        let impostor = authority("a different secret!!", "l", "127.0.0.1:2");
        // An impostor listener cannot answer a real dialer.
        let (hello, state) = d.hello();
        assert!(impostor.answer(&hello).is_err(), "no key in common");
        let mut forged = l.answer(&hello).unwrap().0;
        forged["identity"]["name"] = json!("someone-else");
        assert_eq!(
            d.prove(state, "127.0.0.1:2", &forged),
            Err(TrustError::BadProof)
        );
        // A real answer is bound to the endpoint dialled.
        let (hello, state) = d.hello();
        let (answer, _) = l.answer(&hello).unwrap();
        assert!(matches!(
            d.prove(state, "127.0.0.1:9", &answer),
            Err(TrustError::EndpointMismatch { .. })
        ));
        // A dialer's proof for one challenge does not pass another.
        let (hello, state) = d.hello();
        let (answer, first) = l.answer(&hello).unwrap();
        let (_, prove) = d.prove(state, "127.0.0.1:2", &answer).unwrap();
        let (_, second) = l.answer(&hello).unwrap();
        assert_eq!(second.verify(&l, &prove), Err(TrustError::BadProof));
        assert!(first.verify(&l, &prove).is_ok());
        // The listener's own answer reflected back is not a dialer's proof.
        let (hello, _) = d.hello();
        let (answer, pending) = l.answer(&hello).unwrap();
        let reflected = json!({"identity": answer["identity"], "proof": answer["proof"]});
        assert_eq!(pending.verify(&l, &reflected), Err(TrustError::BadProof));
    }

    #[test]
    fn rotation_agrees_on_a_common_key() {
        let old = "the old secret, long";
        let new = "the new secret, long";
        let rotated = PeerAuthority::new(
            Arc::new(ClusterKeys::derive(
                "c",
                new,
                &[old.into()],
                KeySource::ClusterSecret,
            )),
            PeerIdentity::new("r", "c", "svc", "127.0.0.1:3").unwrap(),
        );
        let not_yet = authority(old, "o", "127.0.0.1:4");
        let (hello, state) = not_yet.hello();
        let (answer, pending) = rotated.answer(&hello).unwrap();
        let (_, prove) = not_yet.prove(state, "127.0.0.1:3", &answer).unwrap();
        assert!(pending.verify(&rotated, &prove).is_ok());
        let (hello, state) = rotated.hello();
        let (answer, pending) = not_yet.answer(&hello).unwrap();
        let (_, prove) = rotated.prove(state, "127.0.0.1:4", &answer).unwrap();
        assert!(pending.verify(&not_yet, &prove).is_ok());
    }
}
