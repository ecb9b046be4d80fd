//! Listing (RFC 7644 §3.4.2): filter, sort, index paging and RFC 9865 cursor paging, shared by
//! Users and Groups.
//!
//! A query runs in SQL when its filter and sort translate exactly (`storage::filter_sql`). A
//! COUNT gives `totalResults`, and one query reads the page, by OFFSET or, with a cursor, by
//! keyset on the sort key and insertion order. A keyset page costs the same at the end of the
//! list as at the start, and so does an index page of the whole user list, which starts from
//! a paging anchor (`storage::offset_anchors`). Otherwise
//! SQL narrows the candidates as far as it can, and the filter and sort run in memory on the
//! rendered resources.

use scim_v2::filter::AttrPath;
use serde_json::Value;

use super::ServiceResult;
use crate::scim::cursor::{query_fingerprint, Cursor, CursorContext, Position};
use crate::scim::filter;
use crate::scim::list::{parse_sort_path, sort, ListParams, PageCursors};
use crate::scim::schema::{AttrType, ResourceTypeDef};
use crate::scim::ScimError;
use crate::storage::filter_sql::{self, Bind, Boundary, SortKey, SqlBuilder, Target, Translation};
use crate::storage::offset_anchors::Anchor;
use crate::storage::{Backend, Keyed, ListQuery, StorageError};

/// The storage and rendering of one resource type, for the shared listing steps.
pub(crate) trait Lister {
    type Item;

    /// The form of a page's resources: a document, unless the resource type writes its own JSON.
    type Output: From<Value>;

    fn target(&self) -> Target;

    /// Counts the resources a condition selects.
    async fn count(&self, condition: Option<&str>, binds: &[Bind]) -> Result<i64, StorageError>;

    /// Returns the resources a listing query selects, with their places in the list order.
    async fn select(&self, query: &ListQuery<'_>) -> Result<Vec<Keyed<Self::Item>>, StorageError>;

    /// Renders resources as SCIM documents. With `for_filter`, the documents include every
    /// attribute a filter evaluated in memory may read.
    async fn render(&self, items: Vec<Self::Item>, for_filter: bool) -> Result<Vec<Value>, StorageError>;

    /// Renders a page that SQL selected, which nothing reads before the response.
    async fn render_page(&self, items: Vec<Self::Item>) -> Result<Vec<Self::Output>, StorageError> {
        let documents = self.render(items, false).await?;
        Ok(documents.into_iter().map(Self::Output::from).collect())
    }

    /// Returns a place at or before the 0-based `offset` of the unfiltered list in insertion
    /// order to start a page from, or `None` to step over `offset` rows.
    async fn anchor(&self, _offset: i64) -> Result<Option<Anchor>, StorageError> {
        Ok(None)
    }
}

/// One page of a listing.
pub struct Page<T> {
    pub total: i64,
    pub resources: Vec<T>,
    /// The page's cursors, for a cursor request.
    pub cursors: Option<PageCursors>,
}

/// Lists resources for validated parameters; `context` dates, signs and checks cursors.
pub(crate) async fn list<L: Lister>(lister: &L, backend: Backend, params: &ListParams, context: CursorContext<'_>) -> ServiceResult<Page<L::Output>> {
    let resource = lister.target();
    let definition = resource.resource();
    if let Some(filter) = &params.filter {
        filter::validate(definition, filter)?;
    }
    let mut builder = SqlBuilder::new(backend, 2);
    let translation = match &params.filter {
        Some(filter) => filter_sql::translate(&mut builder, resource, filter),
        None => Translation { sql: None, exact: true },
    };
    let sort_path = params.sort_by.as_deref().map(parse_sort_path).transpose()?;
    if let (Some(path), Some(sort_by)) = (&sort_path, &params.sort_by) {
        check_sort_path(definition, sort_by, path)?;
    }
    let sort_key = sort_path.as_ref().and_then(|path| filter_sql::sort_key(&mut builder, resource, path));

    let cursor = decode_cursor(resource, params, context)?;
    let in_sql = translation.exact && (sort_path.is_none() || sort_key.is_some());
    let in_memory_cursor = matches!(cursor.as_ref().map(|cursor| &cursor.position), Some(Position::Offset(_)));
    if in_sql && !in_memory_cursor {
        return list_in_sql(lister, builder, translation.sql, sort_key, params, cursor, context).await;
    }
    list_in_memory(lister, builder, translation.sql, params, cursor, context).await
}

/// Tells whether a query's filter and sort run in SQL. Only then is a page one query; otherwise
/// every page reads and sorts all the matches again.
pub(crate) fn runs_in_sql(resource: Target, backend: Backend, params: &ListParams) -> bool {
    let mut builder = SqlBuilder::new(backend, 2);
    let exact = params.filter.as_ref().is_none_or(|filter| filter_sql::translate(&mut builder, resource, filter).exact);
    let sorted_in_sql = match params.sort_by.as_deref().map(parse_sort_path) {
        None => true,
        Some(Ok(path)) => filter_sql::sort_key(&mut builder, resource, &path).is_some(),
        Some(Err(_)) => false,
    };
    exact && sorted_in_sql
}

/// Checks that `sortBy` names an attribute with a single comparable value per resource.
fn check_sort_path(definition: &'static ResourceTypeDef, sort_by: &str, path: &AttrPath) -> Result<(), ScimError> {
    let resolved = filter::resolve_path(definition, path)
        .map_err(|_| ScimError::invalid_value(format!("sortBy {sort_by:?} names no attribute of the {} resource.", definition.name)))?;
    if resolved.leaf().kind == AttrType::Complex {
        let example = resolved.attribute.sub_attributes.first().map_or("value", |sub| sub.name);
        return Err(ScimError::invalid_value(format!(
            "sortBy {sort_by:?} names a complex attribute; sort by one of its sub-attributes, such as \"{sort_by}.{example}\"."
        )));
    }
    Ok(())
}

fn fingerprint(resource: Target, params: &ListParams) -> String {
    let name = match resource {
        Target::Users => "Users",
        Target::Groups => "Groups",
    };
    let filter_text = params.filter.as_ref().map(|filter| filter::canonical(filter).to_string());
    query_fingerprint(name, filter_text.as_deref(), params.sort_by.as_deref(), params.descending)
}

/// Decodes the request's cursor; `None` for index paging and for the first cursor page.
fn decode_cursor(resource: Target, params: &ListParams, context: CursorContext<'_>) -> ServiceResult<Option<Cursor>> {
    match params.cursor.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => Ok(Some(Cursor::decode(text, &fingerprint(resource, params), context)?)),
    }
}

fn seq_column(resource: Target) -> &'static str {
    match resource {
        Target::Users => "u.seq",
        Target::Groups => "g.seq",
    }
}

fn both(left: Option<String>, right: Option<String>) -> Option<String> {
    match (left, right) {
        (Some(left), Some(right)) => Some(format!("({left}) AND ({right})")),
        (left, right) => left.or(right),
    }
}

async fn list_in_sql<L: Lister>(
    lister: &L,
    mut builder: SqlBuilder,
    condition: Option<String>,
    sort_key: Option<SortKey>,
    params: &ListParams,
    cursor: Option<Cursor>,
    context: CursorContext<'_>,
) -> ServiceResult<Page<L::Output>> {
    let resource = lister.target();
    if params.cursor.is_none() {
        let window = filter_sql::window(&mut builder, sort_key.as_ref(), seq_column(resource), params.descending, None);
        let offset = params.start_index - 1;
        let anchor = match (&condition, &sort_key) {
            (None, None) if params.count > 0 => lister.anchor(offset).await?,
            _ => None,
        };
        // From an anchor, the page is the rows from the anchor's row on, after stepping over
        // those between the anchor and the requested index.
        let (page_condition, page_offset) = match anchor {
            Some(anchor) => {
                let placeholder = builder.bind(Bind::Int(anchor.seq));
                (Some(format!("{} >= {placeholder}", seq_column(resource))), offset - anchor.position)
            }
            None => (condition.clone(), offset),
        };
        let query = ListQuery {
            condition: page_condition,
            binds: &builder.binds,
            sort_key: sort_key.as_ref().map(|key| key.expression.as_str()),
            order_by: window.order_by,
            limit: params.count,
            offset: page_offset,
        };
        let rows = if params.count == 0 { Vec::new() } else { lister.select(&query).await? };
        // A first page with room to spare contains every match, which spares the COUNT that
        // lookups by userName or externalId would otherwise pay.
        let total = if offset == 0 && (rows.len() as i64) < params.count {
            rows.len() as i64
        } else {
            lister.count(condition.as_deref(), &builder.binds).await?
        };
        let resources = lister.render_page(rows.into_iter().map(|row| row.item).collect()).await?;
        return Ok(Page { total, resources, cursors: None });
    }

    let total = lister.count(condition.as_deref(), &builder.binds).await?;
    let boundary = cursor.as_ref().and_then(|cursor| match &cursor.position {
        Position::After { key, seq } => Some(Boundary::After { key: key.as_deref(), seq: *seq }),
        Position::Before { key, seq } => Some(Boundary::Before { key: key.as_deref(), seq: *seq }),
        Position::Offset(_) => None,
    });
    let window = filter_sql::window(&mut builder, sort_key.as_ref(), seq_column(resource), params.descending, boundary);
    let query = ListQuery {
        condition: both(condition, window.condition),
        binds: &builder.binds,
        sort_key: sort_key.as_ref().map(|key| key.expression.as_str()),
        order_by: window.order_by,
        // One row more than the page shows whether another page follows.
        limit: params.count.saturating_add(1),
        offset: 0,
    };
    let mut rows = if params.count == 0 { Vec::new() } else { lister.select(&query).await? };
    let more = rows.len() as i64 > params.count;
    rows.truncate(params.count.max(0) as usize);
    if window.backward {
        rows.reverse();
    }
    let cursors = keyset_cursors(&rows, boundary, more, fingerprint(resource, params), context);
    let resources = lister.render_page(rows.into_iter().map(|row| row.item).collect()).await?;
    Ok(Page {
        total,
        resources,
        cursors: Some(cursors),
    })
}

/// Builds the cursors around a keyset page. Going forward, a next page exists when the query
/// found one row more than the page, and a previous one when the request started after a row.
/// Going backward, the roles swap. An empty page (its rows were deleted meanwhile) points
/// back at its boundary row, so the client can go on.
fn keyset_cursors<T>(rows: &[Keyed<T>], boundary: Option<Boundary<'_>>, more: bool, query: String, context: CursorContext<'_>) -> PageCursors {
    let encode = |position: Position| {
        Cursor {
            query: query.clone(),
            issued_at: context.now,
            position,
        }
        .encode(context.key)
    };
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return match boundary {
            Some(Boundary::Before { key, seq }) => PageCursors {
                next: Some(encode(Position::After { key: key.map(str::to_string), seq: seq - 1 })),
                previous: None,
            },
            Some(Boundary::After { key, seq }) => PageCursors {
                next: None,
                previous: Some(encode(Position::Before { key: key.map(str::to_string), seq: seq + 1 })),
            },
            None => PageCursors::default(),
        };
    };
    let backward = matches!(boundary, Some(Boundary::Before { .. }));
    let (has_next, has_previous) = if backward { (true, more) } else { (more, boundary.is_some()) };
    PageCursors {
        next: has_next.then(|| encode(Position::After { key: last.key.clone(), seq: last.seq })),
        previous: has_previous.then(|| encode(Position::Before { key: first.key.clone(), seq: first.seq })),
    }
}

/// Rows read per query when a filter runs in memory, which bounds the memory a scan of a large
/// organization takes.
const SCAN_CHUNK: i64 = 1000;

async fn list_in_memory<L: Lister>(
    lister: &L,
    builder: SqlBuilder,
    prefilter: Option<String>,
    params: &ListParams,
    cursor: Option<Cursor>,
    context: CursorContext<'_>,
) -> ServiceResult<Page<L::Output>> {
    let resource = lister.target();
    let definition = resource.resource();
    // A sort in memory needs every match; otherwise the scan runs in insertion order and keeps
    // only the page.
    let sorted_in_memory = params.sort_by.is_some();
    let mut window = memory_window(params, cursor.as_ref(), sorted_in_memory)?;

    let mut after_seq: Option<i64> = None;
    loop {
        let mut chunk_builder = builder.clone();
        let keyset = after_seq.map(|seq| format!("{} > {}", seq_column(resource), chunk_builder.bind(Bind::Int(seq))));
        let query = ListQuery {
            condition: both(prefilter.clone(), keyset),
            binds: &chunk_builder.binds,
            sort_key: None,
            order_by: format!("{} ASC", seq_column(resource)),
            limit: SCAN_CHUNK,
            offset: 0,
        };
        let rows = lister.select(&query).await?;
        let read = rows.len() as i64;
        after_seq = rows.last().map(|row| row.seq);

        let seqs: Vec<i64> = rows.iter().map(|row| row.seq).collect();
        let documents = lister.render(rows.into_iter().map(|row| row.item).collect(), true).await?;
        for (seq, document) in seqs.into_iter().zip(documents) {
            let keep = match &params.filter {
                Some(filter) => filter::matches(definition, &document, filter)?,
                None => true,
            };
            if keep {
                window.offer(seq, document, params.count.max(0) as usize);
            }
        }
        if read < SCAN_CHUNK {
            break;
        }
    }

    if let (MemoryWindow::Positions { kept, .. }, Some(sort_by)) = (&mut window, &params.sort_by) {
        sort(definition, kept, sort_by, params.descending)?;
    }
    let total = window.matched() as i64;
    // Index pages need no fingerprint, and computing one walks and hashes the whole filter.
    let query = if params.cursor.is_some() { fingerprint(resource, params) } else { String::new() };
    let (resources, cursors) = window.finish(params, query, context);
    let resources = resources.into_iter().map(L::Output::from).collect();
    Ok(Page { total, resources, cursors })
}

/// The part of an in-memory scan a page keeps.
enum MemoryWindow {
    /// Match positions `start..end`, for index paging and for cursors over an in-memory sort,
    /// which are positions too. With `keep_all`, every match is kept for sorting.
    Positions { start: usize, end: usize, keep_all: bool, cursor: bool, kept: Vec<Value>, matched: usize },
    /// A keyset page in insertion order: the first matches after `after` (or from the start),
    /// or the last ones before `before`.
    Keyset { after: Option<i64>, before: Option<i64>, kept: std::collections::VecDeque<(i64, Value)>, matched: usize, beyond: bool, behind: bool },
}

fn memory_window(params: &ListParams, cursor: Option<&Cursor>, sorted_in_memory: bool) -> ServiceResult<MemoryWindow> {
    let count = params.count.max(0) as usize;
    let misfit = || -> ServiceResult<MemoryWindow> {
        Err(ScimError::bad_request(crate::scim::ScimType::InvalidCursor, "The cursor does not fit this query; start again with an empty cursor.").into())
    };
    let positions = |start: i64, cursor: bool| MemoryWindow::Positions {
        start: start.max(0) as usize,
        end: (start.max(0) as usize).saturating_add(count),
        keep_all: sorted_in_memory,
        cursor,
        kept: Vec::new(),
        matched: 0,
    };
    let keyset = |after: Option<i64>, before: Option<i64>| MemoryWindow::Keyset {
        after,
        before,
        kept: std::collections::VecDeque::new(),
        matched: 0,
        beyond: false,
        behind: false,
    };
    let position = cursor.map(|cursor| &cursor.position);
    Ok(match (params.cursor.is_some(), sorted_in_memory, position) {
        (false, _, _) => positions(params.start_index - 1, false),
        (true, true, None) => positions(0, true),
        (true, true, Some(Position::Offset(offset))) => positions(*offset, true),
        (true, false, None) => keyset(None, None),
        (true, false, Some(Position::After { seq, .. })) => keyset(Some(*seq), None),
        (true, false, Some(Position::Before { seq, .. })) => keyset(None, Some(*seq)),
        _ => return misfit(),
    })
}

impl MemoryWindow {
    /// Offers the next match, in insertion order.
    fn offer(&mut self, seq: i64, document: Value, count: usize) {
        match self {
            MemoryWindow::Positions { start, end, keep_all, kept, matched, .. } => {
                if *keep_all || (*start..*end).contains(matched) {
                    kept.push(document);
                }
                *matched += 1;
            }
            MemoryWindow::Keyset { after, before, kept, matched, beyond, behind } => {
                *matched += 1;
                if let Some(before) = *before {
                    if seq >= before {
                        *beyond = true;
                        return;
                    }
                    kept.push_back((seq, document));
                    if kept.len() > count {
                        kept.pop_front();
                        *behind = true;
                    }
                    return;
                }
                if after.is_some_and(|after| seq <= after) {
                    *behind = true;
                } else if kept.len() < count {
                    kept.push_back((seq, document));
                } else {
                    *beyond = true;
                }
            }
        }
    }

    fn matched(&self) -> usize {
        match self {
            MemoryWindow::Positions { matched, .. } | MemoryWindow::Keyset { matched, .. } => *matched,
        }
    }

    /// Returns the page and, for a cursor request, its cursors.
    fn finish(self, params: &ListParams, query: String, context: CursorContext<'_>) -> (Vec<Value>, Option<PageCursors>) {
        match self {
            MemoryWindow::Positions { start, keep_all, cursor, kept, matched, .. } => {
                let page: Vec<Value> = if keep_all {
                    kept.into_iter().skip(start).take(params.count.max(0) as usize).collect()
                } else {
                    kept
                };
                let cursors = cursor.then(|| offset_cursors(start as i64, page.len() as i64, params.count, matched as i64, query, context));
                (page, cursors)
            }
            MemoryWindow::Keyset { after, before, kept, beyond, behind, .. } => {
                let encode = |position: Position| Cursor { query: query.clone(), issued_at: context.now, position }.encode(context.key);
                let first = kept.front().map(|(seq, _)| *seq);
                let last = kept.back().map(|(seq, _)| *seq);
                // An empty page points back at its boundary, as keyset pages in SQL do.
                let next_from = last.or(before.map(|seq| seq - 1));
                let previous_from = first.or(after.map(|seq| seq + 1));
                let cursors = PageCursors {
                    next: beyond.then_some(next_from).flatten().map(|seq| encode(Position::After { key: None, seq })),
                    previous: behind.then_some(previous_from).flatten().map(|seq| encode(Position::Before { key: None, seq })),
                };
                (kept.into_iter().map(|(_, document)| document).collect(), Some(cursors))
            }
        }
    }
}

/// Cursors over a list sorted in memory: positions in it.
fn offset_cursors(offset: i64, returned: i64, count: i64, total: i64, query: String, context: CursorContext<'_>) -> PageCursors {
    let encode = |offset: i64| {
        Cursor {
            query: query.clone(),
            issued_at: context.now,
            position: Position::Offset(offset),
        }
        .encode(context.key)
    };
    let next_offset = offset + returned;
    PageCursors {
        next: (returned > 0 && next_offset < total).then(|| encode(next_offset)),
        previous: (offset > 0 && count > 0).then(|| encode((offset - count).max(0))),
    }
}
