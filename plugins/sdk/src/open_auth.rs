//! `open`: the auth plugin of insecure nodes. Everyone is let in; password and token logins
//! keep the username they claim, anonymous logins become `_ANONYMOUS`.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt;

use crate::auth::{Auth, Credentials, Identity};
use crate::error::{Error, Result};
use crate::registry::{AuthPlugin, BuildContext};

/// Accepts every login (for `secure: false` nodes).
#[derive(Debug, Default)]
pub struct OpenAuth;

#[async_trait]
impl Auth for OpenAuth {
    async fn verify(&self, credentials: &Credentials) -> Result<Identity> {
        let username = match credentials {
            Credentials::Password { username, .. } if !username.is_empty() => username.clone(),
            _ => "_ANONYMOUS".to_string(),
        };
        Ok(Identity {
            username,
            ..Identity::default()
        })
    }
}

fn build(context: BuildContext) -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Auth>>> {
    let settings = context.settings;
    async move {
        if !(settings.is_null() || settings.as_object().is_some_and(|m| m.is_empty())) {
            return Err(Error::bad_input("the open auth plugin takes no settings"));
        }
        Ok(Arc::new(OpenAuth) as Arc<dyn Auth>)
    }
    .boxed()
}

inventory::submit! {
    AuthPlugin {
        name: "open",
        aliases: &[],
        description: "Lets everyone in; the auth of insecure nodes.",
        example: "{}",
        build,
    }
}
