//! Typed request inputs: each action's `data` and `options`, read once from the frame with
//! serde and checked, so handlers never look into JSON maps. Flags are true only for JSON
//! `true`, as in happn-3; unknown options are ignored.

use happn_cluster_sdk::{Criteria, Error, FindOptions, parse_pipeline};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use super::{Consistency, PROTOCOL};
use crate::path::EventFilter;
use crate::path::mask::DEFAULT_DEPTH;

/// A boolean option: true only for JSON `true` (any other value, or none, is false).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Flag(matches!(Value::deserialize(d)?, Value::Bool(true))))
    }
}

/// An option kept as JSON until it is checked (`null` reads as absent).
type Raw = Option<Value>;

fn present(value: &Raw) -> Option<&Value> {
    value.as_ref().filter(|v| !v.is_null())
}

/// Reads the flat option fields of a request; a mistyped field the serde layer cannot take
/// is impossible here (every field is a [`Flag`] or raw JSON), so this only fails on an
/// internal error.
fn fields<T: serde::de::DeserializeOwned>(options: &Map<String, Value>) -> Result<T, Error> {
    serde_json::from_value(Value::Object(options.clone()))
        .map_err(|e| Error::bad_input(format!("options: {e}")))
}

/// `configure-session`'s protocol (`happn_4` when not given).
pub fn read_protocol(data: &Value) -> Result<String, Error> {
    let protocol = data
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or(PROTOCOL);
    if !matches!(protocol, "happn_4" | "happn_3") {
        return Err(Error::bad_input(format!(
            "unknown inbound protocol: {protocol}"
        )));
    }
    Ok(protocol.to_string())
}

/// `login`'s data.
#[derive(Debug, Clone, Default)]
pub struct LoginRequest {
    /// The user name (`_ANONYMOUS` asks for an anonymous login).
    pub username: Option<String>,
    /// The password.
    pub password: Option<String>,
    /// A token, which wins over a password.
    pub token: Option<String>,
    /// The client's `info` (an object; anything else is wrapped as `{data: …}`). The seed's
    /// peers put `clusterName` here; here it grants nothing (peers prove the cluster key).
    pub info: Value,
}

impl LoginRequest {
    /// Reads login data: an object (or nothing) whose credential fields are strings.
    pub fn parse(data: &Value) -> Result<LoginRequest, Error> {
        let empty = Map::new();
        let data = match data {
            Value::Object(map) => map,
            Value::Null => &empty,
            _ => return Err(Error::bad_input("login data must be an object")),
        };
        let text = |key: &str| -> Result<Option<String>, Error> {
            match data.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Error::bad_input(format!("login {key} must be a string"))),
            }
        };
        Ok(LoginRequest {
            username: text("username")?,
            password: text("password")?,
            token: text("token")?,
            info: match data.get("info") {
                Some(Value::Object(info)) => Value::Object(info.clone()),
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(other) => serde_json::json!({"data": other}),
            },
        })
    }
}

/// How a write's publication is made.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// Requested consistency.
    pub consistency: Consistency,
    /// Do not publish at all.
    pub no_publish: bool,
    /// Deliver only to these session ids.
    pub target_clients: Option<Vec<String>>,
    /// Custom meta copied into event `_meta`.
    pub meta: Map<String, Value>,
    /// Do not replicate to cluster peers.
    pub no_cluster: bool,
}

/// How a write's reply is shaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplyOptions {
    /// Reply with the path only.
    pub no_data_response: bool,
    /// Add the delivery counts to the reply `_meta`.
    pub publish_results: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublishFields {
    #[serde(default)]
    consistency: Raw,
    #[serde(default)]
    no_publish: Flag,
    #[serde(default)]
    target_clients: Raw,
    #[serde(default)]
    meta: Raw,
    #[serde(default)]
    no_cluster: Flag,
    #[serde(default)]
    no_data_response: Flag,
    #[serde(default)]
    publish_results: Flag,
}

impl PublishFields {
    fn check(self) -> Result<(PublishOptions, ReplyOptions), Error> {
        let consistency =
            Consistency::from_option(self.consistency.as_ref()).map_err(Error::bad_input)?;
        let target_clients = match present(&self.target_clients) {
            None => None,
            Some(Value::Array(ids)) => Some(
                ids.iter()
                    .map(|id| {
                        id.as_str().map(str::to_string).ok_or_else(|| {
                            Error::bad_input("targetClients must be session id strings")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(Error::bad_input("targetClients must be an array")),
        };
        let meta = match present(&self.meta) {
            None => Map::new(),
            Some(Value::Object(meta)) => meta.clone(),
            Some(_) => return Err(Error::bad_input("options.meta must be an object")),
        };
        Ok((
            PublishOptions {
                consistency,
                no_publish: self.no_publish.0,
                target_clients,
                meta,
                no_cluster: self.no_cluster.0,
            },
            ReplyOptions {
                no_data_response: self.no_data_response.0,
                publish_results: self.publish_results.0,
            },
        ))
    }
}

/// What a `set` writes.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteMode {
    /// Store the data (replacing, or merging into, the record).
    Store {
        /// Merge into the existing record.
        merge: bool,
    },
    /// Publish without storing (`noStore`).
    NoStore,
    /// Add `amount` to the counter `gauge` of the record.
    Increment {
        /// The counter's field name.
        gauge: String,
        /// How much to add.
        amount: Number,
    },
}

/// `set`'s options.
#[derive(Debug, Clone)]
pub struct SetOptions {
    /// Store, publish only, or increment.
    pub write: WriteMode,
    /// Store `null` instead of the posted data (`nullValue`).
    pub null_value: bool,
    /// How the publication is made.
    pub publish: PublishOptions,
    /// How the reply is shaped.
    pub reply: ReplyOptions,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetFields {
    #[serde(default)]
    no_store: Flag,
    #[serde(default)]
    merge: Flag,
    #[serde(default)]
    null_value: Flag,
}

impl SetOptions {
    /// Reads `set` options; `data` names the counter of an increment.
    pub fn parse(options: &Map<String, Value>, data: &Value) -> Result<SetOptions, Error> {
        let (publish, reply) = fields::<PublishFields>(options)?.check()?;
        let set: SetFields = fields(options)?;
        // As happn-3: a present `increment` (even null) makes the set an increment.
        let write = if let Some(amount) = options.get("increment") {
            let amount = amount
                .as_number()
                .cloned()
                // The caller's mistake, so a 400 (happn-3 answers a 500 SystemError here).
                .ok_or_else(|| Error::bad_input("increment option value must be a number"))?;
            let gauge = match data {
                Value::String(gauge) if !gauge.is_empty() => gauge.clone(),
                Value::Null => "counter".to_string(),
                _ => {
                    return Err(Error::bad_input(
                        "invalid increment counter field name, must be a string",
                    ));
                }
            };
            WriteMode::Increment { gauge, amount }
        } else if set.no_store.0 {
            WriteMode::NoStore
        } else {
            WriteMode::Store { merge: set.merge.0 }
        };
        Ok(SetOptions {
            write,
            null_value: set.null_value.0,
            publish,
            reply,
        })
    }
}

/// `remove`'s options.
#[derive(Debug, Clone)]
pub struct RemoveOptions {
    /// Remove only the records that match.
    pub criteria: Option<Criteria>,
    /// How the publication is made.
    pub publish: PublishOptions,
    /// How the reply is shaped.
    pub reply: ReplyOptions,
}

impl RemoveOptions {
    /// Reads `remove` options.
    pub fn parse(options: &Map<String, Value>) -> Result<RemoveOptions, Error> {
        let (publish, reply) = fields::<PublishFields>(options)?.check()?;
        let criteria = match options.get("criteria").filter(|c| !c.is_null()) {
            Some(criteria) => Some(Criteria::parse(criteria)?),
            None => None,
        };
        Ok(RemoveOptions {
            criteria,
            publish,
            reply,
        })
    }
}

/// `get` and `count` options.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    /// Criteria, sort, paging, projection, collation.
    pub find: FindOptions,
    /// An aggregation pipeline (`options.aggregate`), checked stage by stage.
    pub aggregate: Option<Vec<Value>>,
    /// Reply with paths only.
    pub path_only: bool,
}

impl GetOptions {
    /// Reads `get`/`count` options (happn-3 accepts most of them at the top level or under a
    /// nested `options`).
    pub fn parse(options: Map<String, Value>) -> Result<GetOptions, Error> {
        let nested = options.get("options");
        let aggregate = match nested
            .and_then(|o| o.get("aggregate"))
            .or(options.get("aggregate"))
            .filter(|a| !a.is_null())
        {
            Some(pipeline) => Some(parse_pipeline(pipeline)?),
            None => None,
        };
        let path_only = matches!(options.get("path_only"), Some(Value::Bool(true)))
            || nested
                .and_then(|o| o.get("path_only"))
                .is_some_and(|v| v == &Value::Bool(true));
        let find = FindOptions::from_params(Some(&Value::Object(options)))?;
        Ok(GetOptions {
            find,
            aggregate,
            path_only,
        })
    }
}

/// `on`'s options, with the channel split into its filter and mask.
#[derive(Debug, Clone)]
pub struct OnOptions {
    /// Which events (`/SET@`, `/REMOVE@`, `/ALL@`, or `event_type`).
    pub filter: EventFilter,
    /// The mask text (the channel without its action prefix).
    pub mask: String,
    /// How deep a trailing `**` reaches.
    pub depth: u32,
    /// Reply with the current matching records (`initialCallback`/`initialEmit`).
    pub initial: bool,
    /// Receive posted fields rather than merged records for merge writes.
    pub merge: bool,
}

#[derive(Deserialize)]
struct OnFields {
    #[serde(default)]
    event_type: Raw,
    #[serde(default)]
    depth: Raw,
    #[serde(default, rename = "initialCallback")]
    initial_callback: Flag,
    #[serde(default, rename = "initialEmit")]
    initial_emit: Flag,
    #[serde(default)]
    merge: Flag,
}

/// Splits a channel key (`/SET@/a/*`, `/ALL@*`) into its event filter and mask text.
/// A bare path (no `@`) subscribes to all events.
pub fn parse_channel(channel: &str) -> Result<(EventFilter, &str), Error> {
    let Some(rest) = channel.strip_prefix('/') else {
        return Ok((EventFilter::All, channel));
    };
    let Some((action, path)) = rest.split_once('@') else {
        return Ok((EventFilter::All, channel));
    };
    let filter = match action {
        "SET" => EventFilter::Set,
        "REMOVE" => EventFilter::Remove,
        "ALL" | "*" => EventFilter::All,
        // Not a channel prefix after all: a plain path containing '@'.
        _ => return Ok((EventFilter::All, channel)),
    };
    if path.is_empty() {
        return Err(Error::bad_input(format!("channel {channel:?} has no path")));
    }
    Ok((filter, path))
}

impl OnOptions {
    /// Reads `on` options for `channel`.
    pub fn parse(channel: &str, options: &Map<String, Value>) -> Result<OnOptions, Error> {
        let (mut filter, mask) = parse_channel(channel)?;
        let on: OnFields = fields(options)?;
        if let Some(event_type) = on.event_type.as_ref().and_then(Value::as_str) {
            filter = match event_type.to_ascii_lowercase().as_str() {
                "set" => EventFilter::Set,
                "remove" => EventFilter::Remove,
                "all" | "*" => EventFilter::All,
                other => return Err(Error::bad_input(format!("unknown event_type {other:?}"))),
            };
        }
        let depth = match present(&on.depth) {
            None => DEFAULT_DEPTH,
            Some(v) => v
                .as_u64()
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| Error::bad_input("depth must be a positive integer"))?,
        };
        Ok(OnOptions {
            filter,
            mask: mask.to_string(),
            depth,
            initial: on.initial_callback.0 || on.initial_emit.0,
            merge: on.merge.0,
        })
    }
}

/// `off`'s options.
#[derive(Debug, Clone, Default)]
pub struct OffOptions {
    /// The subscription reference `on` returned (none: every subscription on the channel).
    pub reference: Option<String>,
}

impl OffOptions {
    /// Reads `off` options (a reference id may be a string or a number).
    pub fn parse(options: &Map<String, Value>) -> OffOptions {
        OffOptions {
            reference: match options.get("referenceId") {
                Some(Value::String(r)) => Some(r.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn set_options_are_typed_once() {
        let options = SetOptions::parse(
            &map(json!({"increment": 2, "consistency": 3, "targetClients": ["a"], "merge": "yes"})),
            &json!("hits"),
        )
        .unwrap();
        assert_eq!(
            options.write,
            WriteMode::Increment {
                gauge: "hits".into(),
                amount: 2.into()
            }
        );
        assert_eq!(options.publish.consistency, Consistency::Acknowledged);
        assert_eq!(options.publish.target_clients, Some(vec!["a".to_string()]));
        let merge = SetOptions::parse(&map(json!({"merge": "yes"})), &Value::Null).unwrap();
        assert_eq!(merge.write, WriteMode::Store { merge: false });
        let bad = SetOptions::parse(&map(json!({"increment": "x"})), &Value::Null).unwrap_err();
        assert!(
            matches!(bad, Error::BadInput(_)),
            "a client mistake is a 400"
        );
        let bad = SetOptions::parse(&map(json!({"meta": 1})), &Value::Null).unwrap_err();
        assert_eq!(bad.message(), "options.meta must be an object");
    }

    #[test]
    fn on_options_split_the_channel() {
        let on =
            OnOptions::parse("/SET@/a/*", &map(json!({"depth": 3, "initialEmit": true}))).unwrap();
        assert_eq!(
            (on.filter, on.mask.as_str(), on.depth, on.initial),
            (EventFilter::Set, "/a/*", 3, true)
        );
        let on = OnOptions::parse("/x@y", &map(json!({"event_type": "remove"}))).unwrap();
        assert_eq!((on.filter, on.mask.as_str()), (EventFilter::Remove, "/x@y"));
        assert!(OnOptions::parse("/SET@", &Map::new()).is_err());
        assert!(OnOptions::parse("/a", &map(json!({"depth": -1}))).is_err());
    }

    #[test]
    fn login_data_is_checked() {
        let login = LoginRequest::parse(&json!({"username": "u", "info": 5})).unwrap();
        assert_eq!(login.info, json!({"data": 5}));
        assert!(LoginRequest::parse(&json!({"password": 1})).is_err());
        assert!(LoginRequest::parse(&json!([1])).is_err());
        // A cluster-looking `info` is kept as the client's info, nothing more.
        let claim = LoginRequest::parse(&json!({"info": {"clusterName": "c"}})).unwrap();
        assert_eq!(claim.info, json!({"clusterName": "c"}));
    }
}
