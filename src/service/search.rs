//! Search across resource types: `POST /.search` at the root (RFC 7644 §3.4.3).
//!
//! Users and groups are listed with the same filter and merged. A filter term naming an
//! attribute one type lacks (userName for groups) leaves that type's resources without a
//! value for it (RFC 7644 §3.4.2.1), so `displayName eq "Admins" or userName sw "a"` finds the
//! group and the users. Such a type is filtered in memory; the others run as usual.

use scim_v2::filter::Filter;
use serde_json::Value;

use super::{groups, users, ServiceResult};
use crate::scim::cursor::CursorContext;
use crate::scim::filter::{matches_across_types, validate};
use crate::scim::list::{sort_across_types, ListParams};
use crate::scim::schema::{ResourceTypeDef, GROUP_RESOURCE, USER_RESOURCE};
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
        // An attribute that neither type has is an error, as on a single endpoint.
        if let (Err(error), Err(_)) = (validate(&USER_RESOURCE, filter), validate(&GROUP_RESOURCE, filter)) {
            return Err(error.into());
        }
    }
    // NOTE: this reads every matching user and group of the organization into memory, so a
    // request's memory grows with the organization: 32 concurrent searches of 20,000 users
    // peaked at about 5 GB. Reading only the part of each type that the page covers would
    // bound it.
    let mut found: Vec<(&'static ResourceTypeDef, Value)> = Vec::new();
    for resource in [&*USER_RESOURCE, &*GROUP_RESOURCE] {
        let documents = search_type(store, org_id, params, base_url, with_members, context, resource).await?;
        found.extend(documents.into_iter().map(|document| (resource, document)));
    }
    if let Some(sort_by) = &params.sort_by {
        sort_across_types(&mut found, sort_by, params.descending)?;
    }
    let total = found.len() as i64;
    let resources = found
        .into_iter()
        .skip((params.start_index - 1).max(0) as usize)
        .take(params.count.max(0) as usize)
        .collect();
    Ok(SearchPage { total, resources })
}

/// Lists one type's matches, unsorted: in SQL when the filter suits the type, otherwise all
/// resources filtered in memory.
async fn search_type(
    store: &Store,
    org_id: &str,
    params: &ListParams,
    base_url: &str,
    with_members: bool,
    context: CursorContext<'_>,
    resource: &'static ResourceTypeDef,
) -> ServiceResult<Vec<Value>> {
    let suits = params.filter.as_ref().is_none_or(|filter| validate(resource, filter).is_ok());
    let everything = ListParams {
        start_index: 1,
        count: i64::MAX,
        sort_by: None,
        filter: if suits { params.filter.clone() } else { None },
        ..params.clone()
    };
    let documents = if std::ptr::eq(resource, &*USER_RESOURCE) {
        let page = users::list(store, org_id, &everything, base_url, users::PageForm::Documents, context).await?;
        page.users.into_iter().filter_map(users::UserJson::into_document).collect()
    } else {
        // Members are read when a filter in memory may look at them.
        groups::list(store, org_id, &everything, base_url, with_members || !suits, context).await?.groups
    };
    let Some(filter) = params.filter.as_ref().filter(|_| !suits) else { return Ok(documents) };
    keep_matches(resource, documents, filter)
}

fn keep_matches(resource: &'static ResourceTypeDef, documents: Vec<Value>, filter: &Filter) -> ServiceResult<Vec<Value>> {
    let mut matching = Vec::new();
    for document in documents {
        if matches_across_types(resource, &document, filter)? {
            matching.push(document);
        }
    }
    Ok(matching)
}
