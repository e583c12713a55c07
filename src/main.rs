//! `happn-cluster`: run a node, print or check configs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::time::Duration;

use happn_cluster::Node;

mod cli;
use happn_cluster::config::{self, Config};

/// A clustered realtime data store and pub/sub server, compatible with happn-3 clients.
#[derive(Debug, Parser)]
#[command(name = "happn-cluster", version, about, long_about = None)]
struct Cli {
    /// Config file (.json in the seed's shape, or .toml). Without one, defaults apply.
    #[arg(short, long, global = true, env = "HAPPN_CONFIG")]
    config: Option<PathBuf>,

    /// Log line format: `human`, or `json` (one object per line, for log shippers).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        env = "HAPPN_LOG_FORMAT"
    )]
    log_format: happn_cluster::logging::LogFormat,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node (the default when no command is given).
    Run,
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Load-test any happn endpoint (this server or the original happn-3).
    Bench(BenchArgs),
    /// Administer users, groups and permissions in the configured datastore.
    #[command(subcommand)]
    Admin(happn_cluster::admin::AdminCommand),
    /// Show a node's view of its cluster: members, states, links, replication rates.
    Status(StatusArgs),
    /// List a running node's connected sessions (user, matched profile, token family,
    /// expiry, last activity) as JSON; needs an `_ADMIN` token.
    Sessions(SessionsArgs),
    /// Run a local N-node cluster for development (one process per node, shared store).
    Dev(cli::dev::DevArgs),
    /// Print a new random cluster secret (32 bytes, base64) for
    /// `services.orchestrator.config.clusterSecret`.
    Secret,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// The node's internal port or its client port (with an admin --token when secure).
    #[arg(long, default_value = "http://127.0.0.1:57000")]
    url: String,
    /// An `_ADMIN` token (secure nodes: without one, `/health` tells only the state).
    #[arg(long, env = "HAPPN_TOKEN")]
    token: Option<String>,
    /// How long to watch the counters to compute rates (0s: one sample, no rates).
    #[arg(long, default_value = "1s", value_parser = parse_bench_duration)]
    interval: Duration,
    /// Print JSON (the `/health` document plus rates) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct SessionsArgs {
    /// The node's client or internal port.
    #[arg(long, default_value = "http://127.0.0.1:55000")]
    url: String,
    /// An `_ADMIN` token.
    #[arg(long, env = "HAPPN_TOKEN")]
    token: String,
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Endpoint URL.
    #[arg(long, default_value = "http://127.0.0.1:55000")]
    url: String,
    /// Clients doing set/get in a closed loop.
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Clients subscribed to every written path.
    #[arg(long, default_value_t = 0)]
    subscribers: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Duration, e.g. 10s or 1m.
    #[arg(long, default_value = "10s", value_parser = parse_bench_duration)]
    duration: Duration,
    /// Fraction of requests that are gets (0..=1).
    #[arg(long, default_value_t = 0.5)]
    get_ratio: f64,
    /// Fraction of requests that are wildcard finds (0..=1; the rest are sets).
    #[arg(long, default_value_t = 0.0)]
    find_ratio: f64,
    /// Distinct paths written.
    #[arg(long, default_value_t = 1000)]
    paths: usize,
    /// Username (secure endpoints).
    #[arg(long)]
    username: Option<String>,
    /// Password (secure endpoints).
    #[arg(long)]
    password: Option<String>,
    /// For https:// endpoints: accept self-signed certificates.
    #[arg(long)]
    allow_self_signed_certs: bool,
    /// Requests each client keeps in flight.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Cluster mode, `URL,URL,…`: writers on the first node, subscribers on the others
    /// (one per other node unless --subscribers says more); reports cross-node delivery
    /// latency and replicated events/s.
    #[arg(long, value_delimiter = ',')]
    cluster: Vec<String>,
    /// Print the report as one JSON object (no progress lines).
    #[arg(long)]
    json: bool,
    /// Open loop at this many requests per second in total (default: closed loop, as
    /// fast as the server answers). Compare latencies at the same rate.
    #[arg(long)]
    rate: Option<f64>,
}

fn parse_bench_duration(text: &str) -> Result<Duration, String> {
    config::parse_duration(text).map(Duration::from_millis)
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a documented config with every key at its default (TOML).
    Example,
    /// Validate the config and print the effective config (defaults resolved) as JSON.
    Check,
}

/// The binary's allocator, chosen by measurement (see the README's performance section):
/// glibc malloc cost about 15 % of the server's CPU under a set load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    happn_cluster::logging::init(cli.log_format);
    let path = cli.config.as_deref();
    match cli.command.unwrap_or(Command::Run) {
        Command::Bench(args) => bench(args),
        Command::Status(args) => status(args),
        Command::Sessions(args) => sessions(args),
        Command::Dev(args) => cli::dev::run(args),
        Command::Secret => report(happn_cluster::trust::key::generate_secret()),
        Command::Config(ConfigCommand::Example) => {
            print!("{}", config::example_with_plugins());
            ExitCode::SUCCESS
        }
        Command::Config(ConfigCommand::Check) => with_config(path, |effective| {
            report(serde_json::to_string_pretty(&config::redacted(&effective)))
        }),
        Command::Admin(command) => with_config(path, |effective| admin(effective, command)),
        Command::Run => with_config(path, run),
    }
}

/// Loads the config and hands it to `then`; an unusable config exits with status 2.
fn with_config(path: Option<&std::path::Path>, then: impl FnOnce(Config) -> ExitCode) -> ExitCode {
    match load(path) {
        Ok(effective) => then(effective),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Prints a command's result (stdout) or error (stderr) and picks the exit status.
fn report<T: std::fmt::Display, E: std::fmt::Display>(outcome: Result<T, E>) -> ExitCode {
    match outcome {
        Ok(text) => {
            println!("{}", text.to_string().trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A multi-threaded async runtime, or the exit status after saying why there is none.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}

/// Runs one admin command against the configured datastore.
fn admin(config: Config, command: happn_cluster::admin::AdminCommand) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(status) => return status,
    };
    let outcome = runtime.block_on(async move {
        let stores = &config.services.data.config.datastores;
        let data =
            std::sync::Arc::new(happn_cluster::data::DataService::from_config(stores).await?);
        let name = config.name.clone().unwrap_or_default();
        let security = happn_cluster::security::SecurityService::start(
            data.clone(),
            config.services.security.config.clone(),
            &name,
        )
        .await?;
        let result = happn_cluster::admin::execute_recorded(&security, &data, command).await;
        data.close().await;
        result
    });
    report(outcome)
}

/// Prints a node's view of its cluster; exits 1 when the node is not healthy (503) or
/// cannot be reached, so scripts can test it.
fn status(args: StatusArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(status) => return status,
    };
    let sampled = runtime.block_on(happn_cluster::status::sample(
        &args.url,
        args.token.as_deref(),
        args.interval,
    ));
    match sampled {
        Ok(status) => {
            if args.json {
                println!("{}", status.to_json());
            } else {
                print!("{}", status.to_table());
            }
            if status.http_status == 200 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn sessions(args: SessionsArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(status) => return status,
    };
    match runtime.block_on(happn_cluster::client::http::get(
        &args.url,
        "/security/sessions",
        Some(&args.token),
    )) {
        Ok((200, body)) => {
            println!("{body}");
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            eprintln!(
                "error: {}/security/sessions answered {status}: {body}",
                args.url
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the load generator and prints its report.
fn bench(args: BenchArgs) -> ExitCode {
    if !(0.0..=1.0).contains(&args.get_ratio)
        || !(0.0..=1.0).contains(&args.find_ratio)
        || args.get_ratio + args.find_ratio > 1.0
    {
        eprintln!(
            "error: --get-ratio and --find-ratio must be between 0 and 1 and sum to at most 1"
        );
        return ExitCode::from(2);
    }
    // Cluster mode: writers on the first node, subscribers on the others.
    let (url, subscriber_urls, subscribers) = match args.cluster.as_slice() {
        [] => (args.url, Vec::new(), args.subscribers),
        [_] => {
            eprintln!("error: --cluster needs at least two node URLs");
            return ExitCode::from(2);
        }
        [first, rest @ ..] => (
            first.clone(),
            rest.to_vec(),
            args.subscribers.max(rest.len()),
        ),
    };
    let json = args.json;
    let options = happn_cluster::loadgen::LoadOptions {
        url,
        clients: args.clients,
        subscribers,
        payload_bytes: args.payload,
        duration: args.duration,
        get_ratio: args.get_ratio,
        find_ratio: args.find_ratio,
        paths: args.paths,
        username: args.username,
        password: args.password,
        allow_self_signed_certs: args.allow_self_signed_certs,
        progress: !args.json,
        pipeline: args.pipeline,
        subscriber_urls,
        rate: args.rate,
    };
    match runtime() {
        Ok(runtime) => {
            let outcome = runtime.block_on(happn_cluster::loadgen::run(options));
            if json {
                report(outcome.map(|r| r.to_json()))
            } else {
                report(outcome)
            }
        }
        Err(status) => status,
    }
}

/// Runs a node until Ctrl-C / SIGTERM, then shuts it down gracefully.
fn run(config: Config) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(status) => return status,
    };
    runtime.block_on(async move {
        // A signal while the node waits for its cluster stops the start (its tasks end with
        // the dropped start; the keepalive record ages out).
        let started = tokio::select! {
            started = Node::start(config) => started,
            _ = cli::wait_for_signal() => {
                eprintln!("stopped before the cluster stabilised");
                return ExitCode::FAILURE;
            }
        };
        let node = match started {
            Ok(node) => node,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(addr) = node.client_addr() {
            eprintln!(
                "happn-cluster node {} ready: clients connect to http://{addr} (peers: {})",
                node.name(),
                node.peer_addr()
            );
        }
        cli::wait_for_signal().await;
        eprintln!("shutting down…");
        node.shutdown(Duration::from_secs(10)).await;
        ExitCode::SUCCESS
    })
}

/// Loads, applies the environment, resolves defaults and validates.
fn load(path: Option<&std::path::Path>) -> Result<Config, config::ConfigError> {
    let loaded = match path {
        Some(path) => Config::from_file(path)?,
        None => config::Loaded {
            config: Config::default(),
            ignored_keys: Vec::new(),
        },
    };
    for key in &loaded.ignored_keys {
        tracing::warn!(key, "config key not recognised; ignored");
    }
    let mut config = loaded.config;
    config.apply_env(|name| std::env::var(name).ok());
    let effective = config.effective();
    config::validate(&effective)?;
    Ok(effective)
}
