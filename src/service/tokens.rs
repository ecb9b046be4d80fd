//! SCIM bearer tokens: creation, verification and the bootstrap organization.
//!
//! A token is stored as its SHA-256 hash. Lookup uses the first 16 hex digits of the hash to
//! find candidates, then compares full hashes in constant time, so response timing does not
//! depend on how much of a guessed token is right.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::storage::organizations::{self, Organization};
use crate::storage::{tokens, Store, StorageResult};

/// Prefix of generated tokens, so they are recognisable in configuration and secret scanners.
const TOKEN_PREFIX: &str = "hub_scim_";

/// A verified caller: the token's organization and id.
#[derive(Debug, Clone)]
pub struct TokenIdentity {
    pub token_id: String,
    pub token_name: String,
    pub organization: Organization,
    /// When the token stops working, if it was created with an expiry.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl TokenIdentity {
    /// Tells whether the token has expired at `now`.
    pub fn expired(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.expires_at.is_some_and(|expires_at| now >= expires_at)
    }
}

/// Generates a new random token: 256 bits from the operating system's generator.
pub fn generate_token() -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    format!("{TOKEN_PREFIX}{}", hex::encode(secret))
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn lookup_key(hash: &str) -> &str {
    &hash[..16]
}

/// Stores a token for the organization, with an optional expiry, and returns its id.
pub async fn store_token(
    store: &Store,
    org_id: &str,
    name: &str,
    token: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> StorageResult<String> {
    let hash = hash_token(token);
    tokens::insert(&mut store.db(), org_id, name, lookup_key(&hash), &hash, expires_at).await
}

/// Maximum expiry a token may be created with, in days (ten years).
pub const MAX_TOKEN_DAYS: i64 = 3650;

/// How often the last use of one token is written: once a minute is precise enough for token
/// health, and spares a write per request.
const TOUCH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Verified tokens kept in memory for a few seconds, so a burst of provisioning requests does
/// not read the token and its organization from storage on every request.
///
/// A revocation or settings change made through this process's admin API clears the cache at
/// once. One made elsewhere (`hub token revoke`, another instance) takes effect within
/// [`TOKEN_CACHE_TTL`].
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: std::sync::RwLock<std::collections::HashMap<String, (TokenIdentity, std::time::Instant)>>,
    /// When each token's last use was last written.
    touched: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// The storage read under way for each token whose entry expired.
    reads: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

/// How long a verified token is trusted without reading storage again.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Entries above which the cache is emptied, so random invalid tokens cannot grow it.
const TOKEN_CACHE_MAX_ENTRIES: usize = 10_000;

impl TokenCache {
    fn get(&self, hash: &str) -> Option<TokenIdentity> {
        let entries = self.entries.read().ok()?;
        let (identity, stored_at) = entries.get(hash)?;
        (stored_at.elapsed() < TOKEN_CACHE_TTL).then(|| identity.clone())
    }

    fn put(&self, hash: String, identity: TokenIdentity) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= TOKEN_CACHE_MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(hash, (identity, std::time::Instant::now()));
        }
    }

    /// Tells whether the last use of a token is due to be written, and notes it as written.
    pub fn touch_due(&self, token_id: &str) -> bool {
        let Ok(mut touched) = self.touched.lock() else { return false };
        if touched.get(token_id).is_some_and(|at| at.elapsed() < TOUCH_INTERVAL) {
            return false;
        }
        if touched.len() >= TOKEN_CACHE_MAX_ENTRIES {
            touched.clear();
        }
        touched.insert(token_id.to_string(), std::time::Instant::now());
        true
    }

    /// Returns the lock that the requests of one token share while one of them reads storage.
    fn read_lock(&self, hash: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let Ok(mut reads) = self.reads.lock() else { return Default::default() };
        if reads.len() >= TOKEN_CACHE_MAX_ENTRIES {
            reads.clear();
        }
        reads.entry(hash.to_string()).or_default().clone()
    }

    fn read_done(&self, hash: &str) {
        if let Ok(mut reads) = self.reads.lock() {
            reads.remove(hash);
        }
    }

    /// Forgets every cached token, after a revocation or an organization change.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

/// Finds the live token matching `token`, through the cache.
pub async fn verify_cached(store: &Store, cache: &TokenCache, token: &str) -> StorageResult<Option<TokenIdentity>> {
    let hash = hash_token(token);
    if let Some(identity) = cache.get(&hash) {
        return Ok(Some(identity));
    }

    // When an entry expires under load, every request in flight misses at once. One of them
    // reads storage while the others wait for its result. When each read on its own, 32
    // connections grew the pool to its maximum, and each connection kept about 3 MiB.
    let lock = cache.read_lock(&hash);
    let _turn = lock.lock().await;
    if let Some(identity) = cache.get(&hash) {
        return Ok(Some(identity));
    }
    let identity = verify(store, token).await;
    cache.read_done(&hash);
    let identity = identity?;
    if let Some(identity) = &identity {
        cache.put(hash, identity.clone());
    }
    Ok(identity)
}

/// Finds the live token matching `token`.
pub async fn verify(store: &Store, token: &str) -> StorageResult<Option<TokenIdentity>> {
    match find_stored(store, token).await? {
        Some(stored) if stored.revoked_at.is_none() => identity_of(store, stored).await,
        _ => Ok(None),
    }
}

/// Finds the revoked token matching `token`, so a request that still uses it can be shown to
/// its organization. Returns `None` for a live or unknown token.
pub async fn identify_revoked(store: &Store, token: &str) -> StorageResult<Option<TokenIdentity>> {
    match find_stored(store, token).await? {
        Some(stored) if stored.revoked_at.is_some() => identity_of(store, stored).await,
        _ => Ok(None),
    }
}

/// Finds the stored token, revoked or not, whose full hash matches `token`.
async fn find_stored(store: &Store, token: &str) -> StorageResult<Option<tokens::StoredToken>> {
    let hash = hash_token(token);
    let candidates = tokens::find_by_lookup(&mut store.db(), lookup_key(&hash)).await?;
    Ok(candidates
        .into_iter()
        .find(|candidate| bool::from(candidate.secret_hash.as_bytes().ct_eq(hash.as_bytes()))))
}

async fn identity_of(store: &Store, stored: tokens::StoredToken) -> StorageResult<Option<TokenIdentity>> {
    let Some(organization) = organizations::find_by_id(&mut store.db(), &stored.org_id).await? else {
        return Ok(None);
    };
    Ok(Some(TokenIdentity {
        token_id: stored.id,
        token_name: stored.name,
        organization,
        expires_at: stored.expires_at.as_deref().and_then(crate::clock::parse),
    }))
}

/// Returns whether a token with this exact value is stored (revoked or not).
pub async fn exists(store: &Store, token: &str) -> StorageResult<bool> {
    Ok(find_stored(store, token).await?.is_some())
}

/// The outcome of the bootstrap at start.
#[derive(Debug)]
pub enum Bootstrap {
    /// The database was empty: the organization was created with a new token, to be shown once.
    Created { organization: Organization, token: String },
    /// The database was empty and the token came from the environment.
    CreatedWithGivenToken { organization: Organization },
    /// The given token was added to the existing bootstrap organization.
    AddedGivenToken { organization: Organization },
    /// The given token is stored but revoked, so it stays unusable.
    GivenTokenRevoked,
    /// Nothing to do.
    Unchanged,
}

/// Creates the bootstrap organization and token on first start.
///
/// With `given_token` (from `HUB_BOOTSTRAP_SCIM_TOKEN`), that value becomes the token. On later
/// starts the given token is added to the bootstrap organization when it is not stored yet, so
/// scripts that always pass the same value keep working.
pub async fn bootstrap(store: &Store, org_name: &str, given_token: Option<&str>) -> StorageResult<Bootstrap> {
    if organizations::count(&mut store.db()).await? == 0 {
        let mut tx = store.begin_global().await?;
        let organization = organizations::insert(&mut tx.db(), org_name).await?;
        tx.commit().await?;
        return match given_token {
            Some(token) => {
                store_token(store, &organization.id, "bootstrap", token, None).await?;
                Ok(Bootstrap::CreatedWithGivenToken { organization })
            }
            None => {
                let token = generate_token();
                store_token(store, &organization.id, "bootstrap", &token, None).await?;
                Ok(Bootstrap::Created { organization, token })
            }
        };
    }
    let Some(token) = given_token else { return Ok(Bootstrap::Unchanged) };
    if exists(store, token).await? {
        if verify(store, token).await?.is_none() {
            return Ok(Bootstrap::GivenTokenRevoked);
        }
        return Ok(Bootstrap::Unchanged);
    }
    let Some(organization) = organizations::find_by_name(&mut store.db(), org_name).await? else {
        return Ok(Bootstrap::Unchanged);
    };
    store_token(store, &organization.id, "bootstrap (environment)", token, None).await?;
    Ok(Bootstrap::AddedGivenToken { organization })
}
