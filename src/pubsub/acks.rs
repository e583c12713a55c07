//! Tracking subscriber acknowledgements of ACKNOWLEDGED (consistency 3) publications.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{PublishResults, Recipient};
use crate::lifecycle::Shutdown;
use crate::protocol::publication_ack_frame;

struct Pending {
    publisher: Arc<dyn Recipient>,
    event_id: Value,
    results: PublishResults,
    /// Sessions the event was sent to (None until the fan-out settles).
    recipients: Option<HashSet<String>>,
    /// Sessions that acked, each counted once.
    acked: HashSet<String>,
}

impl Pending {
    /// Acks that count: from sessions the event was sent to, once each.
    fn acknowledged(&self) -> u32 {
        match &self.recipients {
            Some(recipients) => self.acked.intersection(recipients).count() as u32,
            None => 0,
        }
    }

    fn complete(&self) -> bool {
        self.recipients
            .as_ref()
            .is_some_and(|r| self.acknowledged() >= r.len() as u32)
    }
}

/// Publications one session may have waiting for acks at once; more are published but not
/// tracked, and the publisher is told at once.
pub const MAX_PENDING_PER_PUBLISHER: usize = 1024;

#[derive(Default)]
struct State {
    pending: HashMap<String, Pending>,
    /// Expiry order: every publication waits the same timeout, so deadlines arrive in
    /// insertion order and one queue serves them all.
    deadlines: VecDeque<(Instant, String)>,
    /// Publications waiting per publisher session.
    per_publisher: HashMap<String, usize>,
}

impl State {
    fn take(&mut self, publication_id: &str) -> Option<Pending> {
        let entry = self.pending.remove(publication_id)?;
        if let Some(count) = self.per_publisher.get_mut(entry.publisher.id()) {
            *count -= 1;
            if *count == 0 {
                self.per_publisher.remove(entry.publisher.id());
            }
        }
        Some(entry)
    }
}

/// Pending ACKNOWLEDGED publications by publication id, expired by one loop
/// ([`AckTracker::run_expiry`]) rather than a sleeping task per publication.
pub struct AckTracker {
    state: Mutex<State>,
    timeout: Duration,
}

impl AckTracker {
    /// A tracker whose publications wait `timeout` for their acks.
    pub fn new(timeout: Duration) -> Self {
        AckTracker {
            state: Mutex::new(State::default()),
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts tracking a publication before it is delivered, so that an ack racing the
    /// fan-out is never lost. Refused (`false`, and the publisher is told with a
    /// `publication-ack` error) when the publisher already has
    /// [`MAX_PENDING_PER_PUBLISHER`] waiting.
    pub fn start(
        &self,
        publication_id: String,
        publisher: Arc<dyn Recipient>,
        event_id: Value,
    ) -> bool {
        let mut state = self.lock();
        let waiting = state
            .per_publisher
            .get(publisher.id())
            .copied()
            .unwrap_or(0);
        if waiting >= MAX_PENDING_PER_PUBLISHER {
            drop(state);
            publisher.send(
                frame(
                    &publication_id,
                    &event_id,
                    PublishResults::default(),
                    0,
                    Some("too many unacknowledged publications pending for this session"),
                )
                .into(),
            );
            return false;
        }
        *state
            .per_publisher
            .entry(publisher.id().to_string())
            .or_default() += 1;
        state
            .deadlines
            .push_back((Instant::now() + self.timeout, publication_id.clone()));
        state.pending.insert(
            publication_id,
            Pending {
                publisher,
                event_id,
                results: PublishResults::default(),
                recipients: None,
                acked: HashSet::new(),
            },
        );
        true
    }

    /// Records which sessions must ack (those the event was sent to); completes at once
    /// when they already have.
    pub fn settle(
        &self,
        publication_id: &str,
        results: PublishResults,
        recipients: impl IntoIterator<Item = String>,
    ) {
        let done = {
            let mut state = self.lock();
            let Some(entry) = state.pending.get_mut(publication_id) else {
                return;
            };
            entry.results = results;
            entry.recipients = Some(recipients.into_iter().collect());
            if !entry.complete() {
                return;
            }
            state.take(publication_id)
        };
        if let Some(entry) = done {
            self.complete(publication_id, entry);
        }
    }

    fn complete(&self, publication_id: &str, entry: Pending) {
        entry.publisher.send(
            frame(
                publication_id,
                &entry.event_id,
                entry.results,
                entry.acknowledged(),
                None,
            )
            .into(),
        );
    }

    /// Records session `session_id`'s ack; completes the publication when every recipient
    /// has acked. An ack counts only from a session the event was sent to, and only once:
    /// repeats and acks from other sessions change nothing. Returns false for an unknown
    /// (or already completed) publication id.
    pub fn ack(&self, publication_id: &str, session_id: &str) -> bool {
        let done = {
            let mut state = self.lock();
            let Some(entry) = state.pending.get_mut(publication_id) else {
                return false;
            };
            if entry
                .recipients
                .as_ref()
                .is_some_and(|r| !r.contains(session_id))
            {
                return true;
            }
            // Before the fan-out settles, the ack is kept and checked against it then.
            entry.acked.insert(session_id.to_string());
            if !entry.complete() {
                return true;
            }
            state.take(publication_id)
        };
        if let Some(entry) = done {
            self.complete(publication_id, entry);
        }
        true
    }

    /// Fails every publication whose timeout has passed with `unacknowledged publication`;
    /// returns how many.
    pub fn expire_due(&self, now: Instant) -> usize {
        let mut expired = Vec::new();
        {
            let mut state = self.lock();
            while let Some((deadline, _)) = state.deadlines.front() {
                if *deadline > now {
                    break;
                }
                let Some((_, id)) = state.deadlines.pop_front() else {
                    break;
                };
                if let Some(entry) = state.take(&id) {
                    expired.push((id, entry));
                }
            }
        }
        for (id, entry) in &expired {
            entry.publisher.send(
                frame(
                    id,
                    &entry.event_id,
                    entry.results,
                    entry.acknowledged(),
                    Some("unacknowledged publication"),
                )
                .into(),
            );
        }
        expired.len()
    }

    /// Expires due publications until `shutdown` fires.
    pub async fn run_expiry(&self, mut shutdown: Shutdown) {
        let tick = (self.timeout / 10).clamp(Duration::from_millis(10), Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = shutdown.stopped() => return,
                _ = tokio::time::sleep(tick) => {
                    self.expire_due(Instant::now());
                }
            }
        }
    }

    /// Number of publications still waiting for acks.
    pub fn pending(&self) -> usize {
        self.lock().pending.len()
    }
}

fn frame(
    publication_id: &str,
    event_id: &Value,
    results: PublishResults,
    acknowledged: u32,
    error: Option<&str>,
) -> String {
    publication_ack_frame(
        publication_id,
        event_id,
        json!({
            "successful": results.successful,
            "failed": results.failed,
            "skipped": results.skipped,
            "queued": results.queued,
            "acknowledged": acknowledged,
        }),
        error,
    )
}
