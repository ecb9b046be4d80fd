//! Invitations: creating invited users with a registration link, resending, and registering.
//!
//! The invitation mail is written to the durable mail queue in the same transaction as the user
//! and the invitation. An invitation is therefore never lost when the mail server is down,
//! because the mail worker retries until the mail is delivered.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::users::{check_owner_seats, UserRecord};
use super::{ServiceError, ServiceResult};
use crate::clock::Clock;
use crate::domain::audit::{Actor, AuditRecord, ChangeContext};
use crate::domain::invitation::{check_verified_domain, invitation_validity, validate_email, Invitation, LinkError, MAX_BULK_INVITATIONS};
use crate::domain::user::{validate_products, Lifecycle, Role, Status, User};
use crate::domain::DomainError;
use crate::mail::invitation_mail;
use crate::scim::ScimError;
use crate::storage::organizations::{self, Organization};
use crate::storage::{audit, invitations, mail_queue, users, Store, StorageError, WriteTx};

/// Settings that invitations take from the running server.
#[derive(Debug, Clone)]
pub struct InvitationSettings {
    /// The externally visible base URL that registration links start with.
    pub public_base: String,
    pub clock: Arc<dyn Clock>,
}

/// The sender of an invitation, for the mail and the audit log.
#[derive(Debug, Clone)]
pub struct Inviter {
    pub actor: Actor,
    /// The name shown in the mail ("Ada Lovelace", or the identity provider's token name).
    pub display_name: String,
}

impl Inviter {
    fn label(&self) -> String {
        match self.actor.id() {
            Some(id) => format!("{}:{id}", self.actor.kind()),
            None => self.actor.kind().to_string(),
        }
    }
}

/// One person to invite.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InviteRequest {
    pub email: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Owner, Admin, Member or Viewer; Member when absent.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub products: Vec<String>,
}

/// A created invitation and the invited user.
#[derive(Debug, Clone)]
pub struct InviteOutcome {
    pub user: User,
    pub invitation: Invitation,
    pub mail_id: String,
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Makes a new link token: 256 random bits from the operating system.
fn new_link_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Creates an invitation for an invited user and queues its mail, inside `tx`.
async fn send_invitation(
    tx: &mut WriteTx,
    organization: &Organization,
    user: &User,
    email: &str,
    inviter: &Inviter,
    settings: &InvitationSettings,
) -> ServiceResult<(Invitation, String)> {
    let now = settings.clock.now();
    let token = new_link_token();
    let invitation = Invitation {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: organization.id.clone(),
        user_id: user.id.clone(),
        invited_by: inviter.label(),
        sent_at: now,
        expires_at: now + invitation_validity(),
        used_at: None,
        revoked_at: None,
    };
    invitations::insert(&mut tx.db(), &invitation, &hash_token(&token)).await?;
    let link = format!("{}/register?token={token}", settings.public_base.trim_end_matches('/'));
    let mail = invitation_mail(email, &organization.name, &inviter.display_name, &link, invitation.expires_at);
    // The queue is scheduled on the system clock, which the mail worker runs on.
    let mail_id = mail_queue::enqueue(&mut tx.db(), &organization.id, Some(&invitation.id), &mail, crate::clock::now()).await?;
    Ok((invitation, mail_id))
}

/// Returns the address an invitation goes to: the first valid one of the primary email, the
/// first email and the userName. An email value that is not an address (identity providers
/// send what their directory holds) passes the turn to the next, so it can neither stop the
/// invitation nor slip past the verified-domain check.
pub fn invitation_address(user: &User) -> Option<String> {
    let emails = user.profile.get("emails").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let primary = emails.iter().find(|email| email.get("primary") == Some(&Value::Bool(true))).and_then(email_value);
    let first = emails.first().and_then(email_value);
    [primary, first, user.user_name()]
        .into_iter()
        .flatten()
        .find_map(|address| validate_email(address).ok())
}

fn email_value(email: &Value) -> Option<&str> {
    email.get("value").and_then(Value::as_str)
}

/// Checks that a user created over SCIM may be invited: when the organization lists verified
/// domains, the invitation address must be in one of them, as for an invitation by an admin.
/// A user without a usable address passes, because no mail goes out.
pub fn check_provisioned_address(user: &User, organization: &Organization) -> Result<(), crate::domain::DomainError> {
    match invitation_address(user) {
        Some(address) => check_verified_domain(&address, &organization.verified_domains),
        None => Ok(()),
    }
}

/// Invites a user created over SCIM, inside the creating transaction. Users without a usable
/// address stay Invited without a mail; an administrator can invite them later.
pub async fn invite_provisioned_user(
    tx: &mut WriteTx,
    organization: &Organization,
    user: &User,
    inviter: &Inviter,
    settings: &InvitationSettings,
) -> ServiceResult<Option<Invitation>> {
    let Some(address) = invitation_address(user) else {
        tracing::info!(user_id = %user.id, "provisioned user has no email address; no invitation sent");
        return Ok(None);
    };
    let (invitation, _) = send_invitation(tx, organization, user, &address, inviter, settings).await?;
    Ok(Some(invitation))
}

/// Invites one person: creates the user as Invited and queues the invitation mail.
pub async fn invite(
    store: &Store,
    organization: &Organization,
    context: &ChangeContext,
    inviter: &Inviter,
    request: &InviteRequest,
    settings: &InvitationSettings,
) -> ServiceResult<InviteOutcome> {
    let email = validate_email(&request.email)?;
    check_verified_domain(&email, &organization.verified_domains)?;
    let role = match &request.role {
        Some(name) => Role::parse_or_reject(name)?,
        None => Role::Member,
    };
    let products = validate_products(&request.products, &organization.products)?;

    let mut tx = store.begin_write(&organization.id).await?;
    if let Some(existing) = users::find_by_user_name(&mut tx.db(), &organization.id, &email).await? {
        return Err(ScimError::uniqueness(format!(
            "A user with the address {email:?} already exists (id {}); resend their invitation instead.",
            existing.id
        ))
        .into());
    }
    let now = settings.clock.now();
    let mut profile = Map::new();
    profile.insert("userName".into(), json!(email));
    if let Some(display_name) = request.display_name.as_deref().map(str::trim).filter(|name| !name.is_empty()) {
        profile.insert("displayName".into(), json!(display_name));
    }
    profile.insert("emails".into(), json!([{"value": email, "type": "work", "primary": true}]));
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: organization.id.clone(),
        lifecycle: Lifecycle::new(Status::Invited),
        role,
        products,
        profile,
        mfa_enabled: false,
        mfa_methods: Vec::new(),
        last_login_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
        removed_at: None,
    };
    let seats_before = if role == Role::Owner {
        Some(users::owner_seats(&mut tx.db(), &organization.id).await?)
    } else {
        None
    };
    users::insert(&mut tx.db(), &user).await?;
    check_owner_seats(&mut tx, &organization.id, seats_before).await?;
    let (invitation, mail_id) = send_invitation(&mut tx, organization, &user, &email, inviter, settings).await?;
    record(&mut tx, context, &user.id, "user.invited", None, Some(invitation_snapshot(&user, &invitation))).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, org_id = %organization.id, invitation_id = %invitation.id, "user invited");
    Ok(InviteOutcome {
        user,
        invitation,
        mail_id,
    })
}

/// Invites 1 to 20 people. Each entry is its own transaction and gets its own result, so an
/// invalid entry does not block the others, and the owner limit counts the entries before it.
pub async fn invite_bulk(
    store: &Store,
    organization: &Organization,
    context: &ChangeContext,
    inviter: &Inviter,
    requests: &[InviteRequest],
    settings: &InvitationSettings,
) -> ServiceResult<Vec<ServiceResult<InviteOutcome>>> {
    if requests.is_empty() || requests.len() > MAX_BULK_INVITATIONS {
        return Err(DomainError::InvalidValue(format!(
            "A bulk invitation has 1 to {MAX_BULK_INVITATIONS} entries; this one has {}.",
            requests.len()
        ))
        .into());
    }
    let mut results = Vec::with_capacity(requests.len());
    for request in requests {
        results.push(invite(store, organization, context, inviter, request, settings).await);
    }
    Ok(results)
}

/// Sends a new link to an invited user; the previous links stop working.
pub async fn resend(
    store: &Store,
    organization: &Organization,
    context: &ChangeContext,
    inviter: &Inviter,
    user_id: &str,
    settings: &InvitationSettings,
) -> ServiceResult<InviteOutcome> {
    let mut tx = store.begin_write(&organization.id).await?;
    let user = match users::get(&mut tx.db(), &organization.id, user_id).await? {
        Some(user) if user.removed_at.is_none() => user,
        _ => return Err(ScimError::not_found(format!("User {user_id:?} not found.")).into()),
    };
    if user.lifecycle.status != Status::Invited {
        return Err(ScimError::conflict(format!(
            "The user is {}, not Invited, so there is no invitation to resend.",
            user.lifecycle.status
        ))
        .into());
    }
    let Some(address) = invitation_address(&user) else {
        return Err(DomainError::InvalidValue("The user has no email address to send the invitation to.".to_string()).into());
    };
    let replaced = invitations::revoke_open(&mut tx.db(), &organization.id, &user.id, settings.clock.now()).await?;
    let (invitation, mail_id) = send_invitation(&mut tx, organization, &user, &address, inviter, settings).await?;
    let after = json!({"invitationId": invitation.id, "expiresAt": crate::clock::format(invitation.expires_at), "replacedLinks": replaced});
    record(&mut tx, context, &user.id, "invitation.resent", None, Some(after)).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, invitation_id = %invitation.id, "invitation resent");
    Ok(InviteOutcome {
        user,
        invitation,
        mail_id,
    })
}

/// The reason a registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StorageError> for RegistrationError {
    fn from(error: StorageError) -> Self {
        RegistrationError::Service(error.into())
    }
}

/// Registers the user a link belongs to: the user becomes Active and the link is used up.
pub async fn register(store: &Store, token: &str, request_id: &str, clock: &dyn Clock) -> Result<(UserRecord, Organization), RegistrationError> {
    let now = clock.now();
    let Some(invitation) = invitations::find_by_token_hash(&mut store.db(), &hash_token(token.trim())).await? else {
        return Err(LinkError::Unknown.into());
    };
    invitation.check_usable(now)?;

    let mut tx = store.begin_write(&invitation.org_id).await?;
    let Some(mut user) = users::get(&mut tx.db(), &invitation.org_id, &invitation.user_id).await? else {
        return Err(LinkError::Unknown.into());
    };
    if user.removed_at.is_some() {
        return Err(LinkError::NotInvited("removed".to_string()).into());
    }
    if user.lifecycle.status != Status::Invited {
        return Err(LinkError::NotInvited(user.lifecycle.status.to_string().to_lowercase()).into());
    }
    if !invitations::mark_used(&mut tx.db(), &invitation.id, now).await? {
        return Err(LinkError::Used.into());
    }
    let before = user.clone();
    user.lifecycle = Lifecycle::new(Status::Active);
    user.version += 1;
    user.updated_at = now;
    users::update(&mut tx.db(), &user).await?;
    let context = ChangeContext {
        actor: Actor::User { user_id: user.id.clone() },
        request_id: request_id.to_string(),
    };
    let change = (json!({"status": before.lifecycle.status.as_str()}), json!({"status": "Active", "invitationId": invitation.id}));
    record(&mut tx, &context, &user.id, "user.registered", Some(change.0), Some(change.1)).await?;
    let organization = organizations::find_by_id(&mut tx.db(), &invitation.org_id)
        .await?
        .ok_or_else(|| StorageError::Corrupt(format!("organization {} missing", invitation.org_id)))?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, org_id = %organization.id, "user registered");
    Ok((
        UserRecord {
            user,
            memberships: Vec::new(),
            change: crate::domain::user::UserChange::Unchanged,
        },
        organization,
    ))
}

/// Describes an invitation link without revealing it: when it was sent and expires, and
/// whether it is open, used, replaced or expired.
pub fn invitation_state(invitation: &Invitation, now: DateTime<Utc>) -> &'static str {
    match invitation.check_usable(now) {
        Ok(()) => "open",
        Err(LinkError::Used) => "used",
        Err(LinkError::Replaced) => "replaced",
        Err(LinkError::Expired(_)) => "expired",
        Err(_) => "invalid",
    }
}

fn invitation_snapshot(user: &User, invitation: &Invitation) -> Value {
    json!({
        "userName": user.user_name(),
        "role": user.role.as_str(),
        "products": user.products,
        "status": user.lifecycle.status.as_str(),
        "invitationId": invitation.id,
        "expiresAt": crate::clock::format(invitation.expires_at),
    })
}

/// Records an audit entry about a user inside the transaction that changed it.
pub(crate) async fn record(
    tx: &mut WriteTx,
    context: &ChangeContext,
    user_id: &str,
    action: &'static str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), StorageError> {
    let org_id = tx.org_id.clone();
    let entry = AuditRecord {
        action,
        target_type: "user",
        target_id: user_id.to_string(),
        before,
        after,
    };
    audit::insert(&mut tx.db(), &org_id, context, &entry).await
}
