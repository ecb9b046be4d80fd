//! Filter parsing and in-memory evaluation (RFC 7644 §3.4.2.2).
//!
//! The `scim_v2` crate parses the grammar. This module accepts the unquoted form some clients
//! send, resolves attribute paths against the schemas, and evaluates a filter on a rendered
//! resource document, honouring each attribute's type and `caseExact`.

use std::cmp::Ordering;

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, Operands, ValFilter};
use serde_json::Value;

use super::error::ScimError;
use super::schema::{AttrType, AttributeDef, ResourceTypeDef};

/// Maximum filter length in bytes; longer filters are rejected before parsing.
pub const MAX_FILTER_LENGTH: usize = 4096;

/// Deepest nesting of parentheses and value-filter brackets. The parser recurses once per
/// level, so this bounds its stack use whatever the input.
pub const MAX_FILTER_DEPTH: usize = 32;

/// Returns the deepest nesting of `(` and `[` outside quoted strings.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut quoted, mut escaped) = (0usize, 0usize, false, false);
    for character in text.chars() {
        if quoted {
            match character {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match character {
            '"' => quoted = true,
            '(' | '[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses a filter, also accepting bare words as values (`externalId eq jyoung`), a form an
/// old Microsoft sample shows. An error about a filter that mentions `password` does not
/// repeat the filter, because error details are logged and kept in the request log.
pub fn parse(text: &str) -> Result<Filter, ScimError> {
    let filter = parse_text(text).map_err(|error| {
        if text.to_ascii_lowercase().contains("password") {
            ScimError::invalid_filter("The filter is not valid SCIM filter syntax; it is not repeated here because it mentions password.")
        } else {
            error
        }
    })?;
    match nul_comparison(&filter) {
        Some(path) => Err(ScimError::invalid_filter(format!(
            "The filter value for {path} contains the invalid character U+0000; remove it from the value."
        ))),
        None => Ok(filter),
    }
}

/// Describes where and why a filter or PATCH path does not parse, in the words of RFC 7644
/// §3.4.2.2 rather than the parser's. Positions count characters from 1.
///
/// The grammar's operator tokens take the space after them, so an operator that ends the text
/// (`userName eq`) comes back as an unexpected word equal to one the parser expects. That case
/// is reported as the operator missing what follows it.
pub fn describe_syntax_error(text: &str, error: &scim_v2::filter::ParseError) -> String {
    use scim_v2::filter::ParseError;

    // `scim_v2` parses the trimmed text, so its offsets start after any leading whitespace.
    let lead = text.len() - text.trim_start().len();
    let parsed = text.trim();
    let position = |offset: usize| text.get(..lead + offset).map_or(offset, |before| before.chars().count()) + 1;
    match error {
        ParseError::UnrecognizedToken { token: (start, raw, _), expected } => {
            // Operator tokens include the spaces around them.
            let found = raw.trim();
            let at = position(start + (raw.len() - raw.trim_start().len()));
            let lowered = found.to_ascii_lowercase();
            if expected.iter().any(|name| name.trim_matches('"') == lowered) {
                return format!("\"{found}\" at position {at} needs {} after it", operand_after(&lowered));
            }
            format!("unexpected \"{found}\" at position {at}; expected {}", one_of(expected))
        }
        ParseError::UnrecognizedEof { location, expected } => {
            format!("the text ends at position {} where {} should follow", position(*location), one_of(expected))
        }
        ParseError::InvalidToken { location } => {
            // The token may start with the spaces before the character that stopped it.
            let rest = parsed.get(*location..).unwrap_or_default();
            let at = position(location + (rest.len() - rest.trim_start().len()));
            match rest.trim_start().chars().next() {
                Some('"') => format!("the string that starts at position {at} has no closing quote"),
                Some(character) if character.is_control() => format!("unexpected character U+{:04X} at position {at}", u32::from(character)),
                Some(character) => format!("unexpected character \"{character}\" at position {at}"),
                None => format!("the text ends unexpectedly at position {at}"),
            }
        }
        ParseError::ExtraToken { token: (start, found, _) } => {
            format!("unexpected \"{}\" at position {} after a complete expression", found.trim(), position(*start))
        }
        ParseError::User { error } => error.to_string(),
    }
}

/// Names what must follow an operator token.
fn operand_after(operator: &str) -> &'static str {
    match operator {
        "and" | "or" => "another expression",
        "not" => "an expression in parentheses",
        _ => "a value (a quoted string, a number, true, false or null)",
    }
}

/// Lists the parser's expected tokens as `"a", "b" or "c"`, with its named tokens in words.
fn one_of(expected: &[String]) -> String {
    // The parser's list leaves out "and" where its precedence rules resolved it, but "and" may
    // stand wherever "or" may.
    let mut expected = expected.to_vec();
    if expected.iter().any(|name| name == "\"or\"") && !expected.iter().any(|name| name == "\"and\"") {
        expected.insert(0, "\"and\"".to_string());
    }
    let names: Vec<&str> = expected
        .iter()
        .map(|name| match name.as_str() {
            "StringLit" => "a quoted string",
            "NumberLit" => "a number",
            "AttrNameTok" => "an attribute name",
            "AttrPathTok" => "an attribute path",
            other => other,
        })
        .collect();
    match names.as_slice() {
        [] => "something else".to_string(),
        [only] => (*only).to_string(),
        [rest @ .., last] => format!("one of {} or {last}", rest.join(", ")),
    }
}

/// Returns the attribute path of a comparison whose value contains U+0000. Request bodies
/// refuse the character, and PostgreSQL cannot compare text that holds it.
pub fn nul_comparison(filter: &Filter) -> Option<String> {
    match filter {
        Filter::Attr(expression) => nul_in_expression(expression),
        Filter::ValuePath(path) => nul_in_value_filter(&path.filter).map(|inner| format!("{}[{inner}]", path.attr)),
        Filter::Not(inner) => nul_comparison(inner),
        Filter::And(operands) | Filter::Or(operands) => operands.iter().find_map(nul_comparison),
    }
}

/// Returns the attribute path of a comparison in a value filter whose value contains U+0000.
pub fn nul_in_value_filter(filter: &ValFilter) -> Option<String> {
    match filter {
        ValFilter::Attr(expression) => nul_in_expression(expression),
        ValFilter::Not(inner) => nul_in_value_filter(inner),
        ValFilter::And(operands) | ValFilter::Or(operands) => operands.iter().find_map(nul_in_value_filter),
    }
}

fn nul_in_expression(expression: &AttrExp) -> Option<String> {
    match expression {
        AttrExp::Comparison(path, _, CompValue::Str(value)) if value.contains('\0') => Some(path.to_string()),
        _ => None,
    }
}

fn parse_text(text: &str) -> Result<Filter, ScimError> {
    if text.len() > MAX_FILTER_LENGTH {
        return Err(ScimError::invalid_filter(format!(
            "The filter is {} bytes long; the maximum is {MAX_FILTER_LENGTH}.",
            text.len()
        )));
    }
    let depth = nesting_depth(text);
    if depth > MAX_FILTER_DEPTH {
        return Err(ScimError::invalid_filter(format!(
            "The filter nests parentheses and brackets {depth} levels deep; the maximum is {MAX_FILTER_DEPTH}."
        )));
    }
    match super::parse_cache::filter(text) {
        Ok(filter) => Ok(filter),
        Err(first_error) => {
            let spaced = space_after_not(text);
            if spaced != text {
                if let Ok(filter) = spaced.parse::<Filter>() {
                    return Ok(filter);
                }
            }
            let quoted = quote_bare_values(&spaced);
            if quoted != text {
                if let Ok(filter) = quoted.parse::<Filter>() {
                    return Ok(filter);
                }
            }
            if let Some(folded) = fold_value_path_comparisons(&quoted) {
                if let Ok(filter) = folded.parse::<Filter>() {
                    return Ok(filter);
                }
            }
            Err(ScimError::invalid_filter(format!(
                "The filter {} is not valid SCIM filter syntax: {}.",
                serde_json::to_string(text).unwrap_or_default(),
                describe_syntax_error(text, &first_error)
            )))
        }
    }
}

const OPERATORS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"];

/// Rewrites `emails[type eq "work"].value eq "x"`, which Entra sends to match users by a typed
/// email, into the RFC form `emails[(type eq "work") and value eq "x"]`. Returns `None` when
/// the text has no such comparison.
fn fold_value_path_comparisons(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut output = String::with_capacity(text.len() + 8);
    let mut changed = false;
    let mut index = 0;
    let mut in_string = false;
    let mut bracket_start: Option<usize> = None;
    while index < chars.len() {
        let c = chars[index];
        if in_string {
            output.push(c);
            if c == '\\' && index + 1 < chars.len() {
                output.push(chars[index + 1]);
                index += 2;
                continue;
            }
            if c == '"' {
                in_string = false;
            }
            index += 1;
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                output.push(c);
            }
            '[' => {
                bracket_start = Some(output.len());
                output.push(c);
            }
            ']' if chars.get(index + 1) == Some(&'.') => {
                let (comparison, consumed) = read_sub_comparison(&chars[index + 2..])?;
                let start = bracket_start.take()?;
                let inner = output[start + 1..].to_string();
                output.truncate(start);
                output.push_str(&format!("[({inner}) and {comparison}]"));
                index += 2 + consumed;
                changed = true;
                continue;
            }
            _ => output.push(c),
        }
        index += 1;
    }
    changed.then_some(output)
}

/// Reads `sub op value` (or `sub pr`) and returns it with the number of characters read.
fn read_sub_comparison(chars: &[char]) -> Option<(String, usize)> {
    let mut index = 0;
    let name: String = chars.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_' || **c == '-').collect();
    if name.is_empty() {
        return None;
    }
    index += name.chars().count();

    let spaces = chars[index..].iter().take_while(|c| c.is_whitespace()).count();
    if spaces == 0 {
        return None;
    }
    index += spaces;
    let operator: String = chars[index..].iter().take_while(|c| c.is_ascii_alphabetic()).collect();
    index += operator.chars().count();

    if operator.eq_ignore_ascii_case("pr") {
        return Some((format!("{name} pr"), index));
    }
    if !OPERATORS.iter().any(|known| known.eq_ignore_ascii_case(&operator)) {
        return None;
    }

    let spaces = chars[index..].iter().take_while(|c| c.is_whitespace()).count();
    index += spaces;
    let value_start = index;
    if chars.get(index) == Some(&'"') {
        index += 1;
        while index < chars.len() && chars[index] != '"' {
            if chars[index] == '\\' {
                index += 1;
            }
            index += 1;
        }
        index += 1;
    } else {
        index += chars[index..].iter().take_while(|c| !c.is_whitespace() && **c != ')').count();
    }

    if index > chars.len() || index == value_start {
        return None;
    }
    let value: String = chars[value_start..index].iter().collect();
    Some((format!("{name} {operator} {value}"), index))
}

/// Writes `not(` as `not (`. The RFC 7644 grammar allows `not(`, which the parser only accepts
/// with a space.
fn space_after_not(text: &str) -> String {
    let mut output = String::with_capacity(text.len() + 4);
    let mut in_string = false;
    let mut escaped = false;
    let chars: Vec<char> = text.chars().collect();
    for (index, c) in chars.iter().enumerate() {
        output.push(*c);
        if in_string {
            match (*c, escaped) {
                ('\\', false) => escaped = true,
                ('"', false) => in_string = false,
                _ => escaped = false,
            }
            continue;
        }
        if *c == '"' {
            in_string = true;
            continue;
        }
        let ends_not = index >= 2 && chars[index - 2..=index].iter().collect::<String>().eq_ignore_ascii_case("not");
        let starts_word = index < 3 || !(chars[index - 3].is_alphanumeric() || chars[index - 3] == '.' || chars[index - 3] == ':');
        if ends_not && starts_word && chars.get(index + 1) == Some(&'(') {
            output.push(' ');
        }
    }
    output
}

/// Puts quotes around a comparison value that is neither quoted nor a JSON literal.
fn quote_bare_values(text: &str) -> String {
    let tokens: Vec<&str> = text.split(' ').collect();
    let mut output: Vec<String> = Vec::with_capacity(tokens.len());
    let mut after_operator = false;
    for token in tokens {
        if after_operator && !token.is_empty() {
            output.push(quote_token(token));
            after_operator = false;
            continue;
        }
        after_operator = OPERATORS.iter().any(|op| op.eq_ignore_ascii_case(token));
        output.push(token.to_string());
    }
    output.join(" ")
}

fn quote_token(token: &str) -> String {
    let closing = token.len() - token.trim_end_matches([')', ']']).len();
    let (word, tail) = token.split_at(token.len() - closing);
    // A word with a quote in it is malformed, not bare; leaving it makes the parse fail.
    let is_literal = word.contains('"')
        || ["true", "false", "null"].contains(&word)
        || serde_json::from_str::<serde_json::Number>(word).is_ok();
    if is_literal {
        return token.to_string();
    }
    format!("{}{tail}", Value::String(word.to_string()))
}

/// An attribute path resolved against the schemas.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedPath {
    pub extension: Option<&'static str>,
    pub attribute: &'static AttributeDef,
    pub sub_attribute: Option<&'static AttributeDef>,
}

impl ResolvedPath {
    /// Returns the definition of the value being compared: the sub-attribute when one is named, the
    /// `value` sub-attribute of a multi-valued complex attribute, or the attribute itself.
    pub fn leaf(&self) -> &'static AttributeDef {
        if let Some(sub) = self.sub_attribute {
            return sub;
        }
        if self.attribute.kind == AttrType::Complex {
            if let Some(value) = self.attribute.sub_attribute("value") {
                return value;
            }
        }
        self.attribute
    }
}

/// Resolves `urn:...:name.sub` against the resource type's schemas, ignoring case.
pub fn resolve_path(resource: &'static ResourceTypeDef, path: &AttrPath) -> Result<ResolvedPath, ScimError> {
    let (urn, name) = split_urn(path);
    let resolved = resource
        .resolve(urn.as_deref(), &name)
        .ok_or_else(|| ScimError::invalid_filter(format!("Unknown attribute '{path}' in filter.")))?;
    let sub_attribute = match &path.sub_attr {
        None => None,
        Some(sub) => Some(resolved.def.sub_attribute(sub).ok_or_else(|| {
            ScimError::invalid_filter(format!(
                "Attribute '{}' has no sub-attribute '{sub}'.",
                resolved.def.name
            ))
        })?),
    };
    Ok(ResolvedPath {
        extension: resolved.extension,
        attribute: resolved.def,
        sub_attribute,
    })
}

/// Returns the schema URN and attribute name of a path.
///
/// The parser splits `urn:...:2.0:User` at its last colon, so a path naming a whole extension
/// arrives as URN `urn:...:2.0` and name `User`. Callers that accept whole extensions check
/// for that before resolving.
fn split_urn(path: &AttrPath) -> (Option<String>, String) {
    (path.uri.clone(), path.name.clone())
}

/// Checks a whole filter against the schemas before it is evaluated: every attribute exists,
/// every operator suits its attribute's type, and every operand has the type the attribute
/// needs. Evaluation stops early on `and` and `or`, so without this check an invalid term could
/// go unnoticed depending on the data.
pub fn validate(resource: &'static ResourceTypeDef, filter: &Filter) -> Result<(), ScimError> {
    match filter {
        Filter::Attr(expression) => {
            let path = match expression {
                AttrExp::Present(path) | AttrExp::Comparison(path, _, _) => path,
            };
            let resolved = resolve_path(resource, path)?;
            validate_expression(resolved.leaf(), expression)
        }
        Filter::ValuePath(value_path) => {
            let resolved = resolve_path(resource, &value_path.attr)?;
            validate_value_filter(resolved.attribute, &value_path.filter)
        }
        Filter::Not(inner) => validate(resource, inner),
        Filter::And(items) | Filter::Or(items) => items.iter().try_for_each(|item| validate(resource, item)),
    }
}

fn validate_value_filter(parent: &AttributeDef, filter: &ValFilter) -> Result<(), ScimError> {
    match filter {
        ValFilter::Attr(expression) => {
            let path = match expression {
                AttrExp::Present(path) | AttrExp::Comparison(path, _, _) => path,
            };
            let sub = parent.sub_attribute(&path.name).ok_or_else(|| {
                ScimError::invalid_filter(format!(
                    "Attribute '{}' has no sub-attribute '{}'.",
                    parent.name, path.name
                ))
            })?;
            validate_expression(sub, expression)
        }
        ValFilter::Not(inner) => validate_value_filter(parent, inner),
        ValFilter::And(items) | ValFilter::Or(items) => items.iter().try_for_each(|item| validate_value_filter(parent, item)),
    }
}

fn validate_expression(def: &AttributeDef, expression: &AttrExp) -> Result<(), ScimError> {
    let AttrExp::Comparison(path, op, operand) = expression else { return Ok(()) };
    if def.kind == AttrType::Complex {
        return Err(ScimError::invalid_filter(format!(
            "'{path}' is a complex attribute; compare one of its sub-attributes, such as '{path}.{}'.",
            def.sub_attributes.first().map_or("value", |sub| sub.name)
        )));
    }
    check_operator(def, path, op)?;
    if matches!(operand, CompValue::Null) {
        return Ok(());
    }
    let valid = match def.kind {
        AttrType::Boolean => operand_as_bool(operand).is_some(),
        AttrType::Integer | AttrType::Decimal => operand_as_f64(operand).is_some(),
        AttrType::DateTime => match operand {
            CompValue::Str(_) if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) => true,
            CompValue::Str(text) => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            _ => false,
        },
        // A number or boolean against a string has no defined order, so SQL and the in-memory
        // evaluator would return different users.
        _ => matches!(operand, CompValue::Str(_)),
    };
    if valid {
        return Ok(());
    }
    let expected = match def.kind {
        AttrType::Boolean => "a boolean (true or false)",
        AttrType::Integer | AttrType::Decimal => "a number",
        AttrType::DateTime => "an RFC 3339 dateTime such as \"2024-01-31T09:00:00Z\"",
        _ => "a quoted string",
    };
    Err(operand_error(def, expected, operand))
}

/// Evaluates a filter on a rendered resource document.
pub fn matches(resource: &'static ResourceTypeDef, document: &Value, filter: &Filter) -> Result<bool, ScimError> {
    evaluate(resource, document, filter, false)
}

/// Evaluates a filter that may name attributes the resource type lacks, which then have no
/// value (RFC 7644 §3.4.2.1), as a search across resource types needs.
pub fn matches_across_types(resource: &'static ResourceTypeDef, document: &Value, filter: &Filter) -> Result<bool, ScimError> {
    evaluate(resource, document, filter, true)
}

/// The part of one resource type that a filter selects, in a search across types.
#[derive(Debug)]
pub enum Reduced {
    /// Every resource of the type.
    All,
    /// No resource of the type.
    Nothing,
    /// The resources this filter selects; it names only attributes the type has.
    Filter(Filter),
}

/// Reduces a filter to one resource type of a search across types. A term on an attribute the
/// type lacks has no value (RFC 7644 §3.4.2.1), so it is true for every resource of the type or
/// for none, and folds away. What remains lists like any filter on the type, in SQL where it
/// translates, and agrees with `matches_across_types`.
pub fn reduce_to_type(resource: &'static ResourceTypeDef, filter: &Filter) -> Reduced {
    match filter {
        Filter::Attr(expression) => {
            let path = match expression {
                AttrExp::Present(path) | AttrExp::Comparison(path, _, _) => path,
            };
            match resolve_path(resource, path) {
                Ok(_) => Reduced::Filter(filter.clone()),
                Err(_) if absent_term(expression) => Reduced::All,
                Err(_) => Reduced::Nothing,
            }
        }
        Filter::ValuePath(value_path) => match resolve_path(resource, &value_path.attr) {
            Ok(_) => Reduced::Filter(filter.clone()),
            Err(_) => Reduced::Nothing,
        },
        Filter::Not(inner) => match reduce_to_type(resource, inner) {
            Reduced::All => Reduced::Nothing,
            Reduced::Nothing => Reduced::All,
            Reduced::Filter(inner) => Reduced::Filter(Filter::Not(Box::new(inner))),
        },
        Filter::And(items) => {
            let mut remaining = Vec::new();
            for item in items {
                match reduce_to_type(resource, item) {
                    Reduced::Nothing => return Reduced::Nothing,
                    Reduced::All => {}
                    Reduced::Filter(item) => remaining.push(item),
                }
            }
            join(remaining, Filter::And, Reduced::All)
        }
        Filter::Or(items) => {
            let mut remaining = Vec::new();
            for item in items {
                match reduce_to_type(resource, item) {
                    Reduced::All => return Reduced::All,
                    Reduced::Nothing => {}
                    Reduced::Filter(item) => remaining.push(item),
                }
            }
            join(remaining, Filter::Or, Reduced::Nothing)
        }
    }
}

/// Joins the operands left of an `and` or an `or`; none left means the operator's identity.
fn join(mut remaining: Vec<Filter>, operator: fn(Operands<Filter>) -> Filter, identity: Reduced) -> Reduced {
    if remaining.len() == 1 {
        return remaining.pop().map_or(identity, Reduced::Filter);
    }
    match Operands::new(remaining) {
        Ok(operands) => Reduced::Filter(operator(operands)),
        Err(_) => identity,
    }
}

/// Evaluates a term on an attribute that a resource type lacks: only `eq null`, and `ne` on a
/// singular attribute, match. On a multi-valued attribute `ne` needs some value that differs,
/// as where the attribute exists but is empty.
fn absent_term(expression: &AttrExp) -> bool {
    match expression {
        AttrExp::Comparison(_, CompareOp::Eq, CompValue::Null) => true,
        AttrExp::Comparison(_, CompareOp::Ne, CompValue::Null) => false,
        AttrExp::Comparison(path, CompareOp::Ne, _) => !multi_valued_elsewhere(path),
        _ => false,
    }
}

/// Tells whether a path names a multi-valued attribute of a type that has it.
fn multi_valued_elsewhere(path: &AttrPath) -> bool {
    [&*super::schema::USER_RESOURCE, &*super::schema::GROUP_RESOURCE]
        .into_iter()
        .filter_map(|resource| resolve_path(resource, path).ok())
        .any(|resolved| resolved.attribute.multi_valued)
}

/// Validates a filter for a search across types: each term must fit at least one of the types.
/// A term that fits none is an error, as on a single endpoint; the others fold away per type.
pub fn validate_across_types(resources: &[&'static ResourceTypeDef], filter: &Filter) -> Result<(), ScimError> {
    match filter {
        Filter::Attr(_) | Filter::ValuePath(_) => {
            let mut first_error = None;
            for resource in resources {
                match validate(resource, filter) {
                    Ok(()) => return Ok(()),
                    Err(error) => {
                        first_error.get_or_insert(error);
                    }
                }
            }
            first_error.map_or(Ok(()), Err)
        }
        Filter::Not(inner) => validate_across_types(resources, inner),
        Filter::And(items) | Filter::Or(items) => items.iter().try_for_each(|item| validate_across_types(resources, item)),
    }
}

fn evaluate(resource: &'static ResourceTypeDef, document: &Value, filter: &Filter, lenient: bool) -> Result<bool, ScimError> {
    let matches = |filter: &Filter| evaluate(resource, document, filter, lenient);
    match filter {
        Filter::Attr(expression) => {
            let path = match expression {
                AttrExp::Present(path) | AttrExp::Comparison(path, _, _) => path,
            };
            let resolved = match resolve_path(resource, path) {
                Ok(resolved) => resolved,
                Err(_) if lenient => return Ok(absent_term(expression)),
                Err(error) => return Err(error),
            };
            let values = collect_values(document, &resolved);
            evaluate_expression(resolved.leaf(), &values, expression, resolved.attribute.multi_valued)
        }
        Filter::ValuePath(value_path) => {
            let resolved = match resolve_path(resource, &value_path.attr) {
                Ok(resolved) => resolved,
                Err(_) if lenient => return Ok(false),
                Err(error) => return Err(error),
            };
            let elements = collect_elements(document, &resolved);
            for element in elements {
                if matches_element(resolved.attribute, element, &value_path.filter)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Filter::Not(inner) => Ok(!matches(inner)?),
        Filter::And(items) => {
            for item in items {
                if !matches(item)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Filter::Or(items) => {
            for item in items {
                if matches(item)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// Evaluates a value filter (the part inside `emails[...]`) on one element of a multi-valued
/// complex attribute, or on the value of a singular complex attribute.
pub fn matches_element(parent: &AttributeDef, element: &Value, filter: &ValFilter) -> Result<bool, ScimError> {
    match filter {
        ValFilter::Attr(expression) => {
            let path = match expression {
                AttrExp::Present(path) | AttrExp::Comparison(path, _, _) => path,
            };
            let sub = parent.sub_attribute(&path.name).ok_or_else(|| {
                ScimError::invalid_filter(format!(
                    "Attribute '{}' has no sub-attribute '{}'.",
                    parent.name, path.name
                ))
            })?;
            let value = element
                .as_object()
                .and_then(|object| object.iter().find(|(key, _)| key.eq_ignore_ascii_case(sub.name)))
                .map(|(_, value)| value);
            let values: Vec<&Value> = match value {
                Some(Value::Array(items)) => items.iter().collect(),
                Some(value) => vec![value],
                None => Vec::new(),
            };
            evaluate_expression(sub, &values, expression, sub.multi_valued)
        }
        ValFilter::Not(inner) => Ok(!matches_element(parent, element, inner)?),
        ValFilter::And(items) => {
            for item in items {
                if !matches_element(parent, element, item)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        ValFilter::Or(items) => {
            for item in items {
                if matches_element(parent, element, item)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// Returns the attribute's value in the document: top-level, or inside its extension object.
pub fn attribute_value<'a>(document: &'a Value, resolved: &ResolvedPath) -> Option<&'a Value> {
    let container = match resolved.extension {
        None => document,
        Some(urn) => document.get(urn)?,
    };
    container.get(resolved.attribute.name)
}

/// Returns the elements of a complex attribute (one for a singular one).
fn collect_elements<'a>(document: &'a Value, resolved: &ResolvedPath) -> Vec<&'a Value> {
    match attribute_value(document, resolved) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(value) => vec![value],
        None => Vec::new(),
    }
}

/// Returns the values a comparison looks at, flattening multi-valued attributes.
pub fn collect_values<'a>(document: &'a Value, resolved: &ResolvedPath) -> Vec<&'a Value> {
    let elements = collect_elements(document, resolved);
    let is_complex = resolved.attribute.kind == AttrType::Complex;
    // A complex attribute named without a sub-attribute and without a `value` sub-attribute
    // (such as `name`) is compared whole: `name pr` matches a non-empty object.
    let whole = is_complex && resolved.leaf().kind == AttrType::Complex;
    if !is_complex || whole {
        return elements
            .into_iter()
            .flat_map(|value| match value {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect();
    }
    let sub_name = resolved.leaf().name;
    elements
        .into_iter()
        .filter_map(|element| element.get(sub_name))
        .flat_map(|value| match value {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .collect()
}

/// Evaluates a presence test or comparison on an attribute's values. On a multi-valued
/// attribute every operator, `ne` included, matches when some value satisfies it (RFC 7644
/// §3.4.2.2). On a single value, `ne` is the negation of `eq`, so it matches a missing value.
fn evaluate_expression(def: &AttributeDef, values: &[&Value], expression: &AttrExp, multi_valued: bool) -> Result<bool, ScimError> {
    match expression {
        AttrExp::Present(_) => Ok(values.iter().any(|value| is_present(value))),
        AttrExp::Comparison(path, op, operand) => {
            check_operator(def, path, op)?;
            if matches!(operand, CompValue::Null) {
                // `eq null` matches an absent attribute, and `ne null` a present one.
                let present = values.iter().any(|value| is_present(value));
                return Ok(match op {
                    CompareOp::Eq => !present,
                    CompareOp::Ne => present,
                    _ => false,
                });
            }
            if *op == CompareOp::Ne && !multi_valued {
                let equal = any_compare(def, values, &CompareOp::Eq, operand)?;
                return Ok(!equal);
            }
            any_compare(def, values, op, operand)
        }
    }
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(object) => !object.is_empty(),
        _ => true,
    }
}

/// Rejects ordering and substring operators on booleans and binaries, as RFC 7644 §3.4.2.2
/// requires.
fn check_operator(def: &AttributeDef, path: &AttrPath, op: &CompareOp) -> Result<(), ScimError> {
    let equality_only = matches!(def.kind, AttrType::Boolean | AttrType::Binary | AttrType::Complex);
    if equality_only && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
        return Err(ScimError::invalid_filter(format!(
            "The operator '{op}' cannot be used on '{path}', which is of type {:?}; use eq or ne.",
            def.kind
        )));
    }
    Ok(())
}

fn any_compare(def: &AttributeDef, values: &[&Value], op: &CompareOp, operand: &CompValue) -> Result<bool, ScimError> {
    for value in values {
        if compare(def, value, op, operand)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Compares one stored value with a filter operand under the attribute's type rules.
pub fn compare(def: &AttributeDef, value: &Value, op: &CompareOp, operand: &CompValue) -> Result<bool, ScimError> {
    match def.kind {
        AttrType::Boolean => {
            let expected = operand_as_bool(operand)
                .ok_or_else(|| operand_error(def, "a boolean (true or false)", operand))?;
            let Some(actual) = value.as_bool() else { return Ok(false) };
            Ok(if *op == CompareOp::Ne { actual != expected } else { actual == expected })
        }
        AttrType::Integer | AttrType::Decimal => {
            let expected = operand_as_f64(operand).ok_or_else(|| operand_error(def, "a number", operand))?;
            let Some(actual) = value.as_f64() else { return Ok(false) };
            Ok(apply_ordering(op, actual.partial_cmp(&expected)))
        }
        AttrType::DateTime => {
            let CompValue::Str(text) = operand else {
                return Err(operand_error(def, "a dateTime string", operand));
            };
            let expected = chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| operand_error(def, "an RFC 3339 dateTime", operand))?;
            let Some(actual) = value.as_str().and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok()) else {
                return Ok(false);
            };
            if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                return Ok(compare_strings(def, value.as_str().unwrap_or_default(), op, text));
            }
            Ok(apply_ordering(op, Some(actual.cmp(&expected))))
        }
        _ => {
            let expected = match operand {
                CompValue::Str(text) => text.clone(),
                CompValue::Number(number) => number.to_string(),
                CompValue::True => "true".to_string(),
                CompValue::False => "false".to_string(),
                CompValue::Null => return Ok(false),
            };
            let Some(actual) = value.as_str() else { return Ok(false) };
            Ok(compare_strings(def, actual, op, &expected))
        }
    }
}

fn compare_strings(def: &AttributeDef, actual: &str, op: &CompareOp, expected: &str) -> bool {
    let (actual, expected) = if def.case_exact {
        (actual.to_string(), expected.to_string())
    } else {
        (actual.to_lowercase(), expected.to_lowercase())
    };
    match op {
        CompareOp::Eq => actual == expected,
        CompareOp::Ne => actual != expected,
        CompareOp::Co => actual.contains(&expected),
        CompareOp::Sw => actual.starts_with(&expected),
        CompareOp::Ew => actual.ends_with(&expected),
        _ => apply_ordering(op, Some(actual.cmp(&expected))),
    }
}

fn apply_ordering(op: &CompareOp, ordering: Option<Ordering>) -> bool {
    let Some(ordering) = ordering else { return false };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Accepts `true`/`false` and, as Entra sends in `roles[primary eq "True"]`, their strings.
fn operand_as_bool(operand: &CompValue) -> Option<bool> {
    match operand {
        CompValue::True => Some(true),
        CompValue::False => Some(false),
        CompValue::Str(text) if text.eq_ignore_ascii_case("true") => Some(true),
        CompValue::Str(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn operand_as_f64(operand: &CompValue) -> Option<f64> {
    match operand {
        CompValue::Number(number) => number.as_f64(),
        CompValue::Str(text) => text.parse().ok(),
        _ => None,
    }
}

fn operand_error(def: &AttributeDef, expected: &str, operand: &CompValue) -> ScimError {
    ScimError::invalid_filter(format!(
        "Attribute '{}' is compared with {operand}, but the value must be {expected}.",
        def.name
    ))
}

/// Returns the filter with every attribute path lower-cased, so two spellings of the same
/// filter (`userName` and `USERNAME`) compare equal. Values keep their case.
pub fn canonical(filter: &Filter) -> Filter {
    let mut copy = filter.clone();
    lower_filter_paths(&mut copy);
    copy
}

fn lower_path(path: &mut AttrPath) {
    path.uri = path.uri.as_ref().map(|uri| uri.to_lowercase());
    path.name = path.name.to_lowercase();
    path.sub_attr = path.sub_attr.as_ref().map(|sub| sub.to_lowercase());
}

fn lower_expression_path(expression: &mut AttrExp) {
    match expression {
        AttrExp::Present(path) | AttrExp::Comparison(path, _, _) => lower_path(path),
    }
}

fn lower_filter_paths(filter: &mut Filter) {
    match filter {
        Filter::Attr(expression) => lower_expression_path(expression),
        Filter::ValuePath(value_path) => {
            lower_path(&mut value_path.attr);
            lower_value_filter_paths(&mut value_path.filter);
        }
        Filter::Not(inner) => lower_filter_paths(inner),
        Filter::And(items) | Filter::Or(items) => items.iter_mut().for_each(lower_filter_paths),
    }
}

fn lower_value_filter_paths(filter: &mut ValFilter) {
    match filter {
        ValFilter::Attr(expression) => lower_expression_path(expression),
        ValFilter::Not(inner) => lower_value_filter_paths(inner),
        ValFilter::And(items) | ValFilter::Or(items) => items.iter_mut().for_each(lower_value_filter_paths),
    }
}

/// Returns the operand of a value filter's simple `eq` terms joined by `and`, such as
/// `type eq "work"`, so an upsert can create the element the filter describes.
pub fn equality_terms(filter: &ValFilter) -> Option<Vec<(String, Value)>> {
    match filter {
        ValFilter::Attr(AttrExp::Comparison(path, CompareOp::Eq, operand)) => {
            let value = match operand {
                CompValue::Str(text) => Value::String(text.clone()),
                CompValue::True => Value::Bool(true),
                CompValue::False => Value::Bool(false),
                CompValue::Number(number) => Value::Number(number.clone()),
                CompValue::Null => return None,
            };
            Some(vec![(path.name.clone(), value)])
        }
        ValFilter::And(items) => {
            let mut terms = Vec::new();
            for item in items {
                terms.extend(equality_terms(item)?);
            }
            Some(terms)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::USER_RESOURCE;

    fn user() -> Value {
        json!({
            "id": "1",
            "userName": "BJensen@example.com",
            "active": true,
            "emails": [{"value": "bj@work.example", "type": "work"}, {"value": "b@home.example", "type": "home"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
            "meta": {"lastModified": "2024-05-01T10:00:00.000Z"}
        })
    }

    fn check(filter: &str) -> bool {
        let filter = parse(filter).unwrap();
        matches(&USER_RESOURCE, &user(), &filter).unwrap()
    }

    #[test]
    fn username_eq_ignores_case() {
        assert!(check(r#"userName eq "bjensen@EXAMPLE.com""#));
        assert!(!check(r#"userName eq "other""#));
    }

    #[test]
    fn typed_email_comparison_folded() {
        assert!(check(r#"emails[type eq "work"].value eq "bj@work.example""#));
        assert!(!check(r#"emails[type eq "home"].value eq "bj@work.example""#));
        assert!(check(r#"emails[type eq "work"].value pr and userName pr"#));
    }

    #[test]
    fn not_without_space_parses() {
        assert!(!check(r#"not(userName pr)"#));
        assert!(check(r#"emails[not(type eq "home")]"#));
        assert!(check(r#"userName eq "not(x)" or userName pr"#));
    }

    #[test]
    fn unbalanced_quote_rejected() {
        assert!(parse(r#"userName eq abc""#).is_err());
    }

    #[test]
    fn bare_value_quoted() {
        assert!(check("userName eq BJensen@example.com"));
    }

    #[test]
    fn value_path_and_sub_attribute() {
        assert!(check(r#"emails[type eq "work" and value co "@work"]"#));
        assert!(!check(r#"emails[type eq "home" and value co "@work"]"#));
        assert!(check(r#"emails.value sw "bj@""#));
    }

    #[test]
    fn extension_and_dates() {
        assert!(check(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales""#));
        assert!(check(r#"meta.lastModified gt "2024-01-01T00:00:00Z""#));
        assert!(check(r#"not (active eq false) and userName pr"#));
    }

    #[test]
    fn ordering_on_boolean_rejected() {
        let filter = parse("active gt true").unwrap();

        let error = matches(&USER_RESOURCE, &user(), &filter).unwrap_err();

        assert_eq!(error.scim_type, Some(crate::scim::ScimType::InvalidFilter));
    }

    /// Folding a filter to one resource type selects what evaluating it across types selects.
    #[test]
    fn reduced_filter_agrees_with_evaluation_across_types() {
        use crate::scim::schema::GROUP_RESOURCE;

        let group = json!({"id": "2", "displayName": "Sales", "members": [{"value": "1"}]});
        let filters = [
            r#"displayName eq "Sales" or userName sw "bj""#,
            r#"userName sw "bj" and displayName eq "Sales""#,
            "not (userName pr)",
            r#"not (userName eq "x") and members pr"#,
            r#"userName ne "x""#,
            "userName eq null",
            r#"emails[type eq "work"] or displayName co "al""#,
            r#"not (emails[type eq "work"]) and (displayName sw "s" or active eq true)"#,
            r#"(userName pr or title pr) and not (members pr)"#,
        ];
        for text in filters {
            let filter = parse(text).unwrap();
            for (resource, document) in [(&*USER_RESOURCE, user()), (&*GROUP_RESOURCE, group.clone())] {
                let across = matches_across_types(resource, &document, &filter).unwrap();
                let reduced = match reduce_to_type(resource, &filter) {
                    Reduced::All => true,
                    Reduced::Nothing => false,
                    Reduced::Filter(reduced) => matches(resource, &document, &reduced).unwrap(),
                };
                assert_eq!(reduced, across, "{text} on {}", resource.name);
            }
        }
    }

    fn syntax_detail(text: &str) -> String {
        describe_syntax_error(text, &text.parse::<Filter>().unwrap_err())
    }

    #[test]
    fn syntax_errors_describe_the_problem() {
        assert_eq!(syntax_detail("userName eq"), "\"eq\" at position 10 needs a value (a quoted string, a number, true, false or null) after it");
        assert_eq!(syntax_detail(r#"userName eq "a" and"#), "\"and\" at position 17 needs another expression after it");
        assert_eq!(syntax_detail(r#"userName eq "a" x"#), "unexpected \"x\" at position 17; expected one of \"and\" or \"or\"");
        assert_eq!(syntax_detail(r#"userName eq "open"#), "the string that starts at position 13 has no closing quote");
        assert_eq!(syntax_detail("#"), "unexpected character \"#\" at position 1");
        assert_eq!(syntax_detail(r#"(userName eq "a""#), "the text ends at position 17 where one of \"and\", \"or\" or \")\" should follow");
        assert_eq!(syntax_detail(r#"   userName eq "a" and"#), "\"and\" at position 20 needs another expression after it");
        assert_eq!(syntax_detail(r#" userName eq "a" $"#), "unexpected character \"$\" at position 18");
    }
}
