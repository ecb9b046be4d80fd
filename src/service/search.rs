//! Search across resource types: `POST /.search` at the root (RFC 7644 §3.4.3).
//!
//! Users and groups are listed with the same filter and paged together: all users before all
//! groups, or the two merged by `sortBy`. A filter term naming an attribute one type lacks
//! (userName for groups) leaves that type's resources without a value for it (RFC 7644
//! §3.4.2.1), so `displayName eq "Admins" or userName sw "a"` finds the group and the users.
//! Such terms fold away for that type (`filter::reduce_to_type`), and each type is then listed
//! as on its own endpoint, in SQL where the rest of the filter translates.
//!
//! A search reads what its page covers, not the whole organization. Without `sortBy`, each
//! type's share of the page is one index page of that type. With it, a binary search finds
//! where the page starts in each type's sorted list, and the two parts are merged.

use std::cmp::Ordering;
use std::collections::VecDeque;

use serde_json::Value;

use super::{groups, listing, users, ServiceResult};
use crate::scim::cursor::CursorContext;
use crate::scim::filter::{reduce_to_type, resolve_path, validate_across_types, Reduced, ResolvedPath};
use crate::scim::list::{compare_across_types, parse_sort_path, ListParams};
use crate::scim::schema::{ResourceTypeDef, GROUP_RESOURCE, USER_RESOURCE};
use crate::scim::ScimError;
use crate::storage::filter_sql::Target;
use crate::storage::Store;

/// The resources of a root search, each with its type, and the number of matches.
pub struct SearchPage {
    pub total: i64,
    pub resources: Vec<(&'static ResourceTypeDef, Value)>,
}

/// Searches users and groups, then sorts and pages them together.
pub async fn search(
    store: &Store,
    org_id: &str,
    params: &ListParams,
    base_url: &str,
    with_members: bool,
    context: CursorContext<'_>,
) -> ServiceResult<SearchPage> {
    if let Some(filter) = &params.filter {
        validate_across_types(&[&USER_RESOURCE, &GROUP_RESOURCE], filter)?;
    }
    let queries = [type_query(&USER_RESOURCE, params)?, type_query(&GROUP_RESOURCE, params)?];
    let reader = Reader { store, org_id, base_url, with_members, context };

    match &params.sort_by {
        None => page_in_type_order(&reader, queries, params).await,
        Some(sort_by) if queries.iter().all(|query| query.sort_path.is_none()) => {
            Err(ScimError::invalid_value(format!("sortBy {sort_by:?} names no attribute of Users or Groups.")).into())
        }
        Some(_) => page_merged(&reader, queries, params).await,
    }
}

/// The search as it applies to one resource type.
struct TypeQuery {
    resource: &'static ResourceTypeDef,
    /// The type's own list parameters; `None` when the filter selects none of its resources.
    params: Option<ListParams>,
    /// `sortBy` resolved against the type. `None` when the type lacks the attribute: then all
    /// its resources sort as having no value and keep their insertion order.
    sort_path: Option<ResolvedPath>,
}

fn type_query(resource: &'static ResourceTypeDef, params: &ListParams) -> ServiceResult<TypeQuery> {
    let sort_path = match params.sort_by.as_deref() {
        Some(sort_by) => resolve_path(resource, &parse_sort_path(sort_by)?).ok(),
        None => None,
    };
    let filter = match params.filter.as_ref().map(|filter| reduce_to_type(resource, filter)) {
        None | Some(Reduced::All) => Some(None),
        Some(Reduced::Nothing) => None,
        Some(Reduced::Filter(filter)) => Some(Some(filter)),
    };
    let params = filter.map(|filter| ListParams {
        filter,
        sort_by: sort_path.and(params.sort_by.clone()),
        cursor: None,
        ..params.clone()
    });
    Ok(TypeQuery { resource, params, sort_path })
}

/// Users, then groups: each type's share of the page is the part of its own list that the
/// page covers once the matches of the type before it are counted.
async fn page_in_type_order(reader: &Reader<'_>, queries: [TypeQuery; 2], params: &ListParams) -> ServiceResult<SearchPage> {
    let skip = (params.start_index - 1).max(0);
    let count = params.count.max(0);

    let mut total = 0i64;
    let mut resources = Vec::new();
    for query in queries {
        let Some(type_params) = query.params else { continue };
        let share = ListParams {
            start_index: (skip - total).max(0) + 1,
            count: count - resources.len() as i64,
            ..type_params
        };
        let listed = reader.list(query.resource, &share, reader.with_members).await?;
        total += listed.total;
        resources.extend(listed.documents.into_iter().map(|document| (query.resource, document)));
    }
    Ok(SearchPage { total, resources })
}

/// Merges the types in sort order. A binary search over positions finds how many of each
/// type come before the page, so a deep page costs a few reads of single resources by
/// position, not a read of everything before it. On equal keys users come first, and within
/// a type the order is the type's own.
async fn page_merged(reader: &Reader<'_>, queries: [TypeQuery; 2], params: &ListParams) -> ServiceResult<SearchPage> {
    let skip = (params.start_index - 1).max(0);
    let count = params.count.max(0);
    let needed = skip.saturating_add(count);

    let mut sources = Vec::new();
    for query in queries {
        if let Some(source) = SortedSource::open(reader, query, needed).await? {
            sources.push(source);
        }
    }
    let total = sources.iter().map(|source| source.total).sum();

    let resources = match sources.as_slice() {
        [] => Vec::new(),
        [only] => only.read(reader, skip, count, reader.with_members).await?.into_iter().map(|document| (only.resource, document)).collect(),
        [users, groups, ..] => {
            let groups_before = split(reader, users, groups, skip, params.descending).await?;
            let users_part = users.read(reader, skip - groups_before, count, reader.with_members).await?;
            let groups_part = groups.read(reader, groups_before, count, reader.with_members).await?;
            merge(users, users_part, groups, groups_part, count as usize, params.descending)
        }
    };
    Ok(SearchPage { total, resources })
}

/// Finds how many of `second`'s resources come among the first `skip` of the merged order: the
/// least `j` for which `second`'s resource at `j` does not come before `first`'s resource at
/// `skip - j - 1`. This assumes each type's own order agrees with `compare_across_types`.
/// Where SQL and Rust fold case differently (non-ASCII letters on SQLite), pages may overlap
/// by a resource at that point.
async fn split(reader: &Reader<'_>, first: &SortedSource, second: &SortedSource, skip: i64, descending: bool) -> ServiceResult<i64> {
    let (mut low, mut high) = ((skip - first.total).max(0), skip.min(second.total));
    while low < high {
        let j = low + (high - low) / 2;
        let first_before = first.read(reader, skip - j - 1, 1, false).await?;
        let second_at = second.read(reader, j, 1, false).await?;
        let (Some(first_before), Some(second_at)) = (first_before.first(), second_at.first()) else {
            // A resource deleted during the search: page from here on.
            return Ok(j);
        };
        let ordering = compare_across_types((first.sort_path.as_ref(), first_before), (second.sort_path.as_ref(), second_at), descending);
        if ordering == Ordering::Greater {
            low = j + 1;
        } else {
            high = j;
        }
    }
    Ok(low)
}

/// Merges the two types' parts of the page, the first type first on equal keys.
fn merge(
    first: &SortedSource,
    first_part: Vec<Value>,
    second: &SortedSource,
    second_part: Vec<Value>,
    count: usize,
    descending: bool,
) -> Vec<(&'static ResourceTypeDef, Value)> {
    let mut first_part = VecDeque::from(first_part);
    let mut second_part = VecDeque::from(second_part);
    let mut page = Vec::with_capacity(count.min(first_part.len() + second_part.len()));
    while page.len() < count {
        let take_first = match (first_part.front(), second_part.front()) {
            (Some(left), Some(right)) => {
                compare_across_types((first.sort_path.as_ref(), left), (second.sort_path.as_ref(), right), descending) != Ordering::Greater
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_first {
            first_part.pop_front().map(|document| (first.resource, document))
        } else {
            second_part.pop_front().map(|document| (second.resource, document))
        };
        page.extend(next);
    }
    page
}

/// One type's matches in its sort order, read by position.
struct SortedSource {
    resource: &'static ResourceTypeDef,
    sort_path: Option<ResolvedPath>,
    params: ListParams,
    total: i64,
    /// The first matches, up to the end of the page, when the type sorts in memory: every read
    /// by position would sort all its matches again, so they are sorted once.
    /// NOTE: this keeps `startIndex + count` documents, as a page of the type's own endpoint
    /// sorted in memory keeps all its matches while it sorts.
    sorted_in_memory: Option<Vec<Value>>,
}

impl SortedSource {
    /// Counts the type's matches; `None` when the type has no part in the search.
    async fn open(reader: &Reader<'_>, query: TypeQuery, needed: i64) -> ServiceResult<Option<SortedSource>> {
        let Some(params) = query.params else { return Ok(None) };

        let in_sql = listing::runs_in_sql(reader.target(query.resource), reader.store.backend(), &params);
        let first = ListParams {
            start_index: 1,
            count: if in_sql { 0 } else { needed },
            ..params.clone()
        };
        let listed = reader.list(query.resource, &first, reader.with_members).await?;
        Ok(Some(SortedSource {
            resource: query.resource,
            sort_path: query.sort_path,
            params,
            total: listed.total,
            sorted_in_memory: (!in_sql).then_some(listed.documents),
        }))
    }

    /// Reads up to `count` matches from the 0-based position `from`.
    async fn read(&self, reader: &Reader<'_>, from: i64, count: i64, with_members: bool) -> ServiceResult<Vec<Value>> {
        if count <= 0 || from < 0 || from >= self.total {
            return Ok(Vec::new());
        }
        if let Some(sorted) = &self.sorted_in_memory {
            return Ok(sorted.iter().skip(from as usize).take(count as usize).cloned().collect());
        }
        let part = ListParams {
            start_index: from + 1,
            count,
            ..self.params.clone()
        };
        Ok(reader.list(self.resource, &part, with_members).await?.documents)
    }
}

/// Lists either resource type for the search.
struct Reader<'a> {
    store: &'a Store,
    org_id: &'a str,
    base_url: &'a str,
    with_members: bool,
    context: CursorContext<'a>,
}

/// A page of one type: its documents and the type's number of matches.
struct Listed {
    total: i64,
    documents: Vec<Value>,
}

impl Reader<'_> {
    fn target(&self, resource: &'static ResourceTypeDef) -> Target {
        if std::ptr::eq(resource, &*USER_RESOURCE) {
            Target::Users
        } else {
            Target::Groups
        }
    }

    /// Lists one type; `with_members` can leave out group members where only sort keys are read.
    async fn list(&self, resource: &'static ResourceTypeDef, params: &ListParams, with_members: bool) -> ServiceResult<Listed> {
        if let Target::Users = self.target(resource) {
            let page = users::list(self.store, self.org_id, params, self.base_url, users::PageForm::Documents, self.context).await?;
            return Ok(Listed {
                total: page.total,
                documents: page.users.into_iter().filter_map(users::UserJson::into_document).collect(),
            });
        }
        let page = groups::list(self.store, self.org_id, params, self.base_url, with_members, self.context).await?;
        Ok(Listed {
            total: page.total,
            documents: page.groups,
        })
    }
}
