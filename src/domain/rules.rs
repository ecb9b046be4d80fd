//! The owner rules: at most two Owners per organization, and never none once there was one.
//!
//! Owners are counted over accounts that are not Deactivated and not removed, pending
//! invitations included. Callers pass the Owners before and after a change, computed inside
//! the transaction that makes the change, so the check and the write see the same state.

use super::error::DomainError;

/// Maximum number of Owners per organization.
pub const MAX_OWNERS: usize = 2;

/// An account that counts as an Owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerSeat {
    pub user_id: String,
    /// The userName, for messages.
    pub user_name: String,
}

/// Checks a change of the set of Owners against the owner limit and the last-Owner rule.
pub fn check_owner_change(before: &[OwnerSeat], after: &[OwnerSeat]) -> Result<(), DomainError> {
    let newcomers: Vec<&OwnerSeat> = after
        .iter()
        .filter(|seat| !before.iter().any(|existing| existing.user_id == seat.user_id))
        .collect();
    if after.len() > MAX_OWNERS && !newcomers.is_empty() {
        return Err(owner_limit_error(before, &newcomers));
    }
    if !before.is_empty() && after.is_empty() {
        return Err(last_owner_error(before));
    }
    Ok(())
}

fn owner_limit_error(before: &[OwnerSeat], newcomers: &[&OwnerSeat]) -> DomainError {
    let holders: Vec<String> = before.iter().map(|seat| format!("'{}'", seat.user_name)).collect();
    let new_names: Vec<String> = newcomers.iter().map(|seat| format!("'{}'", seat.user_name)).collect();
    DomainError::OwnerLimit(format!(
        "Owner limit: an organization may have at most {MAX_OWNERS} Owners, and the role is already held by {}, \
         so {} cannot become an Owner. Demote or deactivate an Owner first, or assign Admin instead.",
        if holders.is_empty() { "no one".to_string() } else { holders.join(" and ") },
        new_names.join(" and ")
    ))
}

fn last_owner_error(before: &[OwnerSeat]) -> DomainError {
    let names: Vec<String> = before.iter().map(|seat| format!("'{}'", seat.user_name)).collect();
    DomainError::LastOwner(format!(
        "Last Owner: {} is the organization's last Owner who is not deactivated, and an organization \
         must keep one. Make another user an Owner first.",
        names.join(" and ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(id: &str) -> OwnerSeat {
        OwnerSeat {
            user_id: id.to_string(),
            user_name: format!("{id}@example.com"),
        }
    }

    #[test]
    fn third_owner_rejected() {
        let before = vec![seat("a"), seat("b")];
        let after = vec![seat("a"), seat("b"), seat("c")];

        let error = check_owner_change(&before, &after).unwrap_err();

        assert!(matches!(error, DomainError::OwnerLimit(_)));
    }

    #[test]
    fn second_owner_allowed() {
        assert!(check_owner_change(&[seat("a")], &[seat("a"), seat("b")]).is_ok());
    }

    #[test]
    fn last_owner_kept() {
        let error = check_owner_change(&[seat("a")], &[]).unwrap_err();

        assert!(matches!(error, DomainError::LastOwner(_)));
    }

    #[test]
    fn organization_without_owner_may_stay_so() {
        assert!(check_owner_change(&[], &[]).is_ok());
    }
}
