//! Failed-login bookkeeping: account lockout, a per-address failure limit, and a bound on
//! concurrent verifications per name.
//!
//! The rules:
//! * a name locks after `attempts` failures within `retryInterval`, and stays locked for it;
//! * a correct password never counts as a failure, however many arrive at once: at most
//!   `attempts − failures` verifications of one name run at a time, the rest wait their turn,
//!   so parallel guesses cannot outrun the lock and parallel correct logins all succeed;
//! * failures of names that are accounts are kept until they expire, never evicted; failures
//!   of names that are not accounts live in a table bounded by `unknownNamesTracked`, oldest
//!   forgotten first (forgetting one costs nothing: there is no account to protect);
//! * a remote address with `failuresPerAddress` failures within `retryInterval` has its
//!   password logins refused until they age out;
//! * an attempt finishes (and counts) even when the client hangs up mid-verification.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use happn_cluster_sdk::{Error, Result, now_millis};
use tokio::sync::Notify;

use crate::config::LockoutConfig;

/// How a verification ended, for the bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The credentials were right.
    Success,
    /// Wrong credentials; `account` says whether the name is an account, where the auth
    /// plugin can tell (`None`: treated as an account, never evicted early).
    Failure {
        /// Whether the name is an existing account.
        account: Option<bool>,
    },
    /// The verification could not run (datastore down…): nothing is counted.
    NotCounted,
}

#[derive(Debug, Default, Clone, Copy)]
struct Failures {
    count: u32,
    last: i64,
    locked_until: Option<i64>,
}

impl Failures {
    fn expired(&self, now: i64, window: i64) -> bool {
        match self.locked_until {
            Some(until) => now >= until,
            None => now - self.last >= window,
        }
    }
}

#[derive(Default)]
struct Tables {
    /// Failures of names that are (or may be) accounts: only expiry removes them.
    accounts: HashMap<String, Failures>,
    /// Failures of names that are not accounts: bounded, oldest evicted.
    unknown: HashMap<String, Failures>,
    /// Verifications running per name, and the waiters for a free turn.
    running: HashMap<String, (u32, Arc<Notify>)>,
    /// Failures per remote address.
    addresses: HashMap<IpAddr, Failures>,
    /// Size of `accounts` after its last expiry sweep (sweeps are amortised).
    swept_at: usize,
}

impl Tables {
    fn failures(&self, name: &str) -> Failures {
        self.accounts
            .get(name)
            .or_else(|| self.unknown.get(name))
            .copied()
            .unwrap_or_default()
    }
}

/// Told of every counted outcome made on this node (the cluster shares them, so an
/// account's failures add up across nodes instead of multiplying by their number).
pub type OutcomeFeed = Box<dyn Fn(&str, Outcome) + Send + Sync>;

/// The lockout state of one node.
pub struct Lockout {
    config: LockoutConfig,
    tables: Mutex<Tables>,
    feed: std::sync::OnceLock<OutcomeFeed>,
}

/// One verification in progress; finish it with [`Attempt::finish`]. Dropping it unfinished
/// releases its turn without counting anything.
pub struct Attempt {
    lockout: Arc<Lockout>,
    name: String,
    remote: Option<IpAddr>,
    done: bool,
}

impl Lockout {
    /// Bookkeeping for `config`.
    pub fn new(config: LockoutConfig) -> Arc<Self> {
        Arc::new(Lockout {
            config,
            tables: Mutex::new(Tables::default()),
            feed: std::sync::OnceLock::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn window(&self) -> i64 {
        self.config.retry_interval.0 as i64
    }

    /// Waits for a turn to verify `name` (from `remote`); refuses locked names and
    /// addresses over their failure limit.
    pub async fn begin(self: &Arc<Self>, name: &str, remote: Option<IpAddr>) -> Result<Attempt> {
        loop {
            let wake = {
                let mut tables = self.lock();
                let now = now_millis();
                if let Some(ip) = remote
                    && self.config.failures_per_address > 0
                    && let Some(failures) = tables.addresses.get(&ip).copied()
                {
                    if failures.expired(now, self.window()) {
                        tables.addresses.remove(&ip);
                    } else if failures.locked_until.is_some() {
                        return Err(Error::Unauthorized(
                            "too many failed logins from this address; try again later".into(),
                        ));
                    }
                }
                if !self.config.enabled {
                    return Ok(self.attempt(name, remote));
                }
                let failures = tables.failures(name);
                if failures.expired(now, self.window()) {
                    tables.accounts.remove(name);
                    tables.unknown.remove(name);
                } else if failures.locked_until.is_some() {
                    return Err(Error::Forbidden("Account locked out".into()));
                }
                let failures = tables.failures(name).count;
                let budget = self.config.attempts.saturating_sub(failures).max(1);
                let (running, wake) = tables
                    .running
                    .entry(name.to_string())
                    .or_insert_with(|| (0, Arc::new(Notify::new())));
                if *running < budget {
                    *running += 1;
                    return Ok(self.attempt(name, remote));
                }
                wake.clone()
            };
            let turn = wake.notified();
            tokio::pin!(turn);
            turn.as_mut().enable();
            // Re-check after registering, so a turn freed meanwhile is not missed.
            let free = {
                let tables = self.lock();
                let failures = tables.failures(name).count;
                let budget = self.config.attempts.saturating_sub(failures).max(1);
                tables.running.get(name).is_none_or(|(n, _)| *n < budget)
                    || tables.failures(name).locked_until.is_some()
            };
            if !free {
                turn.await;
            }
        }
    }

    fn attempt(self: &Arc<Self>, name: &str, remote: Option<IpAddr>) -> Attempt {
        Attempt {
            lockout: self.clone(),
            name: name.to_string(),
            remote,
            done: !self.config.enabled,
        }
    }

    /// Sets the feed told of every outcome counted here (once; later calls are ignored).
    pub fn set_feed(&self, feed: OutcomeFeed) {
        let _ = self.feed.set(feed);
    }

    /// Counts an outcome another node of the cluster reported for `name`.
    pub fn apply_remote(&self, name: &str, outcome: Outcome) {
        if !self.config.enabled || outcome == Outcome::NotCounted {
            return;
        }
        let mut tables = self.lock();
        self.count(&mut tables, name, None, outcome);
        let wake = tables.running.get(name).map(|(_, wake)| wake.clone());
        drop(tables);
        // Waiters re-check: a remote failure may have locked the name.
        if let Some(wake) = wake {
            wake.notify_waiters();
        }
    }

    fn record(&self, name: &str, remote: Option<IpAddr>, outcome: Outcome) {
        let mut tables = self.lock();
        self.count(&mut tables, name, remote, outcome);
        let wake = match tables.running.get_mut(name) {
            Some((running, wake)) => {
                *running = running.saturating_sub(1);
                let wake = wake.clone();
                if *running == 0 {
                    tables.running.remove(name);
                }
                Some(wake)
            }
            None => None,
        };
        drop(tables);
        if let Some(wake) = wake {
            wake.notify_waiters();
        }
        if outcome != Outcome::NotCounted
            && self.config.enabled
            && let Some(feed) = self.feed.get()
        {
            feed(name, outcome);
        }
    }

    /// Counts one outcome in the tables.
    fn count(&self, tables: &mut Tables, name: &str, remote: Option<IpAddr>, outcome: Outcome) {
        let now = now_millis();
        let window = self.window();
        match outcome {
            Outcome::Success => {
                tables.accounts.remove(name);
                tables.unknown.remove(name);
            }
            Outcome::NotCounted => {}
            Outcome::Failure { account } => {
                if let Some(ip) = remote
                    && self.config.failures_per_address > 0
                {
                    let limit = self.config.failures_per_address;
                    bump(tables.addresses.entry(ip).or_default(), now, window, limit);
                    if tables.addresses.len() > self.config.unknown_names_tracked.max(1) {
                        evict_oldest(&mut tables.addresses, now, window);
                    }
                }
                let attempts = self.config.attempts;
                if account == Some(false) {
                    let cap = self.config.unknown_names_tracked.max(1);
                    bump(
                        tables.unknown.entry(name.to_string()).or_default(),
                        now,
                        window,
                        attempts,
                    );
                    if tables.unknown.len() > cap {
                        evict_oldest(&mut tables.unknown, now, window);
                    }
                } else {
                    tables.unknown.remove(name);
                    bump(
                        tables.accounts.entry(name.to_string()).or_default(),
                        now,
                        window,
                        attempts,
                    );
                    // Amortised sweep of expired entries: only expiry ever removes these.
                    if tables.accounts.len() >= (tables.swept_at * 2).max(1024) {
                        tables.accounts.retain(|_, f| !f.expired(now, window));
                        tables.swept_at = tables.accounts.len();
                    }
                }
            }
        }
    }

    /// Names with failures on record (accounts, unknown names) and addresses tracked.
    pub fn tracked(&self) -> (usize, usize, usize) {
        let tables = self.lock();
        (
            tables.accounts.len(),
            tables.unknown.len(),
            tables.addresses.len(),
        )
    }
}

/// Counts one failure, restarting the count once the previous ones aged out; locks at
/// `limit`.
fn bump(entry: &mut Failures, now: i64, window: i64, limit: u32) {
    if entry.expired(now, window) {
        *entry = Failures::default();
    }
    entry.count += 1;
    entry.last = now;
    if entry.count >= limit.max(1) {
        entry.locked_until = Some(now + window);
    }
}

/// Drops expired entries, then, if none were, the one whose last failure is oldest.
fn evict_oldest<K: Clone + Eq + std::hash::Hash>(
    table: &mut HashMap<K, Failures>,
    now: i64,
    window: i64,
) {
    let before = table.len();
    table.retain(|_, f| !f.expired(now, window));
    if table.len() < before {
        return;
    }
    if let Some(oldest) = table
        .iter()
        .min_by_key(|(_, f)| f.last)
        .map(|(k, _)| k.clone())
    {
        table.remove(&oldest);
    }
}

impl Attempt {
    /// Records how the verification ended and frees the turn.
    pub fn finish(mut self, outcome: Outcome) {
        self.done = true;
        self.lockout.record(&self.name, self.remote, outcome);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.done {
            self.lockout
                .record(&self.name, self.remote, Outcome::NotCounted);
        }
    }
}
