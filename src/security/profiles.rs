//! Session profiles (happn-3's `services.security.config.profiles`): each names the sessions
//! it applies to with Mongo-style criteria on the session (`user`, `info`, `type`) and gives
//! them a policy. The first match wins; happn-3's defaults come last. A token carries the
//! policy it was issued under, so every node (and every server sharing the token secret)
//! holds a token to it.

use happn_cluster_sdk::{Criteria, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{Millis, PolicyConfig, ProfileConfig};

/// What a session's profile allows (the part a token carries).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Policy {
    /// The profile's name.
    pub profile: String,
    /// Lifetime from login, ms (0: never expires).
    pub ttl: u64,
    /// Longest idle time, ms (0: never).
    #[serde(rename = "inactivity_threshold")]
    pub inactivity_threshold: u64,
    /// The token may not log in again.
    pub disallow_token_logins: bool,
    /// The token logs in only on the node that issued it.
    pub lock_token_to_origin: bool,
}

/// A parsed profile.
#[derive(Debug, Clone)]
struct Profile {
    criteria: Criteria,
    policy: Policy,
    source_ips: Vec<String>,
}

/// The configured profiles followed by happn-3's defaults, ready to match.
#[derive(Debug, Clone)]
pub struct Profiles {
    profiles: Vec<Profile>,
}

/// happn-3's default profiles: browsers get a week and an hour of idleness; other sessions
/// never expire.
fn defaults() -> Vec<ProfileConfig> {
    let profile = |name: &str, session: Value, ttl: u64, idle: u64| ProfileConfig {
        name: name.into(),
        session,
        policy: PolicyConfig {
            ttl: Some(Millis(ttl)),
            inactivity_threshold: Some(Millis(idle)),
            ..PolicyConfig::default()
        },
    };
    vec![
        profile(
            "default-browser",
            json!({"info._browser": {"$eq": true}}),
            7 * 24 * 3_600_000,
            3_600_000,
        ),
        profile("default-stateful", json!({"type": {"$eq": 1}}), 0, 0),
        profile("default-stateless", json!({"type": {"$eq": 0}}), 0, 0),
    ]
}

impl Profiles {
    /// Parses `configured` (criteria checked) and appends the defaults.
    pub fn new(configured: &[ProfileConfig]) -> Result<Profiles> {
        let profiles = configured
            .iter()
            .cloned()
            .chain(defaults())
            .enumerate()
            .map(|(index, config)| {
                let name = if config.name.is_empty() {
                    format!("profile-{index}")
                } else {
                    config.name.clone()
                };
                let session = if config.session.is_null() {
                    json!({})
                } else {
                    config.session.clone()
                };
                let criteria = Criteria::parse(&session).map_err(|e| {
                    Error::bad_input(format!("profile {name:?}: session criteria: {e}"))
                })?;
                Ok(Profile {
                    criteria,
                    policy: Policy {
                        profile: name,
                        ttl: config.policy.ttl.map_or(0, |t| t.0),
                        inactivity_threshold: config.policy.inactivity_threshold.map_or(0, |t| t.0),
                        disallow_token_logins: config.policy.disallow_token_logins,
                        lock_token_to_origin: config.policy.lock_token_to_origin,
                    },
                    source_ips: config.policy.source_ip_whitelist.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Profiles { profiles })
    }

    /// The policy of the first profile matching `session` (`{user, info, type, …}`).
    pub fn policy_for(&self, session: &Value) -> Policy {
        let document = json!({ "data": session });
        self.profiles
            .iter()
            .find(|p| p.criteria.matches_stored(&document))
            .map(|p| p.policy.clone())
            .unwrap_or_default()
    }

    /// False when a profile that applies to `user` (`{username, …}`) restricts logins to
    /// addresses and `address` is not one of them (happn-3 checks every such profile).
    pub fn address_allowed(&self, user: &Value, address: Option<std::net::IpAddr>) -> bool {
        let document = json!({ "data": { "user": user } });
        self.profiles
            .iter()
            .filter(|p| !p.source_ips.is_empty())
            .filter(|p| p.criteria.matches_stored(&document))
            .all(|p| {
                address.is_some_and(|ip| {
                    p.source_ips
                        .iter()
                        .any(|allowed| allowed.parse::<std::net::IpAddr>().ok() == Some(ip))
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured() -> Vec<ProfileConfig> {
        serde_json::from_value(json!([
            {"name": "robots", "session": {"info.kind": {"$eq": "robot"}},
             "policy": {"ttl": "2s", "disallowTokenLogins": true}},
            {"name": "ops", "session": {"user.groups.ops": {"$exists": true}},
             "policy": {"inactivity_threshold": 500, "lockTokenToOrigin": true}},
            {"name": "office", "session": {"user.username": {"$eq": "carol"}},
             "policy": {"sourceIPWhitelist": ["127.0.0.2"]}}
        ]))
        .unwrap()
    }

    #[test]
    fn first_match_wins_and_defaults_follow() {
        let profiles = Profiles::new(&configured()).unwrap();
        let robot = profiles.policy_for(&json!({"type": 1, "info": {"kind": "robot"},
            "user": {"username": "r", "groups": {"ops": {}}}}));
        assert_eq!((robot.profile.as_str(), robot.ttl), ("robots", 2000));
        assert!(robot.disallow_token_logins);
        let ops = profiles.policy_for(&json!({"type": 1, "info": {},
            "user": {"username": "o", "groups": {"ops": {}}}}));
        assert_eq!(
            (ops.profile.as_str(), ops.inactivity_threshold),
            ("ops", 500)
        );
        let browser = profiles.policy_for(&json!({"type": 1, "info": {"_browser": true},
            "user": {"username": "b", "groups": {}}}));
        assert_eq!(
            (
                browser.profile.as_str(),
                browser.ttl,
                browser.inactivity_threshold
            ),
            ("default-browser", 604_800_000, 3_600_000)
        );
        let plain = profiles.policy_for(&json!({"type": 1, "user": {"username": "p"}}));
        assert_eq!((plain.profile.as_str(), plain.ttl), ("default-stateful", 0));
        let http = profiles.policy_for(&json!({"type": 0, "user": {"username": "p"}}));
        assert_eq!(http.profile, "default-stateless");
    }

    #[test]
    fn source_addresses_restrict_only_matching_users() {
        let profiles = Profiles::new(&configured()).unwrap();
        let carol = json!({"username": "carol"});
        assert!(profiles.address_allowed(&carol, "127.0.0.2".parse().ok()));
        assert!(!profiles.address_allowed(&carol, "127.0.0.1".parse().ok()));
        assert!(!profiles.address_allowed(&carol, None));
        assert!(profiles.address_allowed(&json!({"username": "dave"}), "10.0.0.1".parse().ok()));
    }

    #[test]
    fn bad_criteria_name_the_profile() {
        let bad: Vec<ProfileConfig> =
            serde_json::from_value(json!([{"name": "x", "session": {"$bogus": 1}}])).unwrap();
        let error = Profiles::new(&bad).unwrap_err().to_string();
        assert!(error.contains("profile \"x\""), "{error}");
    }
}
