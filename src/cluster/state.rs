//! The node's cluster state, decided from a census of its members by the seed's rules
//! (cluster-spec §3.4), evaluated in order.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Where the node stands in its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NodeState {
    /// Every service has its minimum of peers and every known member is a peer.
    #[serde(rename = "STABLE")]
    Stable,
    /// Every service has its minimum connected both ways; subscriptions are pending.
    #[serde(rename = "SUBSCRIBING")]
    Subscribing,
    /// Every service has its minimum listed; connections are pending.
    #[serde(rename = "CONNECTING")]
    Connecting,
    /// Other members are listed, but not enough of them.
    #[serde(rename = "CONNECTING-INSUFFICIENT PEERS")]
    ConnectingInsufficientPeers,
    /// No other member is known.
    #[serde(rename = "ISOLATED")]
    Isolated,
}

impl NodeState {
    /// The seed's state string.
    pub fn as_str(&self) -> &'static str {
        match self {
            NodeState::Stable => "STABLE",
            NodeState::Subscribing => "SUBSCRIBING",
            NodeState::Connecting => "CONNECTING",
            NodeState::ConnectingInsufficientPeers => "CONNECTING-INSUFFICIENT PEERS",
            NodeState::Isolated => "ISOLATED",
        }
    }

    /// A number for the Prometheus state gauge (0 = STABLE … 4 = ISOLATED).
    pub fn code(&self) -> u64 {
        *self as u64
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One member as the state rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// Its service.
    pub service: String,
    /// This node itself.
    pub is_self: bool,
    /// Our link to it is logged in.
    pub connected_to: bool,
    /// It is logged in to us.
    pub connected_from: bool,
    /// Our link holds its replication subscriptions.
    pub subscribed_to: bool,
}

impl MemberView {
    /// Connected both ways.
    pub fn connected(&self) -> bool {
        self.is_self || (self.connected_to && self.connected_from)
    }

    /// A full peer: connected both ways and subscribed.
    pub fn is_peer(&self) -> bool {
        self.is_self || (self.connected() && self.subscribed_to)
    }
}

/// Decides the state from the members and each service's minimum (self included).
pub fn decide(members: &[MemberView], minimums: &BTreeMap<String, u32>) -> NodeState {
    let count = |service: &str, test: fn(&MemberView) -> bool| {
        members
            .iter()
            .filter(|m| m.service == service && test(m))
            .count() as u32
    };
    let every = |test: fn(&MemberView) -> bool| {
        minimums
            .iter()
            .all(|(service, minimum)| count(service, test) >= *minimum)
    };
    if every(MemberView::is_peer) && members.iter().all(MemberView::is_peer) {
        NodeState::Stable
    } else if every(MemberView::connected) {
        NodeState::Subscribing
    } else if every(|_| true) {
        NodeState::Connecting
    } else if members.iter().any(|m| !m.is_self) {
        NodeState::ConnectingInsufficientPeers
    } else {
        NodeState::Isolated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(service: &str, to: bool, from: bool, sub: bool) -> MemberView {
        MemberView {
            service: service.into(),
            is_self: false,
            connected_to: to,
            connected_from: from,
            subscribed_to: sub,
        }
    }

    fn me(service: &str) -> MemberView {
        MemberView {
            is_self: true,
            ..member(service, false, false, false)
        }
    }

    #[test]
    fn the_seed_rules_in_order() {
        let minimums: BTreeMap<String, u32> = [("a".to_string(), 3), ("b".to_string(), 1)].into();
        assert_eq!(decide(&[me("a")], &minimums), NodeState::Isolated);
        assert_eq!(
            decide(&[me("a"), member("a", false, false, false)], &minimums),
            NodeState::ConnectingInsufficientPeers
        );
        let listed = [
            me("a"),
            member("a", false, false, false),
            member("a", true, false, false),
            member("b", false, false, false),
        ];
        assert_eq!(decide(&listed, &minimums), NodeState::Connecting);
        let connected = [
            me("a"),
            member("a", true, true, false),
            member("a", true, true, true),
            member("b", true, true, true),
        ];
        assert_eq!(decide(&connected, &minimums), NodeState::Subscribing);
        let mut all = connected.to_vec();
        all[1].subscribed_to = true;
        assert_eq!(decide(&all, &minimums), NodeState::Stable);
        // One half-connected member beyond the minimum keeps the node out of STABLE.
        all.push(member("a", true, false, false));
        assert_eq!(decide(&all, &minimums), NodeState::Subscribing);
        // A lone node whose minimum is 1 is stable by itself.
        let alone: BTreeMap<String, u32> = [("a".to_string(), 1)].into();
        assert_eq!(decide(&[me("a")], &alone), NodeState::Stable);
        assert_eq!(
            serde_json::to_value(NodeState::ConnectingInsufficientPeers).unwrap(),
            "CONNECTING-INSUFFICIENT PEERS"
        );
    }
}
