//! Fair admission of password logins. Verifications are CPU-heavy and run a few at a time;
//! without fairness, one address can queue thousands of attempts and every other login waits
//! behind them. Here each remote address verifies at most a few logins at once (its others
//! wait their address's turn, so the shared queue holds only a few of any one address), an
//! address with too many waiting is refused at once, and a login whose turn does not come by
//! its deadline is refused rather than served late. A login whose request is dropped while
//! it waits (an HTTP client that hung up) is never verified; a WebSocket session finishes
//! its login request before it reads the connection's close, so its wait ends at the turn
//! or the deadline.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use happn_cluster_sdk::{Error, Result};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The queue's bounds.
#[derive(Debug, Clone, Copy)]
pub struct QueueBounds {
    /// Logins of one address verifying at once.
    pub verifying_per_address: usize,
    /// Logins of one address waiting or verifying at once; more are refused at once.
    pub pending_per_address: usize,
    /// How long a login may wait for its turn.
    pub wait: Duration,
}

/// One address's turns and how many of its logins hold a ticket.
#[derive(Debug)]
struct Line {
    turns: Arc<Semaphore>,
    tickets: usize,
}

/// Per-address turns for password logins.
#[derive(Debug)]
pub struct LoginQueue {
    bounds: QueueBounds,
    lines: Mutex<HashMap<IpAddr, Line>>,
}

/// An admitted login holding its address's turn; gives it back when dropped.
#[derive(Debug)]
pub struct Ticket {
    queue: Arc<LoginQueue>,
    address: Option<IpAddr>,
    _turn: Option<OwnedSemaphorePermit>,
}

/// The refusal of a login whose turn did not come in time.
pub fn queue_timeout() -> Error {
    Error::unavailable("the login queue is full; try again shortly")
}

impl LoginQueue {
    /// An empty queue with `bounds`.
    pub fn new(bounds: QueueBounds) -> Arc<LoginQueue> {
        Arc::new(LoginQueue {
            bounds,
            lines: Mutex::new(HashMap::new()),
        })
    }

    /// How long a login may wait for its turns.
    pub fn wait(&self) -> Duration {
        self.bounds.wait
    }

    fn lines(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Line>> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for `address`'s turn (None: in-process, never limited) until `deadline`;
    /// refuses at once when that address has its share of logins pending.
    pub async fn enter(
        self: &Arc<Self>,
        address: Option<IpAddr>,
        deadline: tokio::time::Instant,
    ) -> Result<Ticket> {
        let Some(ip) = address else {
            return Ok(Ticket {
                queue: self.clone(),
                address: None,
                _turn: None,
            });
        };
        let turns = {
            let mut lines = self.lines();
            let line = lines.entry(ip).or_insert_with(|| Line {
                turns: Arc::new(Semaphore::new(self.bounds.verifying_per_address.max(1))),
                tickets: 0,
            });
            if line.tickets >= self.bounds.pending_per_address {
                return Err(Error::unavailable(format!(
                    "too many logins in progress from {ip}; try again shortly"
                )));
            }
            line.tickets += 1;
            line.turns.clone()
        };
        // From here the ticket gives its place back however this ends.
        let mut ticket = Ticket {
            queue: self.clone(),
            address: Some(ip),
            _turn: None,
        };
        match tokio::time::timeout_at(deadline, turns.acquire_owned()).await {
            Ok(Ok(turn)) => {
                ticket._turn = Some(turn);
                Ok(ticket)
            }
            Ok(Err(_)) => Err(Error::unavailable("security service stopping")),
            Err(_) => Err(queue_timeout()),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(ip) = self.address {
            let mut lines = self.queue.lines();
            if let Some(line) = lines.get_mut(&ip) {
                line.tickets -= 1;
                if line.tickets == 0 {
                    lines.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_address_takes_turns_and_gives_them_back() {
        let queue = LoginQueue::new(QueueBounds {
            verifying_per_address: 1,
            pending_per_address: 2,
            wait: Duration::from_millis(50),
        });
        let soon = || tokio::time::Instant::now() + Duration::from_millis(50);
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        let first = queue.enter(a, soon()).await.unwrap();
        // The second of the address waits for the first's turn, and times out.
        assert!(
            queue.enter(a, soon()).await.is_err(),
            "no turn before the deadline"
        );
        assert!(
            queue.enter(b, soon()).await.is_ok(),
            "another address is not held up"
        );
        assert!(
            queue.enter(None, soon()).await.is_ok(),
            "in-process logins are not limited"
        );
        // Too many pending from one address: refused at once.
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move {
                queue
                    .enter(a, tokio::time::Instant::now() + Duration::from_secs(5))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let refused = queue.enter(a, soon()).await.unwrap_err();
        assert!(refused.to_string().contains("too many logins"), "{refused}");
        drop(first);
        assert!(
            waiting.await.unwrap().is_ok(),
            "the waiting login gets the freed turn"
        );
        assert!(queue.lines().is_empty(), "nothing is left behind");
    }
}
