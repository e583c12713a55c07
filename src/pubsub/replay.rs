//! Numbering and keeping this node's publications for its peers. Every publication made
//! here that peers may receive gets the next sequence number of this process's epoch (a new
//! epoch on every start) and stays in a bounded buffer (by count and age), so a peer whose
//! link dropped can ask for everything after the last number it saw.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Publication;

/// What a peer's copy of an event carries in `_meta.replication`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The origin node.
    pub origin: Arc<str>,
    /// The origin process's epoch.
    pub epoch: Arc<str>,
    /// The publication's number in that epoch (from 1).
    pub seq: u64,
    /// The number of the previous event sent to the same peer session (0: none): a
    /// receiver that has everything up to `prev` may deliver this one at once.
    pub prev: u64,
    /// The peer session it was sent to: a new one means the link reconnected.
    pub to: Arc<str>,
}

impl Stamp {
    /// The `_meta.replication` value.
    pub fn to_json(&self) -> Value {
        json!({
            "origin": &*self.origin,
            "epoch": &*self.epoch,
            "seq": self.seq,
            "prev": self.prev,
            "to": &*self.to,
        })
    }

    /// Reads `_meta.replication`.
    pub fn from_meta(meta: &Value) -> Option<Stamp> {
        let stamp = meta.get("replication")?;
        Some(Stamp {
            origin: stamp.get("origin")?.as_str()?.into(),
            epoch: stamp.get("epoch")?.as_str()?.into(),
            seq: stamp.get("seq")?.as_u64()?,
            prev: stamp.get("prev").and_then(Value::as_u64).unwrap_or(0),
            to: stamp
                .get("to")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
        })
    }
}

/// How big the buffer may grow.
#[derive(Debug, Clone, Copy)]
pub struct ReplayLimits {
    /// At most this many publications.
    pub events: usize,
    /// None older than this.
    pub age: Duration,
    /// At most this many bytes of publications (their data as JSON, plus path and meta).
    pub bytes: usize,
}

/// What a replay request finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    /// The epoch the buffer holds.
    pub epoch: Arc<str>,
    /// Publications the requester missed that are no longer kept (0: none lost).
    pub missed: u64,
    /// The first sequence number that will be replayed (or the next one to come).
    pub from: u64,
    /// Once the replay is answered, the requester has everything for it up to here (the
    /// last number assigned, or less when the replay did not fit at once).
    pub upto: u64,
    /// The replay stopped early (the requester's queue was full): ask again after `upto`.
    pub more: bool,
    /// False when the requester holds no subscription yet (it asked before re-subscribing
    /// after a reconnect): nothing was sent or settled; ask again shortly.
    pub ready: bool,
}

/// The numbered publications of this process.
#[derive(Debug)]
pub struct ReplayLog {
    origin: Arc<str>,
    epoch: Arc<str>,
    next: u64,
    limits: ReplayLimits,
    kept: VecDeque<(u64, Instant, Publication)>,
    /// The size of each kept publication, in `kept`'s order.
    sizes: VecDeque<usize>,
    /// Sum of `sizes`.
    bytes: usize,
}

impl ReplayLog {
    /// An empty log for `origin` with a fresh epoch.
    pub fn new(origin: &str, limits: ReplayLimits) -> ReplayLog {
        ReplayLog {
            origin: origin.into(),
            epoch: uuid::Uuid::new_v4().simple().to_string().into(),
            next: 1,
            limits,
            kept: VecDeque::new(),
            sizes: VecDeque::new(),
            bytes: 0,
        }
    }

    fn pop_oldest(&mut self) -> usize {
        self.kept.pop_front();
        let size = self.sizes.pop_front().unwrap_or(0);
        self.bytes -= size;
        size
    }

    /// Numbers and keeps `publication`; returns its number and how many bytes the byte
    /// bound evicted to make room.
    pub fn record(&mut self, publication: &Publication, now: Instant) -> (u64, usize) {
        let seq = self.next;
        self.next += 1;
        let size = publication.approximate_bytes();
        self.kept.push_back((seq, now, publication.clone()));
        self.sizes.push_back(size);
        self.bytes += size;
        while self.kept.len() > self.limits.events {
            self.pop_oldest();
        }
        while self
            .kept
            .front()
            .is_some_and(|(_, at, _)| now.duration_since(*at) > self.limits.age)
        {
            self.pop_oldest();
        }
        let mut evicted = 0;
        while self.bytes > self.limits.bytes && !self.kept.is_empty() {
            evicted += self.pop_oldest();
        }
        (seq, evicted)
    }

    /// Bytes of publications kept now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The stamp of number `seq` sent to peer session `to` after `prev`.
    pub fn stamp(&self, seq: u64, prev: u64, to: &str) -> Stamp {
        Stamp {
            origin: self.origin.clone(),
            epoch: self.epoch.clone(),
            seq,
            prev,
            to: to.into(),
        }
    }

    /// Drops every kept publication (numbering goes on).
    pub fn clear(&mut self) {
        self.kept.clear();
        self.sizes.clear();
        self.bytes = 0;
    }

    /// Publications kept now.
    pub fn depth(&self) -> usize {
        self.kept.len()
    }

    /// The window for a requester that last saw `after` in `epoch` (another epoch: it saw
    /// nothing of this one).
    pub fn window(&self, epoch: &str, after: u64) -> ReplayWindow {
        let after = if epoch == &*self.epoch { after } else { 0 };
        let oldest = self
            .kept
            .front()
            .map(|(seq, _, _)| *seq)
            .unwrap_or(self.next);
        let wanted = after + 1;
        ReplayWindow {
            epoch: self.epoch.clone(),
            missed: oldest.saturating_sub(wanted),
            from: wanted.max(oldest),
            upto: self.next - 1,
            more: false,
            ready: true,
        }
    }

    /// The kept publications numbered `from` and later, oldest first.
    pub fn since(&self, from: u64) -> impl Iterator<Item = &(u64, Instant, Publication)> {
        self.kept.iter().filter(move |(seq, _, _)| *seq >= from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::EventKind;
    use crate::protocol::Consistency;
    use crate::pubsub::Origin;

    fn publication(i: u64) -> Publication {
        Publication {
            kind: EventKind::Set,
            path: format!("/p/{i}"),
            data: json!({}),
            merge_data: None,
            created: None,
            modified: None,
            origin: Origin {
                node: "n".into(),
                session_id: "s".into(),
                username: None,
            },
            publication_id: format!("s-{i}"),
            consistency: Consistency::Transactional,
            target_clients: None,
            meta: Default::default(),
            no_cluster: false,
        }
    }

    #[test]
    fn the_window_says_what_is_replayed_and_what_is_lost() {
        let limits = ReplayLimits {
            events: 3,
            age: Duration::from_secs(60),
            bytes: usize::MAX,
        };
        let mut log = ReplayLog::new("n", limits);
        let now = Instant::now();
        for i in 1..=5 {
            assert_eq!(log.record(&publication(i), now).0, i);
        }
        assert_eq!(log.depth(), 3);
        let epoch = log.epoch.clone();
        // Saw 4: only 5 is replayed, nothing lost.
        let w = log.window(&epoch, 4);
        assert_eq!((w.missed, w.from), (0, 5));
        assert_eq!(log.since(w.from).count(), 1);
        // Saw 1: 2 is gone (kept: 3, 4, 5).
        let w = log.window(&epoch, 1);
        assert_eq!((w.missed, w.from), (1, 3));
        // Another epoch: everything of this one, 1 and 2 lost.
        let w = log.window("old", 9);
        assert_eq!((w.missed, w.from), (2, 3));
        // Up to date: nothing to replay.
        let w = log.window(&epoch, 5);
        assert_eq!(
            (w.missed, w.from, w.upto, log.since(w.from).count()),
            (0, 6, 5, 0)
        );
        // Age limit.
        log.record(&publication(6), now + Duration::from_secs(120));
        assert_eq!(log.depth(), 1);
    }

    #[test]
    fn the_buffer_is_bounded_in_bytes() {
        let big = |i: u64| Publication {
            data: json!({"blob": "x".repeat(100_000)}),
            ..publication(i)
        };
        let mut log = ReplayLog::new(
            "n",
            ReplayLimits {
                events: 10_000,
                age: Duration::from_secs(60),
                bytes: 350_000,
            },
        );
        let now = Instant::now();
        let mut evicted = 0;
        for i in 1..=10 {
            evicted += log.record(&big(i), now).1;
        }
        assert_eq!(log.depth(), 3, "three 100 kB publications fit in 350 kB");
        assert!(log.bytes() <= 350_000);
        assert!(evicted >= 7 * 100_000);
        // What was evicted is reported as missed, never replayed silently.
        let w = log.window(&log.epoch.clone(), 0);
        assert_eq!((w.missed, w.from), (7, 8));
    }
}
