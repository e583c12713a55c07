//! Signed membership records. A node signs what it announces (its name, cluster,
//! deployment, service and endpoint) with the cluster key; a reader ignores any record whose
//! signature does not verify. Anyone who can write the shared table can add rows, but not
//! rows this cluster dials.

use happn_cluster_sdk::Member;

use super::key::ClusterKeys;

const LABEL: &str = "happn-cluster membership record v1";

fn parts(member: &Member) -> [&str; 6] {
    [
        LABEL,
        &member.cluster_name,
        &member.deployment,
        &member.service,
        &member.name,
        &member.endpoint,
    ]
}

/// The signature of `member`'s record: `<key id>:<mac>`.
pub fn sign(keys: &ClusterKeys, member: &Member) -> String {
    let key = keys.current();
    format!("{}:{}", key.id(), key.tag(&parts(member)))
}

/// True when `member.signature` was made with a key this node accepts, over exactly these
/// fields.
pub fn verify(keys: &ClusterKeys, member: &Member) -> bool {
    let Some((id, tag)) = member.signature.split_once(':') else {
        return false;
    };
    keys.get(id)
        .is_some_and(|key| key.verify(&parts(member), tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::KeySource;

    #[test]
    fn a_record_verifies_only_as_signed_and_only_with_the_key() {
        let keys =
            ClusterKeys::derive("c", "sixteen bytes at least", &[], KeySource::ClusterSecret);
        let mut member = Member {
            name: "n".into(),
            service: "s".into(),
            cluster_name: "c".into(),
            deployment: "d".into(),
            endpoint: "127.0.0.1:1".into(),
            beat: 3,
            signature: String::new(),
        };
        assert!(!verify(&keys, &member), "unsigned");
        member.signature = sign(&keys, &member);
        assert!(verify(&keys, &member));
        member.beat = 9;
        assert!(verify(&keys, &member), "the heartbeat is not signed");
        let mut moved = member.clone();
        moved.endpoint = "10.0.0.9:1".into();
        assert!(
            !verify(&keys, &moved),
            "a signed record cannot point elsewhere"
        );
        let other = ClusterKeys::derive("c", "another secret, long", &[], KeySource::ClusterSecret);
        assert!(!verify(&other, &member));
    }
}
