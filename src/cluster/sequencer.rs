//! Gap-free receiving from one peer. Each event a peer sends carries its origin's number,
//! the number of the event sent before it on the same session (`prev`), and that session
//! (`_meta.replication`). In steady state an event whose `prev` this node already has is
//! delivered at once. A new session (the link reconnected), a new epoch (the peer
//! restarted) or a broken chain holds events back and asks the peer to replay everything
//! after the last delivered number; the peer's answer (`upto`) settles it: every event for
//! this node up to there has then arrived, and the held events go out in order. Repeats
//! are dropped.

use std::collections::BTreeMap;

use crate::client::Event;
use crate::pubsub::Stamp;

/// Events held back waiting for a replay; beyond this the oldest are delivered anyway.
pub const MAX_PENDING: usize = 100_000;

/// A replay to ask the peer for: everything after `after` of `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    /// The epoch last seen.
    pub epoch: String,
    /// The last number delivered.
    pub after: u64,
}

/// What the receiver does with what arrived.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Deliver these, in this order.
    pub deliver: Vec<Event>,
    /// Ask the peer for a replay.
    pub replay: Option<ReplayRequest>,
    /// Events dropped as repeats.
    pub duplicates: u64,
    /// Publications of the peer lost for good (older than its replay buffer); some may
    /// not have been for this node.
    pub lost: u64,
}

/// The receiving side of one peer's numbered stream.
#[derive(Debug, Default)]
pub struct Sequencer {
    epoch: Option<String>,
    session: Option<String>,
    /// Every event for this node up to here has been delivered.
    last: u64,
    pending: BTreeMap<u64, Event>,
    replaying: bool,
}

impl Sequencer {
    /// Takes one event from the peer.
    pub fn accept(&mut self, event: Event) -> Outcome {
        let mut out = Outcome::default();
        let Some(stamp) = Stamp::from_meta(&event.meta) else {
            out.deliver.push(event);
            return out;
        };
        if self.epoch.is_none() {
            // First contact: the stream starts here.
            self.epoch = Some(stamp.epoch.to_string());
            self.session = Some(stamp.to.to_string());
            self.last = stamp.seq;
            out.deliver.push(event);
            return out;
        }
        if self.epoch.as_deref() != Some(&*stamp.epoch) {
            // The peer restarted: its new numbering starts at 1, and what it published before
            // this event reached us may be ours.
            self.epoch = Some(stamp.epoch.to_string());
            self.last = 0;
            self.pending.clear();
            self.replaying = false;
        }
        if self.session.as_deref() != Some(&*stamp.to) {
            // A new session: what was published while the link was down must be replayed.
            self.session = Some(stamp.to.to_string());
            self.hold(stamp.seq, event, &mut out);
            return out;
        }
        if stamp.seq <= self.last {
            out.duplicates += 1;
            return out;
        }
        if self.replaying || stamp.prev > self.last {
            self.hold(stamp.seq, event, &mut out);
            return out;
        }
        self.last = stamp.seq;
        out.deliver.push(event);
        out
    }

    /// Delivers `events` in number order, dropping those already delivered.
    fn release(&mut self, events: BTreeMap<u64, Event>, out: &mut Outcome) {
        for (seq, event) in events {
            if seq > self.last {
                self.last = seq;
                out.deliver.push(event);
            } else {
                out.duplicates += 1;
            }
        }
    }

    fn hold(&mut self, seq: u64, event: Event, out: &mut Outcome) {
        if seq <= self.last {
            out.duplicates += 1;
            return;
        }
        self.pending.insert(seq, event);
        if self.pending.len() > MAX_PENDING
            && let Some((seq, event)) = self.pending.pop_first()
        {
            self.last = self.last.max(seq);
            out.deliver.push(event);
        }
        if !self.replaying {
            self.replaying = true;
            out.replay = self.resume_point();
        }
    }

    /// Starts the stream at the peer's head, read before this node first subscribed there:
    /// everything after it is this node's to receive, whatever faults come first.
    pub fn baseline(&mut self, epoch: &str, head: u64) {
        if self.epoch.is_none() {
            self.epoch = Some(epoch.to_string());
            self.last = head;
            self.session = None;
        }
    }

    /// True once the stream's start is known.
    pub fn started(&self) -> bool {
        self.epoch.is_some()
    }

    /// What to ask for after a reconnect (None before the first event).
    pub fn resume_point(&self) -> Option<ReplayRequest> {
        self.epoch.as_ref().map(|epoch| ReplayRequest {
            epoch: epoch.clone(),
            after: self.last,
        })
    }

    /// Notes that a replay is under way (asked for after a reconnect): events are held
    /// until it is answered.
    pub fn replay_requested(&mut self) {
        self.replaying = true;
    }

    /// The peer answered a replay: its epoch, how many of its publications were lost for
    /// good, and the last number it had assigned (`upto`). The resent events came through
    /// [`Sequencer::accept`] before the answer.
    /// With `more`, the peer sent only part (the rest did not fit): held events after
    /// `upto` stay held and the next part is asked for.
    pub fn replayed(&mut self, epoch: &str, missed: u64, upto: u64, more: bool) -> Outcome {
        let mut out = Outcome {
            lost: missed,
            ..Outcome::default()
        };
        self.replaying = false;
        if self.epoch.as_deref() != Some(epoch) {
            self.epoch = Some(epoch.to_string());
            self.last = 0;
        }
        let later = self.pending.split_off(&(upto + 1));
        let settled = std::mem::replace(&mut self.pending, later);
        self.release(settled, &mut out);
        self.last = self.last.max(upto);
        if more {
            // Held events after `upto` stay held until the next part answers.
            self.replaying = true;
            out.replay = self.resume_point();
            return out;
        }
        // Anything numbered after the answer was sent later on the same session.
        let later = std::mem::take(&mut self.pending);
        self.release(later, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(epoch: &str, to: &str, seq: u64, prev: u64) -> Event {
        Event {
            data: json!({"seq": seq}),
            meta: json!({"replication": {"origin": "a", "epoch": epoch, "seq": seq, "prev": prev, "to": to}}),
        }
    }

    fn seqs(out: &Outcome) -> Vec<u64> {
        out.deliver
            .iter()
            .map(|e| e.data["seq"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn steady_state_delivers_at_once_even_with_numbers_for_others_in_between() {
        let mut s = Sequencer::default();
        assert_eq!(seqs(&s.accept(event("e", "s1", 5, 0))), vec![5]);
        // 6 and 7 were for other masks: 8's prev is 5.
        let out = s.accept(event("e", "s1", 8, 5));
        assert_eq!((seqs(&out), out.replay), (vec![8], None));
        assert_eq!(s.accept(event("e", "s1", 8, 5)).duplicates, 1);
    }

    #[test]
    fn a_reconnect_holds_events_until_the_replay_is_answered() {
        let mut s = Sequencer::default();
        s.accept(event("e", "s1", 1, 0));
        s.accept(event("e", "s1", 2, 1));
        // The link dropped; 3 and 4 were published meanwhile; the new session gets 5 first.
        let out = s.accept(event("e", "s2", 5, 2));
        assert!(out.deliver.is_empty());
        assert_eq!(
            out.replay,
            Some(ReplayRequest {
                epoch: "e".into(),
                after: 2
            })
        );
        // The replay resends 3, 4 (and 5 again) before its answer.
        assert!(s.accept(event("e", "s2", 3, 2)).deliver.is_empty());
        assert!(s.accept(event("e", "s2", 4, 3)).deliver.is_empty());
        assert!(s.accept(event("e", "s2", 5, 4)).deliver.is_empty());
        let out = s.replayed("e", 0, 5, false);
        assert_eq!(seqs(&out), vec![3, 4, 5]);
        assert_eq!(seqs(&s.accept(event("e", "s2", 6, 5))), vec![6]);
    }

    #[test]
    fn a_gap_older_than_the_buffer_is_reported() {
        let mut s = Sequencer::default();
        s.accept(event("e", "s1", 1, 0));
        s.accept(event("e", "s2", 50, 10));
        for seq in 40..50 {
            s.accept(event("e", "s2", seq, seq - 1));
        }
        let out = s.replayed("e", 38, 50, false);
        assert_eq!(out.lost, 38);
        assert_eq!(seqs(&out), (40..=50).collect::<Vec<_>>());
    }

    #[test]
    fn a_replay_in_parts_asks_for_the_rest() {
        let mut s = Sequencer::default();
        s.accept(event("e", "s1", 1, 0));
        s.accept(event("e", "s2", 9, 1));
        s.accept(event("e", "s2", 2, 1));
        s.accept(event("e", "s2", 3, 2));
        // Only 2 and 3 fitted: settled up to 3, 9 stays held, the rest is asked for.
        let out = s.replayed("e", 0, 3, true);
        assert_eq!(seqs(&out), vec![2, 3]);
        assert_eq!(
            out.replay,
            Some(ReplayRequest {
                epoch: "e".into(),
                after: 3
            })
        );
        s.accept(event("e", "s2", 4, 3));
        let out = s.replayed("e", 0, 9, false);
        assert_eq!(seqs(&out), vec![4, 9]);
    }

    #[test]
    fn from_a_baseline_nothing_after_the_head_is_skipped() {
        let mut s = Sequencer::default();
        s.baseline("e", 10);
        // 11 and 12 were lost to a reset; the first event seen is 13, on a session the
        // sequencer has not seen: held, and a replay from 10 asked for.
        let out = s.accept(event("e", "s1", 13, 0));
        assert!(out.deliver.is_empty());
        assert_eq!(
            out.replay,
            Some(ReplayRequest {
                epoch: "e".into(),
                after: 10
            })
        );
        s.accept(event("e", "s1", 11, 10));
        s.accept(event("e", "s1", 12, 11));
        assert_eq!(seqs(&s.replayed("e", 0, 13, false)), vec![11, 12, 13]);
    }

    #[test]
    fn a_restarted_peer_starts_a_new_numbering() {
        let mut s = Sequencer::default();
        s.accept(event("old", "s1", 7, 6));
        let out = s.accept(event("new", "s2", 3, 0));
        assert_eq!(
            out.replay,
            Some(ReplayRequest {
                epoch: "new".into(),
                after: 0
            })
        );
        s.accept(event("new", "s2", 1, 0));
        s.accept(event("new", "s2", 2, 1));
        assert_eq!(seqs(&s.replayed("new", 0, 3, false)), vec![1, 2, 3]);
    }
}
