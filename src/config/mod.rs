//! Node configuration: the typed model ([`Config`]), loading from JSON or TOML with
//! environment overrides ([`load`]), defaults resolution ([`Config::effective`]) and
//! validation with messages that name the key ([`validate`]).

mod example;
mod load;
mod millis;
mod model;
mod redact;
mod validate;

pub use example::{EXAMPLE_TOML, example_with_plugins};
pub use load::{Loaded, advertised_host, default_node_name};
pub use millis::{Millis, parse_duration};
pub use model::*;
pub use redact::{REDACTED, redacted};
pub use validate::{ConfigIssue, validate};

use std::fmt;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid JSON/TOML or a value has the wrong type.
    #[error("cannot parse config{origin}: {message}")]
    Parse {
        /// ` file X` or empty.
        origin: String,
        /// The parser's message (with the key path where known).
        message: String,
    },
    /// One or more keys have unusable values.
    #[error("invalid config:\n{}", Issues(.0))]
    Invalid(Vec<ConfigIssue>),
}

struct Issues<'a>(&'a [ConfigIssue]);

impl fmt::Display for Issues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for issue in self.0 {
            writeln!(f, "  - {issue}")?;
        }
        Ok(())
    }
}
