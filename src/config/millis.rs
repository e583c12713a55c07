//! Durations written as milliseconds, the way the seed config does (`5000`, `6e3`), or as
//! strings with a unit (`"5s"`, `"500ms"`, `"2m"`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in whole milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

impl Millis {
    /// As a [`Duration`].
    pub fn duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MillisVisitor)
    }
}

struct MillisVisitor;

impl Visitor<'_> for MillisVisitor {
    type Value = Millis;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("milliseconds as a number, or a string like \"5s\", \"500ms\", \"2m\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Millis, E> {
        Ok(Millis(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Millis, E> {
        u64::try_from(v)
            .map(Millis)
            .map_err(|_| E::custom(format!("a duration cannot be negative (got {v})")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Millis, E> {
        if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u64::MAX as f64 {
            Ok(Millis(v as u64))
        } else {
            Err(E::custom(format!(
                "a duration must be a whole, non-negative number of milliseconds (got {v})"
            )))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Millis, E> {
        parse_duration(v).map(Millis).map_err(E::custom)
    }
}

/// Parses `"1500"`, `"1500ms"`, `"5s"`, `"2m"`, `"1h"`, `"4 seconds"` into milliseconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("cannot read a duration from {text:?}"))?;
    let factor = match unit.trim() {
        "" | "ms" | "millis" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000.0,
        "h" | "hour" | "hours" => 3_600_000.0,
        "d" | "day" | "days" => 86_400_000.0,
        other => return Err(format!("unknown duration unit {other:?} in {text:?}")),
    };
    Ok((value * factor).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_numbers_floats_and_units() {
        let read = |s: &str| serde_json::from_str::<Millis>(s).map(|m| m.0);
        assert_eq!(read("5000").unwrap(), 5000);
        assert_eq!(read("6e3").unwrap(), 6000);
        assert_eq!(read("\"5s\"").unwrap(), 5000);
        assert_eq!(read("\"4 seconds\"").unwrap(), 4000);
        assert_eq!(read("\"250ms\"").unwrap(), 250);
        assert!(read("-1").is_err());
        assert!(read("1.5").is_err());
        assert!(read("\"5 fortnights\"").is_err());
    }
}
