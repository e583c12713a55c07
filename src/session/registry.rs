//! The sessions a node has, and the gate new connections pass: open while the node serves,
//! closed once it stops. Each session task holds a drain token; the node waits for every
//! token to be dropped (mini-redis's "drain by dropping a sender").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::handle::SessionHandle;
use crate::metrics::Metrics;

/// Held by a running session task; dropped when it ends.
#[derive(Debug)]
pub struct DrainToken(#[allow(dead_code)] mpsc::Sender<()>);

/// The node's live sessions.
#[derive(Debug)]
pub struct Sessions {
    live: Mutex<HashMap<String, Arc<SessionHandle>>>,
    /// None once the gate is closed (the node is stopping).
    drain: Mutex<Option<mpsc::Sender<()>>>,
    drained: tokio::sync::Mutex<mpsc::Receiver<()>>,
    metrics: Arc<Metrics>,
}

impl Sessions {
    /// An empty registry with the gate open.
    pub fn new(metrics: Arc<Metrics>) -> Sessions {
        let (drain, drained) = mpsc::channel(1);
        Sessions {
            live: Mutex::new(HashMap::new()),
            drain: Mutex::new(Some(drain)),
            drained: tokio::sync::Mutex::new(drained),
            metrics,
        }
    }

    /// A drain token for a new session task; None once the gate is closed.
    pub fn admit(&self) -> Option<DrainToken> {
        self.drain
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .map(DrainToken)
    }

    /// Registers a session; false once the gate is closed.
    pub fn register(&self, handle: Arc<SessionHandle>) -> bool {
        let open = self
            .drain
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if !open {
            return false;
        }
        self.metrics.sessions.inc();
        self.metrics.sessions_total.inc();
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(handle.id.clone(), handle);
        true
    }

    /// Forgets a session that ended.
    pub fn unregister(&self, id: &str) {
        if self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .is_some()
        {
            self.metrics.sessions.dec();
        }
    }

    /// Handles of every connected session.
    pub fn all(&self) -> Vec<Arc<SessionHandle>> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Closes the gate: no session is admitted or registered after this.
    pub fn close_gate(&self) {
        self.drain.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Waits until every admitted session task has ended (call after [`Sessions::close_gate`]).
    pub async fn drained(&self) {
        let mut drained = self.drained.lock().await;
        // `None` once every sender (the gate's and each task's token) is dropped.
        while drained.recv().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use happn_cluster_sdk::{ByteBudget, Terminator};

    use super::*;

    fn handle(id: &str, metrics: &Arc<Metrics>) -> Arc<SessionHandle> {
        let (outbound, _) = mpsc::channel(1);
        let (terminator, _) = Terminator::new();
        Arc::new(SessionHandle::new(
            id.into(),
            outbound,
            ByteBudget::new(1024),
            terminator,
            metrics.clone(),
        ))
    }

    #[tokio::test]
    async fn the_gate_closes_and_shutdown_waits_for_every_session() {
        let metrics = Arc::new(Metrics::default());
        let sessions = Sessions::new(metrics.clone());
        let token = sessions.admit().expect("open gate admits");
        assert!(sessions.register(handle("a", &metrics)));
        assert_eq!(sessions.all().len(), 1);
        assert_eq!(metrics.sessions.get(), 1);

        sessions.close_gate();
        assert!(sessions.admit().is_none());
        assert!(!sessions.register(handle("b", &metrics)));
        // The admitted session still runs: draining waits for it.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), sessions.drained())
                .await
                .is_err()
        );
        sessions.unregister("a");
        drop(token);
        tokio::time::timeout(Duration::from_secs(5), sessions.drained())
            .await
            .expect("drained once the last token is gone");
        assert_eq!(metrics.sessions.get(), 0);
    }
}
