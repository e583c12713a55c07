//! Who receives events: the narrow view the publisher has of a subscriber. Client sessions
//! implement it today; peer links will too.

use std::sync::Arc;

/// One event recipient.
pub trait Recipient: Send + Sync + std::fmt::Debug + 'static {
    /// Its id (a session id): `targetClients` and acknowledgements name recipients by it.
    fn id(&self) -> &str;

    /// Queues an event frame without waiting; false when the recipient could not take it
    /// (closed, or too slow: it is then disconnected by its own rules).
    fn send(&self, frame: Arc<str>) -> bool;

    /// Queues a frame only if it fits now; false when it does not (nothing else happens:
    /// no disconnect). Replays use it to send what fits and leave the rest for later.
    fn offer(&self, frame: Arc<str>) -> bool {
        self.send(frame)
    }

    /// True for cluster peers: they never receive `noCluster` publications.
    fn is_peer(&self) -> bool;

    /// True once it has gone (its subscriptions are swept).
    fn is_closed(&self) -> bool;

    /// Whether an event at `path` may reach it now (checked per event for subscriptions
    /// marked `checked`: a prohibit may cover part of what a mask matches).
    fn may_receive(&self, path: &str) -> bool;

    /// A mark that resolves once every frame queued to it so far has been handed to its
    /// connection (TRANSACTIONAL writers wait on it before replying); None when it cannot
    /// tell.
    fn write_mark(&self) -> Option<WriteMark> {
        None
    }
}

/// Resolves once the frames queued to one recipient up to a point have been written (or
/// dropped with its connection).
#[derive(Debug, Clone)]
pub struct WriteMark {
    budget: Arc<happn_cluster_sdk::ByteBudget>,
    at: u64,
}

impl WriteMark {
    /// A mark at everything `budget` has taken so far.
    pub fn now(budget: Arc<happn_cluster_sdk::ByteBudget>) -> WriteMark {
        let at = budget.mark();
        WriteMark { budget, at }
    }

    /// Waits until the frames up to the mark were handled.
    pub async fn written(&self) {
        self.budget.handled(self.at).await
    }
}
