//! Groups and the access they grant: a user's effective role is the highest of its own role and
//! its groups' roles, and its effective product access is the union of all of them.

use chrono::{DateTime, Utc};

use super::user::Role;

/// A group of users, with the grants it gives its members.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: String,
    pub org_id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    /// The platform role every member gets at least.
    pub grant_role: Option<Role>,
    /// Product keys every member gets, sorted.
    pub grant_products: Vec<String>,
    /// Incremented on every change, membership changes included; the ETag.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user's membership in a group, with the grants it carries, for rendering and effective access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub group_id: String,
    pub group_display_name: String,
    pub grant_role: Option<Role>,
    pub grant_products: Vec<String>,
}

/// Returns the highest of the user's own role and the roles its groups grant.
pub fn effective_role(own: Role, memberships: &[Membership]) -> Role {
    memberships
        .iter()
        .filter_map(|membership| membership.grant_role)
        .fold(own, Role::max)
}

/// Returns the union of the user's own products and the products its groups grant, sorted.
pub fn effective_products(own: &[String], memberships: &[Membership]) -> Vec<String> {
    let mut products: Vec<String> = own.to_vec();
    for membership in memberships {
        products.extend(membership.grant_products.iter().cloned());
    }
    products.sort();
    products.dedup();
    products
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership(role: Option<Role>, products: &[&str]) -> Membership {
        Membership {
            group_id: "g".to_string(),
            group_display_name: "G".to_string(),
            grant_role: role,
            grant_products: products.iter().map(|product| product.to_string()).collect(),
        }
    }

    #[test]
    fn group_role_raises_own_role() {
        let memberships = vec![membership(Some(Role::Admin), &[]), membership(None, &[])];

        assert_eq!(effective_role(Role::Viewer, &memberships), Role::Admin);
        assert_eq!(effective_role(Role::Owner, &memberships), Role::Owner);
    }

    #[test]
    fn products_are_united() {
        let memberships = vec![membership(None, &["desk", "billing"])];

        let products = effective_products(&["desk".to_string(), "projects".to_string()], &memberships);

        assert_eq!(products, vec!["billing", "desk", "projects"]);
    }
}
