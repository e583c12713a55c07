//! One shutdown signal for every task a node spawns, and the set of those tasks so the node
//! can join them all when it stops.
//!
//! The node owns a [`Lifecycle`]; each task receives a [`Shutdown`] (a cheap clone) and ends
//! when it fires. [`Lifecycle::stop`] fires it once, [`Lifecycle::join`] waits for every
//! task. Dropping the `Lifecycle` also fires it, so a node dropped without `shutdown` does not
//! leave tasks behind.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A task's view of the node's shutdown signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    signal: watch::Receiver<bool>,
}

impl Shutdown {
    /// True once the node is stopping.
    pub fn is_stopping(&self) -> bool {
        *self.signal.borrow()
    }

    /// Waits until the node is stopping (at once if it already is).
    pub async fn stopped(&mut self) {
        // An error means the sender is gone: the node is gone, which is a stop too.
        let _ = self.signal.wait_for(|stopping| *stopping).await;
    }

    /// The raw signal, for plugins whose API takes a `watch::Receiver<bool>` (transports).
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.signal.clone()
    }

    /// A signal that never fires (tests and tools that run a component on its own).
    pub fn never() -> Shutdown {
        let (sender, signal) = watch::channel(false);
        // Leaking one tiny sender keeps the receiver from reporting a closed channel.
        std::mem::forget(sender);
        Shutdown { signal }
    }
}

/// The node's tasks and their shutdown signal.
#[derive(Debug)]
pub struct Lifecycle {
    signal: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::new()
    }
}

impl Lifecycle {
    /// No tasks yet; the signal has not fired.
    pub fn new() -> Lifecycle {
        let (signal, _) = watch::channel(false);
        Lifecycle {
            signal,
            tasks: Vec::new(),
        }
    }

    /// A handle on the shutdown signal.
    pub fn shutdown(&self) -> Shutdown {
        Shutdown {
            signal: self.signal.subscribe(),
        }
    }

    /// Spawns a task that is given the shutdown signal and joined at stop.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let future = task(self.shutdown());
        self.tasks.push((name, tokio::spawn(future)));
    }

    /// Fires the shutdown signal (idempotent).
    pub fn stop(&self) {
        self.signal.send_replace(true);
    }

    /// Waits for every task, in spawn order, giving each up to `each` before aborting it.
    pub async fn join(&mut self, each: Duration) {
        for (name, mut task) in self.tasks.drain(..) {
            if tokio::time::timeout(each, &mut task).await.is_err() {
                tracing::warn!(task = name, "task did not stop in time; aborted");
                task.abort();
            }
        }
    }
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_task_sees_the_signal_and_is_joined() {
        let mut lifecycle = Lifecycle::new();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..3 {
            let done = done_tx.clone();
            lifecycle.spawn("waiter", |mut shutdown| async move {
                shutdown.stopped().await;
                let _ = done.send(());
            });
        }
        drop(done_tx);
        assert!(!lifecycle.shutdown().is_stopping());
        lifecycle.stop();
        lifecycle.join(Duration::from_secs(5)).await;
        let mut stopped = 0;
        while done_rx.recv().await.is_some() {
            stopped += 1;
        }
        assert_eq!(stopped, 3);
        assert!(lifecycle.shutdown().is_stopping());
    }

    #[tokio::test]
    async fn a_task_that_ignores_the_signal_is_aborted() {
        let mut lifecycle = Lifecycle::new();
        lifecycle.spawn("stubborn", |_| std::future::pending::<()>());
        lifecycle.stop();
        lifecycle.join(Duration::from_millis(20)).await;
        assert!(lifecycle.tasks.is_empty());
    }
}
