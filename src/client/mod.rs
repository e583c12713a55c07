//! Rust client (in progress).
