//! Security costs: the permission check made on every request, token signing and
//! verification, password verification, and a whole login through the security service.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use happn_cluster::config::SecurityConfig;
use happn_cluster::data::DataService;
use happn_cluster::sdk::Credentials;
use happn_cluster::security::{
    Action, LoginContext, PermissionSet, SecurityService, hash_password, verify_password,
};

fn permission_set(entries: usize) -> PermissionSet {
    let mut set = PermissionSet::default();
    for i in 0..entries {
        let actions = vec!["get".to_string(), "on".to_string()];
        set.add(&format!("/tenant-{i}/devices/*"), &actions, &[]);
    }
    set.add("/tenant-0/devices/secret/*", &[], &["get".to_string()]);
    set
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("security");
    group.sample_size(30);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for entries in [10, 100] {
        let set = permission_set(entries);
        let last = format!("/tenant-{}/devices/7/temperature", entries - 1);
        group.bench_with_input(
            BenchmarkId::new("permission_check_allowed", entries),
            &entries,
            |b, _| b.iter(|| set.allows(Action::Get, black_box(&last))),
        );
        group.bench_with_input(
            BenchmarkId::new("permission_check_denied", entries),
            &entries,
            |b, _| b.iter(|| set.allows(Action::Set, black_box("/elsewhere/devices/7"))),
        );
    }

    let hash = hash_password("password", 10_000).expect("hash");
    group.sample_size(10);
    group.bench_function("verify_password_pbkdf2_sha512_10000", |b| {
        b.iter(|| verify_password(black_box("password"), &hash))
    });

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let service = runtime.block_on(async {
        let store: Arc<dyn happn_cluster::sdk::Datastore> =
            Arc::new(happn_cluster::sdk::memory::MemoryDatastore::new());
        let data = Arc::new(DataService::single("bench", store));
        let config: SecurityConfig = serde_json::from_value(serde_json::json!({
            "groups": [{"name": "g", "permissions": {"/a/*": {"actions": ["get"]}}}],
            "users": [{"username": "u", "password": "p", "groups": ["g"]}]
        }))
        .expect("config");
        SecurityService::start(data, config, "bench")
            .await
            .expect("service")
    });
    group.bench_function("login_password_10000_iterations", |b| {
        b.iter(|| {
            runtime
                .block_on(service.login(
                    Credentials::Password {
                        username: "u".into(),
                        password: "p".into(),
                    },
                    &at("session"),
                ))
                .expect("login")
        })
    });
    let token = runtime
        .block_on(service.login(
            Credentials::Password {
                username: "u".into(),
                password: "p".into(),
            },
            &at("s"),
        ))
        .expect("login")
        .token;
    group.sample_size(30);
    group.bench_function("login_token", |b| {
        b.iter(|| {
            runtime
                .block_on(service.login(Credentials::Token(token.clone()), &at("s2")))
                .expect("login")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

/// A websocket login for session `id` with no address or info.
fn at(id: &str) -> LoginContext {
    LoginContext {
        session_id: id.into(),
        kind: 1,
        ..LoginContext::default()
    }
}
