//! Security through the Rust client and the admin API against real nodes.

mod common;

use std::time::Duration;

use common::{client, eventually, login, secure_config, url};
use happn_cluster::Node;
use happn_cluster::client::{Client, ClientOptions, OnOptions};
use happn_cluster::config::Millis;
use happn_cluster::sdk::Error;
use serde_json::{Value, json};

async fn secure_node() -> Node {
    Node::start(secure_config())
        .await
        .expect("secure node starts")
}

fn is_forbidden(result: Result<impl std::fmt::Debug, Error>) -> bool {
    matches!(result, Err(Error::Forbidden(ref m)) if m.contains("unauthorized"))
}

#[tokio::test]
async fn logins_succeed_and_fail_as_expected() {
    let node = secure_node().await;
    let admin = login(&node, "_ADMIN", "admin-pass").await.unwrap();
    assert!(admin.token().is_some());
    assert_eq!(admin.session().unwrap()["user"]["username"], "_ADMIN");
    for (user, pass) in [
        ("_ADMIN", "wrong"),
        ("nobody", "x"),
        ("reader", ""),
        ("", "x"),
    ] {
        let err = login(&node, user, pass).await.unwrap_err();
        assert!(
            matches!(err, Error::Unauthorized(ref m) if m.contains("Invalid credentials")),
            "{user}: {err}"
        );
    }
    // As happn-3: no credentials at all are wrong credentials; the `_ANONYMOUS` user is
    // refused as anonymous access.
    let anonymous = Client::connect(ClientOptions::new(url(&node)))
        .await
        .unwrap_err();
    assert!(
        anonymous.to_string().contains("Invalid credentials"),
        "{anonymous}"
    );
    let anonymous = login(&node, "_ANONYMOUS", "anything").await.unwrap_err();
    assert!(
        anonymous
            .to_string()
            .contains("Anonymous access is disabled"),
        "{anonymous}"
    );
    let huge = "p".repeat(10_000);
    let err = login(&node, "reader", &huge).await.unwrap_err();
    assert!(err.to_string().contains("too long"), "{err}");
    let err = login(&node, "名前", "x").await.unwrap_err();
    assert!(err.to_string().contains("Invalid credentials"), "{err}");
}

#[tokio::test]
async fn permissions_allow_prohibit_and_protect_writes() {
    let node = secure_node().await;
    let writer = login(&node, "writer", "writer-pass").await.unwrap();
    let reader = login(&node, "reader", "reader-pass").await.unwrap();
    writer.set("/shared/a", json!({"v": 1})).await.unwrap();
    writer
        .set("/shared/secret/s", json!({"v": 2}))
        .await
        .unwrap();
    assert_eq!(reader.get("/shared/a").await.unwrap().unwrap()["v"], 1);
    assert!(
        is_forbidden(reader.get("/shared/secret/s").await),
        "prohibit beats allow"
    );
    assert!(is_forbidden(reader.set("/shared/a", json!({"v": 9})).await));
    assert_eq!(
        writer.get("/shared/a").await.unwrap().unwrap()["v"],
        1,
        "nothing was written"
    );
    assert!(is_forbidden(reader.remove("/shared/a").await));
    assert!(is_forbidden(reader.get("/elsewhere").await));
    assert!(
        reader.count("/shared/*", Default::default()).await.is_ok(),
        "count needs get"
    );
    assert!(is_forbidden(
        reader.count("/elsewhere/*", Default::default()).await
    ));
    writer.set("/inbox/1", json!({})).await.unwrap();
    assert!(
        is_forbidden(writer.get("/inbox/1").await),
        "set does not imply get"
    );
    // The session stays usable after refusals.
    assert!(reader.get("/shared/a").await.is_ok());
    let record = writer.get("/shared/a").await.unwrap().unwrap();
    assert_eq!(record["_meta"]["modifiedBy"], "writer");
}

#[tokio::test]
async fn events_only_where_on_is_allowed() {
    let node = secure_node().await;
    let writer = login(&node, "writer", "writer-pass").await.unwrap();
    let reader = login(&node, "reader", "reader-pass").await.unwrap();
    let (_, mut events) = reader
        .on_stream("/shared/*", OnOptions::default())
        .await
        .unwrap();
    assert!(is_forbidden(
        reader.on_stream("/inbox/*", OnOptions::default()).await
    ));
    assert!(is_forbidden(
        reader.on_stream("*", OnOptions::default()).await
    ));
    assert!(is_forbidden(
        reader
            .on_stream("/shared/secret/*", OnOptions::default())
            .await
    ));
    writer.set("/shared/x", json!({"hello": 1})).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.data["hello"], 1);
    assert_eq!(event.meta["eventOrigin"]["username"], "writer");
}

#[tokio::test]
async fn the_system_tree_is_never_reachable_by_clients() {
    let node = secure_node().await;
    let admin = login(&node, "_ADMIN", "admin-pass").await.unwrap();
    admin.set("/plain", json!({})).await.unwrap();
    assert!(matches!(
        admin.get("/_SYSTEM/_SECURITY/_USER/reader").await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        admin.set("/_SYSTEM/x", json!({})).await,
        Err(Error::Forbidden(_))
    ));
    let everything = admin.get_many("*", Default::default()).await.unwrap();
    assert!(
        everything
            .iter()
            .all(|r| !r["_meta"]["path"].as_str().unwrap().starts_with("/_SYSTEM"))
    );
    assert_eq!(everything.len(), 1);
    assert_eq!(admin.count("/*", Default::default()).await.unwrap(), 1);
    assert_eq!(admin.remove("*").await.unwrap(), 1, "only the plain record");
    // Security records survived: users can still log in.
    login(&node, "reader", "reader-pass").await.unwrap();
    // Insecure nodes protect the tree too.
    let open = common::start_node().await;
    let c = client(&open).await;
    assert!(matches!(
        c.get("/_SYSTEM/_SECURITY/SESSION_TOKEN_SECRET").await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(c.get_many("*", Default::default()).await.unwrap().len(), 0);
}

#[tokio::test]
async fn token_login_tampering_and_expiry() {
    let mut config = secure_config();
    config.services.security.config.session_ttl = Some(Millis(800));
    let node = Node::start(config).await.unwrap();
    let reader = login(&node, "reader", "reader-pass").await.unwrap();
    let token = reader.token().unwrap();
    let mut options = ClientOptions::new(url(&node));
    options.token = Some(token.clone());
    let by_token = Client::connect(options.clone()).await.unwrap();
    assert!(by_token.get("/shared/a").await.is_ok());

    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [
        tampered.as_str(),
        "not.a.token",
        "",
        "x".repeat(100_000).as_str(),
    ] {
        let mut options = ClientOptions::new(url(&node));
        options.token = Some(bad.to_string());
        let err = Client::connect(options).await.unwrap_err();
        assert!(
            matches!(err, Error::Unauthorized(_) | Error::BadInput(_)),
            "token of {} bytes: {err}",
            bad.len()
        );
    }
    tokio::time::sleep(Duration::from_millis(900)).await;
    let err = Client::connect(options).await.unwrap_err();
    assert!(err.to_string().contains("expired session token"), "{err}");
    let err = reader.get("/shared/a").await.unwrap_err();
    assert!(err.to_string().contains("expired session token"), "{err}");
}

#[tokio::test]
async fn lockout_after_repeated_failures() {
    let mut config = secure_config();
    config
        .services
        .security
        .config
        .account_lockout
        .retry_interval = Millis(600);
    let node = Node::start(config).await.unwrap();
    for _ in 0..4 {
        assert!(login(&node, "reader", "nope").await.is_err());
    }
    let err = login(&node, "reader", "reader-pass").await.unwrap_err();
    assert!(err.to_string().contains("Account locked out"), "{err}");
    login(&node, "writer", "writer-pass")
        .await
        .expect("other accounts unaffected");
    tokio::time::sleep(Duration::from_millis(700)).await;
    login(&node, "reader", "reader-pass")
        .await
        .expect("unlocked after the retry interval");
}

#[tokio::test]
async fn revoking_a_token_ends_every_session_created_from_it() {
    let node = secure_node().await;
    let first = login(&node, "reader", "reader-pass").await.unwrap();
    let token = first.token().unwrap();
    let mut options = ClientOptions::new(url(&node));
    options.token = Some(token.clone());
    let second = Client::connect(options.clone()).await.unwrap();
    let other = login(&node, "reader", "reader-pass").await.unwrap();
    first.logout().await.unwrap();
    assert!(
        eventually(|| second.last_disconnect_reason().as_deref() == Some("token-revoked")).await
    );
    assert!(second.get("/shared/a").await.is_err());
    let err = Client::connect(options).await.unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
    assert!(
        other.get("/shared/a").await.is_ok(),
        "sessions from other logins are unaffected"
    );
}

#[tokio::test]
async fn live_directory_changes() {
    let node = secure_node().await;
    let security = node.security().clone();
    let reader = login(&node, "reader", "reader-pass").await.unwrap();
    let writer = login(&node, "writer", "writer-pass").await.unwrap();
    let (_, mut events) = reader
        .on_stream("/shared/*", OnOptions::default())
        .await
        .unwrap();
    assert_eq!(node.pubsub().subscription_count(), 1);

    // Removing the `on` permission drops the subscription at once.
    security
        .remove_permission("readers", "/shared/*", Some("on"))
        .await
        .unwrap();
    assert!(eventually(|| node.pubsub().subscription_count() == 0).await);
    writer.set("/shared/after", json!({})).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), events.recv())
            .await
            .is_err_or_none()
    );
    assert!(
        reader.get("/shared/after").await.is_ok(),
        "get is still allowed"
    );

    // A new permission applies without re-login.
    security
        .upsert_permission("readers", "/extra/*", "get", true)
        .await
        .unwrap();
    writer
        .request("set", Some("/extra/1"), json!({}), None)
        .await
        .ok();
    let admin = login(&node, "_ADMIN", "admin-pass").await.unwrap();
    admin.set("/extra/1", json!({"x": 1})).await.unwrap();
    assert!(eventually_async(|| async { reader.get("/extra/1").await.is_ok() }).await);

    // Deleting the user ends its sessions.
    assert!(security.delete_user("reader").await.unwrap());
    assert!(eventually(|| reader.last_disconnect_reason().is_some()).await);
    assert_eq!(
        reader.last_disconnect_reason().as_deref(),
        Some("security directory update: user deleted")
    );
    assert!(login(&node, "reader", "reader-pass").await.is_err());
}

#[tokio::test]
async fn admin_api_and_bootstrap() {
    let node = secure_node().await;
    let security = node.security().clone();
    security
        .upsert_group("ops", json!({"team": "a"}), &Default::default())
        .await
        .unwrap();
    security
        .upsert_permission("ops", "/ops/*", "*", true)
        .await
        .unwrap();
    security
        .upsert_user("carol", Some("carol-pass"), json!({"desk": 3}))
        .await
        .unwrap();
    security.link_group("carol", "ops").await.unwrap();
    let carol = security.get_user("carol").await.unwrap().unwrap();
    assert_eq!(carol.groups, vec!["ops"]);
    assert_eq!(carol.custom_data["desk"], 3);
    let users: Vec<String> = security
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(users, ["_ADMIN", "carol", "reader", "writer"]);
    let groups = security.list_groups().await.unwrap();
    let ops = groups.iter().find(|g| g.name == "ops").unwrap();
    assert_eq!(ops.permissions.len(), 1);
    let c = login(&node, "carol", "carol-pass").await.unwrap();
    c.set("/ops/1", json!({})).await.unwrap();
    assert!(security.unlink_group("carol", "ops").await.unwrap());
    assert!(eventually_async(|| async { c.set("/ops/2", json!({})).await.is_err() }).await);

    for bad in ["", "a/b", "star*", "名前", " padded"] {
        assert!(
            matches!(
                security.upsert_user(bad, Some("x"), Value::Null).await,
                Err(Error::BadInput(_))
            ),
            "{bad:?}"
        );
        assert!(
            matches!(
                security
                    .upsert_group(bad, Value::Null, &Default::default())
                    .await,
                Err(Error::BadInput(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        security.upsert_permission("ops", "/x", "fly", true).await,
        Err(Error::BadInput(_))
    ));
    assert!(matches!(
        security.delete_user("_ADMIN").await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        security.link_group("carol", "ghosts").await,
        Err(Error::NotFound(_))
    ));

    security
        .reset_admin_password("new-admin-pass")
        .await
        .unwrap();
    assert!(login(&node, "_ADMIN", "admin-pass").await.is_err());
    login(&node, "_ADMIN", "new-admin-pass").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_starts_share_one_admin_and_secret() {
    use happn_cluster::data::DataService;
    use happn_cluster::security::SecurityService;
    use std::sync::Arc;
    let store: Arc<dyn happn_cluster::sdk::Datastore> =
        Arc::new(happn_cluster::sdk::memory::MemoryDatastore::new());
    let data = Arc::new(DataService::single("shared", store));
    let config = secure_config().services.security.config;
    let starts = (0..4).map(|i| {
        let data = data.clone();
        let config = config.clone();
        tokio::spawn(
            async move { SecurityService::start(data, config, &format!("node-{i}")).await },
        )
    });
    let mut services = Vec::new();
    for start in starts {
        services.push(start.await.unwrap().expect("every node starts"));
    }
    let admins = services[0]
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.username == "_ADMIN")
        .count();
    assert_eq!(admins, 1);
    // A token from one node verifies on every other: they share the stored secret.
    let outcome = services[0]
        .login(
            happn_cluster::sdk::Credentials::Password {
                username: "reader".into(),
                password: "reader-pass".into(),
            },
            &happn_cluster::security::LoginContext {
                session_id: "s1".into(),
                kind: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for service in &services[1..] {
        service
            .verify_token(&outcome.token)
            .await
            .expect("token accepted cluster-wide");
    }
}

#[tokio::test]
async fn http_login_and_session() {
    let node = secure_node().await;
    let base = node.client_addr().unwrap();
    let (status, body) = http(
        base,
        "GET /auth/login?username=reader&password=reader-pass",
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["data"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = http(base, "GET /auth/login?username=reader&password=bad", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["message"],
        "Invalid credentials"
    );
    let bearer = format!("Authorization: Bearer {token}");
    let (status, body) = http(base, "GET /auth/session", &[&bearer]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["username"],
        "reader"
    );
    let cookie = format!("Cookie: happn_token={token}");
    assert_eq!(http(base, "GET /auth/session", &[&cookie]).await.0, 200);
    assert_eq!(
        http(base, &format!("GET /auth/session?happn_token={token}"), &[])
            .await
            .0,
        200
    );
    assert_eq!(http(base, "GET /auth/session", &[]).await.0, 401);
    assert_eq!(
        http(base, "GET /auth/session", &["Authorization: Bearer junk"])
            .await
            .0,
        401
    );
}

async fn http(addr: std::net::SocketAddr, request_line: &str, headers: &[&str]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut text = format!("{request_line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn eventually_async<F: std::future::Future<Output = bool>>(
    mut check: impl FnMut() -> F,
) -> bool {
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

trait ErrOrNone {
    fn is_err_or_none(&self) -> bool;
}

impl<T> ErrOrNone for Result<Option<T>, tokio::time::error::Elapsed> {
    fn is_err_or_none(&self) -> bool {
        matches!(self, Err(_) | Ok(None))
    }
}

#[tokio::test]
async fn idle_sessions_end_after_the_inactivity_threshold() {
    let mut config = secure_config();
    config.services.security.config.inactivity_threshold = Some(Millis(300));
    let node = Node::start(config).await.unwrap();
    let reader = login(&node, "reader", "reader-pass").await.unwrap();
    reader.get("/shared/a").await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    reader
        .get("/shared/a")
        .await
        .expect("activity within the threshold");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let err = reader.get("/shared/a").await.unwrap_err();
    assert!(err.to_string().contains("inactivity threshold"), "{err}");
    assert!(
        eventually(|| reader.last_disconnect_reason().as_deref() == Some("inactivity-threshold"))
            .await
    );
}

#[tokio::test]
async fn every_change_emits_a_typed_event() {
    use happn_cluster::security::SecurityEvent;
    let node = secure_node().await;
    let security = node.security().clone();
    let mut events = security.subscribe_events();
    security
        .upsert_group("g1", Value::Null, &Default::default())
        .await
        .unwrap();
    security
        .upsert_user("u1", Some("p1"), Value::Null)
        .await
        .unwrap();
    security.link_group("u1", "g1").await.unwrap();
    security
        .upsert_permission("g1", "/p/*", "get", true)
        .await
        .unwrap();
    security
        .remove_permission("g1", "/p/*", Some("get"))
        .await
        .unwrap();
    security.unlink_group("u1", "g1").await.unwrap();
    let u1 = login(&node, "u1", "p1").await.unwrap();
    u1.logout().await.unwrap();
    security.delete_user("u1").await.unwrap();
    security.delete_group("g1").await.unwrap();
    let mut seen = Vec::new();
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await
    {
        seen.push(event.what_happened());
        if let SecurityEvent::TokenRevoked { username, .. } = &event {
            assert_eq!(username, "u1");
        }
    }
    assert_eq!(
        seen,
        [
            "upsert-group",
            "upsert-user",
            "link-group",
            "permission-upserted",
            "permission-removed",
            "unlink-group",
            "token-revoked",
            "delete-user",
            "delete-group"
        ]
    );
}

/// Prohibits apply per record, whatever the query or mask text says.
#[tokio::test]
async fn prohibits_hold_against_wildcards() {
    let node = secure_node().await;
    let writer = login(&node, "writer", "writer-pass").await.unwrap();
    let reader = login(&node, "reader", "reader-pass").await.unwrap();
    writer.set("/shared/open", json!({"v": 1})).await.unwrap();
    writer
        .set("/shared/secret/hidden", json!({"v": 2}))
        .await
        .unwrap();
    let all = reader
        .get_many("/shared/*", Default::default())
        .await
        .unwrap();
    let paths: Vec<&str> = all
        .iter()
        .map(|r| r["_meta"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/shared/open"],
        "wildcard get skips prohibited records"
    );
    assert_eq!(
        reader.count("/shared/*", Default::default()).await.unwrap(),
        1
    );
    let (_, initial) = reader
        .on(
            "/shared/*",
            OnOptions {
                initial_values: true,
                ..OnOptions::default()
            },
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(
        initial.len(),
        1,
        "initial values skip prohibited records: {initial:?}"
    );
    let (_, mut events) = reader
        .on_stream("/shared/**", OnOptions::default())
        .await
        .unwrap();
    writer
        .set("/shared/secret/hidden", json!({"v": 3}))
        .await
        .unwrap();
    writer.set("/shared/open", json!({"v": 4})).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        event.meta["path"], "/shared/open",
        "no event from the prohibited path"
    );
    // A writer without get on /inbox gets back what it sent, not the merged record.
    writer.set("/inbox/m", json!({"old": 1})).await.unwrap();
    let merged = writer
        .set_with(
            "/inbox/m",
            json!({"new": 2}),
            happn_cluster::client::SetOptions {
                merge: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .reply;
    assert!(merged.get("old").is_none(), "{merged}");
    assert_eq!(merged["new"], 2);
    let quiet = writer
        .set_with(
            "/inbox/m",
            json!({"newer": 3}),
            happn_cluster::client::SetOptions {
                merge: true,
                no_publish: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .reply;
    assert!(quiet.get("old").is_none(), "noPublish merges too: {quiet}");
}

#[tokio::test]
async fn tokens_do_not_survive_user_recreation_and_names_cannot_escape() {
    let node = secure_node().await;
    let security = node.security().clone();
    security
        .upsert_user("temp", Some("temp-pass"), Value::Null)
        .await
        .unwrap();
    let temp = login(&node, "temp", "temp-pass").await.unwrap();
    let token = temp.token().unwrap();
    security.delete_user("temp").await.unwrap();
    security
        .upsert_user("temp", Some("other-pass"), Value::Null)
        .await
        .unwrap();
    let mut options = ClientOptions::new(url(&node));
    options.token = Some(token);
    assert!(
        Client::connect(options).await.is_err(),
        "a re-created namesake does not inherit tokens"
    );
    for name in [
        "reader/_USER_GROUP/readers",
        "_ADMIN/_USER_GROUP/_ADMIN",
        "../x",
    ] {
        let err = login(&node, name, "x").await.unwrap_err();
        assert!(
            matches!(err, Error::Unauthorized(ref m) if m.contains("Invalid credentials")),
            "{name}: {err}"
        );
    }
    // One login per socket.
    let reader = login(&node, "reader", "reader-pass").await.unwrap();
    let again = reader
        .request(
            "login",
            None,
            json!({"username": "writer", "password": "writer-pass"}),
            None,
        )
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already logged in"), "{again}");
}

#[tokio::test]
async fn a_plugin_user_cannot_become_a_stored_namesake() {
    let mut config = secure_config();
    config.services.security.config.auth.plugin = "open".into();
    let node = Node::start(config).await.unwrap();
    // The `open` plugin lets anyone in, with no groups.
    let fake = login(&node, "_ADMIN", "anything").await.unwrap();
    assert!(fake.get("/shared/x").await.is_err(), "no permissions");
    let mut options = ClientOptions::new(url(&node));
    options.token = fake.token();
    let by_token = Client::connect(options).await.unwrap();
    assert!(
        matches!(by_token.get("/shared/x").await, Err(Error::Forbidden(_))),
        "the token must not pick up the stored _ADMIN's groups"
    );
}

#[tokio::test]
async fn listening_sessions_expire_too() {
    let mut config = secure_config();
    config.services.security.config.session_ttl = Some(Millis(500));
    let node = Node::start(config).await.unwrap();
    let reader = login(&node, "reader", "reader-pass").await.unwrap();
    let (_, _events) = reader
        .on_stream("/shared/*", OnOptions::default())
        .await
        .unwrap();
    assert!(
        eventually_async(|| async {
            reader.last_disconnect_reason().as_deref() == Some("token-expired")
        })
        .await,
        "the sweep ends a session that only listens"
    );
}

/// happn-3 config that must load: a short `sessionTokenSecret` (warned about, not refused),
/// and `disableDefaultAdminNetworkConnections` at the top level or under security.
#[tokio::test]
async fn happn3_security_options_load_and_apply() {
    for key_at_top in [true, false] {
        let mut value = json!({
            "host": "127.0.0.1", "port": 0, "secure": true,
            "services": {
                "proxy": {"config": {"host": "127.0.0.1", "port": 0}},
                "data": {"config": {"datastores": [{"name": "m", "provider": "memory"}]}},
                "security": {"config": {
                    "sessionTokenSecret": "short",
                    "pbkdf2Iterations": 64,
                    "adminUser": {"password": "admin-pass"},
                    "users": [{"username": "ops", "password": "ops-pass", "groups": ["_ADMIN"]}]
                }}
            }
        });
        if key_at_top {
            value["disableDefaultAdminNetworkConnections"] = true.into();
        } else {
            value["services"]["security"]["config"]["disableDefaultAdminNetworkConnections"] =
                true.into();
        }
        let loaded = happn_cluster::config::Config::from_json_str(&value.to_string()).unwrap();
        assert!(loaded.ignored_keys.is_empty(), "{:?}", loaded.ignored_keys);
        let node = happn_cluster::Node::start(loaded.config).await.unwrap();
        let err = login(&node, "_ADMIN", "admin-pass")
            .await
            .expect_err("_ADMIN refused over the network");
        assert!(
            err.to_string()
                .contains("use of _ADMIN credentials over the network is disabled"),
            "{err}"
        );
        // Other administrators log in, and tokens signed with the short secret work.
        let ops = login(&node, "ops", "ops-pass").await.unwrap();
        let token = ops.token().unwrap();
        let mut options = ClientOptions::new(url(&node));
        options.token = Some(token);
        let again = Client::connect(options).await.expect("token login");
        again.set("/x", json!({"ok": 1})).await.unwrap();
        node.shutdown(Duration::from_secs(1)).await;
    }
}
