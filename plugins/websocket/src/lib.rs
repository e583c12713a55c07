//! # happn-transport-websocket
//!
//! The default [`Transport`]: a hyper HTTP/1.1 server that upgrades any path (happn clients
//! use `/primus`) to a WebSocket with tokio-tungstenite, speaking primus framing:
//!
//! * every frame is one JSON text; primus control messages are JSON strings;
//! * the server sends `"primus::ping::<ms>"` every `ping_interval` and expects
//!   `"primus::pong::<ms>"`; a peer silent for `dead_after` is dropped;
//! * legacy client pings are answered with pongs;
//! * `Outbound::Close { reconnect: false }` sends `"primus::server::close"` first, which
//!   tells primus clients not to reconnect.
//!
//! Dialled connections (the Rust client, peers) answer server pings and drop a server that
//! stops pinging for `dead_after`.

mod connection;
mod idle;
mod server;
mod slots;
mod tls;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt;
use happn_cluster_sdk::{
    BuildContext, Connection, ConnectionInfo, Error, Host, Result, ServeOptions, Transport,
    TransportPlugin,
};
use tokio::sync::watch;

pub use connection::Role;

/// The WebSocket transport.
#[derive(Debug, Default, Clone)]
pub struct WebSocketTransport;

#[async_trait]
impl Transport for WebSocketTransport {
    fn check(&self, options: &ServeOptions) -> Result<()> {
        if let Some(files) = &options.tls {
            tls::acceptor(files)?;
        }
        Ok(())
    }

    async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        host: Arc<dyn Host>,
        options: ServeOptions,
        shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        server::serve(listener, host, options, shutdown).await
    }

    async fn dial(&self, url: &str, options: &ServeOptions) -> Result<Connection> {
        let ws_url = to_ws_url(url)?;
        let config = connection::ws_config(options);
        let connector = if ws_url.starts_with("wss://") {
            Some(tokio_tungstenite::Connector::Rustls(tls::client_config(
                options.allow_self_signed_certs,
            )?))
        } else {
            Some(tokio_tungstenite::Connector::Plain)
        };
        let (stream, _response) = tokio_tungstenite::connect_async_tls_with_config(
            ws_url.as_str(),
            Some(config),
            true,
            connector,
        )
        .await
        .map_err(|e| Error::unavailable(format!("cannot connect to {url}: {e}")))?;
        let info = ConnectionInfo {
            remote: None,
            url: ws_url,
            headers: Vec::new(),
        };
        Ok(connection::spawn(
            stream,
            info,
            options.clone(),
            Role::Client,
            None,
        ))
    }
}

/// Turns `http://h:p`, `ws://h:p` or `h:p` into the primus WebSocket URL `ws://h:p/primus`.
pub fn to_ws_url(url: &str) -> Result<String> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http" | "ws", rest)) => ("ws", rest),
        Some(("https" | "wss", rest)) => ("wss", rest),
        Some((other, _)) => {
            return Err(Error::bad_input(format!(
                "unsupported URL scheme {other:?} in {url}"
            )));
        }
        None => ("ws", url),
    };
    if rest.is_empty() {
        return Err(Error::bad_input(format!("no host in URL {url:?}")));
    }
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    let path = if path.is_empty() || path == "/" {
        "/primus"
    } else {
        path
    };
    Ok(format!("{scheme}://{authority}{path}"))
}

fn build(
    context: BuildContext,
) -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Transport>>> {
    let settings = context.settings;
    async move {
        if !(settings.is_null() || settings.as_object().is_some_and(|m| m.is_empty())) {
            return Err(Error::bad_input(
                "the websocket transport takes no settings (limits live in services.session.config)",
            ));
        }
        Ok(Arc::new(WebSocketTransport) as Arc<dyn Transport>)
    }
    .boxed()
}

inventory::submit! {
    TransportPlugin {
        name: "websocket",
        aliases: &["primus"],
        description: "WebSocket server and client with primus framing and heartbeats (what happn-3 clients speak).",
        example: "{}",
        build,
    }
}

use happn_cluster_sdk::inventory;

#[cfg(test)]
mod tests {
    use super::to_ws_url;

    #[test]
    fn urls_become_primus_websocket_urls() {
        assert_eq!(
            to_ws_url("http://127.0.0.1:55000").unwrap(),
            "ws://127.0.0.1:55000/primus"
        );
        assert_eq!(to_ws_url("ws://h:1/").unwrap(), "ws://h:1/primus");
        assert_eq!(to_ws_url("h:1").unwrap(), "ws://h:1/primus");
        assert_eq!(to_ws_url("https://h/x").unwrap(), "wss://h/x");
        assert!(to_ws_url("ftp://h").is_err());
    }
}
