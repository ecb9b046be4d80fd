//! Discovery resources (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and Schemas.

use serde_json::{json, Value};

use super::cursor::CURSOR_TIMEOUT_SECONDS;
use super::list::{list_response, DEFAULT_COUNT};
use super::schema::{all_resource_types, all_schemas, HUB_GROUP, HUB_USER, SERVICE_PROVIDER_CONFIG};

/// Maximum operations in one bulk request; advertised as `bulk.maxOperations`.
pub const MAX_BULK_OPERATIONS: usize = 1000;

/// Describes what this server supports; every flag matches what the code does.
pub fn service_provider_config(base_url: &str, max_payload_bytes: usize, max_page_size: i64) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": MAX_BULK_OPERATIONS, "maxPayloadSize": max_payload_bytes},
        "filter": {"supported": true, "maxResults": max_page_size},
        // RFC 9865 §4: both pagination methods, index-based when a request names neither.
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": DEFAULT_COUNT.min(max_page_size),
            "maxPageSize": max_page_size,
            "cursorTimeout": CURSOR_TIMEOUT_SECONDS,
        },
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A SCIM token of the organization, sent as 'Authorization: Bearer <token>'. \
                            Create one with 'hub token create --org NAME'.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base_url}/ServiceProviderConfig"),
        },
    })
}

pub fn resource_types(base_url: &str) -> Value {
    let resources: Vec<Value> = all_resource_types()
        .into_iter()
        .map(|resource| resource.to_json(base_url))
        .collect();
    let total = resources.len() as i64;
    list_response(total, 1, resources)
}

pub fn resource_type(base_url: &str, name: &str) -> Option<Value> {
    all_resource_types()
        .into_iter()
        .find(|resource| resource.name.eq_ignore_ascii_case(name))
        .map(|resource| resource.to_json(base_url))
}

/// Lists the schemas, with the organization's product keys as the canonical values of
/// `productAccess`.
pub fn schemas(base_url: &str, products: &[String]) -> Value {
    let resources: Vec<Value> = all_schemas()
        .into_iter()
        .map(|schema| with_products(schema.to_json(base_url), products))
        .collect();
    let total = resources.len() as i64;
    list_response(total, 1, resources)
}

pub fn schema(base_url: &str, id: &str, products: &[String]) -> Option<Value> {
    all_schemas()
        .into_iter()
        .find(|schema| schema.id.eq_ignore_ascii_case(id))
        .map(|schema| with_products(schema.to_json(base_url), products))
}

fn with_products(mut schema: Value, products: &[String]) -> Value {
    if schema["id"] != json!(HUB_USER) && schema["id"] != json!(HUB_GROUP) {
        return schema;
    }
    if let Some(attributes) = schema["attributes"].as_array_mut() {
        for attribute in attributes {
            let name = attribute["name"].as_str().unwrap_or_default();
            if name == "productAccess" || name == "effectiveProductAccess" {
                attribute["canonicalValues"] = json!(products);
            }
        }
    }
    schema
}
