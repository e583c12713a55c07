//! A third-party `Auth` plugin: credentials verified outside the datastore (here a user table
//! in the plugin's settings, standing in for LDAP, an SSO service…). Groups it returns get
//! their permissions from the node's group store. This file is the worked example the README
//! points to.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use happn_cluster::Node;
use happn_cluster::sdk::{
    Auth, AuthPlugin, BuildContext, Credentials, Error, Identity, Result, async_trait, inventory,
};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
struct StaticUser {
    password: String,
    groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    users: BTreeMap<String, StaticUser>,
}

struct StaticUsers(Settings);

#[async_trait]
impl Auth for StaticUsers {
    async fn verify(&self, credentials: &Credentials) -> Result<Identity> {
        let Credentials::Password { username, password } = credentials else {
            return Err(Error::Unauthorized("Invalid credentials".into()));
        };
        match self.0.users.get(username) {
            Some(user) if &user.password == password => Ok(Identity {
                username: username.clone(),
                groups: user.groups.clone(),
                ..Identity::default()
            }),
            _ => Err(Error::Unauthorized("Invalid credentials".into())),
        }
    }
}

fn build(context: BuildContext) -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Auth>>> {
    Box::pin(async move {
        let settings: Settings = serde_json::from_value(context.settings)
            .map_err(|e| Error::bad_input(format!("static-users settings: {e}")))?;
        Ok(Arc::new(StaticUsers(settings)) as Arc<dyn Auth>)
    })
}

inventory::submit! {
    AuthPlugin {
        name: "static-users",
        aliases: &[],
        description: "Example: users listed in the plugin's settings.",
        example: r#"{"users": {"eve": {"password": "eve-pass", "groups": ["readers"]}}}"#,
        build,
    }
}

#[tokio::test]
async fn a_custom_auth_plugin_verifies_credentials() {
    let mut config = common::secure_config();
    config.services.security.config.auth = serde_json::from_value(json!({
        "plugin": "static-users",
        "settings": {"users": {
            "eve": {"password": "eve-pass", "groups": ["readers"]},
            "walt": {"password": "walt-pass", "groups": ["writers"]}
        }}
    }))
    .unwrap();
    let node = Node::start(config).await.unwrap();
    let walt = common::login(&node, "walt", "walt-pass").await.unwrap();
    walt.set("/shared/x", json!({"ok": true})).await.unwrap();
    let eve = common::login(&node, "eve", "eve-pass").await.unwrap();
    assert_eq!(eve.get("/shared/x").await.unwrap().unwrap()["ok"], true);
    assert!(
        matches!(
            eve.set("/shared/x", json!({})).await,
            Err(Error::Forbidden(_))
        ),
        "groups from the plugin, permissions from the store"
    );
    assert!(common::login(&node, "eve", "wrong").await.is_err());
    assert!(
        common::login(&node, "reader", "reader-pass").await.is_err(),
        "the store's users no longer log in"
    );
    // Tokens issued for plugin users work too.
    let mut options = happn_cluster::client::ClientOptions::new(common::url(&node));
    options.token = eve.token();
    let by_token = happn_cluster::client::Client::connect(options)
        .await
        .unwrap();
    assert!(by_token.get("/shared/x").await.is_ok());
}
