//! The signing keys of organizations' identity providers, read from a JWKS document (an https
//! URL or a file) and cached.
//!
//! A cached document serves for an hour. A token whose `kid` the cache lacks makes Hub read
//! the document again, at most once per ten seconds per source, which picks up Entra's key
//! rotation without letting a stream of made-up key ids hammer the provider.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::domain::sign_in::JwksSource;

/// How long a fetched document serves before Hub reads it again.
const CACHE_LIFETIME: Duration = Duration::from_secs(3600);
/// Minimum time between two reads of one source.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// The largest JWKS document Hub reads; Entra's is a few kilobytes.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A provider key and the one algorithm it may verify.
#[derive(Clone)]
pub struct ProviderKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

/// The reason no key was found for a token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderKeyError {
    #[error("the provider's key set has no key with this kid")]
    UnknownKey,
    #[error("the provider's signing keys cannot be read: {0}")]
    Unavailable(String),
}

struct CachedSet {
    keys: HashMap<String, ProviderKey>,
    /// A key without a `kid`, usable only when the set contains exactly one key.
    anonymous: Option<ProviderKey>,
    fetched_at: Instant,
}

/// The cache of provider key sets, shared by every request.
pub struct ProviderKeys {
    client: reqwest::Client,
    sets: std::sync::Mutex<HashMap<JwksSource, Arc<CachedSet>>>,
    /// One read at a time, so a burst of sign-ins after a rotation reads the document once.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ProviderKeys(..)")
    }
}

impl Default for ProviderKeys {
    fn default() -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                // A redirect may not downgrade the key URL to plain http (except on loopback).
                let allowed = attempt.previous().len() < 3
                    && crate::domain::sign_in::check_jwks_url(attempt.url().as_str()).is_ok();
                if allowed {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()
            .unwrap_or_default();
        ProviderKeys {
            client,
            sets: std::sync::Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }
}

impl ProviderKeys {
    /// Returns the key a token names, reading the source again when the key is unknown or the
    /// cached set is old.
    pub async fn key(&self, source: &JwksSource, kid: Option<&str>) -> Result<ProviderKey, ProviderKeyError> {
        if let Some(set) = self.cached(source) {
            let fresh = set.fetched_at.elapsed() < CACHE_LIFETIME;
            if let (true, Some(key)) = (fresh, find(&set, kid)) {
                return Ok(key);
            }
            if set.fetched_at.elapsed() < MIN_REFRESH_INTERVAL {
                return Err(ProviderKeyError::UnknownKey);
            }
        }

        let _reading = self.fetching.lock().await;
        // Another request may have read the source while this one waited.
        if let Some(set) = self.cached(source) {
            if set.fetched_at.elapsed() < MIN_REFRESH_INTERVAL {
                return find(&set, kid).ok_or(ProviderKeyError::UnknownKey);
            }
        }
        let set = match self.read(source).await {
            Ok(set) => Arc::new(set),
            Err(error) => return self.stale_key(source, kid).ok_or(error),
        };
        if let Ok(mut sets) = self.sets.lock() {
            sets.insert(source.clone(), set.clone());
        }
        find(&set, kid).ok_or(ProviderKeyError::UnknownKey)
    }

    /// After a failed read, a key from the older cached set still serves: an outage of the
    /// provider's key endpoint should not stop sign-ins with keys Hub already has.
    fn stale_key(&self, source: &JwksSource, kid: Option<&str>) -> Option<ProviderKey> {
        let set = self.cached(source)?;
        let key = find(&set, kid)?;
        tracing::warn!(source = %source, "using cached identity provider keys, since reading them again failed");
        Some(key)
    }

    /// Forgets a source's keys, after an organization changed its settings.
    pub fn forget(&self, source: &JwksSource) {
        if let Ok(mut sets) = self.sets.lock() {
            sets.remove(source);
        }
    }

    fn cached(&self, source: &JwksSource) -> Option<Arc<CachedSet>> {
        self.sets.lock().ok()?.get(source).cloned()
    }

    async fn read(&self, source: &JwksSource) -> Result<CachedSet, ProviderKeyError> {
        let document = match source {
            JwksSource::Url(url) => self.download(url).await,
            JwksSource::File(path) => read_file(path).await,
        };
        let document = document.inspect_err(|error| tracing::error!(source = %source, %error, "cannot read the identity provider's keys"))?;
        let set = parse_set(&document)?;
        tracing::info!(source = %source, keys = set.keys.len() + usize::from(set.anonymous.is_some()), "identity provider keys read");
        Ok(set)
    }

    async fn download(&self, url: &str) -> Result<Vec<u8>, ProviderKeyError> {
        let unavailable = |reason: String| ProviderKeyError::Unavailable(reason);
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| {
                if error.is_timeout() {
                    unavailable(format!("no answer within {} s", FETCH_TIMEOUT.as_secs()))
                } else {
                    unavailable(format!("request failed ({})", error.without_url()))
                }
            })?;
        if response.status().is_redirection() {
            return Err(unavailable("the key URL redirects too often or to a URL that is not https".to_string()));
        }
        if !response.status().is_success() {
            return Err(unavailable(format!("the key URL answered {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| unavailable(format!("reading failed ({})", error.without_url())))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(unavailable(format!("the key document is larger than {MAX_DOCUMENT_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

async fn read_file(path: &std::path::Path) -> Result<Vec<u8>, ProviderKeyError> {
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|error| ProviderKeyError::Unavailable(format!("cannot read the key file ({error})")))?;
    if metadata.len() > MAX_DOCUMENT_BYTES as u64 {
        return Err(ProviderKeyError::Unavailable(format!(
            "the key file is larger than {MAX_DOCUMENT_BYTES} bytes"
        )));
    }
    tokio::fs::read(path)
        .await
        .map_err(|error| ProviderKeyError::Unavailable(format!("cannot read the key file ({error})")))
}

fn find(set: &CachedSet, kid: Option<&str>) -> Option<ProviderKey> {
    match kid {
        Some(kid) => set.keys.get(kid).cloned(),
        None => set.anonymous.clone(),
    }
}

/// Reads a JWKS document. Keys Hub cannot use (encryption keys, shared secrets, unknown
/// types) are skipped one by one, so one odd key does not break sign-in.
/// Checks a JWKS document and returns how many usable signing keys it holds.
pub fn check_document(document: &[u8]) -> Result<usize, ProviderKeyError> {
    let set = parse_set(document)?;
    Ok(set.keys.len() + usize::from(set.anonymous.is_some()))
}

fn parse_set(document: &[u8]) -> Result<CachedSet, ProviderKeyError> {
    let value: Value = serde_json::from_slice(document)
        .map_err(|_| ProviderKeyError::Unavailable("the key document is not JSON".into()))?;
    let Some(entries) = value.get("keys").and_then(Value::as_array) else {
        return Err(ProviderKeyError::Unavailable("the key document has no \"keys\" array".into()));
    };

    let mut keys = HashMap::new();
    let mut without_kid = Vec::new();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else { continue };
        let Some(key) = usable_key(&jwk) else { continue };
        match jwk.common.key_id {
            Some(kid) => {
                keys.insert(kid, key);
            }
            None => without_kid.push(key),
        }
    }
    let anonymous = if keys.is_empty() && without_kid.len() == 1 { without_kid.pop() } else { None };
    Ok(CachedSet {
        keys,
        anonymous,
        fetched_at: Instant::now(),
    })
}

/// Pins each key to one algorithm: its `alg` when present, else the usual one for its type.
/// Symmetric keys never verify tokens, which closes the HS256-with-a-public-key trick.
fn usable_key(jwk: &Jwk) -> Option<ProviderKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::OctetKey(_), _) => return None,
        (_, Some(declared)) => signing_algorithm(declared)?,
        (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(params), None) => match params.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        (AlgorithmParameters::OctetKeyPair(_), None) => Algorithm::EdDSA,
    };
    let family_matches = match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512)
        | (AlgorithmParameters::RSA(_), Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512)
        | (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256 | Algorithm::ES384)
        | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA) => true,
        _ => false,
    };
    if !family_matches {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(ProviderKey { key, algorithm })
}

fn signing_algorithm(declared: KeyAlgorithm) -> Option<Algorithm> {
    Some(match declared {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_encryption_keys_skipped() {
        let document = br#"{"keys": [
            {"kty": "oct", "kid": "s", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "enc", "use": "enc", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "kid": "sig", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "weird", "kid": "w"}
        ]}"#;
        let set = parse_set(document).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.keys["sig"].algorithm, Algorithm::ES256);
    }

    #[test]
    fn declared_algorithm_must_fit_the_key() {
        let document = br#"{"keys": [{"kty": "EC", "kid": "e", "alg": "RS256", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        assert!(parse_set(document).unwrap().keys.is_empty());
    }
}
