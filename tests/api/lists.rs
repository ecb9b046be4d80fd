//! Listing users (RFC 7644 §3.4.2): filters with every operator, paging edge cases, sorting,
//! and `attributes`/`excludedAttributes` on lists and on single users.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::*;

/// The users every list test starts with, created in this order a few milliseconds apart:
/// alice (work email, enterprise department), bob (home email, lower-case externalId), carol
/// (deactivated after dave was created) and dave (userName only).
struct Fixture {
    alice: Value,
    bob: Value,
    carol: Value,
    dave: Value,
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

async fn create_fixture(app: &TestApp) -> Fixture {
    let alice = app
        .create_user(
            "alice@example.com",
            json!({
                "externalId": "EXT-Alice",
                "displayName": "Alice Archer",
                "name": {"givenName": "Alice", "familyName": "Archer"},
                "emails": [{"value": "alice@work.example", "type": "work", "primary": true}],
                ENTERPRISE_USER: {"department": "Research"},
            }),
        )
        .await;
    pause().await;
    let bob = app
        .create_user(
            "bob@example.com",
            json!({
                "externalId": "ext-bob",
                "displayName": "Bob Baker",
                "name": {"givenName": "Bob", "familyName": "Baker"},
                "emails": [{"value": "bob@home.example", "type": "home"}],
            }),
        )
        .await;
    pause().await;
    let carol = app
        .create_user(
            "carol@example.org",
            json!({
                "externalId": "EXT-Carol",
                "displayName": "Carol Cooper",
                "name": {"givenName": "Carol", "familyName": "Cooper"},
                "emails": [{"value": "carol@work.example", "type": "work"}],
            }),
        )
        .await;
    pause().await;
    let dave = app.create_user("dave@example.org", json!({})).await;
    pause().await;
    let (status, carol_off) = app
        .patch_user(carol["id"].as_str().unwrap(), json!([{"op": "replace", "path": "active", "value": false}]))
        .await;
    assert_eq!(status, 200, "deactivating carol failed: {carol_off}");
    Fixture {
        alice,
        bob,
        carol: carol_off,
        dave,
    }
}

/// Lists with a filter and returns the matching userNames, sorted.
async fn matching_names(app: &TestApp, filter: &str) -> Vec<String> {
    let (status, body) = app.list_users(&[("filter", filter)]).await;
    assert_eq!(status, 200, "filter {filter:?} failed: {body}");
    let mut names = listed_user_names(&body);
    names.sort();
    assert_eq!(body["totalResults"], json!(names.len()), "filter {filter:?}: totalResults differs from the page: {body}");
    names
}

/// Checks each filter against the userNames it must match.
async fn assert_filters(app: &TestApp, cases: &[(&str, &[&str])]) {
    for (filter, expected) in cases {
        let mut expected: Vec<String> = expected.iter().map(|name| name.to_string()).collect();
        expected.sort();

        let found = matching_names(app, filter).await;

        assert_eq!(found, expected, "filter {filter:?} matched the wrong users");
    }
}

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.org";
const DAVE: &str = "dave@example.org";

async fn filter_equality_operators(app: TestApp) {
    create_fixture(&app).await;

    assert_filters(
        &app,
        &[
            ("userName eq \"ALICE@example.com\"", &[ALICE]),
            ("userName eq \"nobody@example.com\"", &[]),
            ("userName ne \"alice@example.com\"", &[BOB, CAROL, DAVE]),
            ("displayName eq \"bob baker\"", &[BOB]),
            ("displayName ne \"Bob Baker\"", &[ALICE, CAROL, DAVE]),
        ],
    )
    .await;
}

async fn filter_substring_operators(app: TestApp) {
    create_fixture(&app).await;

    assert_filters(
        &app,
        &[
            ("userName co \"@EXAMPLE.org\"", &[CAROL, DAVE]),
            ("userName sw \"B\"", &[BOB]),
            ("userName ew \".COM\"", &[ALICE, BOB]),
            ("displayName co \"er\"", &[ALICE, BOB, CAROL]),
            ("displayName sw \"carol\"", &[CAROL]),
            ("displayName ew \"cooper\"", &[CAROL]),
        ],
    )
    .await;
}

async fn filter_ordering_operators(app: TestApp) {
    create_fixture(&app).await;

    assert_filters(
        &app,
        &[
            ("userName gt \"bob@example.com\"", &[CAROL, DAVE]),
            ("userName ge \"bob@example.com\"", &[BOB, CAROL, DAVE]),
            ("userName lt \"bob@example.com\"", &[ALICE]),
            ("userName le \"bob@example.com\"", &[ALICE, BOB]),
            ("userName gt \"BOB@EXAMPLE.COM\"", &[CAROL, DAVE]),
            ("name.familyName lt \"B\"", &[ALICE]),
        ],
    )
    .await;
}

async fn filter_presence_operator(app: TestApp) {
    create_fixture(&app).await;

    assert_filters(
        &app,
        &[
            ("userName pr", &[ALICE, BOB, CAROL, DAVE]),
            ("externalId pr", &[ALICE, BOB, CAROL]),
            ("displayName pr", &[ALICE, BOB, CAROL]),
            ("emails pr", &[ALICE, BOB, CAROL]),
            ("name.familyName pr", &[ALICE, BOB, CAROL]),
            ("title pr", &[]),
        ],
    )
    .await;
}

async fn filter_external_id_case_exact(app: TestApp) {
    create_fixture(&app).await;

    assert_filters(
        &app,
        &[
            ("externalId eq \"EXT-Alice\"", &[ALICE]),
            ("externalId eq \"ext-alice\"", &[]),
            ("externalId co \"EXT\"", &[ALICE, CAROL]),
            ("externalId sw \"ext\"", &[BOB]),
            ("externalId ew \"Carol\"", &[CAROL]),
            ("externalId ew \"carol\"", &[]),
        ],
    )
    .await;
}

async fn filter_complex_attributes(app: TestApp) {
    create_fixture(&app).await;

    assert_filters(
        &app,
        &[
            ("emails.value ew \"@work.example\"", &[ALICE, CAROL]),
            ("emails.value eq \"BOB@home.example\"", &[BOB]),
            ("emails[type eq \"work\"]", &[ALICE, CAROL]),
            ("emails[type eq \"home\" and value co \"bob\"]", &[BOB]),
            ("emails[type eq \"work\" and value co \"bob\"]", &[]),
            ("emails.type eq \"home\"", &[BOB]),
            ("emails[primary eq true]", &[ALICE]),
            ("name.familyName eq \"archer\"", &[ALICE]),
            ("name.familyName sw \"C\"", &[CAROL]),
            ("name.givenName co \"o\"", &[BOB, CAROL]),
        ],
    )
    .await;
}

async fn filter_active_flag(app: TestApp) {
    create_fixture(&app).await;

    assert_filters(
        &app,
        &[
            ("active eq false", &[CAROL]),
            ("active eq true", &[ALICE, BOB, DAVE]),
            ("active ne true", &[CAROL]),
            ("active pr", &[ALICE, BOB, CAROL, DAVE]),
        ],
    )
    .await;
}

async fn filter_last_modified(app: TestApp) {
    let fixture = create_fixture(&app).await;
    let bob_modified = fixture.bob["meta"]["lastModified"].as_str().unwrap().to_string();

    let gt = format!("meta.lastModified gt \"{bob_modified}\"");
    let ge = format!("meta.lastModified ge \"{bob_modified}\"");
    let lt = format!("meta.lastModified lt \"{bob_modified}\"");
    let le = format!("meta.lastModified le \"{bob_modified}\"");
    let eq = format!("meta.lastModified eq \"{bob_modified}\"");

    assert_filters(
        &app,
        &[
            (&gt, &[CAROL, DAVE]),
            (&ge, &[BOB, CAROL, DAVE]),
            (&lt, &[ALICE]),
            (&le, &[ALICE, BOB]),
            (&eq, &[BOB]),
            ("meta.lastModified gt \"2000-01-01T00:00:00Z\"", &[ALICE, BOB, CAROL, DAVE]),
            ("meta.lastModified lt \"2000-01-01T00:00:00Z\"", &[]),
        ],
    )
    .await;
}

async fn filter_logical_operators(app: TestApp) {
    create_fixture(&app).await;

    assert_filters(
        &app,
        &[
            ("userName sw \"a\" or userName sw \"b\"", &[ALICE, BOB]),
            ("userName co \"example\" and active eq false", &[CAROL]),
            ("(userName sw \"a\" or userName sw \"c\") and active eq true", &[ALICE]),
            ("userName sw \"a\" or (userName sw \"c\" and active eq true)", &[ALICE]),
            ("not (userName sw \"a\" or userName sw \"b\")", &[CAROL, DAVE]),
            ("not (displayName pr)", &[DAVE]),
            ("userName eq \"alice@example.com\" or userName eq \"dave@example.org\"", &[ALICE, DAVE]),
            ("userName pr and not (active eq false) and externalId pr", &[ALICE, BOB]),
            ("userName sw \"a\" AND displayName pr", &[ALICE]),
        ],
    )
    .await;
}

async fn filter_id_and_urn_paths(app: TestApp) {
    let fixture = create_fixture(&app).await;
    let carol_id = format!("id eq \"{}\"", fixture.carol["id"].as_str().unwrap());
    let not_dave = format!("id ne \"{}\"", fixture.dave["id"].as_str().unwrap());
    let alice_or_bob = format!(
        "id eq \"{}\" or id eq \"{}\"",
        fixture.alice["id"].as_str().unwrap(),
        fixture.bob["id"].as_str().unwrap()
    );

    assert_filters(
        &app,
        &[
            (&carol_id, &[CAROL]),
            (&not_dave, &[ALICE, BOB, CAROL]),
            (&alice_or_bob, &[ALICE, BOB]),
            ("id eq \"00000000-0000-0000-0000-000000000000\"", &[]),
            ("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"bob@example.com\"", &[BOB]),
            ("USERNAME eq \"bob@example.com\"", &[BOB]),
            ("urn:hub:params:scim:schemas:extension:hub:2.0:User:status eq \"Deactivated\"", &[CAROL]),
            ("urn:hub:params:scim:schemas:extension:hub:2.0:User:platformRole eq \"Member\"", &[ALICE, BOB, CAROL, DAVE]),
        ],
    )
    .await;
}

async fn start_index_zero_means_one(app: TestApp) {
    create_fixture(&app).await;

    for start_index in ["0", "-5"] {
        let (status, body) = app.list_users(&[("startIndex", start_index), ("count", "2")]).await;

        assert_eq!(status, 200, "startIndex {start_index} rejected: {body}");
        assert_eq!(body["startIndex"], json!(1), "startIndex {start_index} not treated as 1: {body}");
        assert_eq!(listed_user_names(&body), vec![ALICE, BOB], "startIndex {start_index}: wrong page: {body}");
        assert_eq!(body["totalResults"], json!(4), "startIndex {start_index}: totalResults differs: {body}");
    }
}

async fn count_zero_returns_total_only(app: TestApp) {
    create_fixture(&app).await;
    let cases: [&[(&str, &str)]; 4] = [
        &[("count", "0")],
        &[("count", "0"), ("filter", "userName co \"example\"")],
        &[("count", "0"), ("filter", "userName eq \"bob@example.com\"")],
        &[("count", "0"), ("sortBy", "userName")],
    ];

    for parameters in cases {
        let (status, body) = app.list_users(parameters).await;
        let expected_total = if parameters.iter().any(|(_, value)| value.contains("bob@")) { 1 } else { 4 };

        assert_eq!(status, 200, "parameters {parameters:?} rejected: {body}");
        assert_eq!(body["totalResults"], json!(expected_total), "parameters {parameters:?}: totalResults differs: {body}");
        assert!(list_resources(&body).is_empty(), "parameters {parameters:?}: resources returned: {body}");
        assert_eq!(body["itemsPerPage"], json!(0), "parameters {parameters:?}: itemsPerPage differs: {body}");
    }
}

async fn negative_count_means_zero(app: TestApp) {
    create_fixture(&app).await;

    let (status, body) = app.list_users(&[("count", "-3")]).await;

    assert_eq!(status, 200, "negative count rejected: {body}");
    assert_eq!(body["totalResults"], json!(4), "totalResults differs: {body}");
    assert!(list_resources(&body).is_empty(), "negative count returned resources: {body}");
}

async fn start_index_past_end_empty(app: TestApp) {
    create_fixture(&app).await;

    let (status, body) = app.list_users(&[("startIndex", "10"), ("count", "5")]).await;

    assert_eq!(status, 200, "startIndex past the end rejected: {body}");
    assert_eq!(body["totalResults"], json!(4), "totalResults differs: {body}");
    assert_eq!(body["startIndex"], json!(10), "startIndex not echoed: {body}");
    assert!(list_resources(&body).is_empty(), "resources past the end: {body}");
}

async fn paging_applies_after_filter(app: TestApp) {
    create_fixture(&app).await;

    let (status, body) = app
        .list_users(&[("filter", "userName co \"example\""), ("startIndex", "2"), ("count", "2")])
        .await;

    assert_eq!(status, 200, "paged filter failed: {body}");
    assert_eq!(body["totalResults"], json!(4), "totalResults counts the page only: {body}");
    assert_eq!(body["itemsPerPage"], json!(2), "itemsPerPage differs: {body}");
    assert_eq!(body["startIndex"], json!(2), "startIndex differs: {body}");
    assert_eq!(listed_user_names(&body), vec![BOB, CAROL], "wrong page: {body}");
}

async fn create_unsorted_users(app: &TestApp) {
    for user_name in ["delta@example.com", "Bravo@example.com", "echo@example.com", "alpha@example.com", "Charlie@example.com"] {
        app.create_user(user_name, json!({})).await;
    }
}

async fn sort_by_user_name_ascending(app: TestApp) {
    create_unsorted_users(&app).await;
    let expected = vec!["alpha@example.com", "Bravo@example.com", "Charlie@example.com", "delta@example.com", "echo@example.com"];

    let (status, implicit) = app.list_users(&[("sortBy", "userName")]).await;
    let (_, explicit) = app.list_users(&[("sortBy", "userName"), ("sortOrder", "ascending")]).await;

    assert_eq!(status, 200, "sortBy rejected: {implicit}");
    assert_eq!(listed_user_names(&implicit), expected, "default sort order is not ascending: {implicit}");
    assert_eq!(listed_user_names(&explicit), expected, "ascending sort differs: {explicit}");
}

async fn sort_by_user_name_descending(app: TestApp) {
    create_unsorted_users(&app).await;

    let (status, body) = app.list_users(&[("sortBy", "userName"), ("sortOrder", "descending")]).await;

    assert_eq!(status, 200, "descending sort rejected: {body}");
    assert_eq!(
        listed_user_names(&body),
        vec!["echo@example.com", "delta@example.com", "Charlie@example.com", "Bravo@example.com", "alpha@example.com"],
        "descending sort differs: {body}"
    );
}

async fn sort_applies_before_paging(app: TestApp) {
    create_unsorted_users(&app).await;

    let (status, body) = app
        .list_users(&[("sortBy", "userName"), ("startIndex", "2"), ("count", "2")])
        .await;

    assert_eq!(status, 200, "sorted page rejected: {body}");
    assert_eq!(listed_user_names(&body), vec!["Bravo@example.com", "Charlie@example.com"], "page not taken from the sorted list: {body}");
    assert_eq!(body["totalResults"], json!(5), "totalResults differs: {body}");
}

async fn sort_with_filter(app: TestApp) {
    create_unsorted_users(&app).await;

    let (status, body) = app
        .list_users(&[("filter", "userName eq \"delta@example.com\" or userName sw \"b\""), ("sortBy", "userName"), ("sortOrder", "descending")])
        .await;

    assert_eq!(status, 200, "sorted filter rejected: {body}");
    assert_eq!(listed_user_names(&body), vec!["delta@example.com", "Bravo@example.com"], "sorted filter differs: {body}");
}

async fn sort_by_family_name(app: TestApp) {
    create_fixture(&app).await;

    let (status, ascending) = app.list_users(&[("sortBy", "name.familyName")]).await;
    let (_, descending) = app
        .list_users(&[("sortBy", "name.familyName"), ("sortOrder", "descending"), ("filter", "name.familyName pr")])
        .await;

    assert_eq!(status, 200, "sortBy name.familyName rejected: {ascending}");
    assert_eq!(listed_user_names(&ascending)[..3], [ALICE, BOB, CAROL], "ascending by familyName differs: {ascending}");
    assert_eq!(listed_user_names(&descending), vec![CAROL, BOB, ALICE], "descending by familyName differs: {descending}");
}

async fn sort_by_unknown_attribute_rejected(app: TestApp) {
    create_fixture(&app).await;

    let (status, body) = app.list_users(&[("sortBy", "nosuchAttribute")]).await;

    assert_eq!(status, 400, "sortBy on an unknown attribute accepted: {body}");
    assert_eq!(body["schemas"], json!([ERROR]), "not a SCIM error: {body}");
}

fn assert_only_keys(resource: &Value, allowed: &[&str], context: &str) {
    let keys: Vec<&String> = resource.as_object().expect("resource is not an object").keys().collect();
    for key in keys {
        assert!(allowed.contains(&key.as_str()), "{context}: unexpected attribute {key}: {resource}");
    }
}

async fn list_attributes_limit_fields(app: TestApp) {
    create_fixture(&app).await;

    let (status, body) = app.list_users(&[("attributes", "userName")]).await;

    assert_eq!(status, 200, "attributes rejected: {body}");
    assert_eq!(list_resources(&body).len(), 4, "attributes changed the result count: {body}");
    for resource in list_resources(&body) {
        assert_only_keys(&resource, &["schemas", "id", "userName"], "attributes=userName");
        assert!(resource["id"].is_string(), "id missing: {resource}");
        assert!(resource["userName"].is_string(), "userName missing: {resource}");
    }
}

async fn list_excluded_attributes_drop_fields(app: TestApp) {
    create_fixture(&app).await;

    let (status, body) = app.list_users(&[("excludedAttributes", "emails,name")]).await;

    assert_eq!(status, 200, "excludedAttributes rejected: {body}");
    for resource in list_resources(&body) {
        assert!(resource.get("emails").is_none(), "emails not excluded: {resource}");
        assert!(resource.get("name").is_none(), "name not excluded: {resource}");
        assert!(resource["userName"].is_string(), "userName dropped: {resource}");
        assert!(resource["id"].is_string(), "id dropped: {resource}");
        assert!(resource["active"].is_boolean(), "active dropped: {resource}");
    }
}

async fn list_attributes_with_filter(app: TestApp) {
    create_fixture(&app).await;

    let (status, body) = app
        .list_users(&[("filter", "userName eq \"alice@example.com\""), ("attributes", "emails.value,displayName")])
        .await;
    let resource = &body["Resources"][0];

    assert_eq!(status, 200, "filtered projection rejected: {body}");
    assert_eq!(resource["emails"], json!([{"value": "alice@work.example"}]), "sub-attribute projection differs: {body}");
    assert_eq!(resource["displayName"], json!("Alice Archer"), "displayName missing: {body}");
    assert!(resource.get("userName").is_none(), "userName not requested but returned: {body}");
}

async fn get_attributes_limit_fields(app: TestApp) {
    let fixture = create_fixture(&app).await;
    let path = format!("{}?attributes=name.givenName,emails", user_path(&fixture.alice));

    let (status, body) = status_and_json(app.get(&path).await).await;

    assert_eq!(status, 200, "GET with attributes failed: {body}");
    assert_eq!(body["id"], fixture.alice["id"], "id missing: {body}");
    assert_eq!(body["name"], json!({"givenName": "Alice"}), "name not reduced to givenName: {body}");
    assert_eq!(body["emails"], fixture.alice["emails"], "emails missing: {body}");
    assert!(body.get("displayName").is_none(), "displayName not requested but returned: {body}");
    assert!(body.get("active").is_none(), "active not requested but returned: {body}");
    assert!(body.get(HUB_USER).is_none(), "Hub extension not requested but returned: {body}");
}

async fn get_excluded_attributes_keep_id(app: TestApp) {
    let fixture = create_fixture(&app).await;
    let path = format!("{}?excludedAttributes=id,userName,{ENTERPRISE_USER},{HUB_USER}:mfa", user_path(&fixture.bob));

    let (status, body) = status_and_json(app.get(&path).await).await;

    assert_eq!(status, 200, "GET with excludedAttributes failed: {body}");
    assert_eq!(body["id"], fixture.bob["id"], "id excluded although it is always returned: {body}");
    assert!(body.get("userName").is_none(), "userName not excluded: {body}");
    assert!(body[HUB_USER].get("mfa").is_none(), "Hub mfa not excluded: {body}");
    assert_eq!(body[HUB_USER]["platformRole"], json!("Member"), "other Hub attributes dropped: {body}");
    assert_eq!(body["displayName"], json!("Bob Baker"), "displayName dropped: {body}");
}

async fn attributes_select_extension_attribute(app: TestApp) {
    let fixture = create_fixture(&app).await;
    let path = format!("{}?attributes={HUB_USER}:platformRole", user_path(&fixture.alice));

    let (status, body) = status_and_json(app.get(&path).await).await;

    assert_eq!(status, 200, "GET with an extension attribute failed: {body}");
    assert_eq!(body[HUB_USER], json!({"platformRole": "Member"}), "extension not reduced: {body}");
    assert!(body.get("userName").is_none(), "userName not requested but returned: {body}");
}

async fn attribute_names_ignore_case(app: TestApp) {
    create_fixture(&app).await;

    let (status, body) = app.list_users(&[("attributes", "USERNAME,Name.FamilyName")]).await;
    let first = &body["Resources"][0];

    assert_eq!(status, 200, "attributes in upper case rejected: {body}");
    assert_eq!(first["userName"], json!(ALICE), "USERNAME did not select userName: {body}");
    assert_eq!(first["name"], json!({"familyName": "Archer"}), "Name.FamilyName did not select the family name: {body}");
}

async fn search_request_filters_and_projects(app: TestApp) {
    create_fixture(&app).await;
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "active eq true",
        "attributes": ["userName"],
        "sortBy": "userName",
        "sortOrder": "descending",
        "startIndex": 1,
        "count": 2,
    });

    let (status, body) = status_and_json(app.post("/Users/.search", &request).await).await;

    assert_eq!(status, 200, "search failed: {body}");
    assert_eq!(body["totalResults"], json!(3), "search filter differs: {body}");
    assert_eq!(listed_user_names(&body), vec![DAVE, BOB], "search sort or paging differs: {body}");
    for resource in list_resources(&body) {
        assert_only_keys(&resource, &["schemas", "id", "userName"], "search attributes");
    }
}

async fn filter_extension_attributes(app: TestApp) {
    create_fixture(&app).await;
    let by_urn = format!("{ENTERPRISE_USER}:department eq \"Research\"");

    assert_filters(
        &app,
        &[
            (&by_urn, &[ALICE]),
            ("department eq \"research\"", &[ALICE]),
            ("department pr", &[ALICE]),
            ("not (department pr)", &[BOB, CAROL, DAVE]),
        ],
    )
    .await;
}

async fn filter_operators_ignore_case(app: TestApp) {
    create_fixture(&app).await;

    assert_filters(
        &app,
        &[
            ("userName EQ \"bob@example.com\"", &[BOB]),
            ("userName Sw \"a\"", &[ALICE]),
            ("displayName PR", &[ALICE, BOB, CAROL]),
            ("NOT (displayName pr)", &[DAVE]),
            ("userName sw \"a\" OR userName sw \"b\"", &[ALICE, BOB]),
            ("emails[type EQ \"work\"]", &[ALICE, CAROL]),
            ("active Eq False", &[CAROL]),
        ],
    )
    .await;
}

async fn sort_missing_values_follow_order(app: TestApp) {
    create_fixture(&app).await;

    let (status, ascending) = app.list_users(&[("sortBy", "name.familyName"), ("sortOrder", "ascending")]).await;
    let (_, descending) = app.list_users(&[("sortBy", "name.familyName"), ("sortOrder", "descending")]).await;

    assert_eq!(status, 200, "sortBy name.familyName rejected: {ascending}");
    assert_eq!(listed_user_names(&ascending), vec![ALICE, BOB, CAROL, DAVE], "ascending: a user without the value is not last: {ascending}");
    assert_eq!(listed_user_names(&descending), vec![DAVE, CAROL, BOB, ALICE], "descending: a user without the value is not first: {descending}");
}

async fn sort_multi_valued_by_primary(app: TestApp) {
    app.create_user(
        "first.listed@example.com",
        json!({"emails": [{"value": "zeta@mail.example"}, {"value": "alpha@mail.example", "primary": true}]}),
    )
    .await;
    app.create_user("second.listed@example.com", json!({"emails": [{"value": "mike@mail.example", "primary": true}]}))
        .await;

    for sort_by in ["emails", "emails.value"] {
        let (status, body) = app.list_users(&[("sortBy", sort_by)]).await;

        assert_eq!(status, 200, "sortBy {sort_by} rejected: {body}");
        assert_eq!(
            listed_user_names(&body),
            vec!["first.listed@example.com", "second.listed@example.com"],
            "sortBy {sort_by} did not sort by the primary email: {body}"
        );
    }
}

/// Ids of the users an `emails.value eq` filter finds.
async fn ids_with_email(app: &TestApp, email: &str) -> Vec<String> {
    let (status, found) = app.list_users(&[("filter", &format!("emails.value eq \"{email}\""))]).await;
    assert_eq!(status, 200, "{found}");
    found["Resources"].as_array().unwrap().iter().map(|user| user["id"].as_str().unwrap().to_string()).collect()
}

/// Updates skip the email index and the uniqueness check when they cannot change, so the index
/// must still follow every change of the addresses, and uniqueness every change of the names.
async fn updates_keep_email_index_and_uniqueness(app: TestApp) {
    let user = app
        .create_user("erin@example.com", json!({"emails": [{"value": "erin@work.example", "type": "work"}]}))
        .await;
    let other = app.create_user("frank@example.com", json!({"externalId": "ext-frank"})).await;
    let id = user["id"].as_str().unwrap().to_string();

    let (status, _) = app.patch_user(&id, json!([{"op": "replace", "path": "displayName", "value": "Erin E."}])).await;
    assert_eq!(status, 200);
    assert_eq!(ids_with_email(&app, "erin@work.example").await, vec![id.clone()]);

    let (status, _) = app
        .patch_user(&id, json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "erin@new.example"}]))
        .await;
    assert_eq!(status, 200);
    assert!(ids_with_email(&app, "erin@work.example").await.is_empty());
    assert_eq!(ids_with_email(&app, "erin@new.example").await, vec![id.clone()]);

    let (status, _) = app.patch_user(&id, json!([{"op": "add", "path": "emails", "value": [{"value": "erin@home.example", "type": "home"}]}])).await;
    assert_eq!(status, 200);
    assert_eq!(ids_with_email(&app, "erin@home.example").await, vec![id.clone()]);
    assert_eq!(ids_with_email(&app, "erin@new.example").await, vec![id.clone()]);

    // Deactivation keeps the addresses; only removal drops them.
    let (status, _) = app.patch_user(&id, json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!(status, 200);
    assert_eq!(ids_with_email(&app, "erin@new.example").await, vec![id.clone()]);

    let (status, error) = app.patch_user(&id, json!([{"op": "replace", "path": "externalId", "value": "ext-frank"}])).await;
    assert_eq!(status, 409, "{error}");
    let (status, error) = app.patch_user(&id, json!([{"op": "replace", "path": "userName", "value": "FRANK@example.com"}])).await;
    assert_eq!(status, 409, "{error}");
    let (status, changed) = app.patch_user(&id, json!([{"op": "replace", "path": "userName", "value": "ERIN@example.com"}])).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["userName"], "ERIN@example.com");
    assert_eq!(other["externalId"], "ext-frank");

    let response = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(response.status().as_u16(), 204);
    assert!(ids_with_email(&app, "erin@new.example").await.is_empty());
}

/// Checks that a number or boolean compared with a string attribute is rejected like other
/// type mismatches.
async fn string_filter_rejects_other_types(app: TestApp) {
    app.create_user("typed@example.com", json!({})).await;
    for filter in ["userName gt 5", "userName eq true", "emails[value eq 5]", "displayName sw 1.5"] {
        let (status, error) = app.list_users(&[("filter", filter)]).await;
        assert_eq!(status, 400, "{filter}: {error}");
        assert_eq!(error["scimType"], "invalidFilter", "{filter}: {error}");
    }
    let (status, found) = app.list_users(&[("filter", "userName eq \"typed@example.com\" and displayName eq null")]).await;
    assert_eq!(status, 200, "{found}");
}

/// Asks for the same index page with and without a filter that matches every user. The
/// filter makes Hub step over the rows before the page, and the plain request may start from
/// a paging anchor. Both must list the same users.
async fn assert_anchored_page_matches(app: &TestApp, start_index: usize) {
    let start = start_index.to_string();
    let (_, plain) = app.list_users(&[("startIndex", &start), ("count", "7")]).await;
    let (_, filtered) = app.list_users(&[("startIndex", &start), ("count", "7"), ("filter", "userName pr")]).await;
    assert_eq!(plain["totalResults"], filtered["totalResults"], "startIndex {start_index}");
    assert_eq!(plain["itemsPerPage"], filtered["itemsPerPage"], "startIndex {start_index}");
    assert_eq!(listed_user_names(&plain), listed_user_names(&filtered), "startIndex {start_index}");
}

/// Index pages past the first thousand users start from an anchor instead of stepping over
/// every row before them. Pages around and between anchors, past the end, and after users
/// were removed and added (first while the anchors may not be rebuilt, then after) must list
/// the users a plain OFFSET lists.
async fn deep_index_pages_follow_the_list(app: TestApp) {
    let mut organization = default_organization(&app).await;
    organization.scim_users_active = true;
    hub::storage::organizations::update_settings(&mut app.store.db(), &organization).await.unwrap();
    bulk_create_users(&app, "deep", 2_100, 700).await;
    let starts = [999, 1000, 1001, 1002, 1500, 2000, 2001, 2002, 2100, 2101, 2102, 2200];
    for start in starts {
        assert_anchored_page_matches(&app, start).await;
    }

    let (_, early) = app.list_users(&[("startIndex", "10"), ("count", "3")]).await;
    for user in list_resources(&early) {
        assert_eq!(app.delete(&user_path(&user)).await.status().as_u16(), 204);
    }
    app.create_user("deep-late@example.com", json!({})).await;
    for start in starts {
        assert_anchored_page_matches(&app, start).await;
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for start in starts {
        assert_anchored_page_matches(&app, start).await;
    }
}

/// Pages and users without a projection are written as JSON text, those with one are rendered
/// as documents; both forms carry the same resources. `nickName` is set on no user here, so
/// excluding it changes nothing but the form.
async fn written_and_rendered_users_agree(app: TestApp) {
    let ada = app
        .create_user(
            "ada@example.com",
            json!({
                "schemas": [CORE_USER, ENTERPRISE_USER],
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
                ENTERPRISE_USER: {"employeeNumber": "42"},
                HUB_USER: {"platformRole": "Admin", "productAccess": ["desk"]},
            }),
        )
        .await;
    app.create_user("bob\\\"quote@example.com", json!({"displayName": "Bob ☃", "active": false})).await;
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Finance", "members": [{"value": ada["id"]}]});
    let (status, body) = status_and_json(app.post("/Groups", &group).await).await;
    assert_eq!(status, 201, "creating the group failed: {body}");

    let id = ada["id"].as_str().unwrap();
    for path in [
        "/Users?count=10".to_string(),
        "/Users?filter=userName%20sw%20%22ada%22".to_string(),
        "/Users?cursor=&count=1".to_string(),
        format!("/Users/{id}"),
    ] {
        let separator = if path.contains('?') { '&' } else { '?' };
        let (status, written) = status_and_json(app.get(&path).await).await;
        let (_, rendered) = status_and_json(app.get(&format!("{path}{separator}excludedAttributes=nickName")).await).await;
        assert_eq!(status, 200, "{path}: {written}");
        assert_eq!(written, rendered, "{path} differs between the two forms");
    }
}

both_backends!(
    written_and_rendered_users_agree,
    filter_equality_operators,
    deep_index_pages_follow_the_list,
    updates_keep_email_index_and_uniqueness,
    string_filter_rejects_other_types,
    filter_substring_operators,
    filter_ordering_operators,
    filter_presence_operator,
    filter_external_id_case_exact,
    filter_complex_attributes,
    filter_active_flag,
    filter_last_modified,
    filter_logical_operators,
    filter_id_and_urn_paths,
    start_index_zero_means_one,
    count_zero_returns_total_only,
    negative_count_means_zero,
    start_index_past_end_empty,
    paging_applies_after_filter,
    sort_by_user_name_ascending,
    sort_by_user_name_descending,
    sort_applies_before_paging,
    sort_with_filter,
    sort_by_family_name,
    sort_by_unknown_attribute_rejected,
    list_attributes_limit_fields,
    list_excluded_attributes_drop_fields,
    list_attributes_with_filter,
    get_attributes_limit_fields,
    get_excluded_attributes_keep_id,
    attributes_select_extension_attribute,
    attribute_names_ignore_case,
    search_request_filters_and_projects,
    filter_extension_attributes,
    filter_operators_ignore_case,
    sort_missing_values_follow_order,
    sort_multi_valued_by_primary,
);
