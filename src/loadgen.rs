//! Load generator (in progress).
