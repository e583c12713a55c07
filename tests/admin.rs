//! The admin commands (`happn-cluster admin …`), parsed as on the command line and run
//! against a node's security service; their effect is checked through real logins.

mod common;

use clap::Parser;
use common::{login, secure_config};
use happn_cluster::Node;
use happn_cluster::admin::{AdminCommand, execute};
use serde_json::{Value, json};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: AdminCommand,
}

async fn run(node: &Node, args: &[&str]) -> happn_cluster::sdk::Result<String> {
    let mut argv = vec!["admin"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("arguments parse");
    execute(node.security(), cli.command).await
}

#[tokio::test]
async fn users_groups_permissions_and_admin_reset() {
    let node = Node::start(secure_config()).await.unwrap();
    run(
        &node,
        &[
            "groups",
            "add",
            "ops",
            "--allow",
            "/ops/*=get,set,on",
            "--prohibit",
            "/ops/locked/*=set",
        ],
    )
    .await
    .unwrap();
    run(
        &node,
        &[
            "users",
            "add",
            "dana",
            "--password",
            "dana-pass",
            "--group",
            "ops",
            "--custom-data",
            r#"{"desk":1}"#,
        ],
    )
    .await
    .unwrap();

    let users: Value =
        serde_json::from_str(&run(&node, &["users", "list"]).await.unwrap()).unwrap();
    let dana = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "dana")
        .unwrap();
    assert_eq!(dana["groups"], json!(["ops"]));
    assert_eq!(dana["custom_data"]["desk"], 1);
    assert!(
        dana.get("password").is_none(),
        "hashes never leave the server"
    );

    let dana_client = login(&node, "dana", "dana-pass").await.unwrap();
    dana_client.set("/ops/1", json!({})).await.unwrap();
    assert!(dana_client.set("/ops/locked/1", json!({})).await.is_err());

    run(&node, &["permissions", "add", "ops", "/reports/*", "get"])
        .await
        .unwrap();
    let listed: Value =
        serde_json::from_str(&run(&node, &["permissions", "list", "ops"]).await.unwrap()).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["path"] == "/reports/*" && p["authorized"] == true)
    );
    let out = run(&node, &["permissions", "remove", "ops", "/reports/*"])
        .await
        .unwrap();
    assert!(out.starts_with("1 "), "{out}");

    run(&node, &["unlink", "dana", "ops"]).await.unwrap();
    run(&node, &["link", "dana", "ops"]).await.unwrap();
    let out = run(&node, &["users", "remove", "dana"]).await.unwrap();
    assert_eq!(out, "user dana removed");
    assert!(login(&node, "dana", "dana-pass").await.is_err());
    run(&node, &["groups", "remove", "ops"]).await.unwrap();

    run(&node, &["reset-admin", "--password", "rotated"])
        .await
        .unwrap();
    assert!(login(&node, "_ADMIN", "admin-pass").await.is_err());
    login(&node, "_ADMIN", "rotated").await.unwrap();

    // Bad input is refused with a reason.
    let err = run(
        &node,
        &["groups", "add", "bad", "--allow", "no-equals-sign"],
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("PATH=get,on"), "{err}");
    let err = run(&node, &["users", "add", "new-user"]).await.unwrap_err();
    assert!(err.to_string().contains("needs a password"), "{err}");
    let err = run(&node, &["permissions", "add", "_ADMIN", "/x", "fly"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown action"), "{err}");
}

#[tokio::test]
async fn a_changed_config_password_does_not_alter_the_existing_admin() {
    // One shared store, two starts with different configured admin passwords.
    use happn_cluster::data::DataService;
    use happn_cluster::security::SecurityService;
    use std::sync::Arc;
    let store: Arc<dyn happn_cluster::sdk::Datastore> =
        Arc::new(happn_cluster::sdk::memory::MemoryDatastore::new());
    let data = Arc::new(DataService::single("shared", store));
    let mut config = secure_config().services.security.config;
    SecurityService::start(data.clone(), config.clone(), "first")
        .await
        .unwrap();
    config.admin_user.password = "changed-in-config".into();
    let second = SecurityService::start(data, config, "second")
        .await
        .unwrap();
    let login = |password: &str| happn_cluster::sdk::Credentials::Password {
        username: "_ADMIN".into(),
        password: password.into(),
    };
    assert!(
        second
            .login(login("admin-pass"), &Default::default())
            .await
            .is_ok(),
        "the original password still works"
    );
    assert!(
        second
            .login(login("changed-in-config"), &Default::default())
            .await
            .is_err()
    );
}
