//! `store`: the built-in `Auth` plugin. Users live in the datastore under
//! `/_SYSTEM/_SECURITY/_USER/`, passwords as PBKDF2 hashes in happn's format.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt;
use happn_cluster_sdk::{
    Auth, AuthPlugin, BuildContext, Credentials, Datastore, Error, FindOptions, Identity,
    PathQuery, Result,
};

use super::hash::verify_password;
use super::model::{StoredUser, user_path};
use crate::names::UserName;

/// A well-formed hash at `iterations` that no password matches.
fn dummy_hash(iterations: u32) -> String {
    format!(
        "pbkdf2${}${}${}$sha512",
        iterations.max(1),
        "0".repeat(128),
        "1".repeat(128)
    )
}

/// Verifies usernames and passwords against the stored users.
pub struct StoreAuth {
    store: Arc<dyn Datastore>,
    /// Guesses for unknown users are hashed at this cost (the configured
    /// `pbkdf2Iterations`), so refusals take as long as for real users.
    dummy_hash: String,
}

/// The store plugin's settings.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StoreSettings {
    #[serde(default = "default_iterations")]
    pbkdf2_iterations: u32,
}

fn default_iterations() -> u32 {
    10_000
}

impl StoreAuth {
    /// Reads users from `store`; unknown users cost `iterations` PBKDF2 rounds.
    pub fn new(store: Arc<dyn Datastore>, iterations: u32) -> Self {
        StoreAuth {
            store,
            dummy_hash: dummy_hash(iterations),
        }
    }
}

/// Loads a stored user and its group names.
pub async fn load_user(
    store: &dyn Datastore,
    username: &UserName,
) -> Result<Option<(StoredUser, Vec<String>)>> {
    let Some(record) = store.find_one(&user_path(username)).await? else {
        return Ok(None);
    };
    let user: StoredUser = serde_json::from_value(serde_json::Value::Object(record.data))
        .map_err(|e| Error::internal(format!("corrupt user record {username}: {e}")))?;
    let prefix = format!("{}/_USER_GROUP/", user_path(username));
    let links = store
        .find(
            &PathQuery::parse(&format!("{prefix}*")),
            &FindOptions::default(),
        )
        .await?;
    let groups = links
        .iter()
        .filter_map(|r| r.path.strip_prefix(&prefix))
        .filter(|g| !g.contains('/'))
        .map(str::to_string)
        .collect();
    Ok(Some((user, groups)))
}

#[async_trait]
impl Auth for StoreAuth {
    async fn verify(&self, credentials: &Credentials) -> Result<Identity> {
        let Credentials::Password { username, password } = credentials else {
            return Err(Error::Unauthorized("Invalid credentials".into()));
        };
        // A name that cannot be a user is an unknown user (and costs the same time).
        let loaded = match UserName::parse(username) {
            Ok(username) => load_user(self.store.as_ref(), &username).await,
            Err(_) => Ok(None),
        };
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(Error::Internal(_)) => None,
            Err(other) => return Err(other),
        };
        let Some((user, groups)) = loaded else {
            // Spend the same time on unknown users, so timing does not reveal which exist.
            let (password, dummy) = (password.clone(), self.dummy_hash.clone());
            let _ = tokio::task::spawn_blocking(move || verify_password(&password, &dummy)).await;
            return Err(Error::Unauthorized("Invalid credentials".into()));
        };
        // Verification is CPU-heavy: keep it off the async workers.
        let (password, hash) = (password.clone(), user.password.clone());
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(Error::Unauthorized("Invalid credentials".into()));
        }
        Ok(Identity {
            username: user.username,
            user_id: Some(user.userid),
            groups,
            custom_data: user.custom_data,
        })
    }

    async fn account_exists(&self, username: &str) -> Result<Option<bool>> {
        let Ok(username) = UserName::parse(username) else {
            return Ok(Some(false));
        };
        Ok(Some(
            self.store.find_one(&user_path(&username)).await?.is_some(),
        ))
    }
}

fn build(context: BuildContext) -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Auth>>> {
    async move {
        let settings: StoreSettings = if context.settings.is_null() {
            StoreSettings {
                pbkdf2_iterations: default_iterations(),
            }
        } else {
            serde_json::from_value(context.settings.clone())
                .map_err(|e| Error::bad_input(format!("store auth settings: {e}")))?
        };
        let store = match context.datastore {
            Some(store) => store,
            // Standalone (registry walk): an empty in-memory directory.
            None => {
                Arc::new(happn_cluster_sdk::memory::MemoryDatastore::new()) as Arc<dyn Datastore>
            }
        };
        Ok(Arc::new(StoreAuth::new(store, settings.pbkdf2_iterations)) as Arc<dyn Auth>)
    }
    .boxed()
}

inventory::submit! {
    AuthPlugin {
        name: "store",
        aliases: &["builtin"],
        description: "Users, groups and PBKDF2 password hashes stored in the datastore under /_SYSTEM/_SECURITY (the default).",
        example: r#"{"pbkdf2Iterations": 10000}"#,
        build,
    }
}
