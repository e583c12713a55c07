//! Tracking subscriber acknowledgements of ACKNOWLEDGED (consistency 3) publications.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::PublishResults;
use crate::protocol::publication_ack_frame;
use crate::session::SessionHandle;

struct Pending {
    publisher: Arc<SessionHandle>,
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

/// Pending ACKNOWLEDGED publications by publication id.
#[derive(Default)]
pub struct AckTracker {
    pending: Mutex<HashMap<String, Pending>>,
}

impl AckTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts tracking a publication before it is delivered, so that an ack racing the
    /// fan-out is never lost.
    pub fn start(&self, publication_id: String, publisher: Arc<SessionHandle>, event_id: Value) {
        self.lock().insert(
            publication_id,
            Pending {
                publisher,
                event_id,
                results: PublishResults::default(),
                recipients: None,
                acked: HashSet::new(),
            },
        );
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
            let mut pending = self.lock();
            let Some(entry) = pending.get_mut(publication_id) else {
                return;
            };
            entry.results = results;
            entry.recipients = Some(recipients.into_iter().collect());
            if !entry.complete() {
                return;
            }
            pending.remove(publication_id)
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
            let mut pending = self.lock();
            let Some(entry) = pending.get_mut(publication_id) else {
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
            pending.remove(publication_id)
        };
        if let Some(entry) = done {
            self.complete(publication_id, entry);
        }
        true
    }

    /// Fails a publication still waiting after its timeout with `unacknowledged publication`.
    pub fn expire(&self, publication_id: &str) {
        let entry = self.lock().remove(publication_id);
        if let Some(entry) = entry {
            entry.publisher.send(
                frame(
                    publication_id,
                    &entry.event_id,
                    entry.results,
                    entry.acknowledged(),
                    Some("unacknowledged publication"),
                )
                .into(),
            );
        }
    }

    /// Number of publications still waiting for acks.
    pub fn pending(&self) -> usize {
        self.lock().len()
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
