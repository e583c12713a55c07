//! Turning an event received from a peer back into the publication its origin made, so
//! that local subscribers receive an event equal to the original.

use happn_cluster_sdk::Error;
use serde_json::{Map, Value};

use crate::path::EventKind;
use crate::protocol::Consistency;
use crate::pubsub::{Origin, Publication, RESERVED_META};

/// Rebuilds the publication behind an event a peer delivered (`data`, `_meta`); `peer` is
/// the peer node's name.
pub fn publication_from_event(data: Value, meta: &Value, peer: &str) -> Result<Publication, Error> {
    let meta = meta
        .as_object()
        .ok_or_else(|| Error::bad_input("replicated event without _meta"))?;
    let text = |key: &str| meta.get(key).and_then(Value::as_str);
    let action =
        text("action").ok_or_else(|| Error::bad_input("replicated event without action"))?;
    let kind = if action.starts_with("/REMOVE@") {
        EventKind::Remove
    } else if action.starts_with("/SET@") {
        EventKind::Set
    } else {
        return Err(Error::bad_input(format!(
            "replicated event with action {action:?}"
        )));
    };
    let path = text("path")
        .ok_or_else(|| Error::bad_input("replicated event without path"))?
        .to_string();
    let session_id = text("sessionId").unwrap_or_default().to_string();
    let username = meta
        .get("eventOrigin")
        .and_then(|o| o.get("username"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let consistency = Consistency::from_option(meta.get("consistency")).unwrap_or_default();
    let custom: Map<String, Value> = meta
        .iter()
        // Server-filled keys (path, action, channel, eventOrigin, …) are rebuilt, not copied.
        .filter(|(key, _)| !RESERVED_META.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Ok(Publication {
        kind,
        path,
        data,
        merge_data: None,
        created: meta.get("created").and_then(Value::as_i64),
        modified: meta.get("modified").and_then(Value::as_i64),
        origin: Origin {
            node: peer.to_string(),
            session_id,
            username,
        },
        publication_id: text("publicationId").unwrap_or_default().to_string(),
        consistency,
        target_clients: None,
        meta: custom,
        no_cluster: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What a subscriber on the origin sees and what one on the receiving node sees are
    /// the same event (the channel is each subscriber's own).
    #[test]
    fn a_replicated_event_equals_the_original() {
        let original = Publication {
            kind: EventKind::Set,
            path: "/a/b".into(),
            data: json!({"x": 1}),
            merge_data: None,
            created: Some(1),
            modified: Some(2),
            origin: Origin {
                node: "n1".into(),
                session_id: "s1".into(),
                username: Some("bob".into()),
            },
            publication_id: "s1-7".into(),
            consistency: Consistency::Transactional,
            target_clients: None,
            meta: [("tag".to_string(), json!("t"))].into_iter().collect(),
            no_cluster: false,
        };
        let meta = Value::Object(original.event_meta("/ALL@*", None));
        let rebuilt = publication_from_event(original.data.clone(), &meta, "n1").unwrap();
        assert_eq!(
            rebuilt.event_meta("/ALL@/a/*", Some(3)),
            original.event_meta("/ALL@/a/*", Some(3))
        );
        assert!(rebuilt.no_cluster);
        assert!(publication_from_event(json!(1), &json!({"action": "/X@/a"}), "n").is_err());
        assert!(publication_from_event(json!(1), &json!(null), "n").is_err());
    }
}
