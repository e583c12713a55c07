//! `happn-cluster status`: a node's view of its cluster as a terminal table (or JSON), from
//! two samples of its `/health` a moment apart (so per-peer event rates can be shown).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use happn_cluster_sdk::{Error, Result};
use serde_json::{Value, json};

/// One look at a node: its `/health` now, and per-member event rates since the first sample.
#[derive(Debug, Clone)]
pub struct Status {
    /// The node's `/health` document.
    pub health: Value,
    /// The HTTP status of `/health` (200 when STABLE and the datastore answers).
    pub http_status: u16,
    /// Events per second in and out per member endpoint, over the sampling interval.
    pub rates: Vec<MemberRate>,
}

/// Replication rates of one member, as the sampled node sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRate {
    /// The member's internal endpoint.
    pub endpoint: String,
    /// Events received from it per second.
    pub events_in: f64,
    /// Events sent to it per second.
    pub events_out: f64,
}

/// Samples `url`'s `/health` twice, `interval` apart (once when the interval is zero).
pub async fn sample(url: &str, token: Option<&str>, interval: Duration) -> Result<Status> {
    let first = health(url, token).await?;
    let started = Instant::now();
    if interval.is_zero() {
        return Ok(Status {
            health: first.1,
            http_status: first.0,
            rates: Vec::new(),
        });
    }
    tokio::time::sleep(interval).await;
    let (http_status, health) = health(url, token).await?;
    let seconds = started.elapsed().as_secs_f64().max(1e-3);
    let count = |doc: &Value, endpoint: &str, key: &str| {
        members(doc)
            .iter()
            .find(|m| m["endpoint"] == endpoint)
            .and_then(|m| m[key].as_u64())
            .unwrap_or(0)
    };
    let rates = members(&health)
        .iter()
        .filter_map(|m| m["endpoint"].as_str())
        .map(|endpoint| {
            let rate = |key: &str| {
                count(&health, endpoint, key).saturating_sub(count(&first.1, endpoint, key)) as f64
                    / seconds
            };
            MemberRate {
                endpoint: endpoint.to_string(),
                events_in: rate("eventsIn"),
                events_out: rate("eventsOut"),
            }
        })
        .collect();
    Ok(Status {
        health,
        http_status,
        rates,
    })
}

/// One `/health` document of the node at `url`, with its HTTP status (200 when healthy).
pub async fn health(url: &str, token: Option<&str>) -> Result<(u16, Value)> {
    let (status, body) = crate::client::http::get(url, "/health", token).await?;
    if status == 401 || status == 403 {
        return Err(Error::Unauthorized(format!(
            "{url}/health answered {status}: pass an admin token with --token, or use the \
             internal port"
        )));
    }
    let health = serde_json::from_str(&body).map_err(|e| {
        Error::bad_input(format!("{url}/health did not answer JSON ({status}): {e}"))
    })?;
    Ok((status, health))
}

fn members(health: &Value) -> &[Value] {
    health["members"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

impl Status {
    /// The view as JSON: the health document plus `rates`.
    pub fn to_json(&self) -> Value {
        let rates: Vec<Value> = self
            .rates
            .iter()
            .map(|r| json!({"endpoint": r.endpoint, "eventsInPerSec": r.events_in, "eventsOutPerSec": r.events_out}))
            .collect();
        json!({"httpStatus": self.http_status, "health": self.health, "rates": rates})
    }

    /// The view as a table for a terminal.
    pub fn to_table(&self) -> String {
        let h = &self.health;
        let text = |v: &Value| v.as_str().map(printable).unwrap_or_else(|| "-".into());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "node {} ({}): {} · datastore {} · {} sessions · {} subscriptions · replay buffer {}",
            text(&h["name"]),
            text(&h["endpoint"]),
            h["state"]
                .as_str()
                .map(printable)
                .unwrap_or_else(|| "no cluster".into()),
            if h["status"] == "ok" { "ok" } else { "DOWN" },
            count(&h["sessions"]),
            count(&h["subscriptions"]),
            count(&h["replayBufferDepth"]),
        );
        if h.get("members").is_none() {
            let _ = writeln!(
                out,
                "members, links and errors need an _ADMIN token: pass --token (or HAPPN_TOKEN)"
            );
            return out;
        }
        let mut rows = vec![[
            "MEMBER".to_string(),
            "ENDPOINT".into(),
            "SERVICE".into(),
            "STATE".into(),
            "LINK".into(),
            "IN/s".into(),
            "OUT/s".into(),
            "QUEUED".into(),
        ]];
        for m in members(h) {
            let endpoint = text(&m["endpoint"]);
            let rate = self.rates.iter().find(|r| r.endpoint == endpoint);
            let link = match (m["connectedTo"] == true, m["connectedFrom"] == true) {
                _ if m["isSelf"] == true => "self",
                (true, true) => "both ways",
                (true, false) => "to only",
                (false, true) => "from only",
                (false, false) => "none",
            };
            let state = if m["peer"] == true {
                "PEER".to_string()
            } else {
                m["error"]
                    .as_str()
                    .map(|e| format!("NOT PEER: {}", printable(e)))
                    .unwrap_or_else(|| "NOT PEER".into())
            };
            rows.push([
                text(&m["name"]),
                endpoint,
                text(&m["service"]),
                state,
                link.to_string(),
                rate.map(|r| format!("{:.0}", r.events_in))
                    .unwrap_or_else(|| "-".into()),
                rate.map(|r| format!("{:.0}", r.events_out))
                    .unwrap_or_else(|| "-".into()),
                m["queuedBytes"].to_string(),
            ]);
        }
        let widths: Vec<usize> = (0..8)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for row in &rows {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        out
    }
}

/// A count from the health document, `-` when it is not there.
fn count(value: &Value) -> String {
    value.as_u64().map_or_else(|| "-".into(), |n| n.to_string())
}

/// `text` with control characters (newlines, terminal escapes) shown escaped, so what a
/// node reports cannot rewrite the operator's terminal.
fn printable(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.escape_debug().to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_member_with_its_link_and_rates() {
        let status = Status {
            http_status: 200,
            health: json!({
                "name": "n1", "endpoint": "10.0.0.1:57000", "state": "STABLE", "status": "ok",
                "sessions": 3, "subscriptions": 4, "replayBufferDepth": 12,
                "members": [
                    {"name": "n1", "endpoint": "10.0.0.1:57000", "service": "svc", "isSelf": true,
                     "connectedTo": true, "connectedFrom": true, "peer": true, "queuedBytes": 0},
                    {"name": "n2", "endpoint": "10.0.0.2:57000", "service": "svc", "isSelf": false,
                     "connectedTo": true, "connectedFrom": false, "peer": false,
                     "error": "not subscribed", "queuedBytes": 512},
                ],
            }),
            rates: vec![MemberRate {
                endpoint: "10.0.0.2:57000".into(),
                events_in: 10.0,
                events_out: 250.4,
            }],
        };
        let table = status.to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("node n1 (10.0.0.1:57000): STABLE"),
            "{table}"
        );
        assert!(lines[0].contains("replay buffer 12"), "{table}");
        assert!(lines[1].starts_with("MEMBER"), "{table}");
        assert!(
            lines[2].contains("self") && lines[2].contains("PEER"),
            "{table}"
        );
        assert!(lines[3].contains("NOT PEER: not subscribed"), "{table}");
        assert!(
            lines[3].contains("to only") && lines[3].contains("250"),
            "{table}"
        );
        assert!(lines[3].trim_end().ends_with("512"), "{table}");
        assert_eq!(status.to_json()["rates"][0]["eventsOutPerSec"], 250.4);
    }

    #[test]
    fn names_from_the_network_cannot_write_escapes_to_the_terminal() {
        let status = Status {
            health: json!({
                "name": "n\u{1b}[2J",
                "members": [{"name": "evil\nnode", "endpoint": "h:1", "error": "x\u{1b}]0;t\u{7}"}],
            }),
            http_status: 503,
            rates: Vec::new(),
        };
        let table = status.to_table();
        assert!(!table.contains('\u{1b}'), "{table:?}");
        assert!(!table.contains("evil\nnode"), "{table:?}");
        assert!(table.contains("evil\\nnode"), "{table:?}");
    }
}
