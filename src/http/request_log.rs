//! Capture of SCIM requests for the request log.
//!
//! The request-id middleware starts a [`Capture`] for each SCIM request, which puts a
//! [`RequestNote`] into it. The authentication extractor
//! writes the caller's organization and token into it, and handlers add what only they know:
//! the target's name, the operations of a PATCH, the effect of an update. After the response,
//! the middleware builds the entry from the note, the route and the response, and queues it.
//! Requests without an organization (no token, an unknown token) are not recorded.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::SCIM_BASE_PATH;
use crate::clock::Clock;
use crate::domain::request_log::{
    clip, is_lookup_filter, mentions_password, redact_filter, Action, Client, OperationSummary, RequestEntry, MAX_DETAIL, MAX_OPERATIONS, MAX_PATH,
    MAX_TEXT,
};
use crate::domain::user::UserChange;
use crate::service::request_log::RequestLog;
use crate::service::tokens::TokenIdentity;

/// The `scimType`, detail and Hub rule of a SCIM error response, left in the response
/// extensions for the log.
#[derive(Debug, Clone)]
pub struct ErrorSummary {
    pub scim_type: Option<&'static str>,
    pub detail: String,
    pub rule: Option<&'static str>,
}

/// Facts about one request that the route alone cannot give.
#[derive(Debug, Default)]
struct Noted {
    org_id: Option<String>,
    token_id: String,
    token_name: String,
    action: Option<Action>,
    resource_id: Option<String>,
    target: Option<String>,
    filter: Option<String>,
    filter_mentions_password: bool,
    operations: Vec<OperationSummary>,
}

/// The per-request note handlers write into. Writing is a no-op when the log is disabled.
#[derive(Debug, Clone, Default)]
pub struct RequestNote(Option<Arc<Mutex<Noted>>>);

impl RequestNote {
    fn update(&self, change: impl FnOnce(&mut Noted)) {
        if let Some(noted) = &self.0 {
            if let Ok(mut noted) = noted.lock() {
                change(&mut noted);
            }
        }
    }

    /// Records the token that authenticated the request (or tried to, when it expired or was
    /// revoked).
    pub fn caller(&self, identity: &TokenIdentity) {
        self.update(|noted| {
            noted.org_id = Some(identity.organization.id.clone());
            noted.token_id = identity.token_id.clone();
            noted.token_name = identity.token_name.clone();
        });
    }

    pub fn action(&self, action: Action) {
        self.update(|noted| noted.action = Some(action));
    }

    /// Records the userName or displayName the request is about.
    pub fn target(&self, name: Option<&str>) {
        let Some(name) = name else { return };
        self.update(|noted| noted.target = Some(clip(name, MAX_TEXT)));
    }

    pub fn resource_id(&self, id: &str) {
        self.update(|noted| noted.resource_id = Some(clip(id, MAX_TEXT)));
    }

    pub fn filter(&self, filter: Option<&str>) {
        let Some(filter) = filter else { return };
        self.update(|noted| {
            noted.filter = Some(redact_filter(filter));
            noted.filter_mentions_password = mentions_password(filter);
        });
    }

    /// Records the `op` and `path` of each PATCH operation, never the values.
    pub fn patch_operations(&self, body: &Value) {
        let summaries = patch_summaries(body);
        self.update(|noted| noted.operations = summaries);
    }

    /// Records the operations of a `/Bulk` request with their outcomes.
    pub fn bulk_operations(&self, summaries: Vec<OperationSummary>) {
        self.update(|noted| noted.operations = summaries.into_iter().take(MAX_OPERATIONS).collect());
    }

    /// Records the effect of a user update, which outranks what the request seemed to ask. An
    /// update that changed nothing keeps the action the request asked for.
    pub fn user_change(&self, change: UserChange) {
        if change != UserChange::Unchanged {
            self.action(user_action(change));
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestNote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<RequestNote>().cloned().unwrap_or_default())
    }
}

/// Names the action of a user update by its effect.
pub fn user_action(change: UserChange) -> Action {
    match change {
        UserChange::Deactivated => Action::Deactivate,
        UserChange::Reactivated => Action::Reactivate,
        UserChange::RoleChanged => Action::RoleChange,
        UserChange::ProductsChanged => Action::ProductAccessChange,
        UserChange::ProfileChanged | UserChange::Unchanged => Action::UpdateUser,
    }
}

fn field<'a>(object: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value)
}

/// Lists the `op` and `path` of each operation of a PatchOp body. A path-less operation lists
/// the attribute names of its value instead, which is how Entra and Okta send `active`.
fn patch_summaries(body: &Value) -> Vec<OperationSummary> {
    let Some(Value::Array(operations)) = body.as_object().and_then(|object| field(object, "Operations")) else {
        return Vec::new();
    };
    operations
        .iter()
        .take(MAX_OPERATIONS)
        .filter_map(Value::as_object)
        .map(|operation| {
            let op = field(operation, "op").and_then(Value::as_str).unwrap_or("?");
            let path = match field(operation, "path").and_then(Value::as_str) {
                Some(path) => Some(path.to_string()),
                None => field(operation, "value")
                    .and_then(Value::as_object)
                    .map(|value| value.keys().cloned().collect::<Vec<_>>().join(",")),
            };
            OperationSummary {
                op: clip(op, 16),
                path: path.map(|path| clip(&path, MAX_TEXT)),
                status: None,
                scim_type: None,
                detail: None,
                rule: None,
            }
        })
        .collect()
}

/// Guesses the action of a user PATCH from its operations, for a request that fails before
/// its effect is known: `active` names a (re)activation, `roles` or `platformRole` a role
/// change, `productAccess` a product access change.
pub fn user_patch_intent(body: &Value) -> Action {
    let Some(Value::Array(operations)) = body.as_object().and_then(|object| field(object, "Operations")) else {
        return Action::UpdateUser;
    };
    for operation in operations.iter().filter_map(Value::as_object) {
        let path = field(operation, "path").and_then(Value::as_str).map(str::to_ascii_lowercase);
        let value = field(operation, "value");
        let active = match (&path, value) {
            (Some(path), Some(value)) if path == "active" => Some(value),
            (None, Some(Value::Object(object))) => field(object, "active"),
            _ => None,
        };
        if let Some(active) = active {
            let deactivating = active == &Value::Bool(false) || active.as_str().is_some_and(|text| text.eq_ignore_ascii_case("false"));
            return if deactivating { Action::Deactivate } else { Action::Reactivate };
        }
        if let Some(path) = &path {
            if path.starts_with("roles") || path.ends_with("platformrole") {
                return Action::RoleChange;
            }
            if path.ends_with("productaccess") {
                return Action::ProductAccessChange;
            }
        }
    }
    Action::UpdateUser
}

/// Names the action of a group PATCH: only additions of members, only removals, or anything
/// else (a rename, grants, or a mix).
pub fn group_patch_action(body: &Value) -> Action {
    let summaries = patch_summaries(body);
    let on_members = |summary: &OperationSummary| summary.path.as_deref().is_some_and(|path| path.to_ascii_lowercase().starts_with("members"));
    if summaries.is_empty() || !summaries.iter().all(on_members) {
        return Action::UpdateGroup;
    }
    if summaries.iter().all(|summary| summary.op.eq_ignore_ascii_case("add")) {
        return Action::AddMembers;
    }
    if summaries.iter().all(|summary| summary.op.eq_ignore_ascii_case("remove")) {
        return Action::RemoveMembers;
    }
    Action::UpdateGroup
}

/// Derives the resource type, resource id and default action from a SCIM path (below the
/// SCIM base).
fn route_facts(method: &Method, path: &str) -> (Option<&'static str>, Option<String>, Action) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let resource_type = match segments.first().copied() {
        Some("Users") => Some("User"),
        Some("Groups") => Some("Group"),
        _ => None,
    };
    let id = segments.get(1).filter(|id| !id.starts_with('.')).map(|id| clip(id, MAX_TEXT));
    let first = segments.first().copied().unwrap_or_default();
    let searching = segments.last() == Some(&".search");
    let action = match (first, id.is_some(), method.as_str()) {
        (_, _, "POST") if searching => Action::List,
        ("Users" | "Groups", true, "GET") => Action::Lookup,
        ("Users" | "Groups" | "", false, "GET") => Action::List,
        ("Users", false, "POST") => Action::CreateUser,
        ("Users", true, "PUT" | "PATCH") => Action::UpdateUser,
        ("Users", true, "DELETE") => Action::DeleteUser,
        ("Groups", false, "POST") => Action::CreateGroup,
        ("Groups", true, "PUT" | "PATCH") => Action::UpdateGroup,
        ("Groups", true, "DELETE") => Action::DeleteGroup,
        ("Bulk", _, _) => Action::Bulk,
        ("ServiceProviderConfig" | "ResourceTypes" | "Schemas", _, _) => Action::Discovery,
        _ => Action::Other,
    };
    (resource_type, id, action)
}

/// Returns the `filter` parameter of a query string, decoded.
fn query_filter(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name.eq_ignore_ascii_case("filter"))
        .map(|(_, value)| value.into_owned())
}

/// The log queue and clock that capture uses, so a request clones two handles instead of the
/// whole application state.
#[derive(Clone)]
pub struct CaptureState {
    pub log: Arc<RequestLog>,
    pub clock: Arc<dyn Clock>,
}

/// A SCIM request being recorded: what the request showed before it ran.
pub struct Capture {
    note: Arc<Mutex<Noted>>,
    at: DateTime<Utc>,
    started: Instant,
    method: Method,
    /// The path with the SCIM base, as the client sent it.
    path: String,
    query: Option<String>,
    user_agent: Option<String>,
    request_id: String,
}

impl Capture {
    /// Starts recording a request under the SCIM base path, leaving a [`RequestNote`] in its
    /// extensions. Other requests, and every request while the log is off, are not recorded.
    pub fn start(state: &CaptureState, request: &mut Request, request_id: &str) -> Option<Capture> {
        if !state.log.is_enabled() || !request.uri().path().starts_with(SCIM_BASE_PATH) {
            return None;
        }
        let note: Arc<Mutex<Noted>> = Arc::default();
        request.extensions_mut().insert(RequestNote(Some(note.clone())));
        let user_agent = request.headers().get(header::USER_AGENT).and_then(|value| value.to_str().ok());
        Some(Capture {
            note,
            at: state.clock.now(),
            started: Instant::now(),
            method: request.method().clone(),
            path: clip(request.uri().path(), MAX_PATH),
            query: request.uri().query().map(str::to_string),
            user_agent: user_agent.map(|agent| clip(agent, MAX_TEXT)),
            request_id: request_id.to_string(),
        })
    }

    /// Builds the entry from the note, the route and the response, and queues it. A request
    /// that no organization's token authenticated leaves no entry.
    pub fn finish(self, state: &CaptureState, response: &Response) {
        let Some(noted) = self.note.lock().ok().map(|mut noted| std::mem::take(&mut *noted)) else { return };
        let Some(org_id) = noted.org_id else { return };

        let route_path = self.path.strip_prefix(SCIM_BASE_PATH).unwrap_or(&self.path);
        let (resource_type, route_id, route_action) = route_facts(&self.method, route_path);
        let error = response.extensions().get::<ErrorSummary>();
        // Handlers of lists note the filter; a request rejected before its handler ran has only
        // the query string.
        let raw_filter = match noted.filter {
            Some(_) => None,
            None => query_filter(self.query.as_deref()),
        };
        let filter = noted.filter.or_else(|| raw_filter.as_deref().map(redact_filter));
        // A detail may quote the filter, so a request that filtered on password keeps none.
        let filtered_on_password = noted.filter_mentions_password || raw_filter.as_deref().is_some_and(mentions_password);
        let action = match noted.action {
            Some(action) => action,
            None if route_action == Action::List && filter.as_deref().is_some_and(is_lookup_filter) => Action::Lookup,
            None => route_action,
        };

        let entry = RequestEntry {
            org_id,
            at: self.at,
            token_id: noted.token_id,
            token_name: noted.token_name,
            client: Client::from_user_agent(self.user_agent.as_deref()),
            user_agent: self.user_agent,
            method: self.method.as_str().to_string(),
            path: self.path,
            action,
            resource_type,
            resource_id: noted.resource_id.or(route_id),
            target: noted.target,
            filter,
            operations: noted.operations,
            status: response.status().as_u16(),
            scim_type: error.and_then(|error| error.scim_type).map(str::to_string),
            detail: error.map(|error| match filtered_on_password {
                true => "(not recorded, because the request's filter mentions password)".to_string(),
                false => clip(&error.detail, MAX_DETAIL),
            }),
            rule: error.and_then(|error| error.rule).map(str::to_string),
            duration_us: i64::try_from(self.started.elapsed().as_micros()).unwrap_or(i64::MAX),
            request_id: self.request_id,
        };
        state.log.submit(entry);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patch(operations: Value) -> Value {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
    }

    #[test]
    fn user_patch_intents() {
        let cases = [
            (json!([{"op": "Replace", "path": "active", "value": "False"}]), Action::Deactivate),
            (json!([{"op": "replace", "value": {"active": true}}]), Action::Reactivate),
            (json!([{"op": "add", "path": "roles", "value": "[{\"value\":\"Admin\"}]"}]), Action::RoleChange),
            (json!([{"op": "replace", "path": "urn:hub:params:scim:schemas:extension:hub:2.0:User:productAccess", "value": ["desk"]}]), Action::ProductAccessChange),
            (json!([{"op": "replace", "path": "displayName", "value": "Ada"}]), Action::UpdateUser),
        ];
        for (operations, expected) in cases {
            assert_eq!(user_patch_intent(&patch(operations.clone())), expected, "{operations}");
        }
    }

    #[test]
    fn group_patch_actions() {
        let add = json!([{"op": "Add", "path": "members", "value": [{"value": "u1"}]}]);
        let remove = json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]);
        let mixed = json!([{"op": "add", "path": "members", "value": []}, {"op": "remove", "path": "members"}]);
        let rename = json!([{"op": "replace", "path": "displayName", "value": "x"}]);

        assert_eq!(group_patch_action(&patch(add)), Action::AddMembers);
        assert_eq!(group_patch_action(&patch(remove)), Action::RemoveMembers);
        assert_eq!(group_patch_action(&patch(mixed)), Action::UpdateGroup);
        assert_eq!(group_patch_action(&patch(rename)), Action::UpdateGroup);
    }

    #[test]
    fn patch_values_never_summarised() {
        let body = patch(json!([{"op": "replace", "value": {"password": "hunter2", "active": false}}]));

        let text = serde_json::to_string(&patch_summaries(&body)).unwrap();

        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("password"), "{text}");
    }

    #[test]
    fn routes_classified() {
        let cases = [
            (Method::GET, "/Users", (Some("User"), None, Action::List)),
            (Method::GET, "/Users/abc", (Some("User"), Some("abc".to_string()), Action::Lookup)),
            (Method::POST, "/Users/.search", (Some("User"), None, Action::List)),
            (Method::POST, "/.search", (None, None, Action::List)),
            (Method::GET, "/", (None, None, Action::List)),
            (Method::DELETE, "/Groups/g1", (Some("Group"), Some("g1".to_string()), Action::DeleteGroup)),
            (Method::POST, "/Bulk", (None, None, Action::Bulk)),
            (Method::GET, "/Schemas/urn:x", (None, Some("urn:x".to_string()), Action::Discovery)),
            (Method::GET, "/Me", (None, None, Action::Other)),
        ];
        for (method, path, expected) in cases {
            assert_eq!(route_facts(&method, path), expected, "{method} {path}");
        }
    }
}
