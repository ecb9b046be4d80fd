//! Rules of the sign-in gate: which user a verified identity-provider token belongs to, who may
//! come in, and what the token reports about multi-factor authentication.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::error::DomainError;
use super::invitation::{Invitation, LinkError};
use super::user::{Status, User};

/// Location of the keys that sign an identity provider's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JwksSource {
    /// An https URL, such as Entra's `https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys`.
    Url(String),
    /// A JWKS document on the server's disk.
    File(PathBuf),
}

impl std::fmt::Display for JwksSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksSource::Url(url) => formatter.write_str(url),
            JwksSource::File(path) => write!(formatter, "file {}", path.display()),
        }
    }
}

/// Settings that check the tokens of an organization's identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    pub org_id: String,
    /// The exact `iss` claim, such as `https://login.microsoftonline.com/{tenant}/v2.0`.
    pub issuer: String,
    /// Accepted `aud` values: the application's client id or App ID URI.
    pub audiences: Vec<String>,
    pub jwks: JwksSource,
}

const MAX_SETTING_LENGTH: usize = 2048;

impl ProviderSettings {
    /// Checks the settings an administrator entered.
    pub fn validate(&self) -> Result<(), DomainError> {
        let issuer = self.issuer.trim();
        if issuer.is_empty() || issuer.len() > MAX_SETTING_LENGTH || issuer != self.issuer {
            return Err(DomainError::InvalidValue(
                "issuer must be the exact iss claim of the provider's tokens, such as https://login.microsoftonline.com/<tenant id>/v2.0.".into(),
            ));
        }
        if self.audiences.is_empty() || self.audiences.len() > 10 {
            return Err(DomainError::InvalidValue(
                "audiences must list 1 to 10 values: the application (client) id of the product's app registration, or its App ID URI.".into(),
            ));
        }
        if let Some(bad) = self.audiences.iter().find(|audience| audience.trim().is_empty() || audience.len() > MAX_SETTING_LENGTH) {
            return Err(DomainError::InvalidValue(format!("audience {bad:?} is empty or too long.")));
        }
        if let JwksSource::Url(url) = &self.jwks {
            check_jwks_url(url)?;
        }
        Ok(())
    }
}

/// Accepts https URLs, and plain http only to this machine (local development and tests), so
/// keys never travel unprotected over a network.
pub fn check_jwks_url(url: &str) -> Result<(), DomainError> {
    let refuse = || {
        DomainError::InvalidValue(format!(
            "jwksUrl {url:?} is not usable: give an https URL, such as https://login.microsoftonline.com/<tenant id>/discovery/v2.0/keys."
        ))
    };
    if url.len() > MAX_SETTING_LENGTH || url.chars().any(char::is_whitespace) {
        return Err(refuse());
    }
    if let Some(rest) = url.strip_prefix("https://") {
        return if rest.is_empty() { Err(refuse()) } else { Ok(()) };
    }
    let Some(rest) = url.strip_prefix("http://") else { return Err(refuse()) };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(name, port)| if port.chars().all(|c| c.is_ascii_digit()) { name } else { host });
    if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        Ok(())
    } else {
        Err(refuse())
    }
}

/// The person a verified token describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's stable object id: Entra's `oid`, or `sub` where there is none.
    pub subject: String,
    /// Sign-in names to try as userName, lower-cased: `preferred_username`, `email`, `upn`.
    pub user_names: Vec<String>,
    /// Authentication methods (`amr`).
    pub methods: Vec<String>,
}

/// The way a user matched an identity, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchedBy {
    /// The object id recorded at an earlier sign-in.
    RecordedSubject,
    /// externalId equals the object id, as when Entra provisions objectId as externalId.
    ExternalId,
    UserName,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::RecordedSubject => "objectId",
            MatchedBy::ExternalId => "externalId",
            MatchedBy::UserName => "userName",
        }
    }
}

/// A user an identity may belong to.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub user: User,
    /// The object id recorded for the user at an earlier sign-in.
    pub recorded_subject: Option<String>,
    pub matched_by: MatchedBy,
}

/// The reason a person is rejected at sign-in, each with a stable code products can show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("No user of this organization matches the token's object id, username or email. Ask an administrator to invite you or to assign you to the application.")]
    Unknown,
    #[error("The account that matches this username is linked to another identity-provider account. Ask an administrator to remove the link (DELETE /api/v1/users/{{id}}/sign-in-link) if the account changed.")]
    IdentityMismatch,
    #[error("The account is suspended. Ask an administrator to lift the suspension.")]
    Suspended,
    #[error("The account is deactivated. Ask an administrator to reactivate it.")]
    Deactivated,
    #[error("The account was removed from the organization.")]
    Removed,
    #[error("The account is invited, and its invitation {0}. Ask an administrator to resend the invitation.")]
    InvitationUnusable(String),
}

impl Refusal {
    /// Returns the machine-readable code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Unknown => "user_unknown",
            Refusal::IdentityMismatch => "identity_mismatch",
            Refusal::Suspended => "user_suspended",
            Refusal::Deactivated => "user_deactivated",
            Refusal::Removed => "user_removed",
            Refusal::InvitationUnusable(_) => "invitation_unusable",
        }
    }
}

/// The user an identity belongs to, and whether its object id must be recorded.
#[derive(Debug, Clone)]
pub struct Matched {
    pub user: User,
    pub record_subject: bool,
    pub matched_by: MatchedBy,
}

/// Picks the user an identity belongs to.
///
/// The recorded object id wins, then externalId, then userName. A user already linked to a
/// different object id is not taken over by a token that merely carries the same username: a
/// recycled email address must not open someone else's account. Removed users keep their
/// object id only so that their refusal reads "removed" rather than "unknown".
pub fn choose(candidates: Vec<Candidate>, identity: &Identity) -> Result<Matched, Refusal> {
    let (removed, mut live): (Vec<Candidate>, Vec<Candidate>) =
        candidates.into_iter().partition(|candidate| candidate.user.removed_at.is_some());
    live.sort_by_key(|candidate| candidate.matched_by);

    let Some(best) = live.into_iter().next() else {
        let was_removed = removed
            .iter()
            .any(|candidate| candidate.recorded_subject.as_deref() == Some(identity.subject.as_str()));
        return Err(if was_removed { Refusal::Removed } else { Refusal::Unknown });
    };

    match best.recorded_subject.as_deref() {
        Some(recorded) if recorded == identity.subject => Ok(Matched {
            user: best.user,
            record_subject: false,
            matched_by: best.matched_by,
        }),
        Some(_) => Err(Refusal::IdentityMismatch),
        None => Ok(Matched {
            user: best.user,
            record_subject: true,
            matched_by: best.matched_by,
        }),
    }
}

/// The effect of a sign-in on the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// An Active user comes in.
    Enter,
    /// An Invited user with a usable invitation registers and comes in.
    Register,
}

/// Decides whether a matched user may come in: only Active users, and Invited users whose
/// invitation link is still usable (the sign-in registers them instead of the link).
pub fn admit(user: &User, invitation: Option<&Invitation>, now: DateTime<Utc>) -> Result<Admission, Refusal> {
    if user.removed_at.is_some() {
        return Err(Refusal::Removed);
    }
    match user.lifecycle.status {
        Status::Active => Ok(Admission::Enter),
        Status::Suspended => Err(Refusal::Suspended),
        Status::Deactivated => Err(Refusal::Deactivated),
        Status::Invited => {
            let Some(invitation) = invitation else {
                return Err(Refusal::InvitationUnusable("was never sent".into()));
            };
            match invitation.check_usable(now) {
                Ok(()) => Ok(Admission::Register),
                Err(LinkError::Expired(when)) => Err(Refusal::InvitationUnusable(format!("expired on {when}"))),
                Err(LinkError::Used) => Err(Refusal::InvitationUnusable("was already used".into())),
                Err(LinkError::Replaced) => Err(Refusal::InvitationUnusable("was replaced by a newer one".into())),
                Err(_) => Err(Refusal::InvitationUnusable("is not valid".into())),
            }
        }
    }
}

/// Multi-factor state read from a token's `amr` claim (RFC 8176 values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaState {
    pub enabled: bool,
    /// Hub's method names (TOTP, SMS, email) for the factors the token lists.
    pub methods: Vec<String>,
}

/// Reads the MFA state from `amr`: `mfa`, or one of the second factors Hub tracks (`otp`,
/// `sms`, `email`), means the sign-in used a second factor. Other values (`pwd`, `rsa`, `fido`, ...)
/// are ignored.
pub fn mfa_from_methods(methods: &[String]) -> MfaState {
    let has = |wanted: &str| methods.iter().any(|method| method.eq_ignore_ascii_case(wanted));
    let mut named = Vec::new();
    for (amr, hub_name) in [("otp", "TOTP"), ("sms", "SMS"), ("email", "email")] {
        if has(amr) {
            named.push(hub_name.to_string());
        }
    }
    // Entra lists `mfa` whenever a second factor was used; other providers may list only the
    // factors, and a named second factor means the same.
    MfaState {
        enabled: has("mfa") || !named.is_empty(),
        methods: named,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::{Lifecycle, Role};

    fn user(id: &str) -> User {
        let now = Utc::now();
        User {
            id: id.into(),
            org_id: "org".into(),
            lifecycle: Lifecycle::new(Status::Active),
            role: Role::Member,
            products: Vec::new(),
            profile: Default::default(),
            mfa_enabled: false,
            mfa_methods: Vec::new(),
            last_login_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
            removed_at: None,
        }
    }

    fn identity() -> Identity {
        Identity {
            subject: "oid-1".into(),
            user_names: vec!["ada@example.com".into()],
            methods: Vec::new(),
        }
    }

    fn candidate(id: &str, recorded: Option<&str>, matched_by: MatchedBy) -> Candidate {
        Candidate {
            user: user(id),
            recorded_subject: recorded.map(str::to_string),
            matched_by,
        }
    }

    #[test]
    fn stronger_match_wins() {
        let found = vec![
            candidate("by-name", None, MatchedBy::UserName),
            candidate("by-external-id", None, MatchedBy::ExternalId),
        ];
        let matched = choose(found, &identity()).unwrap();
        assert_eq!(matched.user.id, "by-external-id");
        assert!(matched.record_subject);
    }

    #[test]
    fn linked_account_is_not_taken_over() {
        let found = vec![candidate("ada", Some("oid-2"), MatchedBy::UserName)];
        assert_eq!(choose(found, &identity()).unwrap_err(), Refusal::IdentityMismatch);
    }

    #[test]
    fn removed_user_is_told_apart_from_unknown() {
        let mut removed = candidate("gone", Some("oid-1"), MatchedBy::RecordedSubject);
        removed.user.removed_at = Some(Utc::now());
        assert_eq!(choose(vec![removed], &identity()).unwrap_err(), Refusal::Removed);
        assert_eq!(choose(Vec::new(), &identity()).unwrap_err(), Refusal::Unknown);
    }

    #[test]
    fn statuses_admitted() {
        let mut subject = user("u");
        assert_eq!(admit(&subject, None, Utc::now()), Ok(Admission::Enter));
        subject.lifecycle = Lifecycle::new(Status::Suspended);
        assert_eq!(admit(&subject, None, Utc::now()), Err(Refusal::Suspended));
        subject.lifecycle = Lifecycle::new(Status::Invited);
        assert!(matches!(admit(&subject, None, Utc::now()), Err(Refusal::InvitationUnusable(_))));
    }

    #[test]
    fn mfa_read_from_amr() {
        let state = mfa_from_methods(&["pwd".into(), "MFA".into(), "otp".into()]);
        assert!(state.enabled);
        assert_eq!(state.methods, vec!["TOTP".to_string()]);
        assert!(!mfa_from_methods(&["pwd".into()]).enabled);
    }

    #[test]
    fn jwks_urls_checked() {
        assert!(check_jwks_url("https://login.microsoftonline.com/t/discovery/v2.0/keys").is_ok());
        assert!(check_jwks_url("http://127.0.0.1:9000/keys").is_ok());
        assert!(check_jwks_url("http://example.com/keys").is_err());
        assert!(check_jwks_url("http://127.0.0.1.example.com/keys").is_err());
        assert!(check_jwks_url("file:///etc/passwd").is_err());
    }
}
