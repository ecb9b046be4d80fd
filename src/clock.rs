//! Time in the one textual form Hub stores and sends: UTC RFC 3339 with milliseconds.

use chrono::{DateTime, SecondsFormat, Utc};

/// Returns the current time, truncated to milliseconds so stored and sent values agree.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Formats a time as "2026-12-04T20:16:45.123Z".
pub fn format(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a stored time.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}
