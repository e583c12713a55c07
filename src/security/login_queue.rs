//! Fair admission of password logins. Verifications are CPU-heavy and run a few at a time;
//! without a bound, one address can queue thousands and every other login waits behind
//! them. Here each remote address may have only a few logins waiting or running, more are
//! refused at once, and a login that cannot start verifying within its deadline is refused
//! rather than served late.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use happn_cluster_sdk::{Error, Result};

/// The queue's bounds.
#[derive(Debug, Clone, Copy)]
pub struct QueueBounds {
    /// Logins one address may have waiting or running at once.
    pub per_address: u32,
    /// How long a login may wait for a verification slot.
    pub wait: Duration,
}

/// The per-address counts of logins in progress.
#[derive(Debug)]
pub struct LoginQueue {
    bounds: QueueBounds,
    pending: Mutex<HashMap<IpAddr, u32>>,
}

/// One admitted login; gives its place back when dropped.
#[derive(Debug)]
pub struct Ticket {
    queue: Arc<LoginQueue>,
    address: Option<IpAddr>,
}

impl LoginQueue {
    /// An empty queue with `bounds`.
    pub fn new(bounds: QueueBounds) -> Arc<LoginQueue> {
        Arc::new(LoginQueue {
            bounds,
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// How long an admitted login may wait for a verification slot.
    pub fn wait(&self) -> Duration {
        self.bounds.wait
    }

    /// Admits a login from `address` (None: in-process, never limited), or refuses it at
    /// once when that address has its share in progress.
    pub fn enter(self: &Arc<Self>, address: Option<IpAddr>) -> Result<Ticket> {
        if let Some(ip) = address {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let n = pending.entry(ip).or_insert(0);
            if *n >= self.bounds.per_address {
                return Err(Error::unavailable(format!(
                    "too many logins in progress from {ip}; try again shortly"
                )));
            }
            *n += 1;
        }
        Ok(Ticket {
            queue: self.clone(),
            address,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(ip) = self.address {
            let mut pending = self.queue.pending.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = pending.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    pending.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_share_and_gives_it_back() {
        let queue = LoginQueue::new(QueueBounds {
            per_address: 2,
            wait: Duration::from_secs(1),
        });
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        let first = queue.enter(a).unwrap();
        let _second = queue.enter(a).unwrap();
        assert!(
            queue.enter(a).is_err(),
            "a third from one address is refused at once"
        );
        assert!(queue.enter(b).is_ok(), "another address is not held up");
        assert!(
            queue.enter(None).is_ok(),
            "in-process logins are not limited"
        );
        drop(first);
        assert!(queue.enter(a).is_ok());
    }
}
