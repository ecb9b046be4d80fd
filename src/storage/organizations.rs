//! Organizations: the tenants.

use super::sql::{query, Db, Row};

use super::{parse_json, StorageResult};
use crate::clock;

/// An organization and the settings Hub's rules read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub name: String,
    /// Email domains of the organization's identity provider tenant; empty means any domain.
    pub verified_domains: Vec<String>,
    /// Product keys that users of the organization can be granted.
    pub products: Vec<String>,
    /// Whether users created over SCIM start Active instead of Invited (no invitation mail).
    pub scim_users_active: bool,
    /// SCIM requests per second allowed per token; `None` uses the server's default.
    pub scim_rate_limit: Option<u32>,
}

const COLUMNS: &str = "id, name, verified_domains, products, scim_users_active, scim_rate_limit";

fn from_row(row: &Row) -> StorageResult<Organization> {
    let verified_domains: String = row.try_get("verified_domains")?;
    let products: String = row.try_get("products")?;
    let scim_users_active: i64 = row.try_get("scim_users_active")?;
    let scim_rate_limit: Option<i64> = row.try_get("scim_rate_limit")?;
    Ok(Organization {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        verified_domains: parse_json(&verified_domains, "organizations.verified_domains")?,
        products: parse_json(&products, "organizations.products")?,
        scim_users_active: scim_users_active != 0,
        scim_rate_limit: scim_rate_limit.and_then(|limit| u32::try_from(limit).ok()),
    })
}

pub async fn insert(db: &mut Db<'_>, name: &str) -> StorageResult<Organization> {
    let id = uuid::Uuid::new_v4().to_string();
    query("INSERT INTO organizations (id, name, name_key, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(clock::format(clock::now()))
        .execute(db)
        .await?;
    Ok(Organization {
        id,
        name: name.to_string(),
        verified_domains: Vec::new(),
        products: default_products(),
        scim_users_active: false,
        scim_rate_limit: None,
    })
}

/// The products of a new organization; must match the column default in the migrations.
pub fn default_products() -> Vec<String> {
    vec!["billing".to_string(), "desk".to_string(), "projects".to_string()]
}

pub async fn find_by_name(db: &mut Db<'_>, name: &str) -> StorageResult<Option<Organization>> {
    let row = query(&format!("SELECT {COLUMNS} FROM organizations WHERE name_key = $1"))
        .bind(name.to_lowercase())
        .fetch_optional(db)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find_by_id(db: &mut Db<'_>, id: &str) -> StorageResult<Option<Organization>> {
    let row = query(&format!("SELECT {COLUMNS} FROM organizations WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn count(db: &mut Db<'_>) -> StorageResult<i64> {
    let row = query("SELECT COUNT(*) AS total FROM organizations")
        .fetch_one(db)
        .await?;
    Ok(row.try_get("total")?)
}

/// Updates the organization's settings.
pub async fn update_settings(db: &mut Db<'_>, organization: &Organization) -> StorageResult<()> {
    let verified_domains = serde_json::to_string(&organization.verified_domains).unwrap_or_else(|_| "[]".to_string());
    let products = serde_json::to_string(&organization.products).unwrap_or_else(|_| "[]".to_string());
    query(
        "UPDATE organizations SET verified_domains = $1, products = $2, scim_users_active = $3, scim_rate_limit = $5 WHERE id = $4",
    )
        .bind(verified_domains)
        .bind(products)
        .bind(i64::from(organization.scim_users_active))
        .bind(&organization.id)
        .bind(organization.scim_rate_limit.map(i64::from))
        .execute(db)
        .await?;
    Ok(())
}
