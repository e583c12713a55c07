//! The one error type every plugin returns, classified by meaning rather than by backend.

/// Result alias used across the SDK and by every plugin.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, classified so callers can branch on meaning (retry, report, refuse…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The addressed thing does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The operation collides with existing state (duplicate key, version clash…).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A backing service (database, peer, network) cannot be reached right now; retrying later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The caller sent something malformed or out of range.
    #[error("bad input: {0}")]
    BadInput(String),
    /// Credentials were missing, wrong or expired.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The caller is known but not allowed to do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The operation did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The plugin does not support this operation.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A bug or an unexpected backend failure.
    #[error("internal error: {0}")]
    Internal(String),
    /// A request refused the way happn-3's data service refuses it, which happn clients
    /// receive as `SystemError` (500): a criteria `$regex` of the wrong type, a non-numeric
    /// increment, a feature the path's datastore lacks. Not a node fault.
    #[error("{0}")]
    System(String),
}

impl Error {
    /// Shorthand for [`Error::BadInput`].
    pub fn bad_input(message: impl Into<String>) -> Self {
        Error::BadInput(message.into())
    }

    /// Shorthand for [`Error::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::Unavailable(message.into())
    }

    /// Shorthand for [`Error::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }

    /// True when retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::Timeout(_))
    }

    /// The bare message without the classification prefix.
    pub fn message(&self) -> &str {
        match self {
            Error::NotFound(m)
            | Error::Conflict(m)
            | Error::Unavailable(m)
            | Error::BadInput(m)
            | Error::Unauthorized(m)
            | Error::Forbidden(m)
            | Error::Timeout(m)
            | Error::Unsupported(m)
            | Error::Internal(m)
            | Error::System(m) => m,
        }
    }
}
