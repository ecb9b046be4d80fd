//! Hub session tokens: JWTs (ES256) naming a stored session, so a session can be revoked and
//! the user's current status and access are checked on every request.

use sha2::Digest;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::group::{effective_products, effective_role, Membership};
use crate::service::keys::{KeyError, KeyRing, KeySource};
use crate::domain::user::{Role, Status, User};
use crate::storage::organizations::{self, Organization};
use crate::storage::sessions::{self, Session};
use crate::storage::{groups, users, Store};

/// The keys of session tokens, and the key that signs list cursors.
pub struct SessionKeys {
    /// Signs session tokens (ES256) and verifies those of every instance.
    pub ring: KeyRing,
    /// Signs list cursors: derived from the secret stored in the database, so every instance
    /// shares it, under a label that keeps it apart from other uses.
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

/// Opens the session signing keys and loads the shared cursor secret, creating a random one
/// on first use.
pub async fn load_keys(store: &Store, source: KeySource) -> Result<Arc<SessionKeys>, KeyError> {
    let secret = match sessions::signing_secret(&mut store.db()).await? {
        Some(secret) => secret,
        None => {
            let mut bytes = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            sessions::insert_signing_secret(&mut store.db(), &hex::encode(bytes)).await?;
            sessions::signing_secret(&mut store.db()).await?.unwrap_or_default()
        }
    };
    let cursor_key = sha2::Sha256::new()
        .chain_update(b"hub list cursor key\0")
        .chain_update(secret.as_bytes())
        .finalize()
        .to_vec();
    let ring = KeyRing::open(store, source).await?;
    Ok(Arc::new(SessionKeys { ring, cursor_key }))
}

/// The claims of a session token. Products that verify tokens offline read the role and
/// products from here; Hub itself checks them against the user as stored now.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The organization id.
    pub org: String,
    /// The session id.
    pub sid: String,
    /// The effective platform role when the session was made.
    pub role: String,
    /// The effective product access when the session was made.
    pub products: Vec<String>,
    pub iat: i64,
    pub exp: i64,
}

/// The `iss` claim of session tokens.
pub const SESSION_ISSUER: &str = "hub";

/// Default lifetime of a session opened by the sign-in gate.
pub fn default_session_ttl() -> Duration {
    Duration::hours(1)
}

/// Creates a session for a user and returns its token.
pub async fn create_session(
    store: &Store,
    keys: &SessionKeys,
    user: &User,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<String, SessionError> {
    let mut by_user = groups::memberships_of(&mut store.db(), &user.org_id, &[user.id.clone()]).await?;
    let memberships = by_user.remove(&user.id).unwrap_or_default();
    let session = Session {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: user.org_id.clone(),
        user_id: user.id.clone(),
        created_at: now,
        expires_at: now + ttl,
        revoked_at: None,
    };
    sessions::insert(&mut store.db(), &session).await?;

    let claims = Claims {
        iss: SESSION_ISSUER.to_string(),
        sub: user.id.clone(),
        org: user.org_id.clone(),
        sid: session.id.clone(),
        role: effective_role(user.role, &memberships).as_str().to_string(),
        products: effective_products(&user.products, &memberships),
        iat: now.timestamp(),
        exp: session.expires_at.timestamp(),
    };
    let key = keys.ring.signing_key(store).await.map_err(|error| {
        tracing::error!(%error, session_id = %session.id, "no session signing key");
        SessionError::Invalid
    })?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(|error| {
        tracing::error!(%error, session_id = %session.id, "cannot sign a session token");
        SessionError::Invalid
    })
}

/// Ends a session (sign-out).
pub async fn end_session(store: &Store, identity: &SessionIdentity, now: DateTime<Utc>) -> Result<(), SessionError> {
    sessions::revoke(&mut store.db(), &identity.session_id, now).await?;
    tracing::info!(session_id = %identity.session_id, user_id = %identity.user.id, "session ended");
    Ok(())
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
    #[error("The user's role or product access changed since sign-in; sign in again.")]
    Changed,
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
    /// The effective product access.
    pub products: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

/// Verifies a token and loads the session's user, which must still be Active and hold the
/// role and products the token names.
pub async fn verify(store: &Store, keys: &SessionKeys, clock: &dyn Clock, token: &str) -> Result<SessionIdentity, SessionError> {
    let now = clock.now();
    let claims = verified_claims(store, keys, token, now).await?;

    let session = sessions::get(&mut store.db(), &claims.sid).await?.ok_or(SessionError::Invalid)?;
    if session.user_id != claims.sub || session.org_id != claims.org {
        return Err(SessionError::Invalid);
    }
    if session.revoked_at.is_some() {
        return Err(SessionError::Revoked);
    }
    if now >= session.expires_at {
        return Err(SessionError::Expired);
    }

    let user = users::get(&mut store.db(), &session.org_id, &session.user_id)
        .await?
        .ok_or(SessionError::Invalid)?;
    check_status(&user)?;
    let organization = organizations::find_by_id(&mut store.db(), &session.org_id)
        .await?
        .ok_or(SessionError::Invalid)?;
    let mut by_user = groups::memberships_of(&mut store.db(), &session.org_id, &[user.id.clone()]).await?;
    let memberships = by_user.remove(&user.id).unwrap_or_default();
    let effective_role = effective_role(user.role, &memberships);
    let products = effective_products(&user.products, &memberships);

    // A session carries the access granted at sign-in, and products that read the token
    // offline rely on it. So a change of access ends the session instead of drifting from it.
    if claims.role != effective_role.as_str() || claims.products != products {
        sessions::revoke(&mut store.db(), &session.id, now).await?;
        tracing::info!(session_id = %session.id, user_id = %user.id, "session ended: role or product access changed");
        return Err(SessionError::Changed);
    }
    Ok(SessionIdentity {
        session_id: session.id,
        user,
        memberships,
        organization,
        effective_role,
        products,
        expires_at: session.expires_at,
    })
}

/// Checks the token's signature with the key its `kid` names and returns its claims.
async fn verified_claims(store: &Store, keys: &SessionKeys, token: &str, now: DateTime<Utc>) -> Result<Claims, SessionError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| SessionError::Invalid)?;
    if header.alg != Algorithm::ES256 {
        return Err(SessionError::Invalid);
    }
    let kid = header.kid.ok_or(SessionError::Invalid)?;
    let key = keys.ring.verifying_key(store, &kid, now).await?.ok_or(SessionError::Invalid)?;

    let mut validation = Validation::new(Algorithm::ES256);
    // Expiry is checked against Hub's clock, which tests can move, and the stored session.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[SESSION_ISSUER]);
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|_| SessionError::Invalid)?;
    Ok(data.claims)
}

fn check_status(user: &User) -> Result<(), SessionError> {
    if user.removed_at.is_some() {
        return Err(SessionError::Inactive("removed"));
    }
    match user.lifecycle.status {
        Status::Active => Ok(()),
        Status::Invited => Err(SessionError::Inactive("not registered yet")),
        Status::Suspended => Err(SessionError::Inactive("suspended")),
        Status::Deactivated => Err(SessionError::Inactive("deactivated")),
    }
}
