//! SCIM Group operations under Hub's rules.
//!
//! Members are changed row by row, so a change to a group of any size costs the same. Some
//! changes can move Owner seats: members of an Owner-granting group, or the Owner grant itself.
//! Such a change reads the seats before and after inside its transaction. It is undone when it
//! breaks the owner limit or leaves the organization without an Owner.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::users::check_owner_seats;
use super::{ServiceError, ServiceResult};
use crate::clock;
use crate::domain::audit::{AuditRecord, ChangeContext};
use crate::domain::group::Group;
use crate::domain::user::{validate_products, Role};
use crate::scim::group::{patch_view, render, split_document, split_patch, GroupInput, MemberChange, MemberView};
use super::listing::{self, Lister};
use crate::scim::cursor::CursorContext;
use crate::scim::list::{ListParams, PageCursors};
use crate::scim::schema::GROUP_RESOURCE;
use crate::scim::{filter, patch, ScimError};
use crate::storage::groups::{self as group_store, Member};
use crate::storage::organizations::Organization;
use crate::storage::filter_sql::{Bind, Target};
use crate::storage::{audit, users, Keyed, ListQuery, Store, StorageError, WriteTx};

/// Maximum ids checked in one query, below the databases' bind-parameter limits.
const ID_CHUNK: usize = 500;

/// A group with its members when they were loaded.
#[derive(Debug, Clone)]
pub struct GroupRecord {
    pub group: Group,
    pub members: Option<Vec<MemberView>>,
}

impl GroupRecord {
    pub fn render(&self, base_url: &str) -> Value {
        render(&self.group, self.members.as_deref(), base_url)
    }
}

fn member_views(members: Vec<Member>) -> Vec<MemberView> {
    members
        .into_iter()
        .map(|member| MemberView {
            user_id: member.user_id,
            display: member.display,
        })
        .collect()
}

fn not_found(id: &str) -> ServiceError {
    ScimError::not_found(format!("Group {id:?} not found.")).into()
}

/// Reads the members of a group.
pub async fn read_member_views(store: &Store, group_id: &str) -> ServiceResult<Vec<MemberView>> {
    Ok(member_views(group_store::read_members(store, group_id).await?))
}

/// Reads a group, with its members unless `with_members` is false.
pub async fn get(store: &Store, org_id: &str, id: &str, with_members: bool) -> ServiceResult<GroupRecord> {
    let Some(group) = group_store::read(store, org_id, id).await? else {
        return Err(not_found(id));
    };
    let members = if with_members {
        Some(member_views(group_store::read_members(store, &group.id).await?))
    } else {
        None
    };
    Ok(GroupRecord { group, members })
}

/// Creates a group from a POST body.
pub async fn create(store: &Store, org: &Organization, context: &ChangeContext, input: GroupInput) -> ServiceResult<GroupRecord> {
    let now = clock::now();
    let mut group = Group {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org.id.clone(),
        display_name: String::new(),
        external_id: None,
        grant_role: None,
        grant_products: Vec::new(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let members = input.members.clone().unwrap_or_default();
    apply_input(&mut group, &input, org, true)?;

    let mut tx = store.begin_write(&org.id).await?;
    check_unique(&mut tx, &group).await?;
    check_members_exist(&mut tx, &org.id, &members).await?;
    let seats_before = if group.grant_role == Some(Role::Owner) && !members.is_empty() {
        Some(users::owner_seats(&mut tx.db(), &org.id).await?)
    } else {
        None
    };
    group_store::insert(&mut tx.db(), &group).await?;
    for user_id in &members {
        group_store::add_member(&mut tx.db(), &org.id, &group.id, user_id).await?;
    }
    check_owner_seats(&mut tx, &org.id, seats_before).await?;
    let after = json!({"group": snapshot(&group), "membersAdded": members});
    record(&mut tx, context, &group.id, "group.created", None, Some(after)).await?;
    let loaded = member_views(group_store::list_members(&mut tx.db(), &group.id).await?);
    tx.commit().await?;
    tracing::info!(group_id = %group.id, org_id = %org.id, members = members.len(), "group created");
    Ok(GroupRecord {
        group,
        members: Some(loaded),
    })
}

/// Applies displayName, externalId and grants from a body or a patched view.
///
/// On create every attribute comes from the input. On PUT and PATCH, grants the input does not
/// carry stay as they are, because identity providers replace groups without knowing Hub's
/// grants.
pub fn apply_input(group: &mut Group, input: &GroupInput, org: &Organization, creating: bool) -> ServiceResult<()> {
    group.display_name = input.display_name.clone();
    group.external_id = input.external_id.clone();
    if input.has_grants || creating {
        group.grant_role = match &input.grant_role {
            Some(name) => Some(Role::parse_or_reject(name)?),
            None => None,
        };
        group.grant_products = validate_products(input.grant_products.as_deref().unwrap_or_default(), &org.products)?;
    }
    Ok(())
}

/// Replaces a group from a PUT body: members the body omits are removed.
pub async fn replace(
    store: &Store,
    org: &Organization,
    context: &ChangeContext,
    id: &str,
    input: GroupInput,
    if_match: Option<&str>,
) -> ServiceResult<GroupRecord> {
    let mut tx = store.begin_write(&org.id).await?;
    let before = load_for_write(&mut tx, &org.id, id, if_match).await?;
    let mut group = before.clone();
    apply_input(&mut group, &input, org, false)?;
    let changes = vec![MemberChange::Replace(input.members.clone().unwrap_or_default())];
    save(tx, context, org, &before, group, &changes).await
}

/// Applies a PATCH request to a group.
pub async fn patch(
    store: &Store,
    org: &Organization,
    context: &ChangeContext,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> ServiceResult<GroupRecord> {
    let operations = patch::parse_request(body)?;
    let split = split_patch(operations)?;

    let mut tx = store.begin_write(&org.id).await?;
    let before = load_for_write(&mut tx, &org.id, id, if_match).await?;
    let mut group = before.clone();
    if !split.attribute_operations.is_empty() {
        let view = patch_view(&before);
        let patched = patch::apply(&GROUP_RESOURCE, &view, &split.attribute_operations)?;
        let input = split_document(patched, None)?;
        let mut input_with_grants = input;
        // The view contains the current grants, so a patched view always states them.
        input_with_grants.has_grants = true;
        apply_input(&mut group, &input_with_grants, org, false)?;
    }
    save(tx, context, org, &before, group, &split.member_changes).await
}

/// Deletes a group and its memberships, and returns the group as it was.
pub async fn delete(
    store: &Store,
    org: &Organization,
    context: &ChangeContext,
    id: &str,
    if_match: Option<&str>,
) -> ServiceResult<Group> {
    let mut tx = store.begin_write(&org.id).await?;
    let before = load_for_write(&mut tx, &org.id, id, if_match).await?;
    let seats_before = if before.grant_role == Some(Role::Owner) {
        Some(users::owner_seats(&mut tx.db(), &org.id).await?)
    } else {
        None
    };
    let removed = group_store::remove_all_members(&mut tx.db(), &before.id).await?;
    group_store::delete(&mut tx.db(), &org.id, &before.id).await?;
    check_owner_seats(&mut tx, &org.id, seats_before).await?;
    let before_snapshot = json!({"group": snapshot(&before), "memberCount": removed});
    record(&mut tx, context, &before.id, "group.deleted", Some(before_snapshot), None).await?;
    tx.commit().await?;
    tracing::info!(group_id = %id, org_id = %org.id, "group deleted");
    Ok(before)
}

async fn load_for_write(tx: &mut WriteTx, org_id: &str, id: &str, if_match: Option<&str>) -> ServiceResult<Group> {
    let Some(group) = group_store::get(&mut tx.db(), org_id, id).await? else {
        return Err(not_found(id));
    };
    super::users::check_if_match(if_match, group.version)?;
    Ok(group)
}

/// Writes attribute and member changes with the owner check and one audit entry.
async fn save(
    mut tx: WriteTx,
    context: &ChangeContext,
    org: &Organization,
    before: &Group,
    mut group: Group,
    changes: &[MemberChange],
) -> ServiceResult<GroupRecord> {
    if group != *before {
        check_unique(&mut tx, &group).await?;
    }
    let may_move_seats = before.grant_role == Some(Role::Owner) || group.grant_role == Some(Role::Owner);
    let seats_before = if may_move_seats {
        Some(users::owner_seats(&mut tx.db(), &org.id).await?)
    } else {
        None
    };

    let (added, removed) = apply_member_changes(&mut tx, &org.id, &group.id, changes).await?;
    let changed = group != *before || !added.is_empty() || !removed.is_empty();
    if changed {
        group.version = before.version + 1;
        group.updated_at = clock::now();
        group_store::update(&mut tx.db(), &group).await?;
        check_owner_seats(&mut tx, &org.id, seats_before).await?;
        let before_snapshot = json!({"group": snapshot(before)});
        let after_snapshot = json!({"group": snapshot(&group), "membersAdded": added, "membersRemoved": removed});
        record(&mut tx, context, &group.id, "group.updated", Some(before_snapshot), Some(after_snapshot)).await?;
    }
    tx.commit().await?;
    if changed {
        tracing::info!(group_id = %group.id, org_id = %org.id, added = added.len(), removed = removed.len(), "group changed");
    }
    Ok(GroupRecord { group, members: None })
}

/// Applies member changes row by row and returns the ids added and removed.
///
/// Adding a member that is already in the group, or removing one that is not, changes nothing
/// and is not an error (RFC 7644 §3.5.2.1 and §3.5.2.2). An id that is not a user of the
/// organization fails the whole request.
async fn apply_member_changes(
    tx: &mut WriteTx,
    org_id: &str,
    group_id: &str,
    changes: &[MemberChange],
) -> ServiceResult<(Vec<String>, Vec<String>)> {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for change in changes {
        match change {
            MemberChange::Add(ids) => {
                check_members_exist(tx, org_id, ids).await?;
                for id in ids {
                    if group_store::add_member(&mut tx.db(), org_id, group_id, id).await? {
                        added.push(id.clone());
                    }
                }
            }
            MemberChange::Remove(ids) => {
                for id in ids {
                    if group_store::remove_member(&mut tx.db(), group_id, id).await? {
                        removed.push(id.clone());
                    }
                }
            }
            MemberChange::RemoveAll => {
                let current = group_store::list_members(&mut tx.db(), group_id).await?;
                group_store::remove_all_members(&mut tx.db(), group_id).await?;
                removed.extend(current.into_iter().map(|member| member.user_id));
            }
            MemberChange::Replace(ids) => {
                check_members_exist(tx, org_id, ids).await?;
                let wanted: HashSet<&String> = ids.iter().collect();
                let current = group_store::list_members(&mut tx.db(), group_id).await?;
                for member in &current {
                    if !wanted.contains(&member.user_id) && group_store::remove_member(&mut tx.db(), group_id, &member.user_id).await? {
                        removed.push(member.user_id.clone());
                    }
                }
                for id in ids {
                    if group_store::add_member(&mut tx.db(), org_id, group_id, id).await? {
                        added.push(id.clone());
                    }
                }
            }
            MemberChange::RemoveMatching(filter) => {
                let Some(members_def) = GROUP_RESOURCE.core.attribute("members") else {
                    return Err(ScimError::internal().into());
                };
                let current = group_store::list_members(&mut tx.db(), group_id).await?;
                for member in current {
                    let element = json!({"value": member.user_id, "display": member.display, "type": "User"});
                    if filter::matches_element(members_def, &element, filter).map_err(|error| ScimError::invalid_path(error.detail))?
                        && group_store::remove_member(&mut tx.db(), group_id, &member.user_id).await?
                    {
                        removed.push(member.user_id);
                    }
                }
            }
        }
    }
    Ok((added, removed))
}

/// Rejects member ids that are not users of the organization (removed users included).
async fn check_members_exist(tx: &mut WriteTx, org_id: &str, ids: &[String]) -> ServiceResult<()> {
    for chunk in ids.chunks(ID_CHUNK) {
        let existing: HashSet<String> = users::existing_ids(&mut tx.db(), org_id, chunk).await?.into_iter().collect();
        if let Some(missing) = chunk.iter().find(|id| !existing.contains(*id)) {
            return Err(ScimError::invalid_value(format!(
                "Member {missing:?} is not a user of this organization; create the user before adding it to a group."
            ))
            .into());
        }
    }
    Ok(())
}

/// Checks displayName and externalId uniqueness inside the transaction.
async fn check_unique(tx: &mut WriteTx, group: &Group) -> ServiceResult<()> {
    if let Some(holder) = group_store::find_by_display_name(&mut tx.db(), &group.org_id, &group.display_name).await? {
        if holder.id != group.id {
            return Err(ScimError::uniqueness(format!(
                "displayName {:?} is already used by another group (the comparison ignores case).",
                group.display_name
            ))
            .into());
        }
    }
    if let Some(external_id) = &group.external_id {
        if let Some(holder) = group_store::find_by_external_id(&mut tx.db(), &group.org_id, external_id).await? {
            if holder.id != group.id {
                return Err(ScimError::uniqueness(format!("externalId {external_id:?} is already used by another group.")).into());
            }
        }
    }
    Ok(())
}

fn snapshot(group: &Group) -> Value {
    json!({
        "displayName": group.display_name,
        "externalId": group.external_id,
        "platformRole": group.grant_role.map(|role| role.as_str()),
        "productAccess": group.grant_products,
    })
}

async fn record(
    tx: &mut WriteTx,
    context: &ChangeContext,
    group_id: &str,
    action: &'static str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), StorageError> {
    let org_id = tx.org_id.clone();
    let entry = AuditRecord {
        action,
        target_type: "group",
        target_id: group_id.to_string(),
        before,
        after,
    };
    audit::insert(&mut tx.db(), &org_id, context, &entry).await
}

/// A page of groups with the total number of matches.
pub struct GroupPage {
    pub total: i64,
    pub groups: Vec<Value>,
    pub cursors: Option<PageCursors>,
}

/// Lists groups for a query. Members are loaded only when `with_members` is true or a filter
/// evaluated in memory reads them, so Entra's `excludedAttributes=members` lookups read no
/// member rows. `context` dates, signs and checks cursors.
pub async fn list(
    store: &Store,
    org_id: &str,
    params: &ListParams,
    base_url: &str,
    with_members: bool,
    context: CursorContext<'_>,
) -> ServiceResult<GroupPage> {
    let lister = GroupLister {
        store,
        org_id,
        base_url,
        with_members,
    };
    let page = listing::list(&lister, store.backend(), params, context).await?;
    Ok(GroupPage {
        total: page.total,
        groups: page.resources,
        cursors: page.cursors,
    })
}

struct GroupLister<'a> {
    store: &'a Store,
    org_id: &'a str,
    base_url: &'a str,
    with_members: bool,
}

impl Lister for GroupLister<'_> {
    type Item = Group;
    type Output = Value;

    fn target(&self) -> Target {
        Target::Groups
    }

    async fn count(&self, condition: Option<&str>, binds: &[Bind]) -> Result<i64, StorageError> {
        group_store::count_where(self.store, self.org_id, condition, binds).await
    }

    async fn select(&self, query: &ListQuery<'_>) -> Result<Vec<Keyed<Group>>, StorageError> {
        group_store::select(self.store, self.org_id, query).await
    }

    async fn render(&self, items: Vec<Group>, for_filter: bool) -> Result<Vec<Value>, StorageError> {
        render_groups(self.store, items, self.base_url, self.with_members || for_filter).await
    }
}

async fn render_groups(store: &Store, groups: Vec<Group>, base_url: &str, with_members: bool) -> Result<Vec<Value>, StorageError> {
    let mut rendered = Vec::with_capacity(groups.len());
    for group in groups {
        let members = if with_members {
            Some(member_views(group_store::read_members(store, &group.id).await?))
        } else {
            None
        };
        rendered.push(render(&group, members.as_deref(), base_url));
    }
    Ok(rendered)
}

/// Parses and validates a POST or PUT body.
pub fn parse_body(body: &Value) -> ServiceResult<GroupInput> {
    Ok(crate::scim::group::parse_group_body(body)?)
}
