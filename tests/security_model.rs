//! happn-3's security model: users' own permissions, templates, profiles, anonymous access,
//! case-insensitive usernames, onBehalfOf, tokens across servers and child sessions. The
//! unmodified npm client drives `tests/compat/security-model.js` against a node on each
//! store (live changes through `happn-cluster admin` where the store is shared), and the
//! embedding API is checked here.

mod common;

use std::process::Command;
use std::time::Duration;

use happn_cluster::Node;
use happn_cluster::config::Config;
use serde_json::{Value, json};

const TOKEN_SECRET: &str = "a-token-secret-two-servers-share-0123";

/// The security section every node of these tests runs with.
fn security() -> Value {
    json!({
        "adminUser": {"password": "admin-pass"},
        "pbkdf2Iterations": 64,
        "sessionTokenSecret": TOKEN_SECRET,
        "allowAnonymousAccess": true,
        "usernamesCaseInsensitive": true,
        "profiles": [
            {"name": "robots", "session": {"info.kind": {"$eq": "robot"}}, "policy": {"ttl": 1500}},
            {"name": "single-use", "session": {"user.username": {"$eq": "once"}},
             "policy": {"disallowTokenLogins": true}},
            {"name": "short-idle", "session": {"user.username": {"$eq": "idler"}},
             "policy": {"inactivity_threshold": "700ms"}},
            {"name": "home-only", "session": {"user.username": {"$eq": "pinned"}},
             "policy": {"lockTokenToOrigin": true}},
            {"name": "office", "session": {"user.username": {"$eq": "office"}},
             "policy": {"sourceIPWhitelist": ["10.9.9.9"]}}
        ],
        "groups": [
            {"name": "team", "permissions": {
                "/team/{{user.custom_data.team}}/*": {"actions": ["get", "set", "on"]},
                "noslash/*": {"actions": ["get"]}
            }},
            {"name": "public", "permissions": {"/public/*": {"actions": ["get", "on"]}}},
            {"name": "_MESH_DELEGATE"}
        ],
        "users": [
            {"username": "alice", "password": "alice-pass", "groups": ["team"],
             "custom_data": {"team": "red"},
             "permissions": {"/users/{{user.username}}/*": {"actions": ["*"]}}},
            {"username": "bob", "password": "bob-pass", "groups": ["team"],
             "custom_data": {"team": "blue"}},
            {"username": "Carol", "password": "carol-pass"},
            {"username": "robot", "password": "robot-pass"},
            {"username": "once", "password": "once-pass"},
            {"username": "idler", "password": "idler-pass"},
            {"username": "pinned", "password": "pinned-pass"},
            {"username": "office", "password": "office-pass"},
            {"username": "delegate", "password": "delegate-pass", "groups": ["_MESH_DELEGATE"]}
        ]
    })
}

/// A secure node's config in the seed's JSON shape on `datastore`.
fn config_json(name: &str, provider: &str, settings: Value) -> Value {
    json!({
        "name": name,
        "host": "127.0.0.1",
        "port": 0,
        "secure": true,
        "services": {
            "proxy": {"config": {"host": "127.0.0.1", "port": 0}},
            "data": {"config": {"datastores": [
                {"name": "main", "provider": provider, "settings": settings, "isDefault": true}
            ]}},
            "security": {"config": security()},
            // Changes made through the admin CLI reach live sessions within 200 ms.
            "replicator": {"config": {"securityChangesetReplicateInterval": 200}}
        }
    })
}

async fn start(config: &Value) -> Node {
    let config: Config = Config::from_json_str(&config.to_string())
        .expect("config loads")
        .config;
    let node = Node::start(config).await.expect("node starts");
    node.security()
        .link_group("_ANONYMOUS", "public")
        .await
        .expect("_ANONYMOUS joins public");
    node
}

/// Runs the npm suite against `a` (and `b`, the other server); `admin_config` is a config
/// file on `a`'s store for the admin CLI steps.
async fn run_suite(label: &str, a: &Node, b: &Node, admin_config: Option<&std::path::Path>) {
    let modules = std::path::Path::new("tests/compat/node_modules/happn-3");
    assert!(
        modules.exists(),
        "tests/compat/node_modules is missing: run scripts/test.sh"
    );
    let mut command = Command::new("node");
    command
        .arg("tests/compat/security-model.js")
        .env("HAPPN_PORT", a.client_addr().unwrap().port().to_string())
        .env("HAPPN_PORT_B", b.client_addr().unwrap().port().to_string());
    if let Some(path) = admin_config {
        command
            .env("HAPPN_ADMIN_CLI", env!("CARGO_BIN_EXE_happn-cluster"))
            .env("HAPPN_ADMIN_CONFIG", path);
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("node runs"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- {label}\n{stdout}");
    assert!(
        output.status.success() && stdout.contains(" passed, 0 failed"),
        "{label}: the security-model suite failed:\n{stdout}\n{stderr}"
    );
}

/// Every store: node A on it, node B (another server, its own memory store, the same token
/// secret) beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_npm_client_sees_happn3s_security_model_on_every_store() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mongo_url = std::env::var("HAPPN_TEST_MONGO_URL")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?retryWrites=false".into());
    let postgres_url = std::env::var("HAPPN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let stores = [
        ("memory", json!({}), false),
        (
            "sqlite",
            json!({"filename": dir.path().join("model.sqlite").display().to_string()}),
            true,
        ),
        (
            "postgres",
            json!({"url": postgres_url, "table": format!("model_{stamp}")}),
            true,
        ),
        (
            "mongo",
            json!({"url": mongo_url, "database": "happn-model", "collection": format!("m{stamp}")}),
            true,
        ),
    ];
    let b = start(&config_json("node-b", "memory", json!({}))).await;
    for (provider, settings, shared) in stores {
        let config = config_json("node-a", provider, settings);
        let a = start(&config).await;
        let admin_config = dir.path().join(format!("{provider}.json"));
        std::fs::write(&admin_config, config.to_string()).unwrap();
        run_suite(provider, &a, &b, shared.then_some(admin_config.as_path())).await;
        a.shutdown(Duration::from_secs(2)).await;
    }
    b.shutdown(Duration::from_secs(2)).await;
    let postgres = happn_provider_postgres::PostgresDatastore::connect(
        happn_provider_postgres::PostgresSettings {
            url: postgres_url,
            table: format!("model_{stamp}"),
            max_connections: 1,
        },
    )
    .await
    .unwrap();
    postgres.drop_table().await.unwrap();
}

fn memory_node() -> Value {
    config_json("solo", "memory", json!({}))
}

#[tokio::test]
async fn the_admin_api_refuses_anonymous_and_manages_user_permissions() {
    let node = start(&memory_node()).await;
    let security = node.security();
    let refused = security
        .upsert_user("_ANONYMOUS", Some("x"), Value::Null)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("reserved name _ANONYMOUS"),
        "{refused}"
    );
    assert!(security.delete_user("_ANONYMOUS").await.is_err());
    let mut permissions = std::collections::BTreeMap::new();
    permissions.insert(
        "/own/*".to_string(),
        serde_json::from_value(json!({"actions": ["get", "on"], "prohibit": ["remove"]})).unwrap(),
    );
    security
        .upsert_user_permissions("ALICE", &permissions)
        .await
        .unwrap();
    let alice = security.get_user("alice").await.unwrap().unwrap();
    assert_eq!(
        alice.permissions,
        json!({"/own/*": {"actions": ["get", "on"], "prohibit": ["remove"]},
               "/users/{{user.username}}/*": {"actions": ["*"]}})
    );
    let mut removal = std::collections::BTreeMap::new();
    removal.insert(
        "/own/*".to_string(),
        serde_json::from_value(json!({"actions": ["get", "on"], "remove": true})).unwrap(),
    );
    security
        .upsert_user_permissions("alice", &removal)
        .await
        .unwrap();
    let alice = security.get_user("alice").await.unwrap().unwrap();
    assert_eq!(alice.permissions["/own/*"], json!({"prohibit": ["remove"]}));
    assert!(
        security
            .upsert_user_permissions("ghost", &permissions)
            .await
            .is_err(),
        "the user must exist"
    );
    // Deleting a user removes its own permission records too.
    security.delete_user("alice").await.unwrap();
    security
        .upsert_user("alice", Some("again"), Value::Null)
        .await
        .unwrap();
    let again = security.get_user("alice").await.unwrap().unwrap();
    assert_eq!(
        again.permissions,
        json!({}),
        "a re-created user starts bare"
    );
    node.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn sessions_and_revoked_tokens_are_listed_with_their_profiles() {
    let node = start(&memory_node()).await;
    let robot = happn_cluster::client::Client::connect(happn_cluster::client::ClientOptions {
        info: json!({"kind": "robot"}),
        ..happn_cluster::client::ClientOptions::new(common::url(&node))
            .credentials("robot", "robot-pass")
    })
    .await
    .unwrap();
    let _plain = common::login(&node, "bob", "bob-pass").await.unwrap();
    let sessions = node.active_sessions();
    let profile_of = |user: &str| {
        sessions
            .iter()
            .find(|s| s["username"] == user)
            .map(|s| s["profile"].clone())
    };
    assert_eq!(profile_of("robot"), Some(json!("robots")));
    assert_eq!(profile_of("bob"), Some(json!("default-stateful")));
    assert!(sessions.iter().all(|s| s["tokenFamily"].is_string()));

    // The same lists over HTTP, for _ADMIN tokens only.
    let admin_token = common::http_login(node.client_addr().unwrap(), "_ADMIN", "admin-pass")
        .await
        .unwrap();
    let bob_token = common::http_login(node.client_addr().unwrap(), "bob", "bob-pass")
        .await
        .unwrap();
    let (status, body) = common::http_get_with_token(
        node.client_addr().unwrap(),
        "/security/sessions",
        &admin_token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let listed: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert!(listed.iter().any(|s| s["profile"] == "robots"), "{body}");
    let (status, _) = common::http_get_with_token(
        node.client_addr().unwrap(),
        "/security/sessions",
        &bob_token,
    )
    .await;
    assert_eq!(status, 403);

    let revoked = node.security().revoke_token(&bob_token).await.unwrap();
    let list = node.security().list_revoked_tokens().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["sid"], json!(revoked.sid));
    assert_eq!(list[0]["username"], "bob");
    let (status, body) = common::http_get_with_token(
        node.client_addr().unwrap(),
        "/security/revoked-tokens",
        &admin_token,
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains(&revoked.sid), "{body}");
    drop(robot);
    node.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn allow_ttl0_revocations_false_refuses_revoking_a_token_that_never_expires() {
    let mut config = memory_node();
    config["services"]["security"]["config"]["allowTTL0Revocations"] = json!(false);
    let node = start(&config).await;
    let token = common::http_login(node.client_addr().unwrap(), "bob", "bob-pass")
        .await
        .unwrap();
    let refused = node.security().revoke_token(&token).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("stays in the revocation list forever"),
        "{refused}"
    );
    node.shutdown(Duration::from_secs(2)).await;
}

/// A 3-node cluster on one SQLite file: a user permission granted through node 1 reaches a
/// live session on node 3; a profile's ttl holds for its token on another node; revoking a
/// token ends its sessions on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_model_holds_across_a_cluster() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let configs: Vec<Config> = (0..3)
        .map(|_| {
            let mut config = common::sqlite_cluster_config(dir.path(), 3);
            config.secure = true;
            config.services.security.config = serde_json::from_value(security()).unwrap();
            config
                .services
                .replicator
                .config
                .security_changeset_replicate_interval = happn_cluster::config::Millis(100);
            config
        })
        .collect();
    let starts: Vec<_> = configs
        .into_iter()
        .map(|c| tokio::spawn(Node::start(c)))
        .collect();
    let mut nodes = Vec::new();
    for start in starts {
        nodes.push(start.await.unwrap().expect("node stabilises"));
    }
    let ports: Vec<String> = nodes
        .iter()
        .map(|n| n.client_addr().unwrap().port().to_string())
        .collect();
    let mut child = tokio::process::Command::new("node")
        .arg("tests/compat/security-cluster.js")
        .env("HAPPN_PORTS", ports.join(","))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut report = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        println!("{line}");
        if line == "ASK grant alice /granted/* get" {
            nodes[0]
                .security()
                .grant(
                    &happn_cluster::security::Grantee::user("alice").unwrap(),
                    "/granted/*",
                    "get",
                    true,
                )
                .await
                .unwrap();
            stdin.write_all(b"DONE\n").await.unwrap();
        } else if line.starts_with("ASK ") {
            panic!("unexpected request from the script: {line}");
        } else {
            report.push_str(&line);
            report.push('\n');
        }
    }
    let status = child.wait().await.unwrap();
    assert!(
        status.success() && report.contains(" passed, 0 failed"),
        "the cluster security suite failed:\n{report}"
    );
    for node in nodes {
        node.shutdown(Duration::from_secs(2)).await;
    }
}
