//! SCIM User operations (RFC 7644 §3.3 to §3.6) under Hub's rules.
//!
//! Each write runs in one transaction of the organization: read the current user, build the
//! new state, check uniqueness and the owner rules against the state inside the transaction, write the
//! user and its audit entries, commit.

use serde_json::{json, Map, Value};

use super::invitations::{check_provisioned_address, invite_provisioned_user, InvitationSettings, Inviter};
use super::{ServiceError, ServiceResult};
use crate::clock;
use crate::domain::audit::{AuditRecord, ChangeContext};
use crate::domain::group::Membership;
use crate::domain::rules::{check_owner_change, OwnerSeat};
use crate::domain::user::{role_from_values, UserChange, validate_products, validate_timezone, Lifecycle, Role, Status, User};
use crate::domain::DomainError;
use crate::scim::document::{check_required, drop_empty_extensions, parse_body};
use super::listing::{self, Lister};
use crate::scim::cursor::CursorContext;
use crate::scim::list::{ListParams, PageCursors};
use crate::scim::schema::USER_RESOURCE;
use crate::scim::user::{etag, patch_view, render, render_owned, split_input, write_json, UserInput};
use crate::scim::{patch, ScimError};
use crate::storage::organizations::Organization;
use crate::storage::filter_sql::{Bind, Target};
use crate::storage::offset_anchors::Anchor;
use crate::storage::{audit, groups, sessions, users, Keyed, ListQuery, Store, StorageError, WriteTx};

/// A user with the group memberships that shape its effective access and its `groups`.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub memberships: Vec<Membership>,
    /// The change the request made, `Unchanged` for reads and creates.
    pub change: UserChange,
}

impl UserRecord {
    /// Renders the full SCIM resource.
    pub fn render(&self, base_url: &str) -> Value {
        render(&self.user, &self.memberships, base_url)
    }

    /// Renders the full SCIM resource, moving the user's attributes into it.
    pub fn into_resource(self, base_url: &str) -> Value {
        render_owned(self.user, &self.memberships, base_url)
    }
}

/// Reads a user that has not been removed.
pub async fn get(store: &Store, org_id: &str, id: &str) -> ServiceResult<UserRecord> {
    match users::read(store, org_id, id).await? {
        Some(found) if found.user.removed_at.is_none() => Ok(UserRecord {
            user: found.user,
            memberships: found.memberships,
            change: UserChange::Unchanged,
        }),
        _ => Err(not_found(id)),
    }
}

fn not_found(id: &str) -> ServiceError {
    ScimError::not_found(format!("User {id:?} not found.")).into()
}

/// Creates a user from a POST body. New users are Invited and get an invitation mail, unless
/// the organization makes provisioned users Active directly.
pub async fn create(
    store: &Store,
    org: &Organization,
    context: &ChangeContext,
    body: &Value,
    invitation: Option<(&Inviter, &InvitationSettings)>,
) -> ServiceResult<UserRecord> {
    let mut document = parse_body(&USER_RESOURCE, body)?;
    drop_empty_extensions(&USER_RESOURCE, &mut document);
    check_required(&USER_RESOURCE, &document)?;
    let input = split_input(document);

    let now = clock::now();
    let mut user = User {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org.id.clone(),
        lifecycle: Lifecycle::new(Status::Invited),
        role: Role::Member,
        products: Vec::new(),
        profile: Map::new(),
        mfa_enabled: false,
        mfa_methods: Vec::new(),
        last_login_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
        removed_at: None,
    };
    if org.scim_users_active {
        user.lifecycle = Lifecycle::new(Status::Active);
    }
    apply_input(&mut user, input, org, RoleSource::Body)?;
    if invitation.is_some() && user.lifecycle.status == Status::Invited {
        check_provisioned_address(&user, org)?;
    }

    let mut tx = store.begin_write(&org.id).await?;
    check_unique(&mut tx, &user).await?;
    check_manager(&mut tx, &user).await?;
    let seats_before = owner_seats_if_affected(&mut tx, None, &user).await?;
    users::insert(&mut tx.db(), &user).await?;
    check_owner_seats(&mut tx, &user.org_id, seats_before).await?;
    record(&mut tx, context, "user.created", None, Some(&user)).await?;
    if let (Some((inviter, settings)), Status::Invited) = (invitation, user.lifecycle.status) {
        invite_provisioned_user(&mut tx, org, &user, inviter, settings).await?;
    }
    tx.commit().await?;
    tracing::info!(user_id = %user.id, org_id = %org.id, "user created");
    Ok(UserRecord {
        user,
        memberships: Vec::new(),
        change: UserChange::Unchanged,
    })
}

/// Replaces a user from a PUT body (RFC 7644 §3.5.1).
///
/// Core attributes that the body omits are cleared. The role and product access are kept when
/// the body carries neither `roles` nor the Hub extension, because provisioning clients that
/// replace whole users (Okta) send only the attributes they manage.
pub async fn replace(
    store: &Store,
    org: &Organization,
    context: &ChangeContext,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> ServiceResult<UserRecord> {
    let mut document = parse_body(&USER_RESOURCE, body)?;
    drop_empty_extensions(&USER_RESOURCE, &mut document);
    check_required(&USER_RESOURCE, &document)?;
    let input = split_input(document);

    let mut tx = store.begin_write(&org.id).await?;
    let before = load_for_write(&mut tx, &org.id, id, if_match).await?;
    let mut user = before.clone();
    apply_input(&mut user, input, org, RoleSource::Body)?;
    save_change(store, tx, context, &before, user).await
}

/// Applies a PATCH request (RFC 7644 §3.5.2).
pub async fn patch(
    store: &Store,
    org: &Organization,
    context: &ChangeContext,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> ServiceResult<UserRecord> {
    let operations = patch::parse_request(body)?;

    let mut tx = store.begin_write(&org.id).await?;
    let before = load_for_write(&mut tx, &org.id, id, if_match).await?;
    let view = patch_view(&before);
    let patched = patch::apply(&USER_RESOURCE, &view, &operations)?;
    let previous = split_input(view);
    let input = split_input(patched);

    let mut user = before.clone();
    apply_input(&mut user, input, org, RoleSource::Patch(previous))?;
    save_change(store, tx, context, &before, user).await
}

/// Deletes a user (RFC 7644 §3.6): Hub deactivates and removes it in one step, keeping the id
/// as a tombstone and freeing the userName. Both steps are audited. Returns the user as it was
/// before, for the request log.
pub async fn delete(
    store: &Store,
    org: &Organization,
    context: &ChangeContext,
    id: &str,
    if_match: Option<&str>,
) -> ServiceResult<User> {
    let mut tx = store.begin_write(&org.id).await?;
    let before = load_for_write(&mut tx, &org.id, id, if_match).await?;
    let seats_before = users::owner_seats(&mut tx.db(), &org.id).await?;

    let now = clock::now();
    let mut user = before.clone();
    if user.lifecycle.status != Status::Deactivated {
        user.lifecycle = user.lifecycle.deactivate();
        user.version += 1;
        user.updated_at = now;
        record(&mut tx, context, "user.deactivated", Some(&before), Some(&user)).await?;
    }
    let deactivated = user.clone();
    user.remove(now);
    user.version += 1;
    user.updated_at = now;
    users::update(&mut tx.db(), &user).await?;
    groups::remove_user_everywhere(&mut tx.db(), &user.id, now).await?;
    sessions::revoke_for_user(&mut tx.db(), &user.id, now).await?;
    check_owner_seats(&mut tx, &org.id, Some(seats_before)).await?;
    record(&mut tx, context, "user.removed", Some(&deactivated), Some(&user)).await?;
    tx.commit().await?;
    tracing::info!(user_id = %id, org_id = %org.id, "user deleted");
    Ok(before)
}

/// Loads the user inside the transaction and checks `If-Match`.
async fn load_for_write(tx: &mut WriteTx, org_id: &str, id: &str, if_match: Option<&str>) -> ServiceResult<User> {
    let user = match users::get(&mut tx.db(), org_id, id).await? {
        Some(user) if user.removed_at.is_none() => user,
        _ => return Err(not_found(id)),
    };
    check_if_match(if_match, user.version)?;
    Ok(user)
}

/// Checks an `If-Match` header against the current version (RFC 7644 §3.14). Entity tags are
/// compared weakly, because Hub's tags are weak.
pub fn check_if_match(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    let Some(header) = if_match else { return Ok(()) };
    if etag_list_matches(header, version) {
        return Ok(());
    }
    Err(ScimError::precondition_failed(format!(
        "If-Match {header} does not match the current version {}; read the resource again and retry.",
        etag(version)
    )))
}

/// Whether a comma-separated list of entity tags (or `*`) matches the version.
pub fn etag_list_matches(header: &str, version: i64) -> bool {
    let current = version.to_string();
    header.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        tag.trim_matches('"') == current
    })
}

/// Writes a changed user with its audit entry, unless nothing changed. On SQLite every statement
/// in the transaction holds up other writers, so unchanged names skip the uniqueness check and
/// the memberships for the response are read after the commit.
async fn save_change(store: &Store, mut tx: WriteTx, context: &ChangeContext, before: &User, mut user: User) -> ServiceResult<UserRecord> {
    if same_state(before, &user) {
        // `before` may contain the uncommitted change of another writer in the same SQLite
        // batch. Committing the empty transaction waits for that batch, so the response
        // never reports a state that a crash could still undo.
        tx.commit().await?;
        let memberships = read_memberships(store, &user.org_id, &user.id).await?;
        return Ok(UserRecord {
            user: before.clone(),
            memberships,
            change: UserChange::Unchanged,
        });
    }
    if user.user_name() != before.user_name() || user.external_id() != before.external_id() {
        check_unique(&mut tx, &user).await?;
    }
    if manager_id(&user) != manager_id(before) {
        check_manager(&mut tx, &user).await?;
    }
    let seats_before = owner_seats_if_affected(&mut tx, Some(before), &user).await?;
    user.version = before.version + 1;
    user.updated_at = clock::now();
    users::update_from(&mut tx.db(), before, &user).await?;
    check_owner_seats(&mut tx, &user.org_id, seats_before).await?;
    // Sessions end at once when the user can no longer sign in, and stay ended after a
    // reactivation, which needs a new sign-in.
    let can_sign_in = matches!(user.lifecycle.status, Status::Active | Status::Invited);
    if before.lifecycle.status != user.lifecycle.status && !can_sign_in {
        sessions::revoke_for_user(&mut tx.db(), &user.id, user.updated_at).await?;
    }

    let action = match (before.lifecycle.status, user.lifecycle.status) {
        (previous, Status::Deactivated) if previous != Status::Deactivated => "user.deactivated",
        (Status::Deactivated, current) if current != Status::Deactivated => "user.reactivated",
        _ => "user.updated",
    };
    record(&mut tx, context, action, Some(before), Some(&user)).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, org_id = %user.org_id, action, "user changed");
    let memberships = read_memberships(store, &user.org_id, &user.id).await?;
    let change = UserChange::between(before, &user);
    Ok(UserRecord { user, memberships, change })
}

/// Reads a user's group memberships outside any transaction.
async fn read_memberships(store: &Store, org_id: &str, user_id: &str) -> Result<Vec<Membership>, StorageError> {
    let mut by_user = groups::read_memberships(store, org_id, &[user_id.to_string()]).await?;
    Ok(by_user.remove(user_id).unwrap_or_default())
}

fn same_state(before: &User, after: &User) -> bool {
    before.profile == after.profile
        && before.lifecycle == after.lifecycle
        && before.role == after.role
        && before.products == after.products
}

/// The source of the role in a request.
pub enum RoleSource {
    /// A POST or PUT body: absent attributes keep the current role.
    Body,
    /// A patched view, compared with the view before the PATCH to see which attribute the
    /// client changed.
    Patch(UserInput),
}

/// Applies a split request document to a user: profile, status, role and product access.
/// Public for the fuzz targets, which run it without a database.
pub fn apply_input(user: &mut User, mut input: UserInput, org: &Organization, source: RoleSource) -> ServiceResult<()> {
    if let Some(timezone) = input.profile.get("timezone").and_then(Value::as_str) {
        validate_timezone(timezone)?;
    }
    if let Some(active) = input.active {
        user.lifecycle = user.lifecycle.with_active_flag(active);
    }
    let products = match &source {
        RoleSource::Body => input.products.clone(),
        RoleSource::Patch(previous) => (input.products != previous.products).then(|| input.products.clone().unwrap_or_default()),
    };
    if let Some(products) = products {
        user.products = validate_products(&products, &org.products)?;
    }

    match resolve_role(&input, &source)? {
        RoleChange::FromRoles(role) => user.role = role,
        RoleChange::FromExtension(role) => {
            user.role = role;
            if role != Role::Member || input.profile.contains_key("roles") {
                input.profile.insert("roles".into(), json!([{"value": role.as_str(), "primary": true}]));
            }
        }
        RoleChange::Unchanged => {
            // A PUT that carries no role keeps the role, and with it the `roles` that show it.
            if let Some(roles) = user.profile.get("roles") {
                input.profile.entry("roles").or_insert_with(|| roles.clone());
            }
        }
    }
    user.profile = input.profile;
    Ok(())
}

/// The change a request makes to the platform role.
enum RoleChange {
    FromRoles(Role),
    FromExtension(Role),
    Unchanged,
}

/// Decides the new role from `roles` and the Hub extension's `platformRole`.
///
/// When a request changes both to different roles, `roles` wins: it is what the identity
/// provider's app role assignment sets, and the response shows the role that took effect.
fn resolve_role(input: &UserInput, source: &RoleSource) -> Result<RoleChange, DomainError> {
    let (roles_given, extension_given) = match source {
        RoleSource::Body => (input.roles.is_some(), input.platform_role.is_some()),
        RoleSource::Patch(previous) => (input.roles != previous.roles, input.platform_role != previous.platform_role),
    };
    if roles_given {
        let role = role_from_values(input.roles.as_deref().unwrap_or_default())?.unwrap_or(Role::Member);
        if let Some(extension_role) = input.platform_role.as_deref().filter(|_| extension_given) {
            if Role::parse(extension_role) != Some(role) {
                tracing::info!(roles = %role, platform_role = %extension_role, "roles and platformRole disagree; roles wins");
            }
        }
        return Ok(RoleChange::FromRoles(role));
    }
    if extension_given {
        let role = match &input.platform_role {
            Some(name) => Role::parse_or_reject(name)?,
            None => Role::Member,
        };
        return Ok(RoleChange::FromExtension(role));
    }
    Ok(RoleChange::Unchanged)
}

/// Checks userName and externalId uniqueness inside the transaction, for a message that names
/// the value. The unique indexes remain the final guard.
async fn check_unique(tx: &mut WriteTx, user: &User) -> ServiceResult<()> {
    let (user_name, external_id) = (user.user_name(), user.external_id());
    if user_name.is_none() && external_id.is_none() {
        return Ok(());
    }
    let holders = users::find_holders(&mut tx.db(), &user.org_id, user_name, external_id).await?;
    for holder in holders.iter().filter(|holder| holder.id != user.id) {
        if let Some(user_name) = user_name.filter(|name| holder.user_name().map(users::user_name_key) == Some(users::user_name_key(name))) {
            return Err(ScimError::uniqueness(format!(
                "userName {user_name:?} is already taken by another user (userName comparison ignores case)."
            ))
            .into());
        }
        if let Some(external_id) = external_id.filter(|id| holder.external_id() == Some(*id)) {
            return Err(ScimError::uniqueness(format!("externalId {external_id:?} is already used by another user.")).into());
        }
    }
    Ok(())
}

fn manager_id(user: &User) -> Option<&str> {
    user.profile
        .get(crate::scim::schema::ENTERPRISE_USER)?
        .get("manager")?
        .get("value")?
        .as_str()
}

/// Checks that the enterprise `manager` names another user of the organization.
async fn check_manager(tx: &mut WriteTx, user: &User) -> ServiceResult<()> {
    let Some(manager) = manager_id(user) else { return Ok(()) };
    if manager == user.id {
        return Err(ScimError::invalid_value("The enterprise attribute 'manager' names the user itself; a user cannot be its own manager.").into());
    }
    match users::get(&mut tx.db(), &user.org_id, manager).await? {
        Some(found) if found.removed_at.is_none() => Ok(()),
        _ => Err(ScimError::invalid_value(format!(
            "The enterprise attribute 'manager' names {manager:?}, which is not a user of this organization; provision the manager first."
        ))
        .into()),
    }
}

/// Reads the Owner seats before a change that can affect them: a change of the user's own
/// role, status or removal. Group grants are unaffected by a user change, but they count,
/// because the seats are read from storage.
async fn owner_seats_if_affected(tx: &mut WriteTx, before: Option<&User>, after: &User) -> ServiceResult<Option<Vec<OwnerSeat>>> {
    let affects_owners = match before {
        None => after.role == Role::Owner,
        Some(before) => {
            before.role != after.role
                || before.lifecycle.status != after.lifecycle.status
                || before.removed_at.is_some() != after.removed_at.is_some()
        }
    };
    if !affects_owners {
        return Ok(None);
    }
    Ok(Some(users::owner_seats(&mut tx.db(), &after.org_id).await?))
}

/// Checks the owner limit and the last-Owner rule by comparing the Owner seats read before the
/// change with the seats inside the transaction after it. Dropping the transaction on error undoes
/// the change.
pub(crate) async fn check_owner_seats(tx: &mut WriteTx, org_id: &str, seats_before: Option<Vec<OwnerSeat>>) -> ServiceResult<()> {
    let Some(seats_before) = seats_before else { return Ok(()) };
    let seats_after = users::owner_seats(&mut tx.db(), org_id).await?;
    check_owner_change(&seats_before, &seats_after)?;
    Ok(())
}

/// Appends an audit entry with before and after snapshots.
async fn record(
    tx: &mut WriteTx,
    context: &ChangeContext,
    action: &'static str,
    before: Option<&User>,
    after: Option<&User>,
) -> Result<(), StorageError> {
    let target = after.or(before).map(|user| (user.org_id.clone(), user.id.clone()));
    let Some((org_id, target_id)) = target else { return Ok(()) };
    let entry = AuditRecord {
        action,
        target_type: "user",
        target_id,
        before: before.map(audit_snapshot),
        after: after.map(audit_snapshot),
    };
    audit::insert(&mut tx.db(), &org_id, context, &entry).await
}

/// Builds the audited state of a user. Hub stores no secrets on users, so the whole profile is safe to record.
fn audit_snapshot(user: &User) -> Value {
    json!({
        "status": user.lifecycle.status.as_str(),
        "role": user.role.as_str(),
        "products": user.products,
        "profile": user.profile,
        "removed": user.removed_at.is_some(),
    })
}

/// A page of users with the total number of matches.
pub struct UserPage {
    pub total: i64,
    pub users: Vec<UserJson>,
    pub cursors: Option<PageCursors>,
}

/// A user of a page: its rendered document, or its JSON written directly when the caller
/// asked for that and the page was selected in SQL.
pub enum UserJson {
    Document(Value),
    Written(Vec<u8>),
}

impl UserJson {
    /// Returns the document, or `None` for written JSON.
    pub fn into_document(self) -> Option<Value> {
        match self {
            UserJson::Document(document) => Some(document),
            UserJson::Written(_) => None,
        }
    }
}

impl From<Value> for UserJson {
    fn from(document: Value) -> UserJson {
        UserJson::Document(document)
    }
}

/// The form a page of users comes back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageForm {
    /// Documents, for a projection or further work.
    Documents,
    /// JSON text where possible, for a response with every attribute returned by default.
    Json,
}

/// Lists users for a query (RFC 7644 §3.4.2), returning rendered resources before projection.
/// `context` dates, signs and checks cursors.
pub async fn list(
    store: &Store,
    org_id: &str,
    params: &ListParams,
    base_url: &str,
    form: PageForm,
    context: CursorContext<'_>,
) -> ServiceResult<UserPage> {
    let lister = UserLister { store, org_id, base_url, form };
    let page = listing::list(&lister, store.backend(), params, context).await?;
    Ok(UserPage {
        total: page.total,
        users: page.resources,
        cursors: page.cursors,
    })
}

struct UserLister<'a> {
    store: &'a Store,
    org_id: &'a str,
    base_url: &'a str,
    form: PageForm,
}

impl Lister for UserLister<'_> {
    type Item = users::UserWithGroups;
    type Output = UserJson;

    fn target(&self) -> Target {
        Target::Users
    }

    async fn count(&self, condition: Option<&str>, binds: &[Bind]) -> Result<i64, StorageError> {
        users::count_where(self.store, self.org_id, condition, binds).await
    }

    async fn select(&self, query: &ListQuery<'_>) -> Result<Vec<Keyed<users::UserWithGroups>>, StorageError> {
        users::select(self.store, self.org_id, query).await
    }

    async fn anchor(&self, offset: i64) -> Result<Option<Anchor>, StorageError> {
        self.store.user_anchor(self.org_id, offset).await
    }

    async fn render(&self, items: Vec<users::UserWithGroups>, _for_filter: bool) -> Result<Vec<Value>, StorageError> {
        Ok(items
            .into_iter()
            .map(|found| render_owned(found.user, &found.memberships, self.base_url))
            .collect())
    }

    async fn render_page(&self, items: Vec<users::UserWithGroups>) -> Result<Vec<UserJson>, StorageError> {
        if self.form == PageForm::Documents {
            return Ok(self.render(items, false).await?.into_iter().map(UserJson::Document).collect());
        }
        Ok(items
            .iter()
            .map(|found| {
                let mut json = Vec::with_capacity(1024);
                write_json(&mut json, &found.user, &found.memberships, self.base_url);
                UserJson::Written(json)
            })
            .collect())
    }
}

