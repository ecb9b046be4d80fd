//! Translation of SCIM filters (RFC 7644 §3.4.2.2) and sort keys into SQL with bound parameters.
//!
//! Every attribute of Users and Groups maps to a source in the database: a column (id,
//! userName, externalId, displayName, timestamps, status, role), the case-folded profile
//! document (`filter_doc`, see `scim::fold`), a JSON array column (product access), or the
//! membership rows. Each comparison becomes a predicate that is never NULL, so `not` and `ne`
//! keep the in-memory evaluator's two-valued logic.
//!
//! A term without a faithful translation (derived attributes such as `effectiveRole`, numbers,
//! the `meta.location` URI) makes the translation inexact. The caller then uses the SQL as a
//! prefilter, or not at all, and evaluates the filter in memory, so the result stays correct.

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};
use serde_json::json;

use super::Backend;
use crate::clock;
use crate::scim::filter::{compare, resolve_path, ResolvedPath};
use crate::scim::fold::fold;
use crate::scim::schema::{AttrType, AttributeDef, ResourceTypeDef, GROUP_RESOURCE, HUB_GROUP, HUB_USER, USER_RESOURCE};

/// A value bound to a numbered placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    /// A NULL in a text column. PostgreSQL wants a NULL's type to match its column.
    NullText,
    /// A NULL in an integer column.
    NullInt,
}

/// The resource a query lists, with the table alias the generated SQL refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `users u`
    Users,
    /// `groups g`
    Groups,
}

impl Target {
    /// Returns the SCIM resource type listed from the target's table.
    pub fn resource(self) -> &'static ResourceTypeDef {
        match self {
            Target::Users => &USER_RESOURCE,
            Target::Groups => &GROUP_RESOURCE,
        }
    }
}

/// Collects SQL text pieces and their bound values. Placeholders continue the numbering of the
/// query the pieces go into.
#[derive(Debug, Clone)]
pub struct SqlBuilder {
    pub backend: Backend,
    pub binds: Vec<Bind>,
    first_placeholder: usize,
    next_alias: usize,
    /// How many negations enclose the term being translated. Outside any, a NULL comparison
    /// already acts as false, so predicates stay bare and can use indexes.
    negations: usize,
}

impl SqlBuilder {
    /// Starts a builder whose first placeholder is `$first_placeholder`.
    pub fn new(backend: Backend, first_placeholder: usize) -> Self {
        SqlBuilder {
            backend,
            binds: Vec::new(),
            first_placeholder,
            next_alias: 0,
            negations: 0,
        }
    }

    /// Binds a value and returns its placeholder.
    pub fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.first_placeholder + self.binds.len() - 1)
    }

    fn alias(&mut self) -> String {
        self.next_alias += 1;
        format!("e{}", self.next_alias)
    }

    /// Translates `inner` as the operand of a negation.
    fn negated<T>(&mut self, inner: impl FnOnce(&mut Self) -> T) -> T {
        self.negations += 1;
        let result = inner(self);
        self.negations -= 1;
        result
    }

    /// Makes a predicate on a possibly NULL value two-valued where a negation needs it.
    fn definite(&self, predicate: String) -> String {
        if self.negations == 0 {
            predicate
        } else {
            format!("COALESCE({predicate}, {})", self.false_literal())
        }
    }

    fn false_literal(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "0",
            Backend::Postgres => "FALSE",
        }
    }

    /// Makes byte-order comparison explicit on PostgreSQL, whose default collation may follow
    /// a locale; SQLite compares text by bytes already.
    fn ordered(&self, expression: &str) -> String {
        match self.backend {
            Backend::Sqlite => expression.to_string(),
            Backend::Postgres => format!("({expression}) COLLATE \"C\""),
        }
    }
}

/// The SQL of a filter. `sql` is `None` when nothing could be translated. `exact` is true when
/// the SQL selects exactly the matching resources, and false when it selects a superset.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    pub sql: Option<String>,
    pub exact: bool,
}

impl Translation {
    fn exact(sql: String) -> Self {
        Translation { sql: Some(sql), exact: true }
    }

    fn untranslated() -> Self {
        Translation { sql: None, exact: false }
    }
}

/// Translates a validated filter for the target's table.
///
/// A term whose SQL is dropped (an untranslatable branch of `or`, the operand of an inexact
/// `not`) also drops the values it bound, so the placeholders of the SQL that remains match
/// the bound values one to one. PostgreSQL rejects a statement with unused values.
pub fn translate(builder: &mut SqlBuilder, target: Target, filter: &Filter) -> Translation {
    let mark = builder.binds.len();
    let translation = translate_term(builder, target, filter);
    if translation.sql.is_none() {
        builder.binds.truncate(mark);
    }
    translation
}

fn translate_term(builder: &mut SqlBuilder, target: Target, filter: &Filter) -> Translation {
    match filter {
        Filter::Attr(expression) => translate_expression(builder, target, expression),
        Filter::ValuePath(value_path) => translate_value_path(builder, target, &value_path.attr, &value_path.filter),
        Filter::Not(inner) => {
            let inner = builder.negated(|builder| translate(builder, target, inner));
            match (inner.sql, inner.exact) {
                (Some(sql), true) => Translation::exact(format!("NOT ({sql})")),
                _ => Translation::untranslated(),
            }
        }
        Filter::And(items) => {
            let parts: Vec<Translation> = items.iter().map(|item| translate(builder, target, item)).collect();
            let exact = parts.iter().all(|part| part.exact);
            let sqls: Vec<String> = parts.into_iter().filter_map(|part| part.sql).collect();
            let sql = (!sqls.is_empty()).then(|| join("AND", &sqls));
            Translation { sql, exact }
        }
        Filter::Or(items) => {
            let parts: Vec<Translation> = items.iter().map(|item| translate(builder, target, item)).collect();
            // A superset of a disjunction needs a superset of every branch.
            if parts.iter().any(|part| part.sql.is_none()) {
                return Translation::untranslated();
            }
            let exact = parts.iter().all(|part| part.exact);
            let sqls: Vec<String> = parts.into_iter().filter_map(|part| part.sql).collect();
            Translation { sql: Some(join("OR", &sqls)), exact }
        }
    }
}

fn join(operator: &str, parts: &[String]) -> String {
    let wrapped: Vec<String> = parts.iter().map(|part| format!("({part})")).collect();
    wrapped.join(&format!(" {operator} "))
}

/// The place in the database where an attribute's values are stored.
enum Source {
    /// One value per row in a column. `folded` is the expression holding the case-folded
    /// value, for attributes that are not `caseExact`.
    Column { exact: &'static str, folded: Option<&'static str>, repr: Repr },
    /// The user's `active` flag, derived from the status column.
    Active,
    /// The same value for every row, such as `meta.resourceType`.
    Constant(&'static str),
    /// Values in a JSON document column, at `keys` below its root.
    Json(JsonSource),
    /// Values held by membership rows: `outer IN (SELECT key FROM ... WHERE ...)`.
    Membership(MembershipSource),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Repr {
    Text,
    /// 0 or 1 in an integer column.
    IntBool,
    /// A JSON boolean: 1 or 0 on SQLite, the text "true" or "false" on PostgreSQL.
    JsonBool,
    DateTime,
}

struct JsonSource {
    /// The document column on SQLite and PostgreSQL.
    sqlite_doc: &'static str,
    postgres_doc: &'static str,
    keys: Vec<&'static str>,
    /// Whether the attribute at `keys` is an array.
    multi_valued: bool,
    /// Whether the document stores case-folded strings. Otherwise its values are ASCII keys,
    /// which `lower()` folds faithfully.
    folded: bool,
}

struct MembershipSource {
    outer: &'static str,
    /// `SELECT <key> FROM ... WHERE <condition>`, without the value predicate. `$1` is the
    /// organization in every listing query, so the subquery runs once, not once per row.
    select: &'static str,
    /// Expressions of the sub-attributes a predicate may name, already folded.
    fields: &'static [(&'static str, &'static str)],
}

// Hub generates every id as a lower-case UUID, so ids are their own folded form and the
// membership indexes serve case-insensitive comparisons.
const USER_GROUP_FIELDS: &[(&str, &str)] = &[("value", "m.group_id"), ("display", "mg.display_name_key")];
const GROUP_MEMBER_FIELDS: &[(&str, &str)] = &[("value", "m.user_id")];

/// Finds where an attribute's values live; `None` for attributes without a faithful source.
fn source(target: Target, resolved: &ResolvedPath) -> Option<Source> {
    let attribute = resolved.attribute.name;
    let sub = resolved.sub_attribute.map(|def| def.name);
    if resolved.extension.is_none() {
        if let Some(found) = common_source(target, attribute, sub) {
            return found;
        }
    }
    match target {
        Target::Users => user_source(resolved, attribute, sub),
        Target::Groups => group_source(resolved, attribute, sub),
    }
}

/// Sources of the common attributes (RFC 7643 §3.1); `None` when the attribute is not one.
fn common_source(target: Target, attribute: &str, sub: Option<&str>) -> Option<Option<Source>> {
    let (table_id, external_id, created, updated, resource_type) = match target {
        Target::Users => ("u.id", "u.external_id", "u.created_at", "u.updated_at", "User"),
        Target::Groups => ("g.id", "g.external_id", "g.created_at", "g.updated_at", "Group"),
    };
    let found = match (attribute, sub) {
        ("id", None) => Some(text_column(table_id, None)),
        ("externalId", None) => Some(text_column(external_id, None)),
        ("meta", Some("created")) => Some(Source::Column {
            exact: created,
            folded: None,
            repr: Repr::DateTime,
        }),
        ("meta", Some("lastModified")) => Some(Source::Column {
            exact: updated,
            folded: None,
            repr: Repr::DateTime,
        }),
        ("meta", Some("resourceType")) => Some(Source::Constant(resource_type)),
        ("meta", _) => None,
        _ => return None,
    };
    Some(found)
}

fn text_column(exact: &'static str, folded: Option<&'static str>) -> Source {
    Source::Column { exact, folded, repr: Repr::Text }
}

fn user_source(resolved: &ResolvedPath, attribute: &str, sub: Option<&str>) -> Option<Source> {
    if resolved.extension == Some(HUB_USER) {
        return match (attribute, sub) {
            ("status", None) => Some(text_column("u.status", Some("lower(u.status)"))),
            ("platformRole", None) => Some(text_column("u.role", Some("lower(u.role)"))),
            ("productAccess", None) => Some(Source::Json(plain_array("u.products"))),
            ("mfa", Some("enabled")) => Some(Source::Column {
                exact: "u.mfa_enabled",
                folded: None,
                repr: Repr::IntBool,
            }),
            ("mfa", Some("methods")) => Some(Source::Json(plain_array("u.mfa_methods"))),
            ("lastLogin", None) => Some(Source::Column {
                exact: "u.last_login_at",
                folded: None,
                repr: Repr::DateTime,
            }),
            // effectiveRole and effectiveProductAccess depend on group grants.
            _ => None,
        };
    }
    match (attribute, sub) {
        ("userName", None) => return Some(text_column("u.user_name", Some("u.user_name_key"))),
        ("displayName", None) => return Some(text_column("u.display_name", Some("u.display_name_key"))),
        ("active", None) => return Some(Source::Active),
        ("groups", Some("value" | "display") | None) => {
            return Some(Source::Membership(MembershipSource {
                outer: "u.id",
                select: "SELECT m.user_id FROM group_members m JOIN groups mg ON mg.id = m.group_id WHERE m.org_id = $1",
                fields: USER_GROUP_FIELDS,
            }))
        }
        ("groups", _) => return None,
        _ => {}
    }
    let mut keys = Vec::new();
    if let Some(extension) = resolved.extension {
        keys.push(extension);
    }
    keys.push(resolved.attribute.name);
    Some(Source::Json(JsonSource {
        sqlite_doc: "u.filter_doc",
        postgres_doc: "u.filter_jsonb",
        keys,
        multi_valued: resolved.attribute.multi_valued,
        folded: true,
    }))
}

fn group_source(resolved: &ResolvedPath, attribute: &str, sub: Option<&str>) -> Option<Source> {
    if resolved.extension == Some(HUB_GROUP) {
        return match (attribute, sub) {
            ("platformRole", None) => Some(text_column("g.grant_role", Some("lower(g.grant_role)"))),
            ("productAccess", None) => Some(Source::Json(plain_array("g.grant_products"))),
            _ => None,
        };
    }
    match (attribute, sub) {
        ("displayName", None) => Some(text_column("g.display_name", Some("g.display_name_key"))),
        ("members", Some("value") | None) => Some(Source::Membership(MembershipSource {
            outer: "g.id",
            select: "SELECT m.group_id FROM group_members m WHERE m.org_id = $1",
            fields: GROUP_MEMBER_FIELDS,
        })),
        _ => None,
    }
}

/// Describes a JSON array column of ASCII keys (product keys, MFA methods).
fn plain_array(column: &'static str) -> JsonSource {
    JsonSource {
        sqlite_doc: column,
        postgres_doc: column,
        keys: Vec::new(),
        multi_valued: true,
        folded: false,
    }
}

/// The values one comparison looks at, as SQL: a single expression, or a set to test with
/// EXISTS or IN.
enum Values {
    Scalar { expression: String, repr: Repr },
    Exists { from: String, expression: String, repr: Repr },
    In { outer: &'static str, select: String, expression: String },
}

fn translate_expression(builder: &mut SqlBuilder, target: Target, expression: &AttrExp) -> Translation {
    let path = match expression {
        AttrExp::Present(path) | AttrExp::Comparison(path, _, _) => path,
    };
    let Ok(resolved) = resolve_path(target.resource(), path) else { return Translation::untranslated() };
    let leaf = resolved.leaf();
    if matches!(leaf.kind, AttrType::Complex | AttrType::Integer | AttrType::Decimal) {
        return Translation::untranslated();
    }
    if let Some(sql) = email_lookup(builder, target, &resolved, expression) {
        return Translation::exact(sql);
    }
    let Some(source) = source(target, &resolved) else { return Translation::untranslated() };

    match source {
        Source::Constant(value) => constant(builder, leaf, value, expression),
        Source::Active => active(builder, expression),
        source => {
            let Some(values) = values_of(builder, source, &resolved) else { return Translation::untranslated() };
            match predicate_over(builder, leaf, values, expression) {
                Some(sql) => Translation::exact(sql),
                None => Translation::untranslated(),
            }
        }
    }
}

/// Tells whether a path names the `value` of a user's `emails`.
fn is_email_value(target: Target, resolved: &ResolvedPath) -> bool {
    target == Target::Users && resolved.extension.is_none() && resolved.attribute.name == "emails" && resolved.leaf().name == "value"
}

/// Translates `emails.value eq "x"` to a lookup in the `user_emails` index, which lists every
/// address of every user folded, so the lookup reads no profile.
fn email_lookup(builder: &mut SqlBuilder, target: Target, resolved: &ResolvedPath, expression: &AttrExp) -> Option<String> {
    let AttrExp::Comparison(_, CompareOp::Eq, CompValue::Str(value)) = expression else { return None };
    if !is_email_value(target, resolved) {
        return None;
    }
    Some(email_index(builder, value))
}

fn email_index(builder: &mut SqlBuilder, value: &str) -> String {
    let placeholder = builder.bind(Bind::Text(fold(value)));
    format!("u.id IN (SELECT ue.user_id FROM user_emails ue WHERE ue.org_id = $1 AND ue.value_key = {placeholder})")
}

/// Collects the operands of `value eq "x"` terms that a value filter requires (alone or joined
/// by `and`).
fn required_values(filter: &ValFilter) -> Vec<&str> {
    match filter {
        ValFilter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(value))) if path.name.eq_ignore_ascii_case("value") => {
            vec![value.as_str()]
        }
        ValFilter::And(items) => items.iter().flat_map(required_values).collect(),
        _ => Vec::new(),
    }
}

/// Evaluates a comparison on a constant attribute once, in Rust.
fn constant(builder: &SqlBuilder, leaf: &AttributeDef, value: &str, expression: &AttrExp) -> Translation {
    let stored = json!(value);
    let matched = match expression {
        AttrExp::Present(_) => true,
        AttrExp::Comparison(_, op, CompValue::Null) => *op == CompareOp::Ne,
        AttrExp::Comparison(_, CompareOp::Ne, operand) => !compare(leaf, &stored, &CompareOp::Eq, operand).unwrap_or(false),
        AttrExp::Comparison(_, op, operand) => compare(leaf, &stored, op, operand).unwrap_or(false),
    };
    let sql = if matched { format!("NOT {}", builder.false_literal()) } else { builder.false_literal().to_string() };
    Translation::exact(sql)
}

/// `active` is true for every status but Deactivated.
fn active(builder: &SqlBuilder, expression: &AttrExp) -> Translation {
    let wanted = match expression {
        AttrExp::Present(_) => return Translation::exact(format!("NOT {}", builder.false_literal())),
        AttrExp::Comparison(_, op, CompValue::Null) => {
            let sql = if *op == CompareOp::Ne { format!("NOT {}", builder.false_literal()) } else { builder.false_literal().to_string() };
            return Translation::exact(sql);
        }
        AttrExp::Comparison(_, op, operand) => {
            let Some(flag) = operand_bool(operand) else { return Translation::untranslated() };
            match op {
                CompareOp::Eq => flag,
                CompareOp::Ne => !flag,
                _ => return Translation::untranslated(),
            }
        }
    };
    let sql = if wanted { "u.status <> 'Deactivated'" } else { "u.status = 'Deactivated'" };
    Translation::exact(sql.to_string())
}

fn values_of(builder: &mut SqlBuilder, source: Source, resolved: &ResolvedPath) -> Option<Values> {
    let leaf = resolved.leaf();
    match source {
        Source::Column { exact, folded, repr } => {
            // Timestamps compare in their stored form; substring operators fold them later.
            let expression = if leaf.case_exact || matches!(repr, Repr::IntBool | Repr::DateTime) {
                exact
            } else {
                folded?
            };
            Some(Values::Scalar {
                expression: expression.to_string(),
                repr,
            })
        }
        Source::Json(json) => json_values(builder, &json, resolved),
        Source::Membership(membership) => {
            let field_name = resolved.sub_attribute.map_or("value", |def| def.name);
            let expression = membership.fields.iter().find(|(name, _)| *name == field_name)?.1;
            Some(Values::In {
                outer: membership.outer,
                select: membership.select.to_string(),
                expression: expression.to_string(),
            })
        }
        Source::Active | Source::Constant(_) => None,
    }
}

fn leaf_repr(leaf: &AttributeDef) -> Option<Repr> {
    match leaf.kind {
        AttrType::Boolean => Some(Repr::JsonBool),
        AttrType::String | AttrType::Reference | AttrType::Binary => Some(Repr::Text),
        // Dates inside documents keep the client's offset, so text order is not time order.
        _ => None,
    }
}

fn json_values(builder: &mut SqlBuilder, json: &JsonSource, resolved: &ResolvedPath) -> Option<Values> {
    let leaf = resolved.leaf();
    let repr = leaf_repr(leaf)?;
    let needs_lower = !json.folded && !leaf.case_exact;
    let is_complex = resolved.attribute.kind == AttrType::Complex;
    let sub_key = is_complex.then_some(leaf.name);

    if !json.multi_valued {
        let mut keys = json.keys.clone();
        keys.extend(sub_key);
        let expression = scalar_path(builder.backend, json, &keys);
        return Some(Values::Scalar {
            expression: lower_if(needs_lower, expression),
            repr,
        });
    }
    let alias = builder.alias();
    let from = array_elements(builder.backend, json, &alias, is_complex);
    let element = element_field(builder.backend, &alias, sub_key);
    Some(Values::Exists {
        from,
        expression: lower_if(needs_lower, element),
        repr,
    })
}

fn lower_if(needed: bool, expression: String) -> String {
    if needed {
        format!("lower({expression})")
    } else {
        expression
    }
}

/// Extracts a scalar from a document: text, or a boolean in the form `bool_equals` compares.
fn scalar_path(backend: Backend, json: &JsonSource, keys: &[&str]) -> String {
    match backend {
        Backend::Sqlite => format!("json_extract({}, '{}')", json.sqlite_doc, sqlite_path(keys)),
        Backend::Postgres => {
            let (last, parents) = keys.split_last().expect("a JSON source names at least one key");
            let mut expression = json.postgres_doc.to_string();
            for key in parents {
                expression.push_str(&format!(" -> '{key}'"));
            }
            format!("({expression} ->> '{last}')")
        }
    }
}

/// `$."a"."b"`; key names come from the static schemas, never from the request.
fn sqlite_path(keys: &[&str]) -> String {
    let mut path = String::from("$");
    for key in keys {
        path.push_str(&format!(".\"{key}\""));
    }
    path
}

fn array_elements(backend: Backend, json: &JsonSource, alias: &str, complex: bool) -> String {
    match backend {
        Backend::Sqlite => {
            if json.keys.is_empty() {
                format!("json_each({}) AS {alias}", json.sqlite_doc)
            } else {
                format!("json_each({}, '{}') AS {alias}", json.sqlite_doc, sqlite_path(&json.keys))
            }
        }
        Backend::Postgres => {
            let mut array = if json.keys.is_empty() {
                format!("({}::jsonb)", json.postgres_doc)
            } else {
                json.postgres_doc.to_string()
            };
            for key in &json.keys {
                array.push_str(&format!(" -> '{key}'"));
            }
            let function = if complex { "jsonb_array_elements" } else { "jsonb_array_elements_text" };
            // A value that is not an array yields no elements instead of an error.
            format!("{function}(CASE jsonb_typeof({array}) WHEN 'array' THEN {array} ELSE '[]'::jsonb END) AS {alias}(v)")
        }
    }
}

fn element_field(backend: Backend, alias: &str, sub_key: Option<&str>) -> String {
    match (backend, sub_key) {
        (Backend::Sqlite, None) => format!("{alias}.value"),
        (Backend::Sqlite, Some(key)) => format!("json_extract({alias}.value, '$.\"{key}\"')"),
        (Backend::Postgres, None) => format!("{alias}.v"),
        (Backend::Postgres, Some(key)) => format!("({alias}.v ->> '{key}')"),
    }
}

/// Wraps a predicate on one value expression into a predicate on the row.
fn predicate_over(builder: &mut SqlBuilder, leaf: &AttributeDef, values: Values, expression: &AttrExp) -> Option<String> {
    let (op, operand) = match expression {
        AttrExp::Present(_) => return any_value(builder, &values, &|builder, value, repr| Some(present(builder, value, repr))),
        AttrExp::Comparison(_, op, operand) => (op, operand),
    };
    if matches!(operand, CompValue::Null) {
        let present = builder.negated(|builder| any_value(builder, &values, &|builder, value, repr| Some(present(builder, value, repr))))?;
        return Some(match op {
            CompareOp::Eq => format!("NOT ({present})"),
            CompareOp::Ne => present,
            _ => builder.false_literal().to_string(),
        });
    }
    // On a single value, `ne` is the negation of `eq` and matches a missing value. On a
    // multi-valued attribute it matches when some value differs, like every other operator.
    let multi_valued = !matches!(values, Values::Scalar { .. });
    if *op == CompareOp::Ne && !multi_valued {
        let equal = builder.negated(|builder| {
            any_value(builder, &values, &|builder, value, repr| comparison(builder, leaf, value, repr, &CompareOp::Eq, operand))
        })?;
        return Some(format!("NOT ({equal})"));
    }
    any_value(builder, &values, &|builder, value, repr| comparison(builder, leaf, value, repr, op, operand))
}

type ValuePredicate<'a> = dyn Fn(&mut SqlBuilder, &str, Repr) -> Option<String> + 'a;

/// Builds "some value satisfies the predicate", which is never NULL.
fn any_value(builder: &mut SqlBuilder, values: &Values, predicate: &ValuePredicate<'_>) -> Option<String> {
    let sql = match values {
        Values::Scalar { expression, repr } => {
            let inner = predicate(builder, expression, *repr)?;
            builder.definite(inner)
        }
        Values::Exists { from, expression, repr } => {
            let inner = predicate(builder, expression, *repr)?;
            format!("EXISTS (SELECT 1 FROM {from} WHERE {inner})")
        }
        Values::In { outer, select, expression } => {
            let inner = predicate(builder, expression, Repr::Text)?;
            format!("{outer} IN ({select} AND {inner})")
        }
    };
    Some(sql)
}

/// Presence as RFC 7644 defines `pr`: a value that is neither null nor empty.
fn present(_builder: &SqlBuilder, value: &str, repr: Repr) -> String {
    match repr {
        Repr::IntBool => format!("{value} IS NOT NULL"),
        _ => format!("COALESCE(CAST({value} AS TEXT), '') <> ''"),
    }
}

/// Compares one value expression with the operand; `None` when the comparison has no faithful SQL.
fn comparison(
    builder: &mut SqlBuilder,
    leaf: &AttributeDef,
    value: &str,
    repr: Repr,
    op: &CompareOp,
    operand: &CompValue,
) -> Option<String> {
    match repr {
        Repr::IntBool | Repr::JsonBool => {
            let flag = operand_bool(operand)?;
            if *op != CompareOp::Eq {
                return None;
            }
            Some(bool_equals(builder, value, repr, flag))
        }
        Repr::DateTime if is_ordering(op) || *op == CompareOp::Eq => date_comparison(builder, value, op, operand),
        Repr::Text | Repr::DateTime => {
            let text = operand_text(operand)?;
            let text = if leaf.case_exact { text } else { fold(&text) };
            let value = if repr == Repr::DateTime && !leaf.case_exact { format!("lower({value})") } else { value.to_string() };
            Some(text_comparison(builder, &value, op, text))
        }
    }
}

fn is_ordering(op: &CompareOp) -> bool {
    matches!(op, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
}

fn bool_equals(builder: &SqlBuilder, value: &str, repr: Repr, flag: bool) -> String {
    match (builder.backend, repr) {
        (Backend::Postgres, Repr::JsonBool) => format!("{value} = '{flag}'"),
        _ => format!("{value} = {}", i64::from(flag)),
    }
}

/// Compares a stored timestamp (millisecond RFC 3339 text in UTC, which sorts in time order)
/// with an operand in any offset and precision.
fn date_comparison(builder: &mut SqlBuilder, value: &str, op: &CompareOp, operand: &CompValue) -> Option<String> {
    let CompValue::Str(text) = operand else { return None };
    let instant = clock::parse(text)?;
    let millis = instant.timestamp_millis();
    let truncated = chrono::DateTime::from_timestamp_millis(millis)?;
    let on_grid = truncated == instant;
    // Stored values are whole milliseconds. Against an operand between two milliseconds,
    // "after it" means "after its millisecond", and nothing equals it. That case binds no
    // value, because PostgreSQL rejects a bound value that the SQL does not use.
    if matches!(op, CompareOp::Eq) && !on_grid {
        return Some(builder.false_literal().to_string());
    }
    let placeholder = builder.bind(Bind::Text(clock::format(truncated)));
    let column = builder.ordered(value);
    let sql = match (op, on_grid) {
        (CompareOp::Eq, true) => format!("{column} = {placeholder}"),
        (CompareOp::Gt, _) => format!("{column} > {placeholder}"),
        (CompareOp::Ge, true) => format!("{column} >= {placeholder}"),
        (CompareOp::Ge, false) => format!("{column} > {placeholder}"),
        (CompareOp::Lt, true) => format!("{column} < {placeholder}"),
        (CompareOp::Lt, false) | (CompareOp::Le, _) => format!("{column} <= {placeholder}"),
        _ => return None,
    };
    Some(sql)
}

/// Compares text by bytes, as Rust compares strings.
fn text_comparison(builder: &mut SqlBuilder, value: &str, op: &CompareOp, operand: String) -> String {
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    if substring && operand.is_empty() {
        // Every string contains, starts and ends with the empty string. No value is bound,
        // because PostgreSQL rejects a bound value that the SQL does not use.
        return format!("{value} IS NOT NULL");
    }
    let placeholder = builder.bind(Bind::Text(operand));
    match (op, builder.backend) {
        (CompareOp::Eq, _) => format!("{value} = {placeholder}"),
        (CompareOp::Ne, _) => format!("{value} <> {placeholder}"),
        (CompareOp::Co, Backend::Sqlite) => format!("instr({value}, {placeholder}) > 0"),
        (CompareOp::Co, Backend::Postgres) => format!("strpos({value}, {placeholder}) > 0"),
        (CompareOp::Sw, Backend::Sqlite) => format!("substr({value}, 1, length({placeholder})) = {placeholder}"),
        (CompareOp::Sw, Backend::Postgres) => format!("left({value}, char_length({placeholder})) = {placeholder}"),
        (CompareOp::Ew, Backend::Sqlite) => format!("substr({value}, -length({placeholder})) = {placeholder}"),
        (CompareOp::Ew, Backend::Postgres) => format!("right({value}, char_length({placeholder})) = {placeholder}"),
        (CompareOp::Gt, _) => format!("{} > {placeholder}", builder.ordered(value)),
        (CompareOp::Ge, _) => format!("{} >= {placeholder}", builder.ordered(value)),
        (CompareOp::Lt, _) => format!("{} < {placeholder}", builder.ordered(value)),
        (CompareOp::Le, _) => format!("{} <= {placeholder}", builder.ordered(value)),
    }
}

/// Converts the operand to text, as the in-memory evaluator does for string attributes.
fn operand_text(operand: &CompValue) -> Option<String> {
    match operand {
        CompValue::Str(text) => Some(text.clone()),
        CompValue::Number(number) => Some(number.to_string()),
        CompValue::True => Some("true".to_string()),
        CompValue::False => Some("false".to_string()),
        CompValue::Null => None,
    }
}

fn operand_bool(operand: &CompValue) -> Option<bool> {
    match operand {
        CompValue::True => Some(true),
        CompValue::False => Some(false),
        CompValue::Str(text) if text.eq_ignore_ascii_case("true") => Some(true),
        CompValue::Str(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Translates `attr[filter]`: some element of the attribute satisfies the value filter.
fn translate_value_path(builder: &mut SqlBuilder, target: Target, path: &AttrPath, filter: &ValFilter) -> Translation {
    let Ok(resolved) = resolve_path(target.resource(), path) else { return Translation::untranslated() };
    if resolved.attribute.kind != AttrType::Complex || resolved.sub_attribute.is_some() {
        return Translation::untranslated();
    }
    let Some(source) = source(target, &resolved) else { return Translation::untranslated() };
    let element = match source {
        Source::Json(json) => json_element(builder, &json, resolved.attribute.multi_valued),
        Source::Membership(membership) => Element::Membership(membership),
        _ => return Translation::untranslated(),
    };
    let Some(inner) = element_filter(builder, resolved.attribute, &element, filter) else {
        return Translation::untranslated();
    };
    let mut sql = match element {
        Element::Object { from: Some(from), .. } => format!("EXISTS (SELECT 1 FROM {from} WHERE {inner})"),
        Element::Object { from: None, .. } => inner,
        Element::Membership(membership) => format!("{} IN ({} AND {inner})", membership.outer, membership.select),
    };
    // An element with `value eq "x"` implies the address is in the index, which finds the
    // few candidate users before the document test runs.
    if is_email_value(target, &resolved) {
        for value in required_values(filter) {
            sql = format!("{} AND ({sql})", email_index(builder, value));
        }
    }
    Translation::exact(sql)
}

/// One element of a complex attribute, whose sub-attributes a value filter names.
enum Element {
    /// An object in a JSON document: the elements of an array (`from` iterates them), or the
    /// value of a singular complex attribute.
    Object { from: Option<String>, alias: Option<String>, doc: (&'static str, &'static str), keys: Vec<&'static str> },
    Membership(MembershipSource),
}

fn json_element(builder: &mut SqlBuilder, json: &JsonSource, multi_valued: bool) -> Element {
    let doc = (json.sqlite_doc, json.postgres_doc);
    if !multi_valued {
        return Element::Object { from: None, alias: None, doc, keys: json.keys.clone() };
    }
    let alias = builder.alias();
    let from = array_elements(builder.backend, json, &alias, true);
    Element::Object { from: Some(from), alias: Some(alias), doc, keys: json.keys.clone() }
}

fn element_filter(builder: &mut SqlBuilder, parent: &AttributeDef, element: &Element, filter: &ValFilter) -> Option<String> {
    match filter {
        ValFilter::Attr(expression) => element_expression(builder, parent, element, expression),
        ValFilter::Not(inner) => {
            let inner = builder.negated(|builder| element_filter(builder, parent, element, inner))?;
            Some(format!("NOT ({inner})"))
        }
        ValFilter::And(items) => {
            let parts: Option<Vec<String>> = items.iter().map(|item| element_filter(builder, parent, element, item)).collect();
            Some(join("AND", &parts?))
        }
        ValFilter::Or(items) => {
            let parts: Option<Vec<String>> = items.iter().map(|item| element_filter(builder, parent, element, item)).collect();
            Some(join("OR", &parts?))
        }
    }
}

fn element_expression(builder: &mut SqlBuilder, parent: &AttributeDef, element: &Element, expression: &AttrExp) -> Option<String> {
    let path = match expression {
        AttrExp::Present(path) | AttrExp::Comparison(path, _, _) => path,
    };
    let sub = parent.sub_attribute(&path.name)?;
    let (value, repr) = match element {
        Element::Object { alias, doc, keys, .. } => {
            let repr = leaf_repr(sub)?;
            let value = match alias {
                Some(alias) => element_field(builder.backend, alias, Some(sub.name)),
                None => {
                    let mut keys = keys.clone();
                    keys.push(sub.name);
                    let json = JsonSource {
                        sqlite_doc: doc.0,
                        postgres_doc: doc.1,
                        keys: Vec::new(),
                        multi_valued: false,
                        folded: true,
                    };
                    scalar_path(builder.backend, &json, &keys)
                }
            };
            (value, repr)
        }
        Element::Membership(membership) => {
            let field = membership.fields.iter().find(|(name, _)| *name == sub.name)?.1;
            (field.to_string(), Repr::Text)
        }
    };
    let values = Values::Scalar { expression: value, repr };
    predicate_over(builder, sub, values, expression)
}

/// Builds the ORDER BY key for `sortBy`, as text compared by bytes. Returns `None` when the
/// attribute has no single value per row in SQL (multi-valued or derived attributes).
pub fn sort_key(builder: &mut SqlBuilder, target: Target, path: &AttrPath) -> Option<SortKey> {
    let resolved = resolve_path(target.resource(), path).ok()?;
    let leaf = resolved.leaf();
    if resolved.attribute.multi_valued || matches!(leaf.kind, AttrType::Complex | AttrType::Integer | AttrType::Decimal) {
        return None;
    }
    let source = source(target, &resolved)?;
    let (expression, text) = match source {
        Source::Active => ("(u.status <> 'Deactivated')".to_string(), false),
        Source::Constant(value) => (format!("'{value}'"), true),
        source => match values_of(builder, source, &resolved)? {
            Values::Scalar { expression, repr } => (expression, matches!(repr, Repr::Text | Repr::DateTime)),
            _ => return None,
        },
    };
    // Keys travel in cursors as text, so booleans sort by their text form, which keeps false
    // before true on both backends ("0" < "1", "false" < "true").
    let expression = if text { expression } else { format!("CAST({expression} AS TEXT)") };
    Some(SortKey {
        expression: builder.ordered(&expression),
    })
}

/// An ORDER BY expression.
#[derive(Debug, Clone)]
pub struct SortKey {
    pub expression: String,
}

/// The start of a keyset page: after or before a row, given by its sort key and sequence number.
#[derive(Debug, Clone, Copy)]
pub enum Boundary<'a> {
    After { key: Option<&'a str>, seq: i64 },
    Before { key: Option<&'a str>, seq: i64 },
}

/// The ORDER BY and keyset condition of one page.
#[derive(Debug, Clone)]
pub struct Window {
    pub condition: Option<String>,
    pub order_by: String,
    /// Whether rows come in reverse list order (a page before a boundary), so the caller
    /// reverses them.
    pub backward: bool,
}

/// Builds the ordering of a list and the condition that starts a page at a boundary.
///
/// The list order is the sort key (rows without one last when ascending, first when
/// descending, as the in-memory sort has it), then `seq`, so the order is total and stable.
pub fn window(builder: &mut SqlBuilder, sort: Option<&SortKey>, seq: &str, descending: bool, boundary: Option<Boundary<'_>>) -> Window {
    let backward = matches!(boundary, Some(Boundary::Before { .. }));
    let order_by = order_by(sort, seq, descending, backward);
    let condition = boundary.map(|boundary| keyset_condition(builder, sort, seq, descending, boundary));
    Window { condition, order_by, backward }
}

fn order_by(sort: Option<&SortKey>, seq: &str, descending: bool, backward: bool) -> String {
    let seq_order = format!("{seq} {}", if backward { "DESC" } else { "ASC" });
    let Some(sort) = sort else { return seq_order };
    let key = &sort.expression;
    // Ascending lists rows without a key last; descending lists them first.
    let (nulls, direction) = match (descending, backward) {
        (false, false) => ("ASC", "ASC"),
        (false, true) => ("DESC", "DESC"),
        (true, false) => ("DESC", "DESC"),
        (true, true) => ("ASC", "ASC"),
    };
    format!("({key} IS NULL) {nulls}, {key} {direction}, {seq_order}")
}

/// Builds the condition for the rows strictly after (or before) a boundary in list order.
fn keyset_condition(builder: &mut SqlBuilder, sort: Option<&SortKey>, seq: &str, descending: bool, boundary: Boundary<'_>) -> String {
    let (key, boundary_seq, after) = match boundary {
        Boundary::After { key, seq } => (key, seq, true),
        Boundary::Before { key, seq } => (key, seq, false),
    };
    let seq_placeholder = builder.bind(Bind::Int(boundary_seq));
    let seq_beyond = if after { format!("{seq} > {seq_placeholder}") } else { format!("{seq} < {seq_placeholder}") };
    let Some(sort) = sort else { return seq_beyond };
    let expression = &sort.expression;

    // Rows without a key form one block: last when ascending, first when descending.
    let null_block_later = !descending;
    let Some(key) = key else {
        // The boundary row has no key: beyond it are the null rows further along, and the
        // whole keyed block if that block lies in the direction of travel.
        let keyed_beyond = after != null_block_later;
        return if keyed_beyond {
            format!("(({expression} IS NULL AND {seq_beyond}) OR {expression} IS NOT NULL)")
        } else {
            format!("({expression} IS NULL AND {seq_beyond})")
        };
    };
    let key_placeholder = builder.bind(Bind::Text(key.to_string()));
    let greater = after != descending;
    let comparison = if greater { ">" } else { "<" };
    let keyed = format!(
        "({expression} {comparison} {key_placeholder} OR ({expression} = {key_placeholder} AND {seq_beyond}))"
    );
    let nulls_beyond = after == null_block_later;
    if nulls_beyond {
        format!("({expression} IS NULL OR {keyed})")
    } else {
        format!("({expression} IS NOT NULL AND {keyed})")
    }
}
