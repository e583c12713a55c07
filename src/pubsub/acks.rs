//! Tracking subscriber acknowledgements of ACKNOWLEDGED (consistency 3) publications.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::PublishResults;
use crate::protocol::publication_ack_frame;
use crate::session::SessionHandle;

struct Pending {
    publisher: Arc<SessionHandle>,
    event_id: Value,
    results: PublishResults,
    expected: u32,
    acknowledged: u32,
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
                expected: u32::MAX,
                acknowledged: 0,
            },
        );
    }

    /// Records how many subscribers must ack (those the event reached); completes at once
    /// when they already have.
    pub fn settle(&self, publication_id: &str, results: PublishResults) {
        let done = {
            let mut pending = self.lock();
            let Some(entry) = pending.get_mut(publication_id) else {
                return;
            };
            entry.results = results;
            entry.expected = results.successful;
            if entry.acknowledged < entry.expected {
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
                entry.acknowledged.min(entry.expected),
                None,
            )
            .into(),
        );
    }

    /// Records one subscriber's ack; completes the publication when all have acked.
    /// Returns false for an unknown (or already completed) publication id.
    pub fn ack(&self, publication_id: &str) -> bool {
        let done = {
            let mut pending = self.lock();
            let Some(entry) = pending.get_mut(publication_id) else {
                return false;
            };
            entry.acknowledged += 1;
            if entry.acknowledged < entry.expected {
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
                    entry.acknowledged,
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
