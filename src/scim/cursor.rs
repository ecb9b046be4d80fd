//! Cursors of RFC 9865 cursor pagination.
//!
//! A cursor is opaque to clients: URL-safe base64 of a small JSON record holding where the
//! page starts, when the cursor was issued and a fingerprint of the query. A cursor therefore
//! survives any number of Hub instances without shared state. It grants nothing: the caller's
//! token still selects the organization, and every value in it is bound as a SQL parameter.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{ScimError, ScimType};

/// How long a cursor stays valid, advertised as `pagination.cursorTimeout` (seconds).
pub const CURSOR_TIMEOUT_SECONDS: i64 = 3600;

/// The start of a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Position {
    /// The rows after this sort key and sequence number (a `nextCursor`).
    After { key: Option<String>, seq: i64 },
    /// The rows before this sort key and sequence number (a `previousCursor`).
    Before { key: Option<String>, seq: i64 },
    /// A position in a list sorted in memory, for filters SQL cannot answer.
    Offset(i64),
}

/// A decoded cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "q")]
    pub query: String,
    #[serde(rename = "t")]
    pub issued_at: i64,
    #[serde(rename = "p")]
    pub position: Position,
}

impl Cursor {
    /// Encodes the cursor for `nextCursor` or `previousCursor`.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a cursor sent by a client and checks it belongs to this query and has not expired.
    pub fn decode(text: &str, query: &str, now: i64) -> Result<Cursor, ScimError> {
        let invalid = || {
            ScimError::bad_request(
                ScimType::InvalidCursor,
                format!(
                    "The cursor {text:?} was not issued by Hub for this query; send an empty cursor for the first page, \
                     then the nextCursor or previousCursor of the last response, with the same filter and sort."
                ),
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.query != query {
            return Err(invalid());
        }
        if now - cursor.issued_at > CURSOR_TIMEOUT_SECONDS {
            return Err(ScimError::bad_request(
                ScimType::ExpiredCursor,
                format!(
                    "The cursor expired: cursors are valid for {CURSOR_TIMEOUT_SECONDS} seconds (cursorTimeout). \
                     Start again with an empty cursor."
                ),
            ));
        }
        Ok(cursor)
    }
}

/// Fingerprints what a cursor depends on: the resource type, the filter and the sort.
pub fn query_fingerprint(resource: &str, filter: Option<&str>, sort_by: Option<&str>, descending: bool) -> String {
    let mut hasher = Sha256::new();
    for part in [resource, filter.unwrap_or(""), &sort_by.unwrap_or("").to_lowercase(), if descending { "d" } else { "a" }] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checks() {
        let cursor = Cursor {
            query: "abc".into(),
            issued_at: 1000,
            position: Position::After { key: Some("x".into()), seq: 7 },
        };
        let text = cursor.encode();

        assert_eq!(Cursor::decode(&text, "abc", 1001).unwrap(), cursor);
        assert_eq!(Cursor::decode(&text, "other", 1001).unwrap_err().scim_type, Some(ScimType::InvalidCursor));
        assert_eq!(Cursor::decode("garbage!", "abc", 1001).unwrap_err().scim_type, Some(ScimType::InvalidCursor));
        let late = 1000 + CURSOR_TIMEOUT_SECONDS + 1;
        assert_eq!(Cursor::decode(&text, "abc", late).unwrap_err().scim_type, Some(ScimType::ExpiredCursor));
    }
}
