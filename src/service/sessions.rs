//! Hub session tokens: JWTs (HS256) naming a stored session, so a session can be revoked and
//! the user's current status and role are checked on every request.

use sha2::Digest;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::group::{effective_role, Membership};
use crate::domain::user::{Role, Status, User};
use crate::storage::organizations::{self, Organization};
use crate::storage::sessions::{self, Session};
use crate::storage::{groups, users, Store, StorageResult};

/// The keys that sign and verify session tokens.
#[derive(Clone)]
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Signs list cursors: derived from the same stored secret, so every instance shares it,
    /// under a label that keeps the two uses apart.
    cursor_key: Vec<u8>,
}

impl SessionKeys {
    pub fn cursor_key(&self) -> &[u8] {
        &self.cursor_key
    }
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SessionKeys(..)")
    }
}

/// Loads the signing secret from storage, creating a random one on first use.
pub async fn load_keys(store: &Store) -> StorageResult<Arc<SessionKeys>> {
    let secret = match sessions::signing_secret(store.pool()).await? {
        Some(secret) => secret,
        None => {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            sessions::insert_signing_secret(store.pool(), &hex::encode(bytes)).await?;
            sessions::signing_secret(store.pool()).await?.unwrap_or_default()
        }
    };
    let cursor_key = sha2::Sha256::new()
        .chain_update(b"hub list cursor key\0")
        .chain_update(secret.as_bytes())
        .finalize()
        .to_vec();
    Ok(Arc::new(SessionKeys {
        encoding: EncodingKey::from_secret(secret.as_bytes()),
        decoding: DecodingKey::from_secret(secret.as_bytes()),
        cursor_key,
    }))
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id.
    sub: String,
    /// The organization id.
    org: String,
    /// The session id.
    sid: String,
    iat: i64,
    exp: i64,
}

/// Default session lifetime.
pub fn default_session_ttl() -> Duration {
    Duration::hours(8)
}

/// Creates a session for a user and returns its token.
pub async fn create_session(
    store: &Store,
    keys: &SessionKeys,
    user: &User,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<String, SessionError> {
    let session = Session {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: user.org_id.clone(),
        user_id: user.id.clone(),
        created_at: now,
        expires_at: now + ttl,
        revoked_at: None,
    };
    sessions::insert(store.pool(), &session).await?;
    let claims = Claims {
        sub: user.id.clone(),
        org: user.org_id.clone(),
        sid: session.id.clone(),
        iat: now.timestamp(),
        exp: session.expires_at.timestamp(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).map_err(|error| {
        tracing::error!(%error, session_id = %session.id, "cannot sign a session token");
        SessionError::Invalid
    })
}

/// The reason a session token was rejected.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("The session token is not valid.")]
    Invalid,
    #[error("The session expired; sign in again.")]
    Expired,
    #[error("The session was ended; sign in again.")]
    Revoked,
    #[error("The account is {0}, so its sessions do not work.")]
    Inactive(&'static str),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

/// A verified session: the user as stored now, with its effective role.
#[derive(Debug, Clone)]
pub struct SessionIdentity {
    pub session_id: String,
    pub user: User,
    pub memberships: Vec<Membership>,
    pub organization: Organization,
    pub effective_role: Role,
}

/// Verifies a token and loads the session's user, which must still be Active.
pub async fn verify(store: &Store, keys: &SessionKeys, clock: &dyn Clock, token: &str) -> Result<SessionIdentity, SessionError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked below against Hub's clock, which tests can move.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(token, &keys.decoding, &validation)
        .map_err(|_| SessionError::Invalid)?
        .claims;

    let now = clock.now();
    let session = sessions::get(store.pool(), &claims.sid).await?.ok_or(SessionError::Invalid)?;
    if session.user_id != claims.sub || session.org_id != claims.org {
        return Err(SessionError::Invalid);
    }
    if session.revoked_at.is_some() {
        return Err(SessionError::Revoked);
    }
    if now >= session.expires_at {
        return Err(SessionError::Expired);
    }
    let user = users::get(store.pool(), &session.org_id, &session.user_id)
        .await?
        .ok_or(SessionError::Invalid)?;
    if user.removed_at.is_some() {
        return Err(SessionError::Inactive("removed"));
    }
    match user.lifecycle.status {
        Status::Active => {}
        Status::Invited => return Err(SessionError::Inactive("not registered yet")),
        Status::Suspended => return Err(SessionError::Inactive("suspended")),
        Status::Deactivated => return Err(SessionError::Inactive("deactivated")),
    }
    let organization = organizations::find_by_id(store.pool(), &session.org_id)
        .await?
        .ok_or(SessionError::Invalid)?;
    let mut by_user = groups::memberships_of(store.pool(), &session.org_id, &[user.id.clone()]).await?;
    let memberships = by_user.remove(&user.id).unwrap_or_default();
    let effective_role = effective_role(user.role, &memberships);
    Ok(SessionIdentity {
        session_id: session.id,
        user,
        memberships,
        organization,
        effective_role,
    })
}
