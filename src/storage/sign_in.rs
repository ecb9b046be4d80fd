//! Storage of the sign-in gate: each organization's identity provider, the public keys of Hub's
//! session tokens, and the link from a user to the provider's object id.

use chrono::{DateTime, Utc};
use super::sql::{query, Db, Row};

use super::{parse_json, parse_time, StorageResult};
use crate::clock;
use crate::domain::sign_in::{Candidate, Identity, JwksSource, MatchedBy, ProviderSettings};

/// Returns the identity provider settings of an organization.
pub async fn provider(db: &mut Db<'_>, org_id: &str) -> StorageResult<Option<ProviderSettings>> {
    let row = query(
        "SELECT org_id, issuer, audiences, jwks_url, jwks_file FROM sign_in_providers WHERE org_id = $1",
    )
    .bind(org_id)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(provider_from_row).transpose()
}

/// Returns the settings whose issuer is `issuer`, which names at most one organization.
pub async fn provider_by_issuer(db: &mut Db<'_>, issuer: &str) -> StorageResult<Option<ProviderSettings>> {
    let row = query(
        "SELECT org_id, issuer, audiences, jwks_url, jwks_file FROM sign_in_providers WHERE issuer = $1",
    )
    .bind(issuer)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(provider_from_row).transpose()
}

fn provider_from_row(row: &Row) -> StorageResult<ProviderSettings> {
    let audiences: String = row.try_get("audiences")?;
    let jwks_url: Option<String> = row.try_get("jwks_url")?;
    let jwks_file: Option<String> = row.try_get("jwks_file")?;
    let jwks = match (jwks_url, jwks_file) {
        (Some(url), _) => JwksSource::Url(url),
        (None, Some(path)) => JwksSource::File(path.into()),
        (None, None) => return Err(super::StorageError::Corrupt("sign_in_providers row without a key source".into())),
    };
    Ok(ProviderSettings {
        org_id: row.try_get("org_id")?,
        issuer: row.try_get("issuer")?,
        audiences: parse_json(&audiences, "sign_in_providers.audiences")?,
        jwks,
    })
}

/// Stores an organization's provider settings, replacing earlier ones.
pub async fn save_provider(connection: &mut Db<'_>, settings: &ProviderSettings) -> StorageResult<()> {
    let (url, file) = match &settings.jwks {
        JwksSource::Url(url) => (Some(url.clone()), None),
        JwksSource::File(path) => (None, Some(path.display().to_string())),
    };
    query("DELETE FROM sign_in_providers WHERE org_id = $1")
        .bind(&settings.org_id)
        .execute(&mut *connection)
        .await?;
    query(
        "INSERT INTO sign_in_providers (org_id, issuer, audiences, jwks_url, jwks_file, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&settings.org_id)
    .bind(&settings.issuer)
    .bind(serde_json::to_string(&settings.audiences).unwrap_or_else(|_| "[]".into()))
    .bind(url)
    .bind(file)
    .bind(clock::format(clock::now()))
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// The public half of one of Hub's session signing keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    pub kid: String,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Publishes a public key unless it is published already.
pub async fn publish_key(db: &mut Db<'_>, kid: &str, public_jwk: &str) -> StorageResult<()> {
    query(
        "INSERT INTO session_signing_keys (kid, public_jwk, created_at) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING",
    )
    .bind(kid)
    .bind(public_jwk)
    .bind(clock::format(clock::now()))
    .execute(db)
    .await?;
    Ok(())
}

/// Marks every published key except `current` as retired, from `now` on.
pub async fn retire_keys_except(db: &mut Db<'_>, current: &str, now: DateTime<Utc>) -> StorageResult<u64> {
    let result = query("UPDATE session_signing_keys SET retired_at = $1 WHERE kid <> $2 AND retired_at IS NULL")
        .bind(clock::format(now))
        .bind(current)
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}

/// Returns every published key, newest first.
pub async fn published_keys(db: &mut Db<'_>) -> StorageResult<Vec<PublishedKey>> {
    let rows = query("SELECT kid, public_jwk, created_at, retired_at FROM session_signing_keys ORDER BY created_at DESC, kid")
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| {
            let created_at: String = row.try_get("created_at")?;
            let retired_at: Option<String> = row.try_get("retired_at")?;
            Ok(PublishedKey {
                kid: row.try_get("kid")?,
                public_jwk: row.try_get("public_jwk")?,
                created_at: parse_time(&created_at, "session_signing_keys.created_at")?,
                retired_at: retired_at
                    .as_deref()
                    .map(|text| parse_time(text, "session_signing_keys.retired_at"))
                    .transpose()?,
            })
        })
        .collect()
}

/// Finds the users an identity may belong to: by the recorded object id, by externalId, and
/// by userName, removed users included (they carry only their recorded object id).
pub async fn candidates(db: &mut Db<'_>, org_id: &str, identity: &Identity) -> StorageResult<Vec<Candidate>> {
    let mut sql = format!(
        "SELECT {}, sign_in_subject, external_id, user_name_key FROM users WHERE org_id = $1 \
         AND (sign_in_subject = $2 OR external_id = $2",
        super::users::COLUMNS
    );
    for index in 0..identity.user_names.len() {
        sql.push_str(&format!(" OR user_name_key = ${}", index + 3));
    }
    sql.push(')');

    let mut query = query(&sql).bind(org_id).bind(identity.subject.as_str());
    for name in &identity.user_names {
        query = query.bind(name.clone());
    }
    let rows = query.fetch_all(db).await?;

    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        let recorded_subject: Option<String> = row.try_get("sign_in_subject")?;
        let external_id: Option<String> = row.try_get("external_id")?;
        let matched_by = if recorded_subject.as_deref() == Some(identity.subject.as_str()) {
            MatchedBy::RecordedSubject
        } else if external_id.as_deref() == Some(identity.subject.as_str()) {
            MatchedBy::ExternalId
        } else {
            MatchedBy::UserName
        };
        found.push(Candidate {
            user: super::users::from_row(row)?,
            recorded_subject,
            matched_by,
        });
    }
    found.sort_by_key(|candidate| (candidate.user.removed_at.is_some(), candidate.matched_by));
    Ok(found)
}

/// Records the provider's object id on a user, taking it from removed users that held it.
pub async fn record_subject(connection: &mut Db<'_>, org_id: &str, user_id: &str, subject: &str) -> StorageResult<()> {
    query(
        "UPDATE users SET sign_in_subject = NULL WHERE org_id = $1 AND sign_in_subject = $2 AND removed_at IS NOT NULL",
    )
    .bind(org_id)
    .bind(subject)
    .execute(&mut *connection)
    .await?;
    query("UPDATE users SET sign_in_subject = $1 WHERE org_id = $2 AND id = $3")
        .bind(subject)
        .bind(org_id)
        .bind(user_id)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Clears a user's recorded object id and returns the one it held.
pub async fn clear_subject(connection: &mut Db<'_>, org_id: &str, user_id: &str) -> StorageResult<Option<String>> {
    let row = query("SELECT sign_in_subject FROM users WHERE org_id = $1 AND id = $2")
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(&mut *connection)
        .await?;
    let previous: Option<String> = match row {
        Some(row) => row.try_get("sign_in_subject")?,
        None => None,
    };
    if previous.is_some() {
        query("UPDATE users SET sign_in_subject = NULL WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *connection)
            .await?;
    }
    Ok(previous)
}
