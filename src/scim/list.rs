//! Query parameters of list requests (RFC 7644 §3.4.2) and the ListResponse message.

use std::cmp::Ordering;
use std::collections::HashMap;

use scim_v2::filter::{AttrPath, Filter};
use serde_json::{json, Map, Value};

use super::error::{ScimError, ScimType};
use super::filter::{attribute_value, collect_values, parse, resolve_path, ResolvedPath};
use super::schema::{AttrType, ResourceTypeDef, LIST_RESPONSE};

/// Page size when the client sends no `count`.
pub const DEFAULT_COUNT: i64 = 100;

/// Validated list parameters.
#[derive(Debug, Clone)]
pub struct ListParams {
    pub filter: Option<Filter>,
    /// 1-based index of the first result.
    pub start_index: i64,
    pub count: i64,
    pub sort_by: Option<String>,
    pub descending: bool,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    /// RFC 9865 cursor paging: `Some("")` requests the first page, `Some(cursor)` for the page
    /// a previous response pointed to, `None` for index paging.
    pub cursor: Option<String>,
}

/// Parses list parameters from a query string map, whose keys match case-insensitively.
/// Unknown parameters (such as Entra's `aadOptscim062020`) are ignored.
pub fn parse_params(query: &HashMap<String, String>, max_page_size: i64) -> Result<ListParams, ScimError> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    let filter = match get("filter") {
        Some(text) if !text.trim().is_empty() => Some(parse(text)?),
        _ => None,
    };
    let cursor = get("cursor").map(str::to_string);
    let requested_count = parse_integer(get("count"), "count")?;
    if cursor.is_some() {
        check_cursor_request(get("startIndex"), requested_count, max_page_size)?;
    }
    // RFC 7644 §3.4.2.4: a startIndex below 1 means 1, and a negative count means 0.
    let start_index = parse_integer(get("startIndex"), "startIndex")?.unwrap_or(1).max(1);
    let count = requested_count
        .unwrap_or_else(|| DEFAULT_COUNT.min(max_page_size))
        .clamp(0, max_page_size);
    let descending = match get("sortOrder") {
        None => false,
        Some(order) if order.eq_ignore_ascii_case("ascending") => false,
        Some(order) if order.eq_ignore_ascii_case("descending") => true,
        Some(order) => {
            return Err(ScimError::invalid_value(format!(
                "sortOrder {order:?} is invalid; use \"ascending\" or \"descending\"."
            )))
        }
    };
    Ok(ListParams {
        filter,
        start_index,
        count,
        sort_by: get("sortBy").filter(|text| !text.is_empty()).map(str::to_string),
        descending,
        attributes: get("attributes").map(str::to_string),
        excluded_attributes: get("excludedAttributes").map(str::to_string),
        cursor,
    })
}

/// Checks the parameters RFC 9865 constrains in a cursor request.
fn check_cursor_request(start_index: Option<&str>, count: Option<i64>, max_page_size: i64) -> Result<(), ScimError> {
    if start_index.is_some() {
        return Err(ScimError::invalid_value(
            "A request cannot use both cursor and startIndex; choose cursor or index paging.",
        ));
    }
    match count {
        Some(count) if !(0..=max_page_size).contains(&count) => Err(ScimError::bad_request(
            ScimType::InvalidCount,
            format!("count {count} is invalid with a cursor; it must be between 0 and {max_page_size} (maxPageSize)."),
        )),
        _ => Ok(()),
    }
}

fn parse_integer(value: Option<&str>, name: &str) -> Result<Option<i64>, ScimError> {
    let Some(value) = value else { return Ok(None) };
    value
        .trim()
        .parse::<i64>()
        .map(Some)
        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer; got {value:?}.")))
}

/// Builds a ListResponse (RFC 7644 §3.4.2).
pub fn list_response(total_results: i64, start_index: i64, resources: Vec<Value>) -> Value {
    let mut response = list_head(total_results);
    response.insert("startIndex".into(), json!(start_index));
    response.insert("itemsPerPage".into(), json!(resources.len()));
    response.insert("Resources".into(), Value::Array(resources));
    Value::Object(response)
}

/// Builds the members of every ListResponse except the resources. The resources are moved in by the
/// callers: `json!` would copy each one.
fn list_head(total_results: i64) -> Map<String, Value> {
    let mut response = Map::new();
    response.insert("schemas".into(), json!([LIST_RESPONSE]));
    response.insert("totalResults".into(), json!(total_results));
    response
}

/// Serializes a ListResponse whose `Resources` member is empty, writing `resources` (each one
/// resource's JSON text) into it.
pub fn write_with_resources(response: &Value, resources: &[Vec<u8>]) -> Vec<u8> {
    let outer = serde_json::to_vec(response).unwrap_or_default();

    // `"Resources":[]` can only be the key itself: inside a JSON string the quotes would be
    // escaped. It is cut open and the resources are written in between.
    let marker = br#""Resources":[]"#;
    let Some(at) = outer.windows(marker.len()).position(|window| window == marker) else {
        return outer;
    };
    let split = at + marker.len() - 1;
    let length = outer.len() + resources.iter().map(|resource| resource.len() + 1).sum::<usize>();
    let mut bytes = Vec::with_capacity(length);
    bytes.extend_from_slice(&outer[..split]);
    for (index, resource) in resources.iter().enumerate() {
        if index > 0 {
            bytes.push(b',');
        }
        bytes.extend_from_slice(resource);
    }
    bytes.extend_from_slice(&outer[split..]);
    bytes
}

/// The cursors of a page (RFC 9865 §2.2), each absent when there is no page that way.
#[derive(Debug, Clone, Default)]
pub struct PageCursors {
    pub next: Option<String>,
    pub previous: Option<String>,
}

/// Builds the ListResponse of a cursor request: `nextCursor` and `previousCursor` instead of
/// `startIndex`.
pub fn cursor_list_response(total_results: i64, cursors: PageCursors, resources: Vec<Value>) -> Value {
    let mut response = list_head(total_results);
    response.insert("itemsPerPage".into(), json!(resources.len()));
    response.insert("Resources".into(), Value::Array(resources));
    if let Some(next) = cursors.next {
        response.insert("nextCursor".into(), Value::String(next));
    }
    if let Some(previous) = cursors.previous {
        response.insert("previousCursor".into(), Value::String(previous));
    }
    Value::Object(response)
}

/// Sorts rendered resources by `sort_by` (RFC 7644 §3.4.2.3). The sort is stable, and
/// resources without a value come last.
pub fn sort(
    resource: &'static ResourceTypeDef,
    documents: &mut [Value],
    sort_by: &str,
    descending: bool,
) -> Result<(), ScimError> {
    let path = parse_sort_path(sort_by)?;
    let resolved = resolve_path(resource, &path)
        .map_err(|error| ScimError::invalid_value(format!("sortBy {sort_by:?}: {}", error.detail)))?;
    let mut keyed: Vec<(Option<Value>, Value)> = documents
        .iter()
        .map(|document| (sort_key(document, &resolved), document.clone()))
        .collect();
    // Ascending puts resources without a value last, so descending puts them first.
    keyed.sort_by(|(left, _), (right, _)| {
        let ordering = compare_keys(&resolved, left.as_ref(), right.as_ref());
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
    for (slot, (_, document)) in documents.iter_mut().zip(keyed) {
        *slot = document;
    }
    Ok(())
}

/// One resource of a search across types, for sorting: its document and the sort path
/// resolved against its type, `None` when the type lacks the attribute.
pub type CrossTypeItem<'a> = (Option<&'a ResolvedPath>, &'a Value);

/// Compares two resources of a search across types by the sort path (RFC 7644 §3.4.2.3). A
/// resource whose type lacks the attribute has no value and sorts with those that have none:
/// last when ascending, first when descending, as on a single resource type.
pub fn compare_across_types(left: CrossTypeItem<'_>, right: CrossTypeItem<'_>, descending: bool) -> Ordering {
    let left_key = left.0.and_then(|resolved| sort_key(left.1, resolved).map(|key| (resolved, key)));
    let right_key = right.0.and_then(|resolved| sort_key(right.1, resolved));
    let ordering = match (&left_key, &right_key) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some((resolved, left)), Some(right)) => compare_keys(resolved, Some(left), Some(right)),
    };
    if descending {
        ordering.reverse()
    } else {
        ordering
    }
}

pub fn parse_sort_path(sort_by: &str) -> Result<AttrPath, ScimError> {
    let filter: Filter = format!("{sort_by} pr")
        .parse()
        .map_err(|_| ScimError::invalid_value(format!("sortBy {sort_by:?} is not an attribute path.")))?;
    match filter {
        Filter::Attr(scim_v2::filter::AttrExp::Present(path)) => Ok(path),
        _ => Err(ScimError::invalid_value(format!("sortBy {sort_by:?} is not an attribute path."))),
    }
}

/// The value a resource sorts by: for a multi-valued attribute, the primary value or else the
/// first one.
fn sort_key(document: &Value, resolved: &ResolvedPath) -> Option<Value> {
    let is_multi_valued_complex = resolved.attribute.multi_valued && resolved.attribute.kind == AttrType::Complex;
    if is_multi_valued_complex {
        let elements = attribute_value(document, resolved)?.as_array()?;
        let primary = elements
            .iter()
            .find(|element| element.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| elements.first())?;
        return primary.get(resolved.leaf().name).cloned();
    }
    let values = collect_values(document, resolved);
    values.first().map(|value| (*value).clone())
}

fn compare_keys(resolved: &ResolvedPath, left: Option<&Value>, right: Option<&Value>) -> Ordering {
    match (left, right) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(left), Some(right)) => {
            let leaf = resolved.leaf();
            match leaf.kind {
                AttrType::Integer | AttrType::Decimal => left
                    .as_f64()
                    .partial_cmp(&right.as_f64())
                    .unwrap_or(Ordering::Equal),
                AttrType::Boolean => left.as_bool().cmp(&right.as_bool()),
                _ => {
                    let left = left.as_str().unwrap_or_default();
                    let right = right.as_str().unwrap_or_default();
                    if leaf.case_exact {
                        left.cmp(right)
                    } else {
                        left.to_lowercase().cmp(&right.to_lowercase())
                    }
                }
            }
        }
    }
}
