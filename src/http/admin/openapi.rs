//! The OpenAPI 3.0 description of the admin API, served at `/api/v1/openapi.json`.
//!
//! The operation list is data, so a test can call every documented operation against the real
//! router and fail when the two disagree.

use axum::Json;
use serde_json::{json, Map, Value};

/// One documented operation: method, path (relative to `/api/v1`), summary, and whether it
/// needs a session token.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub authenticated: bool,
    pub request_body: Option<&'static str>,
}

const fn op(method: &'static str, path: &'static str, summary: &'static str, request_body: Option<&'static str>) -> Operation {
    Operation {
        method,
        path,
        summary,
        authenticated: true,
        request_body,
    }
}

/// Every operation of the admin API.
pub const OPERATIONS: &[Operation] = &[
    op("get", "/users", "List users: search (name, email), filters status, role, product, mfa; page and pageSize.", None),
    op("get", "/users/{id}", "Read a user with every profile field.", None),
    op("patch", "/users/{id}", "Edit profile fields, the role and product access.", Some("ProfileEdit")),
    op("delete", "/users/{id}", "Remove a Deactivated user.", None),
    op("post", "/users/{id}/deactivate", "Deactivate a user; their sessions end at once.", None),
    op("post", "/users/{id}/reactivate", "Reactivate a user, restoring status, role and product access.", None),
    op("post", "/users/{id}/suspend", "Suspend a user.", None),
    op("post", "/users/{id}/lift-suspension", "Lift a suspension.", None),
    op("post", "/users/{id}/remove", "Remove a Deactivated user.", None),
    op("get", "/users/{id}/invitation", "Read the latest invitation and its mail delivery state.", None),
    op("post", "/users/{id}/invitation", "Resend the invitation with a new 7-day link.", None),
    op("post", "/invitations", "Invite one person.", Some("InviteRequest")),
    op("post", "/invitations/bulk", "Invite 1 to 20 people, each with its own result.", Some("BulkInvite")),
    Operation {
        method: "post",
        path: "/registrations",
        summary: "Register through an invitation link token.",
        authenticated: false,
        request_body: Some("Registration"),
    },
    Operation {
        method: "post",
        path: "/sign-in",
        summary: "Exchange an identity-provider ID token for a Hub session token.",
        authenticated: false,
        request_body: Some("SignIn"),
    },
    op("get", "/session", "Check a session: the user, effective role and products; 401 once it stopped working.", None),
    op("delete", "/session", "Sign out: end the session.", None),
    op("post", "/sign-out", "Sign out: end the session.", None),
    op("delete", "/users/{id}/sign-in-link", "Forget the identity-provider account linked at the user's first sign-in.", None),
    op("get", "/organization/sign-in", "Read the organization's identity provider settings.", None),
    op("put", "/organization/sign-in", "Set the identity provider: issuer, audiences, JWKS URL (Owners only).", Some("SignInProvider")),
    op("get", "/groups/{id}/grants", "Read the role and products a group grants.", None),
    op("put", "/groups/{id}/grants", "Set the role and products a group grants.", Some("Grants")),
    op("get", "/audit", "Read the audit log, newest first: filters user, actor, from, to; limit and before.", None),
    op("get", "/scim-tokens", "List SCIM tokens (never the token values) with last use and 24-hour request and error counts.", None),
    op("get", "/scim-requests", "Read the SCIM request log, newest first: filters status (success, clientError, serverError), action, token, target, from, to; limit and cursor.", None),
    op("get", "/scim-requests/{id}", "Read one entry of the SCIM request log.", None),
    op("post", "/scim-tokens", "Create a SCIM token; the value is in this response only.", Some("TokenCreate")),
    op("delete", "/scim-tokens/{id}", "Revoke a SCIM token.", None),
    op("get", "/organization", "Read the organization's settings.", None),
    op("patch", "/organization", "Change verified domains, products and whether provisioned users start Active (Owners only).", Some("OrganizationSettings")),
    Operation {
        method: "get",
        path: "/openapi.json",
        summary: "This document.",
        authenticated: false,
        request_body: None,
    },
];

fn schemas() -> Value {
    let text = json!({"type": "string"});
    let nullable_text = json!({"type": "string", "nullable": true});
    let role = json!({"type": "string", "enum": ["Owner", "Admin", "Member", "Viewer"]});
    let products = json!({"type": "array", "items": {"type": "string"}});
    let invite = json!({
        "type": "object", "required": ["email"], "additionalProperties": false,
        "properties": {"email": text, "displayName": text, "role": role, "products": products},
    });
    json!({
        "InviteRequest": invite,
        "BulkInvite": {"type": "object", "required": ["invitations"], "properties": {"invitations": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"$ref": "#/components/schemas/InviteRequest"}}}},
        "Registration": {"type": "object", "required": ["token"], "properties": {"token": text}},
        "SignIn": {"type": "object", "additionalProperties": false, "required": ["idToken"], "properties": {"idToken": text, "organizationId": text}},
        "SignInProvider": {"type": "object", "additionalProperties": false, "required": ["issuer", "audiences", "jwksUrl"], "properties": {
            "issuer": text, "audiences": {"type": "array", "items": text}, "jwksUrl": text,
        }},
        "Grants": {"type": "object", "properties": {"role": {"type": "string", "nullable": true, "enum": ["Owner", "Admin", "Member", "Viewer", null]}, "products": products}},
        "TokenCreate": {"type": "object", "required": ["name"], "properties": {"name": text, "expiresInDays": {"type": "integer", "minimum": 1, "maximum": 3650}}},
        "ProfileEdit": {"type": "object", "additionalProperties": false, "properties": {
            "displayName": nullable_text, "givenName": nullable_text, "familyName": nullable_text, "title": nullable_text,
            "phone": nullable_text, "avatarUrl": nullable_text, "timezone": nullable_text, "preferredLanguage": nullable_text,
            "locale": nullable_text, "role": role, "products": products,
        }},
        "OrganizationSettings": {"type": "object", "additionalProperties": false, "properties": {
            "verifiedDomains": {"type": "array", "items": {"type": "string"}}, "products": products, "scimUsersActive": {"type": "boolean"},
            "scimRateLimit": {"type": "integer", "nullable": true, "minimum": 1},
        }},
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {"status": {"type": "integer"}, "code": text, "message": text}}}},
    })
}

/// Builds the OpenAPI document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for operation in OPERATIONS {
        let mut entry = json!({
            "summary": operation.summary,
            "responses": {
                "default": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "2XX": {"description": "Success"},
            },
        });
        if operation.authenticated {
            entry["security"] = json!([{"sessionToken": []}]);
        } else {
            entry["security"] = json!([]);
        }
        if let Some(schema) = operation.request_body {
            entry["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
        }
        if operation.path.contains("{id}") {
            entry["parameters"] = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
        }
        let path = paths.entry(format!("/api/v1{}", operation.path)).or_insert_with(|| json!({}));
        path[operation.method] = entry;
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Hub admin API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"sessionToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    })
}

/// GET /api/v1/openapi.json.
pub async fn openapi_get() -> Json<Value> {
    Json(document())
}
