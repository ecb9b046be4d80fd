//! Groups and memberships. Members are rows of `group_members`, so membership changes of a
//! large group touch only the rows they change, and reading a group without its members reads
//! no member row.

use std::collections::HashMap;

use super::sql::{query, Db};

use super::columns::Columns;
use super::filter_sql::Bind;
use super::{parse_json, parse_time, CountRow, Cost, Keyed, ListQuery, MapRow, Store, StorageError, StorageResult};
use crate::clock;
use crate::domain::group::{Group, Membership};
use crate::domain::user::Role;

const COLUMNS: &str = "id, org_id, display_name, external_id, grant_role, grant_products, version, created_at, updated_at";

const MEMBERS_SELECT: &str = "SELECT m.user_id AS user_id, COALESCE(u.display_name, u.user_name) AS display \
                              FROM group_members m JOIN users u ON u.id = m.user_id";

/// Builds the memberships query for `users` users, bound from `$2` on, with the organization as `$1`.
fn memberships_sql(users: usize) -> String {
    let placeholders: Vec<String> = (0..users).map(|index| format!("${}", index + 2)).collect();
    format!(
        "SELECT m.user_id AS user_id, g.id AS group_id, g.display_name AS display_name, g.grant_role AS grant_role, \
         g.grant_products AS grant_products FROM group_members m JOIN groups g ON g.id = m.group_id \
         WHERE g.org_id = $1 AND m.user_id IN ({}) ORDER BY g.seq",
        placeholders.join(", ")
    )
}

/// The index key of a displayName, which is unique regardless of case.
pub fn display_name_key(display_name: &str) -> String {
    display_name.to_lowercase()
}

pub(crate) fn parse_role(text: Option<String>) -> StorageResult<Option<Role>> {
    match text {
        None => Ok(None),
        Some(text) => Role::parse(&text)
            .map(Some)
            .ok_or_else(|| StorageError::Corrupt(format!("groups.grant_role {text:?}"))),
    }
}

fn from_row(row: &impl Columns) -> StorageResult<Group> {
    let grant_products: String = row.column("grant_products")?;
    let created_at: String = row.column("created_at")?;
    let updated_at: String = row.column("updated_at")?;
    Ok(Group {
        id: row.column("id")?,
        org_id: row.column("org_id")?,
        display_name: row.column("display_name")?,
        external_id: row.column("external_id")?,
        grant_role: parse_role(row.column("grant_role")?)?,
        grant_products: parse_json(&grant_products, "groups.grant_products")?,
        version: row.column("version")?,
        created_at: parse_time(&created_at, "groups.created_at")?,
        updated_at: parse_time(&updated_at, "groups.updated_at")?,
    })
}

fn products_text(products: &[String]) -> String {
    serde_json::to_string(products).unwrap_or_else(|_| "[]".to_string())
}

pub async fn insert(db: &mut Db<'_>, group: &Group) -> StorageResult<()> {
    query(
        "INSERT INTO groups (id, org_id, display_name, display_name_key, external_id, grant_role, grant_products, \
         version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&group.id)
    .bind(&group.org_id)
    .bind(&group.display_name)
    .bind(display_name_key(&group.display_name))
    .bind(group.external_id.clone())
    .bind(group.grant_role.map(|role| role.as_str()))
    .bind(products_text(&group.grant_products))
    .bind(group.version)
    .bind(clock::format(group.created_at))
    .bind(clock::format(group.updated_at))
    .execute(db)
    .await?;
    Ok(())
}

pub async fn update(db: &mut Db<'_>, group: &Group) -> StorageResult<()> {
    let result = query(
        "UPDATE groups SET display_name = $1, display_name_key = $2, external_id = $3, grant_role = $4, \
         grant_products = $5, version = $6, updated_at = $7 WHERE id = $8 AND org_id = $9",
    )
    .bind(&group.display_name)
    .bind(display_name_key(&group.display_name))
    .bind(group.external_id.clone())
    .bind(group.grant_role.map(|role| role.as_str()))
    .bind(products_text(&group.grant_products))
    .bind(group.version)
    .bind(clock::format(group.updated_at))
    .bind(&group.id)
    .bind(&group.org_id)
    .execute(db)
    .await?;
    if result.rows_affected() != 1 {
        return Err(StorageError::Corrupt(format!("group {} vanished during an update", group.id)));
    }
    Ok(())
}

pub async fn delete(db: &mut Db<'_>, org_id: &str, id: &str) -> StorageResult<()> {
    query("DELETE FROM groups WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn get(db: &mut Db<'_>, org_id: &str, id: &str) -> StorageResult<Option<Group>> {
    let row = query(&format!("SELECT {COLUMNS} FROM groups WHERE id = $1 AND org_id = $2"))
        .bind(id)
        .bind(org_id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find_by_display_name(db: &mut Db<'_>,
    org_id: &str,
    display_name: &str,
) -> StorageResult<Option<Group>> {
    let row = query(&format!("SELECT {COLUMNS} FROM groups WHERE org_id = $1 AND display_name_key = $2"))
        .bind(org_id)
        .bind(display_name_key(display_name))
        .fetch_optional(db)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find_by_external_id(db: &mut Db<'_>,
    org_id: &str,
    external_id: &str,
) -> StorageResult<Option<Group>> {
    let row = query(&format!("SELECT {COLUMNS} FROM groups WHERE org_id = $1 AND external_id = $2"))
        .bind(org_id)
        .bind(external_id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// A member of a group as rendered: the user id and a name to display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: String,
    pub display: Option<String>,
}

/// Lists a group's members in the order they were added.
pub async fn list_members(db: &mut Db<'_>, group_id: &str) -> StorageResult<Vec<Member>> {
    let rows = query(
        &format!("{MEMBERS_SELECT} WHERE m.group_id = $1 ORDER BY m.added_seq"),
    )
    .bind(group_id)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Member {
                user_id: row.try_get("user_id")?,
                display: row.try_get("display")?,
            })
        })
        .collect()
}

/// Adds one member unless already present; returns whether a row was added.
pub async fn add_member(db: &mut Db<'_>,
    org_id: &str,
    group_id: &str,
    user_id: &str,
) -> StorageResult<bool> {
    let result = query(
        "INSERT INTO group_members (group_id, user_id, org_id, added_seq) \
         SELECT $1, $2, $3, COALESCE(MAX(added_seq), 0) + 1 FROM group_members WHERE group_id = $1 \
         ON CONFLICT (group_id, user_id) DO NOTHING",
    )
    .bind(group_id)
    .bind(user_id)
    .bind(org_id)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Removes one member; returns whether it was a member.
pub async fn remove_member(db: &mut Db<'_>, group_id: &str, user_id: &str) -> StorageResult<bool> {
    let result = query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Removes every member of a group; returns how many there were.
pub async fn remove_all_members(db: &mut Db<'_>, group_id: &str) -> StorageResult<u64> {
    let result = query("DELETE FROM group_members WHERE group_id = $1")
        .bind(group_id)
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}

/// Removes a user from every group, for removal of the user.
///
/// Each group the user leaves gets a new version and `lastModified`, because its member list
/// changed: a client holding the old ETag must not get 304 for it.
pub async fn remove_user_everywhere(connection: &mut Db<'_>, user_id: &str, now: chrono::DateTime<chrono::Utc>) -> StorageResult<u64> {
    query(
        "UPDATE groups SET version = version + 1, updated_at = $1 \
         WHERE id IN (SELECT group_id FROM group_members WHERE user_id = $2)",
    )
    .bind(clock::format(now))
    .bind(user_id)
    .execute(&mut *connection)
    .await?;
    let result = query("DELETE FROM group_members WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *connection)
        .await?;
    Ok(result.rows_affected())
}

/// Returns the memberships of each user in `user_ids`.
pub async fn memberships_of(db: &mut Db<'_>,
    org_id: &str,
    user_ids: &[String],
) -> StorageResult<HashMap<String, Vec<Membership>>> {
    let mut by_user: HashMap<String, Vec<Membership>> = HashMap::new();
    if user_ids.is_empty() {
        return Ok(by_user);
    }
    let sql = memberships_sql(user_ids.len());
    let mut query = query(&sql).bind(org_id);
    for user_id in user_ids {
        query = query.bind(user_id);
    }
    let rows = query.fetch_all(db).await?;
    for row in &rows {
        let grant_products: String = row.try_get("grant_products")?;
        let user_id: String = row.try_get("user_id")?;
        by_user.entry(user_id).or_default().push(Membership {
            group_id: row.try_get("group_id")?,
            group_display_name: row.try_get("display_name")?,
            grant_role: parse_role(row.try_get("grant_role")?)?,
            grant_products: parse_json(&grant_products, "groups.grant_products")?,
        });
    }
    Ok(by_user)
}

/// Maps a listing row: the group with its place in the list order.
struct KeyedGroupRow;

impl MapRow for KeyedGroupRow {
    type Output = Keyed<Group>;
    fn map<R: Columns>(row: &R) -> StorageResult<Keyed<Group>> {
        Ok(Keyed {
            item: from_row(row)?,
            seq: row.column("row_seq")?,
            key: row.column("row_key")?,
        })
    }
}

/// Maps a group row.
struct GroupRow;

impl MapRow for GroupRow {
    type Output = Group;
    fn map<R: Columns>(row: &R) -> StorageResult<Group> {
        from_row(row)
    }
}

/// Maps a member row.
struct MemberRow;

impl MapRow for MemberRow {
    type Output = Member;
    fn map<R: Columns>(row: &R) -> StorageResult<Member> {
        Ok(Member {
            user_id: row.column("user_id")?,
            display: row.column("display")?,
        })
    }
}

/// Maps a membership row to the user it belongs to and the membership.
struct MembershipRow;

impl MapRow for MembershipRow {
    type Output = (String, Membership);
    fn map<R: Columns>(row: &R) -> StorageResult<(String, Membership)> {
        let grant_products: String = row.column("grant_products")?;
        let membership = Membership {
            group_id: row.column("group_id")?,
            group_display_name: row.column("display_name")?,
            grant_role: parse_role(row.column("grant_role")?)?,
            grant_products: parse_json(&grant_products, "groups.grant_products")?,
        };
        Ok((row.column("user_id")?, membership))
    }
}

/// Reads a group by id outside any transaction.
pub async fn read(store: &Store, org_id: &str, id: &str) -> StorageResult<Option<Group>> {
    let sql = format!("SELECT {COLUMNS} FROM groups WHERE id = $1 AND org_id = $2");
    let binds = vec![Bind::Text(id.to_string()), Bind::Text(org_id.to_string())];
    Ok(store.read_rows::<GroupRow>(Cost::Short, sql, binds).await?.pop())
}

/// Reads a group's members in the order they were added, outside any transaction.
pub async fn read_members(store: &Store, group_id: &str) -> StorageResult<Vec<Member>> {
    let sql = format!("{MEMBERS_SELECT} WHERE m.group_id = $1 ORDER BY m.added_seq");
    store.read_rows::<MemberRow>(Cost::Long, sql, vec![Bind::Text(group_id.to_string())]).await
}

/// Reads the memberships of each user in `user_ids`, outside any transaction.
pub async fn read_memberships(store: &Store, org_id: &str, user_ids: &[String]) -> StorageResult<HashMap<String, Vec<Membership>>> {
    let mut by_user: HashMap<String, Vec<Membership>> = HashMap::new();
    if user_ids.is_empty() {
        return Ok(by_user);
    }
    let sql = memberships_sql(user_ids.len());
    let mut binds = vec![Bind::Text(org_id.to_string())];
    binds.extend(user_ids.iter().map(|id| Bind::Text(id.clone())));
    for (user_id, membership) in store.read_rows::<MembershipRow>(Cost::Short, sql, binds).await? {
        by_user.entry(user_id).or_default().push(membership);
    }
    Ok(by_user)
}

/// Returns the groups a listing query selects, with their sequence numbers and sort keys.
pub async fn select(store: &Store, org_id: &str, query: &ListQuery<'_>) -> StorageResult<Vec<Keyed<Group>>> {
    let sql = format!(
        "SELECT {COLUMNS}, g.seq AS row_seq, {} AS row_key FROM groups g WHERE g.org_id = $1{}",
        query.key_expression(),
        query.tail()
    );
    store.read_rows::<KeyedGroupRow>(query.cost(), sql, query.binds_after(org_id)).await
}

/// Counts the groups a listing condition selects.
pub async fn count_where(store: &Store, org_id: &str, condition: Option<&str>, binds: &[Bind]) -> StorageResult<i64> {
    let condition = condition.map(|sql| format!(" AND ({sql})")).unwrap_or_default();
    let sql = format!("SELECT COUNT(*) AS total FROM groups g WHERE g.org_id = $1{condition}");
    let mut all = vec![Bind::Text(org_id.to_string())];
    all.extend_from_slice(binds);
    Ok(store.read_rows::<CountRow>(Cost::Short, sql, all).await?.pop().unwrap_or_default())
}
