//! A peer's identity as it proved it: node name, cluster, service and endpoint, each
//! validated before anything logs, stores or dials it (names and endpoints arrive from the
//! network and from a shared database).

use serde_json::{Value, json};

use super::TrustError;

/// Longest accepted node, cluster or service name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// Checks a node, cluster or service name: 1–128 printable ASCII characters, none of them
/// whitespace, quotes, `/`, `\`, `<`, `>` or a backtick.
pub fn check_name(kind: &str, name: &str) -> Result<(), TrustError> {
    let bad = |why: &str| {
        Err(TrustError::Invalid(format!(
            "{kind} name {:?} {why}",
            name.escape_debug().to_string()
        )))
    };
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return bad(&format!("is longer than {MAX_NAME_BYTES} bytes"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"/\\\"'<>`".contains(&b))
    {
        return bad("holds whitespace, a control character, a quote or one of / \\ < > `");
    }
    Ok(())
}

/// Checks an endpoint: `host:port`, the host a DNS name, an IPv4 address or a bracketed
/// IPv6 address, the port 1–65535.
pub fn check_endpoint(endpoint: &str) -> Result<(), TrustError> {
    let bad = |why: &str| {
        Err(TrustError::Invalid(format!(
            "endpoint {:?} {why}",
            endpoint.escape_debug().to_string()
        )))
    };
    let Some((host, port)) = endpoint.rsplit_once(':') else {
        return bad("is not host:port");
    };
    if !matches!(port.parse::<u16>(), Ok(p) if p > 0) || port.starts_with('+') {
        return bad("has no valid port");
    }
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    };
    if !host_ok {
        return bad("has an invalid host");
    }
    Ok(())
}

/// Who a peer is, once proven.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerIdentity {
    /// Node name.
    pub name: String,
    /// Cluster name.
    pub cluster_name: String,
    /// Service name.
    pub service: String,
    /// Internal endpoint (`host:port`).
    pub endpoint: String,
}

impl PeerIdentity {
    /// An identity whose fields are checked.
    pub fn new(
        name: &str,
        cluster_name: &str,
        service: &str,
        endpoint: &str,
    ) -> Result<PeerIdentity, TrustError> {
        check_name("node", name)?;
        check_name("cluster", cluster_name)?;
        check_name("service", service)?;
        check_endpoint(endpoint)?;
        Ok(PeerIdentity {
            name: name.into(),
            cluster_name: cluster_name.into(),
            service: service.into(),
            endpoint: endpoint.into(),
        })
    }

    /// Reads and checks `{name, clusterName, serviceName, endpoint}`.
    pub fn from_json(value: &Value) -> Result<PeerIdentity, TrustError> {
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| TrustError::Malformed(format!("{key} must be a string")))
        };
        PeerIdentity::new(
            text("name")?,
            text("clusterName")?,
            text("serviceName")?,
            text("endpoint")?,
        )
    }

    /// `{name, clusterName, serviceName, endpoint}`.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "clusterName": self.cluster_name,
            "serviceName": self.service,
            "endpoint": self.endpoint,
        })
    }

    /// The fields a proof covers, in a fixed order.
    pub fn parts(&self) -> [&str; 4] {
        [
            &self.name,
            &self.cluster_name,
            &self.service,
            &self.endpoint,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_endpoints_from_the_network_are_checked() {
        assert!(check_name("node", "10-0-0-1_57000").is_ok());
        assert!(check_name("node", "a\nb").is_err());
        assert!(check_name("node", "\u{1b}[31mred").is_err());
        assert!(check_name("node", "").is_err());
        assert!(check_name("node", &"x".repeat(129)).is_err());
        assert!(check_endpoint("127.0.0.1:57000").is_ok());
        assert!(check_endpoint("node-1.internal:1").is_ok());
        assert!(check_endpoint("[::1]:57000").is_ok());
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            "h ost:1",
            "host:1\n",
            ":1",
            "[nope]:1",
            "a\u{1b}b:1",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad:?} accepted");
        }
        let id = PeerIdentity::new("n", "c", "s", "127.0.0.1:1").unwrap();
        assert_eq!(PeerIdentity::from_json(&id.to_json()).unwrap(), id);
        assert!(PeerIdentity::from_json(&json!({"name": "n"})).is_err());
    }
}
