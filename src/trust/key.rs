//! The cluster key. Every node of a cluster derives the same 256-bit MAC key from the
//! cluster secret (PBKDF2-HMAC-SHA256, salted with the cluster name, so the same secret in two
//! clusters gives two keys). A key has a public id (a MAC of a fixed label) so that two
//! nodes can agree on which key to use while a secret is being rotated. The secret itself
//! never leaves the process: only MACs over fresh nonces do.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// PBKDF2 rounds for deriving the key: happn's own cost for stored password hashes, so a
/// MAC observed on the wire is no cheaper to attack offline than a stored hash.
pub const DERIVATION_ROUNDS: u32 = 10_000;

/// Shortest accepted `clusterSecret`, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// A new random cluster secret: 32 bytes from the OS, base64.
pub fn generate_secret() -> Result<String, getrandom::Error> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Where the cluster key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `clusterSecret` (the supported configuration).
    ClusterSecret,
    /// The admin password (seed configs without a `clusterSecret`): works, with a warning.
    AdminPassword,
    /// Neither a `clusterSecret` nor an admin password other than happn's public default:
    /// the node holds a random key of its own, so it links with no one (a lone node works;
    /// a cluster needs a secret).
    Missing,
}

/// One derived key.
#[derive(Clone)]
pub struct ClusterKey {
    id: String,
    mac: [u8; 32],
}

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterKey").field("id", &self.id).finish()
    }
}

impl ClusterKey {
    /// Derives the key of `secret` for `cluster_name`.
    pub fn derive(cluster_name: &str, secret: &str) -> ClusterKey {
        let salt = format!("happn-cluster key v1/{cluster_name}");
        let mut mac = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(
            secret.as_bytes(),
            salt.as_bytes(),
            DERIVATION_ROUNDS,
            &mut mac,
        );
        let mut key = ClusterKey {
            id: String::new(),
            mac,
        };
        let tag = key.raw_tag(&["key-id"]);
        key.id = hex::encode(&tag[..8]);
        key
    }

    /// The key's public id (16 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn hmac(&self, parts: &[&str]) -> HmacSha256 {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = match HmacSha256::new_from_slice(&self.mac) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        // Length-prefixed, so no two different part lists give the same input.
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    fn raw_tag(&self, parts: &[&str]) -> [u8; 32] {
        self.hmac(parts).finalize().into_bytes().into()
    }

    /// The MAC of `parts`, in hex.
    pub fn tag(&self, parts: &[&str]) -> String {
        hex::encode(self.raw_tag(parts))
    }

    /// True when `tag` (hex) is the MAC of `parts`; compared in constant time.
    pub fn verify(&self, parts: &[&str], tag: &str) -> bool {
        match hex::decode(tag) {
            Ok(bytes) => self.hmac(parts).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}

/// The keys a node holds: the one it proves with (from the current secret) first, then
/// those of earlier secrets it still accepts during a rotation.
#[derive(Debug, Clone)]
pub struct ClusterKeys {
    cluster_name: String,
    keys: Vec<ClusterKey>,
    source: KeySource,
}

impl ClusterKeys {
    /// Derives the keys of `current` and `previous` secrets for `cluster_name`.
    pub fn derive(
        cluster_name: &str,
        current: &str,
        previous: &[String],
        source: KeySource,
    ) -> ClusterKeys {
        let mut keys = vec![ClusterKey::derive(cluster_name, current)];
        for secret in previous {
            let key = ClusterKey::derive(cluster_name, secret);
            if keys.iter().all(|k| k.id != key.id) {
                keys.push(key);
            }
        }
        ClusterKeys {
            cluster_name: cluster_name.to_string(),
            keys,
            source,
        }
    }

    /// The cluster these keys belong to.
    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// Where the current key came from.
    pub fn source(&self) -> KeySource {
        self.source
    }

    /// Keys that link with no one ([`KeySource::Missing`]): a random key of this process.
    pub fn missing(cluster_name: &str) -> ClusterKeys {
        let random = generate_secret().unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
        ClusterKeys::derive(cluster_name, &random, &[], KeySource::Missing)
    }

    /// True when the keys can prove membership to other nodes.
    pub fn usable(&self) -> bool {
        self.source != KeySource::Missing
    }

    /// True when `id` has the shape of a key id (16 hex digits).
    pub fn is_key_id(id: &str) -> bool {
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
    }

    /// The key proofs are made with.
    pub fn current(&self) -> &ClusterKey {
        // `derive` always puts the current key first.
        &self.keys[0]
    }

    /// Every accepted key's id, the current one first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// This node's first key (the current one first) whose id is in `offered`.
    pub fn first_of(&self, offered: &[&str]) -> Option<&ClusterKey> {
        self.keys.iter().find(|k| offered.contains(&k.id.as_str()))
    }

    /// The key with `id`, if this node accepts it.
    pub fn get(&self, id: &str) -> Option<&ClusterKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_secret_and_cluster_and_verify_their_own_tags() {
        let a = ClusterKey::derive("c", "a long enough secret");
        let b = ClusterKey::derive("c", "another long secret!");
        let other_cluster = ClusterKey::derive("d", "a long enough secret");
        assert_ne!(a.id(), b.id());
        assert_ne!(a.id(), other_cluster.id());
        assert_eq!(a.id(), ClusterKey::derive("c", "a long enough secret").id());
        let tag = a.tag(&["x", "y"]);
        assert!(a.verify(&["x", "y"], &tag));
        assert!(!a.verify(&["xy"], &tag), "parts are length-prefixed");
        assert!(!b.verify(&["x", "y"], &tag));
        assert!(!a.verify(&["x", "y"], "not hex"));
    }

    #[test]
    fn rotation_keeps_the_current_key_first_and_accepts_earlier_ones() {
        let keys = ClusterKeys::derive(
            "c",
            "the new secret, long",
            &["the old secret, long".into()],
            KeySource::ClusterSecret,
        );
        let old = ClusterKey::derive("c", "the old secret, long");
        assert_eq!(keys.ids().len(), 2);
        assert_eq!(keys.ids()[1], old.id());
        assert!(keys.get(old.id()).is_some());
        assert_eq!(
            keys.current().id(),
            ClusterKey::derive("c", "the new secret, long").id()
        );
    }
}
