//! The sign-in gate: a product hands Hub a person's identity-provider token (an Entra ID token),
//! Hub verifies it, finds the user, lets in only those its rules allow, records the sign-in and
//! opens a Hub session.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{json, Value};

use super::provider_keys::{ProviderKeyError, ProviderKeys};
use super::sessions::{self, SessionError, SessionKeys};
use super::invitations::record;
use super::ServiceError;
use crate::clock::Clock;
use crate::domain::audit::{Actor, AuditRecord, ChangeContext};
use crate::domain::sign_in::{self, Admission, Identity, JwksSource, ProviderSettings, Refusal};
use crate::domain::DomainError;
use crate::domain::user::{Lifecycle, Status, User};
use crate::storage::sign_in as store_sign_in;
use crate::storage::{audit, invitations, users, Store, StorageError};

/// Clock difference tolerated between Hub and the identity provider for `exp` and `nbf`.
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// The largest token Hub looks at; Entra ID tokens are a few kilobytes.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The reason a token was rejected. The messages name the failed check, never a key, an
/// expected value or the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("The token is not a signed JWT (three base64url parts with a JSON header and claims).")]
    Malformed,
    #[error("The token's algorithm {0:?} is not accepted; tokens must be signed with the algorithm of the provider's key.")]
    Algorithm(String),
    #[error("The token's issuer is not the identity provider of any organization in Hub.")]
    Issuer,
    #[error("The token is signed with a key the identity provider does not publish (unknown kid).")]
    UnknownKey,
    #[error("The token's signature is not valid.")]
    Signature,
    #[error("The token is not meant for this application (aud).")]
    Audience,
    #[error("The token expired; sign in to the identity provider again.")]
    Expired,
    #[error("The token is not valid yet (nbf); check the clocks.")]
    NotYetValid,
    #[error("The token lacks the {0} claim.")]
    MissingClaim(&'static str),
    #[error("The token's {0} claim has the wrong type or an impossible value.")]
    InvalidClaim(&'static str),
    #[error("The token is larger than {MAX_TOKEN_BYTES} bytes.")]
    TooLarge,
    #[error("The token names critical header parameters (crit) that Hub does not process.")]
    CriticalHeader,
    #[error("The token's issuer is not the identity provider of the organization named in the request.")]
    OtherOrganization,
}

impl TokenRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            TokenRefusal::Malformed => "token_malformed",
            TokenRefusal::Algorithm(_) => "token_algorithm",
            TokenRefusal::Issuer => "token_issuer",
            TokenRefusal::UnknownKey => "token_unknown_key",
            TokenRefusal::Signature => "token_signature",
            TokenRefusal::Audience => "token_audience",
            TokenRefusal::Expired => "token_expired",
            TokenRefusal::NotYetValid => "token_not_yet_valid",
            TokenRefusal::MissingClaim(_) => "token_claim_missing",
            TokenRefusal::InvalidClaim(_) => "token_claim_invalid",
            TokenRefusal::TooLarge => "token_too_large",
            TokenRefusal::CriticalHeader => "token_critical_header",
            TokenRefusal::OtherOrganization => "token_organization",
        }
    }
}

/// The reason a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error(transparent)]
    Token(#[from] TokenRefusal),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("The identity provider's signing keys cannot be read right now; retry later.")]
    KeysUnavailable,
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StorageError> for SignInError {
    fn from(error: StorageError) -> Self {
        SignInError::Service(error.into())
    }
}

/// A sign-in request.
#[derive(Debug, Clone)]
pub struct SignInRequest<'a> {
    pub id_token: &'a str,
    /// The organization the product expects; when given, the token must come from its provider.
    pub org_id: Option<&'a str>,
    pub request_id: &'a str,
    pub session_ttl: Duration,
}

/// The outcome of a sign-in: the session token and who came in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub identity: sessions::SessionIdentity,
    /// Whether this sign-in registered an Invited user.
    pub registered: bool,
}

/// The sign-in gate, with the storage, keys and clock it works with.
pub struct Gate<'a> {
    pub store: &'a Store,
    pub session_keys: &'a SessionKeys,
    pub provider_keys: &'a ProviderKeys,
    pub clock: &'a dyn Clock,
}

impl Gate<'_> {
    /// Verifies the token, admits the user and opens a session.
    pub async fn sign_in(&self, request: SignInRequest<'_>) -> Result<SignedIn, SignInError> {
        let now = self.clock.now();
        let (settings, claims) = self.verify_token(request.id_token, request.org_id, now).await?;
        let identity = identity_from(&claims)?;

        let admitted = self.admit(&settings, &identity, request.request_id, now).await;
        let subject = identity.subject.as_str();
        let (user, registered) = match admitted {
            Ok(admitted) => admitted,
            Err(SignInError::Refused(refusal)) => {
                tracing::info!(org_id = %settings.org_id, object_id = %subject, code = refusal.code(), request_id = %request.request_id, "sign-in rejected");
                return Err(refusal.into());
            }
            Err(other) => return Err(other),
        };

        let token = sessions::create_session(self.store, self.session_keys, &user, request.session_ttl, now).await?;
        let identity = sessions::verify(self.store, self.session_keys, self.clock, &token).await?;
        tracing::info!(org_id = %settings.org_id, user_id = %user.id, session_id = %identity.session_id, registered, "signed in");
        Ok(SignedIn {
            token,
            identity,
            registered,
        })
    }

    /// Checks algorithm, issuer, key, signature, audience and validity times, in that order,
    /// so nothing about the claims is revealed for a token whose signature fails.
    async fn verify_token(&self, token: &str, org_id: Option<&str>, now: DateTime<Utc>) -> Result<(ProviderSettings, Value), SignInError> {
        let peeked = peek(token)?;
        let algorithm = accepted_algorithm(&peeked.algorithm)?;
        let settings = self.provider_for(&peeked.issuer, org_id).await?;

        let key = self
            .provider_keys
            .key(&settings.jwks, peeked.kid.as_deref())
            .await
            .map_err(|error| match error {
                ProviderKeyError::UnknownKey => SignInError::Token(TokenRefusal::UnknownKey),
                ProviderKeyError::Unavailable(reason) => {
                    tracing::error!(org_id = %settings.org_id, %reason, "sign-in failed: the provider keys are unavailable");
                    SignInError::KeysUnavailable
                }
            })?;
        if key.algorithm != algorithm {
            return Err(TokenRefusal::Algorithm(peeked.algorithm).into());
        }

        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Value>(token, &key.key, &validation)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenRefusal::Signature,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenRefusal::Algorithm(peeked.algorithm.clone()),
                _ => TokenRefusal::Malformed,
            })?
            .claims;

        check_audience(&claims, &settings.audiences)?;
        check_times(&claims, now)?;
        Ok((settings, claims))
    }

    /// Finds the organization whose provider issued the token.
    async fn provider_for(&self, issuer: &str, org_id: Option<&str>) -> Result<ProviderSettings, SignInError> {
        let Some(org_id) = org_id else {
            let settings = store_sign_in::provider_by_issuer(&mut self.store.db(), issuer).await?;
            return settings.ok_or(SignInError::Token(TokenRefusal::Issuer));
        };
        match store_sign_in::provider(&mut self.store.db(), org_id).await? {
            Some(settings) if settings.issuer == issuer => Ok(settings),
            _ => Err(TokenRefusal::OtherOrganization.into()),
        }
    }

    /// Matches the identity to a user and admits them in one transaction: registration of an
    /// Invited user, the object id, last login and MFA status.
    async fn admit(&self, settings: &ProviderSettings, identity: &Identity, request_id: &str, now: DateTime<Utc>) -> Result<(User, bool), SignInError> {
        let org_id = settings.org_id.as_str();
        let mut tx = self.store.begin_write(org_id).await?;

        let candidates = store_sign_in::candidates(&mut tx.db(), org_id, identity).await?;
        let matched = sign_in::choose(candidates, identity)?;
        let mut user = matched.user;
        let invitation = match user.lifecycle.status {
            Status::Invited => invitations::latest_for_user(&mut tx.db(), org_id, &user.id).await?,
            _ => None,
        };
        let admission = sign_in::admit(&user, invitation.as_ref(), now)?;

        let context = ChangeContext {
            actor: Actor::User { user_id: user.id.clone() },
            request_id: request_id.to_string(),
        };
        let before = user.clone();
        if admission == Admission::Register {
            if let Some(invitation) = &invitation {
                if !invitations::mark_used(&mut tx.db(), &invitation.id, now).await? {
                    return Err(Refusal::InvitationUnusable("was already used".into()).into());
                }
                user.lifecycle = Lifecycle::new(Status::Active);
                let after = json!({"status": "Active", "invitationId": invitation.id, "via": "sign-in"});
                record(&mut tx, &context, &user.id, "user.registered", Some(json!({"status": "Invited"})), Some(after)).await?;
            }
        }
        if matched.record_subject {
            store_sign_in::record_subject(&mut tx.db(), org_id, &user.id, &identity.subject).await?;
        }

        let mfa = sign_in::mfa_from_methods(&identity.methods);
        user.mfa_enabled = mfa.enabled;
        user.mfa_methods = mfa.methods;
        user.last_login_at = Some(now);
        user.version += 1;
        user.updated_at = now;
        users::update(&mut tx.db(), &user).await?;

        let after = json!({
            "mfa": user.mfa_enabled,
            "mfaMethods": user.mfa_methods,
            "objectId": identity.subject,
            "objectIdLinked": matched.record_subject,
            "matchedBy": matched.matched_by.as_str(),
        });
        let previous = json!({"lastLogin": before.last_login_at.map(crate::clock::format)});
        record(&mut tx, &context, &user.id, "user.signed_in", Some(previous), Some(after)).await?;
        tx.commit().await?;
        Ok((user, admission == Admission::Register))
    }
}

/// Sets an organization's identity provider, after checking the settings and that no other
/// organization uses the same issuer (the issuer picks a token's organization).
pub async fn save_provider(store: &Store, context: &ChangeContext, settings: &ProviderSettings) -> Result<(), ServiceError> {
    settings.validate()?;
    let mut tx = store.begin_write(&settings.org_id).await?;
    if let Some(holder) = store_sign_in::provider_by_issuer(&mut tx.db(), &settings.issuer).await? {
        if holder.org_id != settings.org_id {
            return Err(DomainError::Conflict(format!(
                "Another organization already signs in with issuer {:?}; each identity-provider tenant belongs to one organization.",
                settings.issuer
            ))
            .into());
        }
    }
    let before = store_sign_in::provider(&mut tx.db(), &settings.org_id).await?;
    store_sign_in::save_provider(&mut tx.db(), settings).await?;

    let entry = AuditRecord {
        action: "organization.sign_in_provider_set",
        target_type: "organization",
        target_id: settings.org_id.clone(),
        before: before.as_ref().map(provider_view),
        after: Some(provider_view(settings)),
    };
    audit::insert(&mut tx.db(), &settings.org_id, context, &entry).await?;
    tx.commit().await?;
    tracing::info!(org_id = %settings.org_id, issuer = %settings.issuer, "sign-in provider set");
    Ok(())
}

/// Removes the link between a user and an identity-provider account, so the next sign-in
/// matches by externalId or userName again (after an account was recreated in the provider,
/// or linked by mistake). Owners and Admins only.
pub async fn unlink(store: &Store, actor: &sessions::SessionIdentity, context: &ChangeContext, user_id: &str) -> Result<(), ServiceError> {
    crate::service::admin_users::require_manage_users(actor)?;
    let org_id = actor.organization.id.as_str();
    let mut tx = store.begin_write(org_id).await?;
    if users::get(&mut tx.db(), org_id, user_id).await?.is_none_or(|user| user.removed_at.is_some()) {
        return Err(crate::scim::ScimError::not_found(format!("User {user_id} not found.")).into());
    }
    let Some(previous) = store_sign_in::clear_subject(&mut tx.db(), org_id, user_id).await? else {
        return Ok(());
    };
    record(&mut tx, context, user_id, "user.sign_in_unlinked", Some(json!({"objectId": previous})), None).await?;
    tx.commit().await?;
    tracing::info!(org_id, user_id, "sign-in link removed");
    Ok(())
}

/// Renders the settings as administrators see them and the audit log keeps them.
pub fn provider_view(settings: &ProviderSettings) -> Value {
    let (url, file) = match &settings.jwks {
        JwksSource::Url(url) => (Some(url.clone()), None),
        JwksSource::File(path) => (None, Some(path.display().to_string())),
    };
    json!({"issuer": settings.issuer, "audiences": settings.audiences, "jwksUrl": url, "jwksFile": file})
}

/// The header and issuer of a token, read before its signature is checked.
struct Peeked {
    algorithm: String,
    kid: Option<String>,
    issuer: String,
}

/// Reads the header and `iss` without trusting them: they only pick the key and organization,
/// and the signature check that follows covers both.
fn peek(token: &str) -> Result<Peeked, TokenRefusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenRefusal::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenRefusal::Malformed);
    };
    let header = decode_part(header)?;
    let payload = decode_part(payload)?;

    // RFC 7515 §4.1.11: a recipient must refuse extensions it does not understand, and Hub
    // understands none.
    if header.get("crit").is_some() {
        return Err(TokenRefusal::CriticalHeader);
    }
    let algorithm = header.get("alg").and_then(Value::as_str).ok_or(TokenRefusal::Malformed)?;
    let issuer = match payload.get("iss") {
        None | Some(Value::Null) => return Err(TokenRefusal::MissingClaim("iss")),
        Some(issuer) => issuer.as_str().ok_or(TokenRefusal::InvalidClaim("iss"))?,
    };
    Ok(Peeked {
        algorithm: algorithm.to_string(),
        kid: header.get("kid").and_then(Value::as_str).map(str::to_string),
        issuer: issuer.to_string(),
    })
}

fn decode_part(part: &str) -> Result<Value, TokenRefusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| TokenRefusal::Malformed)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| TokenRefusal::Malformed)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(TokenRefusal::Malformed)
    }
}

/// Only asymmetric algorithms: `none` and the HMAC family are refused before any key is read.
fn accepted_algorithm(name: &str) -> Result<Algorithm, TokenRefusal> {
    let algorithm = match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return Err(TokenRefusal::Algorithm(name.chars().take(16).collect())),
    };
    Ok(algorithm)
}

fn check_audience(claims: &Value, accepted: &[String]) -> Result<(), TokenRefusal> {
    let audiences: Vec<&str> = match claims.get("aud") {
        None | Some(Value::Null) => return Err(TokenRefusal::MissingClaim("aud")),
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err(TokenRefusal::InvalidClaim("aud")),
    };
    if audiences.iter().any(|audience| accepted.iter().any(|wanted| wanted == audience)) {
        Ok(())
    } else {
        Err(TokenRefusal::Audience)
    }
}

fn check_times(claims: &Value, now: DateTime<Utc>) -> Result<(), TokenRefusal> {
    let now = now.timestamp();
    let expires = numeric_claim(claims, "exp")?.ok_or(TokenRefusal::MissingClaim("exp"))?;
    if now > expires.saturating_add(CLOCK_SKEW_SECONDS) {
        return Err(TokenRefusal::Expired);
    }
    if let Some(not_before) = numeric_claim(claims, "nbf")? {
        if now.saturating_add(CLOCK_SKEW_SECONDS) < not_before {
            return Err(TokenRefusal::NotYetValid);
        }
    }
    Ok(())
}

/// Latest time Hub accepts in a claim: the year 9999, as seconds since 1970. Larger numbers
/// are mistakes or attacks, not real expiry times.
const MAX_CLAIM_TIME: i64 = 253_402_300_799;

fn numeric_claim(claims: &Value, name: &'static str) -> Result<Option<i64>, TokenRefusal> {
    let value = match claims.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => value,
    };
    let seconds = value
        .as_i64()
        .or_else(|| value.as_f64().filter(|seconds| seconds.is_finite() && seconds.abs() <= MAX_CLAIM_TIME as f64).map(|seconds| seconds as i64))
        .filter(|seconds| (0..=MAX_CLAIM_TIME).contains(seconds))
        .ok_or(TokenRefusal::InvalidClaim(name))?;
    Ok(Some(seconds))
}

/// Reads who the person is: Entra's `oid` (or `sub` from other providers) and the names that
/// may equal their userName.
fn identity_from(claims: &Value) -> Result<Identity, TokenRefusal> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::trim).filter(|text| !text.is_empty());
    let subject = text("oid").or_else(|| text("sub")).ok_or(TokenRefusal::MissingClaim("oid or sub"))?;

    // preferred_username and upn come from the organization's own tenant (the issuer is
    // pinned), where the administrators assign them. An email claim can be one the person
    // typed themselves, so it counts only when the provider vouches for it: OpenID's
    // email_verified, or Entra's xms_edov (the domain owner verified it).
    let vouched = |name: &str| claims.get(name).and_then(Value::as_bool) == Some(true);
    let email_trusted = vouched("email_verified") || vouched("xms_edov");
    let mut user_names: Vec<String> = Vec::new();
    for name in ["preferred_username", "email", "upn"] {
        if name == "email" && !email_trusted {
            continue;
        }
        if let Some(value) = text(name) {
            let key = users::user_name_key(value);
            if !user_names.contains(&key) {
                user_names.push(key);
            }
        }
    }
    let methods = claims
        .get("amr")
        .and_then(Value::as_array)
        .map(|methods| methods.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    Ok(Identity {
        subject: subject.to_string(),
        user_names,
        methods,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(value: Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    #[test]
    fn none_and_hmac_refused() {
        assert!(matches!(accepted_algorithm("none"), Err(TokenRefusal::Algorithm(_))));
        assert!(matches!(accepted_algorithm("HS256"), Err(TokenRefusal::Algorithm(_))));
        assert_eq!(accepted_algorithm("RS256"), Ok(Algorithm::RS256));
    }

    #[test]
    fn peek_reads_header_and_issuer() {
        let token = format!("{}.{}.sig", part(json!({"alg": "RS256", "kid": "k"})), part(json!({"iss": "https://issuer"})));
        let peeked = peek(&token).unwrap();
        assert_eq!((peeked.algorithm.as_str(), peeked.kid.as_deref(), peeked.issuer.as_str()), ("RS256", Some("k"), "https://issuer"));
        assert_eq!(peek("a.b").err(), Some(TokenRefusal::Malformed));
        assert_eq!(peek(&format!("{}.{}.s", part(json!({"alg": "RS256"})), part(json!({})))).err(), Some(TokenRefusal::MissingClaim("iss")));
    }

    #[test]
    fn times_allow_skew() {
        let now = Utc::now();
        let at = |offset: i64| now.timestamp() + offset;
        assert!(check_times(&json!({"exp": at(-30)}), now).is_ok());
        assert_eq!(check_times(&json!({"exp": at(-120)}), now), Err(TokenRefusal::Expired));
        assert_eq!(check_times(&json!({"exp": at(600), "nbf": at(300)}), now), Err(TokenRefusal::NotYetValid));
        assert_eq!(check_times(&json!({}), now), Err(TokenRefusal::MissingClaim("exp")));
        assert_eq!(check_times(&json!({"exp": 1e20}), now), Err(TokenRefusal::InvalidClaim("exp")));
        assert_eq!(check_times(&json!({"exp": i64::MAX}), now), Err(TokenRefusal::InvalidClaim("exp")));
        assert_eq!(check_times(&json!({"exp": "soon"}), now), Err(TokenRefusal::InvalidClaim("exp")));
    }

    #[test]
    fn audience_as_string_or_list() {
        let accepted = vec!["app".to_string()];
        assert!(check_audience(&json!({"aud": "app"}), &accepted).is_ok());
        assert!(check_audience(&json!({"aud": ["other", "app"]}), &accepted).is_ok());
        assert_eq!(check_audience(&json!({"aud": "other"}), &accepted), Err(TokenRefusal::Audience));
    }

    #[test]
    fn identity_prefers_object_id() {
        let identity = identity_from(&json!({"oid": "o", "sub": "s", "preferred_username": "Ada@X.com", "email": "other@x.com", "amr": ["pwd", "mfa"]})).unwrap();
        assert_eq!(identity.subject, "o");
        assert_eq!(identity.user_names, vec!["ada@x.com".to_string()], "an unverified email is not a sign-in name");
        assert_eq!(identity.methods.len(), 2);

        let verified = identity_from(&json!({"oid": "o", "email": "Other@x.com", "xms_edov": true})).unwrap();
        assert_eq!(verified.user_names, vec!["other@x.com".to_string()]);
    }
}
