//! Fuzzes the SCIM filter parser (the shape cache against the crate's parse) and everything a list or search request does with a parsed
//! filter: validation against the User and Group schemas, the canonical text used in cursor
//! fingerprints, SQL translation for both backends, and in-memory evaluation.
#![no_main]

use std::collections::BTreeSet;
use std::sync::LazyLock;

use hub::scim::filter;
use hub::storage::filter_sql::{self, SqlBuilder, Target, Translation};
use hub::storage::Backend;
use hub_fuzz::{fixture_memberships, BASE_URL, FIXTURE_GROUP, FIXTURE_USER};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Placeholder number of the first bound value. `$1` is the organization in listing queries.
const FIRST_PLACEHOLDER: usize = 2;

static USER_DOCUMENT: LazyLock<Value> =
    LazyLock::new(|| hub::scim::user::render(&FIXTURE_USER, &fixture_memberships(), BASE_URL));

static GROUP_DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    let members = [hub::scim::group::MemberView {
        user_id: FIXTURE_USER.id.clone(),
        display: Some("Ada Lovelace".to_string()),
    }];
    hub::scim::group::render(&FIXTURE_GROUP, Some(&members), BASE_URL)
});

/// Returns the numbers of the `$N` placeholders in an SQL text.
fn placeholder_numbers(sql: &str) -> BTreeSet<usize> {
    let bytes = sql.as_bytes();
    let mut numbers = BTreeSet::new();
    for (index, _) in sql.match_indices('$') {
        let digits: String = bytes[index + 1..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .map(|byte| char::from(*byte))
            .collect();
        if let Ok(number) = digits.parse() {
            numbers.insert(number);
        }
    }
    numbers
}

/// Checks the contract `filter_sql::translate` documents: the placeholders of the SQL that
/// remains match the bound values one to one, because PostgreSQL rejects unused values.
fn check_placeholders(filter_text: &str, translation: &Translation, builder: &SqlBuilder) {
    let expected: BTreeSet<usize> = (FIRST_PLACEHOLDER..FIRST_PLACEHOLDER + builder.binds.len()).collect();
    let found: BTreeSet<usize> = match &translation.sql {
        Some(sql) => placeholder_numbers(sql).into_iter().filter(|number| *number >= FIRST_PLACEHOLDER).collect(),
        None => BTreeSet::new(),
    };
    assert_eq!(
        found, expected,
        "placeholders do not match bound values for filter {filter_text:?}: sql {:?}, binds {:?}",
        translation.sql, builder.binds
    );
}

/// Checks that a filter parsed through the shape cache equals the crate's own parse, and that
/// both fail alike.
fn check_cached_parse(text: &str) {
    let direct = text.parse::<scim_v2::filter::Filter>();
    let cached = hub::scim::parse_cache::filter(text);
    match (&direct, &cached) {
        (Ok(direct), Ok(cached)) => assert_eq!(direct, cached, "cached parse differs for {text:?}"),
        (Err(direct), Err(cached)) => assert_eq!(direct.to_string(), cached.to_string(), "errors differ for {text:?}"),
        _ => panic!("cached parse of {text:?} gave {cached:?}, the crate {direct:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    check_cached_parse(text);
    let Ok(parsed) = filter::parse(text) else { return };
    let _fingerprint_text = filter::canonical(&parsed).to_string();

    for target in [Target::Users, Target::Groups] {
        let resource = target.resource();
        if filter::validate(resource, &parsed).is_err() {
            continue;
        }
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let mut builder = SqlBuilder::new(backend, FIRST_PLACEHOLDER);
            let translation = filter_sql::translate(&mut builder, target, &parsed);
            check_placeholders(text, &translation, &builder);
        }
        let document = match target {
            Target::Users => &*USER_DOCUMENT,
            Target::Groups => &*GROUP_DOCUMENT,
        };
        let _ = filter::matches(resource, document, &parsed);
        let _ = filter::matches_across_types(resource, document, &parsed);
    }
});
