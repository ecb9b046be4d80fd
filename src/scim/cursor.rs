//! Cursors of RFC 9865 cursor pagination.
//!
//! A cursor is opaque to clients. It is URL-safe base64 of a small JSON record (the start of
//! the page, the time the cursor was issued, a fingerprint of the query), then an HMAC-SHA256
//! tag. Every instance derives the tag's key from the stored signing secret, so any
//! instance can therefore continue a walk another one started, and an altered cursor (a later
//! issue time, another position) fails the tag check. The caller's token still selects the
//! organization, and every value in a cursor is bound as a SQL parameter.
//!
//! NOTE: the record is signed, not encrypted, so a cursor shows the sort key of the row it
//! points at (a userName, say) to anyone who sees the URL, as a filter in the same URL would.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes of the HMAC tag kept in a cursor.
const TAG_BYTES: usize = 16;

/// The clock reading and key that date and sign the cursors of one request.
#[derive(Debug, Clone, Copy)]
pub struct CursorContext<'a> {
    /// The current time in Unix seconds.
    pub now: i64,
    pub key: &'a [u8],
}

fn tag(key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(payload);
    mac.finalize().into_bytes()[..TAG_BYTES].to_vec()
}

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
    /// A position in a list sorted in memory (a `sortBy` on a multi-valued attribute).
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
    /// Encodes and signs the cursor for `nextCursor` or `previousCursor`.
    pub fn encode(&self, key: &[u8]) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&json), URL_SAFE_NO_PAD.encode(tag(key, &json)))
    }

    /// Decodes a cursor sent by a client and checks its tag, its query and its age.
    pub fn decode(text: &str, query: &str, context: CursorContext<'_>) -> Result<Cursor, ScimError> {
        let invalid = || {
            ScimError::bad_request(
                ScimType::InvalidCursor,
                format!(
                    "The cursor {text:?} was not issued by Hub for this query; send an empty cursor for the first page, \
                     then the nextCursor or previousCursor of the last response, with the same filter and sort."
                ),
            )
        };

        let (payload, signature) = text.trim().split_once('.').ok_or_else(invalid)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| invalid())?;
        let mut mac = Hmac::<Sha256>::new_from_slice(context.key).expect("HMAC accepts keys of any length");
        mac.update(&bytes);
        mac.verify_truncated_left(&signature).map_err(|_| invalid())?;
        if signature.len() != TAG_BYTES {
            return Err(invalid());
        }

        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.query != query {
            return Err(invalid());
        }
        if context.now - cursor.issued_at > CURSOR_TIMEOUT_SECONDS {
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

    const KEY: &[u8] = b"test key";

    fn at(now: i64) -> CursorContext<'static> {
        CursorContext { now, key: KEY }
    }

    fn cursor() -> Cursor {
        Cursor {
            query: "abc".into(),
            issued_at: 1000,
            position: Position::After { key: Some("x".into()), seq: 7 },
        }
    }

    #[test]
    fn round_trip_and_checks() {
        let text = cursor().encode(KEY);

        assert_eq!(Cursor::decode(&text, "abc", at(1001)).unwrap(), cursor());
        assert_eq!(Cursor::decode(&text, "other", at(1001)).unwrap_err().scim_type, Some(ScimType::InvalidCursor));
        assert_eq!(Cursor::decode("garbage!", "abc", at(1001)).unwrap_err().scim_type, Some(ScimType::InvalidCursor));
        let late = 1000 + CURSOR_TIMEOUT_SECONDS + 1;
        assert_eq!(Cursor::decode(&text, "abc", at(late)).unwrap_err().scim_type, Some(ScimType::ExpiredCursor));
    }

    #[test]
    fn altered_cursor_rejected() {
        let mut later = cursor();
        later.issued_at = 99_999_999_999;
        let (_, tag) = cursor().encode(KEY).split_once('.').map(|(a, b)| (a.to_string(), b.to_string())).unwrap();
        let (payload, _) = later.encode(KEY).split_once('.').map(|(a, b)| (a.to_string(), b.to_string())).unwrap();
        let forged = format!("{payload}.{tag}");

        let error = Cursor::decode(&forged, "abc", at(1001)).unwrap_err();

        assert_eq!(error.scim_type, Some(ScimType::InvalidCursor));
        assert!(Cursor::decode(&cursor().encode(b"other key"), "abc", at(1001)).is_err());
    }
}
