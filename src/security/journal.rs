//! The change journal: security changes made outside any node (by `happn-cluster admin` in
//! its own process) are recorded in the shared database, so running nodes can apply them
//! to their live sessions. Each entry is `/_SYSTEM/_SECURITY/_CHANGES/<id>` holding the
//! events in order; nodes read the journal, apply entries they have not seen, and remove
//! entries once they are old by their own clock.

use happn_cluster_sdk::{Error, FindOptions, PathQuery, Result, now_millis};
use serde_json::{Value, json};

use super::events::SecurityEvent;
use crate::data::DataService;

/// Where journal entries live (reserved from clients like all of `/_SYSTEM`).
pub const JOURNAL_PREFIX: &str = "/_SYSTEM/_SECURITY/_CHANGES/";

/// Records `events` (in order) as one journal entry; nothing is written for none.
pub async fn record(data: &DataService, events: &[SecurityEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let id = format!("{:016x}-{}", now_millis(), uuid::Uuid::new_v4().simple());
    let Value::Object(entry) = json!({"events": events, "recorded": now_millis()}) else {
        return Err(Error::internal("journal entry is not an object"));
    };
    data.set(&format!("{JOURNAL_PREFIX}{id}"), entry, false, None)
        .await?;
    Ok(())
}

/// Every journal entry, oldest first: (path, events). Unreadable entries are skipped.
pub async fn entries(data: &DataService) -> Result<Vec<(String, Vec<SecurityEvent>)>> {
    let records = data
        .get(
            &PathQuery::parse(&format!("{JOURNAL_PREFIX}*")),
            &FindOptions::default(),
        )
        .await?;
    Ok(records
        .into_iter()
        .filter_map(|record| {
            let events = record.data.get("events").cloned().unwrap_or(Value::Null);
            match serde_json::from_value::<Vec<SecurityEvent>>(events) {
                Ok(events) => Some((record.path, events)),
                Err(e) => {
                    tracing::warn!(path = %record.path, error = %e, "unreadable journal entry skipped");
                    None
                }
            }
        })
        .collect())
}

/// Removes one entry (every node may; removing twice is harmless).
pub async fn forget(data: &DataService, path: &str) -> Result<()> {
    if !path.starts_with(JOURNAL_PREFIX) {
        return Err(Error::bad_input("not a journal entry"));
    }
    data.remove(&PathQuery::Exact(path.to_string())).await?;
    Ok(())
}
