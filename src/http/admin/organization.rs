//! `/api/v1/organization`: the settings Hub's rules read (verified domains, products, whether
//! provisioned users start Active).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::auth::AdminCaller;
use super::error::AdminError;
use super::extract::AdminJson;
use crate::domain::audit::AuditRecord;
use crate::domain::user::Role;
use crate::domain::DomainError;
use crate::http::AppState;
use crate::service::admin_users::require_manage_users;
use crate::storage::organizations::{self, Organization};
use crate::storage::audit;

fn view(organization: &Organization) -> Value {
    json!({
        "id": organization.id,
        "name": organization.name,
        "verifiedDomains": organization.verified_domains,
        "products": organization.products,
        "scimUsersActive": organization.scim_users_active,
        "scimRateLimit": organization.scim_rate_limit,
    })
}

/// GET /api/v1/organization.
pub async fn organization_get(caller: AdminCaller) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    Ok(Json(view(&caller.identity.organization)))
}

/// The highest per-token SCIM rate an organization may set.
const MAX_RATE_LIMIT: u32 = 100_000;

/// A settings change; absent fields stay as they are.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsBody {
    #[serde(default)]
    pub verified_domains: Option<Vec<String>>,
    #[serde(default)]
    pub products: Option<Vec<String>>,
    #[serde(default)]
    pub scim_users_active: Option<bool>,
    /// SCIM requests per second per token; `null` returns to the server's default.
    #[serde(default, deserialize_with = "present_or_null")]
    pub scim_rate_limit: Option<Option<u32>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<u32>>, D::Error> {
    use serde::Deserialize;
    Ok(Some(Option::<u32>::deserialize(deserializer)?))
}

fn is_domain(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty() && !label.starts_with('-') && !label.ends_with('-') && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn is_product_key(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// PATCH /api/v1/organization: Owners only, because the settings decide who can be invited and
/// what can be granted.
pub async fn organization_patch(
    State(state): State<AppState>,
    caller: AdminCaller,
    AdminJson(body): AdminJson<SettingsBody>,
) -> Result<Json<Value>, AdminError> {
    if caller.identity.effective_role != Role::Owner {
        return Err(DomainError::Forbidden("Only an Owner may change the organization's settings.".to_string()).into());
    }

    let before = caller.identity.organization.clone();
    let mut organization = before.clone();
    if let Some(domains) = body.verified_domains {
        let domains: Vec<String> = domains.iter().map(|domain| domain.trim().to_ascii_lowercase()).collect();
        if let Some(invalid) = domains.iter().find(|domain| !is_domain(domain)) {
            return Err(AdminError::bad_request(format!("verifiedDomains: {invalid:?} is not a domain name such as example.com.")));
        }
        organization.verified_domains = domains;
    }
    if let Some(products) = body.products {
        if let Some(invalid) = products.iter().find(|key| !is_product_key(key)) {
            return Err(AdminError::bad_request(format!(
                "products: {invalid:?} is not a product key; use lower-case letters, digits, '-' and '_'."
            )));
        }
        let mut products = products;
        products.sort();
        products.dedup();
        organization.products = products;
    }
    if let Some(active) = body.scim_users_active {
        organization.scim_users_active = active;
    }
    if let Some(limit) = body.scim_rate_limit {
        if limit == Some(0) || limit.is_some_and(|limit| limit > MAX_RATE_LIMIT) {
            return Err(AdminError::bad_request(format!(
                "scimRateLimit must be between 1 and {MAX_RATE_LIMIT} requests per second per token, or null for the server's default."
            )));
        }
        organization.scim_rate_limit = limit;
    }

    organizations::update_settings(&mut state.store.db(), &organization).await?;
    // Cached SCIM tokens carry the organization's settings.
    state.token_cache.clear();
    let record = AuditRecord {
        action: "organization.updated",
        target_type: "organization",
        target_id: organization.id.clone(),
        before: Some(view(&before)),
        after: Some(view(&organization)),
    };
    audit::insert(&mut state.store.db(), &organization.id, &caller.context(), &record).await?;
    tracing::info!(org_id = %organization.id, "organization settings changed");
    Ok(Json(view(&organization)))
}
