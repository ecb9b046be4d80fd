//! Invitations: who may be invited, and when a registration link is still valid.

use chrono::{DateTime, Duration, Utc};

use super::error::DomainError;

/// Returns how long a registration link stays valid after it was sent.
pub fn invitation_validity() -> Duration {
    Duration::days(7)
}

/// Maximum entries in one bulk invitation.
pub const MAX_BULK_INVITATIONS: usize = 20;

/// A sent invitation; the link token itself is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub invited_by: String,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The reason a registration link cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("This registration link is not valid. Check that you copied the whole link, or ask your administrator for a new invitation.")]
    Unknown,
    #[error("This registration link expired on {0}. Ask your administrator to send a new invitation.")]
    Expired(String),
    #[error("This registration link was already used. Sign in instead, or ask your administrator for a new invitation.")]
    Used,
    #[error("This registration link was replaced by a newer invitation. Use the link in the most recent email.")]
    Replaced,
    #[error("This account can no longer register: it is {0}. Ask your administrator.")]
    NotInvited(String),
}

impl Invitation {
    /// Checks that the link can register the user at `now`.
    pub fn check_usable(&self, now: DateTime<Utc>) -> Result<(), LinkError> {
        if self.used_at.is_some() {
            return Err(LinkError::Used);
        }
        if self.revoked_at.is_some() {
            return Err(LinkError::Replaced);
        }
        if now >= self.expires_at {
            return Err(LinkError::Expired(self.expires_at.format("%Y-%m-%d %H:%M UTC").to_string()));
        }
        Ok(())
    }
}

/// Validates an email address and returns it trimmed, with the domain lower-cased.
///
/// The check is deliberately practical rather than the full RFC 5322 grammar. It needs one
/// `@`, a local part of 1 to 64 characters without spaces or control characters, and a domain
/// of at least two dot-separated labels of letters, digits and hyphens.
pub fn validate_email(email: &str) -> Result<String, DomainError> {
    let invalid = || DomainError::InvalidValue(format!("{email:?} is not a valid email address."));
    let email = email.trim();
    if email.len() > 254 {
        return Err(invalid());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '"');
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !local_ok || !domain_ok {
        return Err(invalid());
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// Checks the address against the organization's verified domains; any domain passes when the
/// organization lists none.
pub fn check_verified_domain(email: &str, verified_domains: &[String]) -> Result<(), DomainError> {
    if verified_domains.is_empty() {
        return Ok(());
    }
    let domain = email.rsplit_once('@').map(|(_, domain)| domain).unwrap_or_default();
    if verified_domains.iter().any(|verified| verified.eq_ignore_ascii_case(domain)) {
        return Ok(());
    }
    Err(DomainError::UnverifiedDomain(format!(
        "Unverified email domain: {domain:?} is not one of the organization's verified domains ({}). Use an address in one of them, or add the domain to the organization's verified domains (PATCH /api/v1/organization, Owners only).",
        verified_domains.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(sent_at: DateTime<Utc>) -> Invitation {
        Invitation {
            id: "i".into(),
            org_id: "o".into(),
            user_id: "u".into(),
            invited_by: "system".into(),
            sent_at,
            expires_at: sent_at + invitation_validity(),
            used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn link_expires_after_seven_days() {
        let sent = Utc::now();
        let link = invitation(sent);

        assert!(link.check_usable(sent + Duration::days(7) - Duration::seconds(1)).is_ok());
        assert!(matches!(link.check_usable(sent + Duration::days(7)), Err(LinkError::Expired(_))));
    }

    #[test]
    fn emails_validated() {
        assert_eq!(validate_email(" Ada@Example.COM ").unwrap(), "Ada@example.com");
        for bad in ["", "ada", "ada@", "@x.com", "a b@x.com", "ada@localhost", "ada@-x.com", "ada@x..com"] {
            assert!(validate_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn verified_domains_enforced() {
        let domains = vec!["example.com".to_string()];

        assert!(check_verified_domain("a@EXAMPLE.com", &domains).is_ok());
        assert!(check_verified_domain("a@other.com", &domains).is_err());
        assert!(check_verified_domain("a@other.com", &[]).is_ok());
    }
}
