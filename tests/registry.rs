//! Walks every plugin registry: each plugin is registered, documented, and its example
//! settings build a working instance.

use happn_cluster::sdk::BuildContext;
use happn_cluster::sdk::registry;

#[tokio::test]
async fn every_registered_plugin_has_an_example_that_builds() {
    let datastores = registry::datastores();
    let names: Vec<_> = datastores.iter().map(|p| p.name).collect();
    assert!(names.contains(&"memory"), "{names:?}");
    for plugin in &datastores {
        assert!(
            !plugin.description.is_empty(),
            "{} lacks a description",
            plugin.name
        );
        let settings = plugin.example_settings().unwrap();
        let store = (plugin.build)(BuildContext::settings(settings))
            .await
            .unwrap_or_else(|e| panic!("datastore {} example does not build: {e}", plugin.name));
        assert_eq!(store.provider(), plugin.name);
    }

    let discoveries = registry::discoveries();
    assert!(discoveries.iter().any(|p| p.name == "static"));
    for plugin in &discoveries {
        assert!(!plugin.description.is_empty());
        // Discovery plugins that keep records get the node's datastore.
        let context = BuildContext {
            settings: plugin.example_settings().unwrap(),
            datastore: Some(std::sync::Arc::new(
                happn_cluster::sdk::memory::MemoryDatastore::new(),
            )),
        };
        let discovery = (plugin.build)(context)
            .await
            .unwrap_or_else(|e| panic!("discovery {} example does not build: {e}", plugin.name));
        discovery.members().await.unwrap();
    }

    let auths = registry::auths();
    assert!(auths.iter().any(|p| p.name == "open"));
    for plugin in &auths {
        assert!(!plugin.description.is_empty());
        (plugin.build)(BuildContext::settings(plugin.example_settings().unwrap()))
            .await
            .unwrap_or_else(|e| panic!("auth {} example does not build: {e}", plugin.name));
    }

    for plugin in &registry::transports() {
        assert!(!plugin.description.is_empty());
        (plugin.build)(BuildContext::settings(plugin.example_settings().unwrap()))
            .await
            .unwrap_or_else(|e| panic!("transport {} example does not build: {e}", plugin.name));
    }
}

#[tokio::test]
async fn bad_settings_are_refused_with_a_reason() {
    let memory = registry::find(&registry::datastores(), "mem").expect("alias resolves");
    let err = (memory.build)(BuildContext::settings(serde_json::json!({"filename": "x"})))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("no settings"), "{err}");
    let stat = registry::find(&registry::discoveries(), "static").unwrap();
    let err = (stat.build)(BuildContext::settings(serde_json::json!({"members": 3})))
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("static discovery settings"),
        "{err}"
    );
}

/// `config example` documents every linked plugin with its own example settings.
#[test]
fn the_config_example_lists_every_plugin_with_its_example() {
    let example = happn_cluster::config::example_with_plugins();
    let rows: Vec<(&str, &str)> = registry::datastores()
        .iter()
        .map(|p| (p.name, p.example))
        .chain(registry::discoveries().iter().map(|p| (p.name, p.example)))
        .chain(registry::transports().iter().map(|p| (p.name, p.example)))
        .chain(registry::auths().iter().map(|p| (p.name, p.example)))
        .collect();
    assert!(rows.len() >= 7, "{rows:?}");
    for (name, settings) in rows {
        assert!(
            example.contains(&format!("#   {name}: ")),
            "{name} missing from the example"
        );
        assert!(
            example.contains(&format!("settings = {settings}")),
            "{name}'s example settings missing"
        );
    }
    // The plugin list is comments: the example still loads as the defaults.
    let loaded = happn_cluster::config::Config::from_toml_str(&example).unwrap();
    assert!(loaded.ignored_keys.is_empty(), "{:?}", loaded.ignored_keys);
}
