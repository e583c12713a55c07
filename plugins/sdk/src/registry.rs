//! Link-time plugin registry. Each plugin submits one descriptor with `inventory::submit!`;
//! the host looks plugins up by the name a config gives.
//!
//! ```ignore
//! inventory::submit! {
//!     happn_cluster_sdk::DatastorePlugin {
//!         name: "memory",
//!         aliases: &["mem"],
//!         description: "In-process store; data is lost on restart.",
//!         example: "{}",
//!         build: build_memory,
//!     }
//! }
//! ```

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::auth::Auth;
use crate::datastore::Datastore;
use crate::discovery::Discovery;
use crate::error::Result;
use crate::transport::Transport;

/// What a plugin is built from.
#[derive(Clone, Default)]
pub struct BuildContext {
    /// The plugin's settings from config (`null` when none were given).
    pub settings: Value,
    /// The datastore holding `/_SYSTEM` records, for plugins that keep state there (auth,
    /// discovery). `None` when building datastores themselves.
    pub datastore: Option<Arc<dyn Datastore>>,
}

impl BuildContext {
    /// A context with only settings.
    pub fn settings(settings: Value) -> Self {
        BuildContext {
            settings,
            datastore: None,
        }
    }
}

impl BuildContext {
    /// Parses the settings into a plugin's settings type (`null` reads as `{}`); errors name
    /// the plugin.
    pub fn parse_settings<T: serde::de::DeserializeOwned>(&self, plugin: &str) -> Result<T> {
        let settings = if self.settings.is_null() {
            Value::Object(serde_json::Map::new())
        } else {
            self.settings.clone()
        };
        serde_json::from_value(settings)
            .map_err(|e| crate::Error::bad_input(format!("{plugin} settings: {e}")))
    }
}

/// A connection URL with any password masked (`scheme://user:***@host`), for messages.
/// Only the authority (before the first `/`, `?` or `#`) can hold credentials.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return url.to_string();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| scheme_end + at);
    let authority = &url[scheme_end..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!(
                "{}{user}:***@{host}{}",
                &url[..scheme_end],
                &url[authority_end..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl std::fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContext")
            .field("settings", &self.settings)
            .field("datastore", &self.datastore.as_ref().map(|d| d.provider()))
            .finish()
    }
}

/// Builds a plugin instance from its context.
pub type Builder<T> = fn(BuildContext) -> BoxFuture<'static, Result<Arc<T>>>;

/// Describes one plugin of kind `T` (a trait object type).
pub struct Plugin<T: ?Sized + 'static> {
    /// The name configs select it by.
    pub name: &'static str,
    /// Other accepted names (e.g. `happn-db-provider-mongo` for `mongo`).
    pub aliases: &'static [&'static str],
    /// One line saying what it is.
    pub description: &'static str,
    /// A documented example of its settings, as JSON. It must build.
    pub example: &'static str,
    /// Builds an instance from settings.
    pub build: Builder<T>,
}

impl<T: ?Sized> Plugin<T> {
    /// True if `name` is this plugin's name or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }

    /// The example settings parsed as JSON.
    pub fn example_settings(&self) -> Result<Value> {
        serde_json::from_str(self.example).map_err(|e| {
            crate::Error::internal(format!(
                "plugin {} has invalid example JSON: {e}",
                self.name
            ))
        })
    }
}

impl<T: ?Sized> std::fmt::Debug for Plugin<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("aliases", &self.aliases)
            .field("description", &self.description)
            .finish()
    }
}

/// A datastore provider descriptor.
pub type DatastorePlugin = Plugin<dyn Datastore>;
/// A discovery plugin descriptor.
pub type DiscoveryPlugin = Plugin<dyn Discovery>;
/// A transport plugin descriptor.
pub type TransportPlugin = Plugin<dyn Transport>;
/// An auth plugin descriptor.
pub type AuthPlugin = Plugin<dyn Auth>;

inventory::collect!(DatastorePlugin);
inventory::collect!(DiscoveryPlugin);
inventory::collect!(TransportPlugin);
inventory::collect!(AuthPlugin);

/// Every linked datastore provider, sorted by name.
pub fn datastores() -> Vec<&'static DatastorePlugin> {
    sorted(inventory::iter::<DatastorePlugin>.into_iter().collect())
}

/// Every linked discovery plugin, sorted by name.
pub fn discoveries() -> Vec<&'static DiscoveryPlugin> {
    sorted(inventory::iter::<DiscoveryPlugin>.into_iter().collect())
}

/// Every linked transport plugin, sorted by name.
pub fn transports() -> Vec<&'static TransportPlugin> {
    sorted(inventory::iter::<TransportPlugin>.into_iter().collect())
}

/// Every linked auth plugin, sorted by name.
pub fn auths() -> Vec<&'static AuthPlugin> {
    sorted(inventory::iter::<AuthPlugin>.into_iter().collect())
}

/// Looks a plugin up by name or alias.
pub fn find<T: ?Sized>(plugins: &[&'static Plugin<T>], name: &str) -> Option<&'static Plugin<T>> {
    plugins.iter().copied().find(|p| p.answers_to(name))
}

/// Looks a `kind` plugin (`transport`, `discovery`, …) up by name or alias; an unknown
/// name is a bad-input error listing the linked ones.
pub fn require<T: ?Sized>(
    plugins: &[&'static Plugin<T>],
    name: &str,
    kind: &str,
) -> Result<&'static Plugin<T>> {
    find(plugins, name).ok_or_else(|| {
        crate::Error::bad_input(format!(
            "unknown {kind} plugin {name:?} (linked: {})",
            plugins
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

fn sorted<T: ?Sized>(mut plugins: Vec<&'static Plugin<T>>) -> Vec<&'static Plugin<T>> {
    plugins.sort_by_key(|p| p.name);
    plugins
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("mongodb://u:p@h:1/db"), "mongodb://u:***@h:1/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("mongodb://h:1/?x=a@b"), "mongodb://h:1/?x=a@b");
    }
}
