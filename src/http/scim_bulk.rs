//! `/Bulk` (RFC 7644 §3.7): many operations in one request, with `bulkId` references between
//! them.
//!
//! Each operation runs through the same service call, and so in its own transaction under the
//! same rules, as the single request it stands for. An operation that refers to `bulkId:X`
//! waits until the operation with that bulkId created its resource. References that can never
//! be resolved, because they form a cycle or name no operation, fail with a clear error.

use std::collections::{HashMap, HashSet};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Extension;
use serde_json::{json, Map, Value};

use super::auth::ScimCaller;
use super::error::ApiError;
use super::extract::ScimJson;
use super::request_id::RequestId;
use super::request_log::RequestNote;
use super::response::ScimResponse;
use super::scim_users::change_context;
use super::AppState;
use crate::domain::request_log::{clip, OperationSummary, MAX_TEXT};
use crate::scim::discovery::MAX_BULK_OPERATIONS;
use crate::scim::schema::{BULK_REQUEST, BULK_RESPONSE};
use crate::scim::user::etag;
use crate::scim::{ScimError, ScimType};
use crate::service::invitations::Inviter;
use crate::service::{groups, users};


/// One operation of the request.
#[derive(Debug, Clone)]
struct BulkOperation {
    method: Method,
    path: String,
    bulk_id: Option<String>,
    version: Option<String>,
    data: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// The outcome of one operation, as the BulkResponse shows it.
#[derive(Debug, Clone)]
struct Outcome {
    status: u16,
    location: Option<String>,
    version: Option<String>,
    error: Option<ScimError>,
}

impl Outcome {
    fn failed(error: ScimError) -> Self {
        Outcome {
            status: error.status,
            location: None,
            version: None,
            error: Some(error),
        }
    }
}

/// POST /Bulk.
pub async fn bulk(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: ScimCaller,
    Extension(request_id): Extension<RequestId>,
    note: RequestNote,
    ScimJson(body): ScimJson,
) -> Result<ScimResponse, ApiError> {
    let (operations, fail_on_errors) = parse_request(&body)?;
    let base_url = state.scim_base_url(&headers);
    let executor = Executor {
        state: &state,
        caller: &caller,
        request_id: &request_id,
        base_url: &base_url,
    };
    let outcomes = run(&executor, &operations, fail_on_errors).await;
    note.bulk_operations(summaries(&operations, &outcomes));

    let results: Vec<Value> = outcomes
        .iter()
        .filter_map(|(index, outcome)| {
            let operation = &operations[*index];
            let mut entry = Map::new();
            entry.insert("method".into(), json!(operation.method.as_str()));
            if let Some(bulk_id) = &operation.bulk_id {
                entry.insert("bulkId".into(), json!(bulk_id));
            }
            if let Some(location) = &outcome.location {
                entry.insert("location".into(), json!(location));
            }
            if let Some(version) = &outcome.version {
                entry.insert("version".into(), json!(version));
            }
            entry.insert("status".into(), json!(outcome.status.to_string()));
            if let Some(error) = &outcome.error {
                entry.insert("response".into(), error.to_json());
            }
            Some(Value::Object(entry))
        })
        .collect();
    tracing::info!(operations = operations.len(), processed = results.len(), "bulk request processed");
    Ok(ScimResponse::ok(json!({"schemas": [BULK_RESPONSE], "Operations": results})))
}

/// Summarises each processed operation for the request log: method, path, status and error.
fn summaries(operations: &[BulkOperation], outcomes: &[(usize, Outcome)]) -> Vec<OperationSummary> {
    outcomes
        .iter()
        .map(|(index, outcome)| {
            let operation = &operations[*index];
            OperationSummary {
                op: operation.method.as_str().to_string(),
                path: Some(clip(&operation.path, MAX_TEXT)),
                status: Some(outcome.status),
                scim_type: outcome.error.as_ref().and_then(|error| error.scim_type).map(|kind| kind.as_str().to_string()),
                detail: outcome.error.as_ref().map(|error| clip(&error.detail, MAX_TEXT)),
                rule: outcome.error.as_ref().and_then(|error| error.rule).map(str::to_string),
            }
        })
        .collect()
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value)
}

/// Validates the BulkRequest message and returns its operations and `failOnErrors`.
fn parse_request(body: &Value) -> Result<(Vec<BulkOperation>, Option<usize>), ScimError> {
    let Value::Object(object) = body else {
        return Err(ScimError::invalid_syntax("The bulk request must be a JSON object (a BulkRequest message)."));
    };
    let lists_schema = matches!(field(object, "schemas"), Some(Value::Array(items))
        if items.iter().filter_map(Value::as_str).any(|urn| urn.eq_ignore_ascii_case(BULK_REQUEST)));
    if !lists_schema {
        return Err(ScimError::invalid_syntax(format!("The bulk request must have a 'schemas' list containing \"{BULK_REQUEST}\".")));
    }
    let fail_on_errors = match field(object, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64() {
            Some(count) if count >= 1 => Some(count as usize),
            _ => return Err(ScimError::invalid_value(format!("failOnErrors must be a positive integer; got {value}."))),
        },
    };
    let Some(Value::Array(raw_operations)) = field(object, "Operations") else {
        return Err(ScimError::invalid_syntax("The bulk request must have an 'Operations' list."));
    };
    if raw_operations.is_empty() {
        return Err(ScimError::invalid_syntax("The 'Operations' list is empty."));
    }
    if raw_operations.len() > MAX_BULK_OPERATIONS {
        return Err(ScimError::new(
            413,
            Some(ScimType::TooMany),
            format!(
                "The bulk request has {} operations; the maximum is {MAX_BULK_OPERATIONS} (ServiceProviderConfig bulk.maxOperations). Split it into several requests.",
                raw_operations.len()
            ),
        ));
    }
    let operations: Vec<BulkOperation> = raw_operations
        .iter()
        .enumerate()
        .map(|(index, raw)| parse_operation(index, raw))
        .collect::<Result<_, _>>()?;
    let mut seen = HashSet::new();
    for operation in &operations {
        if let Some(bulk_id) = &operation.bulk_id {
            if !seen.insert(bulk_id.clone()) {
                return Err(ScimError::invalid_value(format!("bulkId {bulk_id:?} is used by more than one operation.")));
            }
        }
    }
    Ok((operations, fail_on_errors))
}

fn parse_operation(index: usize, raw: &Value) -> Result<BulkOperation, ScimError> {
    let Value::Object(object) = raw else {
        return Err(ScimError::invalid_syntax(format!("Bulk operation {index} must be a JSON object.")));
    };
    let method = match field(object, "method").and_then(Value::as_str) {
        Some(method) if method.eq_ignore_ascii_case("POST") => Method::Post,
        Some(method) if method.eq_ignore_ascii_case("PUT") => Method::Put,
        Some(method) if method.eq_ignore_ascii_case("PATCH") => Method::Patch,
        Some(method) if method.eq_ignore_ascii_case("DELETE") => Method::Delete,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "Bulk operation {index} has method {other:?}; use POST, PUT, PATCH or DELETE."
            )))
        }
        None => {
            let found = field(object, "method").map_or_else(|| "no 'method'".to_string(), |value| format!("method {value}, not a string"));
            return Err(ScimError::invalid_syntax(format!(
                "Bulk operation {index} has {found}; use POST, PUT, PATCH or DELETE."
            )));
        }
    };
    let Some(path) = field(object, "path").and_then(Value::as_str) else {
        return Err(ScimError::invalid_syntax(format!("Bulk operation {index} has no 'path'.")));
    };
    let bulk_id = field(object, "bulkId").and_then(Value::as_str).map(str::to_string);
    if method == Method::Post && bulk_id.is_none() {
        return Err(ScimError::invalid_syntax(format!(
            "Bulk operation {index} is a POST without 'bulkId'; RFC 7644 requires one so the response can be matched."
        )));
    }
    let data = field(object, "data").cloned();
    if method != Method::Delete && data.is_none() {
        return Err(ScimError::invalid_syntax(format!("Bulk operation {index} ({}) has no 'data'.", method.as_str())));
    }
    Ok(BulkOperation {
        method,
        path: path.to_string(),
        bulk_id,
        version: field(object, "version").and_then(Value::as_str).map(str::to_string),
        data,
    })
}

/// Returns the bulkIds an operation refers to with `bulkId:X`, in its path or data.
fn references(operation: &BulkOperation) -> HashSet<String> {
    let mut found = HashSet::new();
    collect_references(&Value::String(operation.path.clone()), &mut found);
    if let Some(data) = &operation.data {
        collect_references(data, &mut found);
    }
    found
}

fn collect_references(value: &Value, found: &mut HashSet<String>) {
    match value {
        Value::String(text) => {
            for (position, _) in text.match_indices("bulkId:") {
                let rest = &text[position + "bulkId:".len()..];
                let id: String = rest.chars().take_while(|c| !matches!(c, '/' | '"' | '?' | ' ')).collect();
                if !id.is_empty() {
                    found.insert(id);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, found)),
        Value::Object(object) => object.values().for_each(|item| collect_references(item, found)),
        _ => {}
    }
}

/// Replaces `bulkId:X` with the id the operation X created.
fn substitute(value: &Value, resolved: &HashMap<String, String>) -> Value {
    match value {
        Value::String(text) if text.contains("bulkId:") => {
            let mut replaced = text.clone();
            for (bulk_id, id) in resolved {
                replaced = replaced.replace(&format!("bulkId:{bulk_id}"), id);
            }
            Value::String(replaced)
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| substitute(item, resolved)).collect()),
        Value::Object(object) => Value::Object(object.iter().map(|(key, item)| (key.clone(), substitute(item, resolved))).collect()),
        other => other.clone(),
    }
}

struct Executor<'a> {
    state: &'a AppState,
    caller: &'a ScimCaller,
    request_id: &'a RequestId,
    base_url: &'a str,
}

/// Runs the operations in request order, deferring those that wait for a bulkId, and stops
/// after `fail_on_errors` failures. Returns the outcome of each processed operation by index.
async fn run(executor: &Executor<'_>, operations: &[BulkOperation], fail_on_errors: Option<usize>) -> Vec<(usize, Outcome)> {
    let defined: HashSet<&String> = operations.iter().filter_map(|operation| operation.bulk_id.as_ref()).collect();
    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut failed_bulk_ids: HashSet<String> = HashSet::new();
    let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
    let mut errors = 0;
    let mut pending: Vec<usize> = (0..operations.len()).collect();

    while !pending.is_empty() {
        let mut waiting = Vec::new();
        let mut progressed = false;
        for index in pending {
            if fail_on_errors.is_some_and(|limit| errors >= limit) {
                outcomes.sort_by_key(|(index, _)| *index);
                return outcomes;
            }
            let operation = &operations[index];
            let references = references(operation);
            let outcome = if let Some(unknown) = references.iter().find(|id| !defined.contains(id)) {
                Outcome::failed(ScimError::invalid_value(format!("bulkId:{unknown} refers to no operation of this request.")))
            } else if let Some(failed) = references.iter().find(|id| failed_bulk_ids.contains(*id)) {
                Outcome::failed(ScimError::conflict(format!("bulkId:{failed} refers to an operation that failed, so this one cannot run.")))
            } else if references.iter().all(|id| resolved.contains_key(id)) {
                execute(executor, operation, &resolved).await
            } else {
                waiting.push(index);
                continue;
            };
            progressed = true;
            record(operation, &outcome, &mut resolved, &mut failed_bulk_ids, &mut errors);
            outcomes.push((index, outcome));
        }
        if !progressed {
            for index in waiting {
                if fail_on_errors.is_some_and(|limit| errors >= limit) {
                    break;
                }
                let operation = &operations[index];
                let outcome = Outcome::failed(ScimError::conflict(
                    "The bulkId references of this operation form a cycle, so it cannot run; create the resources first and link them in a later operation.",
                ));
                record(operation, &outcome, &mut resolved, &mut failed_bulk_ids, &mut errors);
                outcomes.push((index, outcome));
            }
            break;
        }
        pending = waiting;
    }
    outcomes.sort_by_key(|(index, _)| *index);
    outcomes
}

fn record(
    operation: &BulkOperation,
    outcome: &Outcome,
    resolved: &mut HashMap<String, String>,
    failed_bulk_ids: &mut HashSet<String>,
    errors: &mut usize,
) {
    let Some(bulk_id) = &operation.bulk_id else {
        if outcome.error.is_some() {
            *errors += 1;
        }
        return;
    };
    if outcome.error.is_some() {
        *errors += 1;
        failed_bulk_ids.insert(bulk_id.clone());
    } else if let Some(id) = outcome.location.as_deref().and_then(|location| location.rsplit('/').next()) {
        resolved.insert(bulk_id.clone(), id.to_string());
    }
}

/// Runs one operation through the service call of the single request it stands for.
async fn execute(executor: &Executor<'_>, operation: &BulkOperation, resolved: &HashMap<String, String>) -> Outcome {
    let path = match substitute(&Value::String(operation.path.clone()), resolved) {
        Value::String(path) => path,
        _ => operation.path.clone(),
    };
    let data = operation.data.as_ref().map(|data| substitute(data, resolved)).unwrap_or(Value::Null);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let result = match (segments.as_slice(), operation.method) {
        (["Users"], Method::Post) => create_user(executor, &data).await,
        (["Groups"], Method::Post) => create_group(executor, &data).await,
        (["Users", id], method) => change_user(executor, id, method, &data, operation.version.as_deref()).await,
        (["Groups", id], method) => change_group(executor, id, method, &data, operation.version.as_deref()).await,
        _ => Err(ScimError::invalid_path(format!(
            "Bulk path {path:?} with {} is not supported; use /Users or /Groups for POST, and /Users/{{id}} or /Groups/{{id}} otherwise.",
            operation.method.as_str()
        ))),
    };
    result.unwrap_or_else(Outcome::failed)
}

fn service_error(error: crate::service::ServiceError) -> ScimError {
    ApiError::from(error).0
}

async fn create_user(executor: &Executor<'_>, data: &Value) -> Result<Outcome, ScimError> {
    let state = executor.state;
    let organization = &executor.caller.0.organization;
    let context = change_context(executor.caller, executor.request_id);
    let inviter = Inviter {
        actor: context.actor.clone(),
        display_name: format!("{} (through the identity provider)", organization.name),
    };
    let settings = state.invitation_settings();
    let record = users::create(&state.store, organization, &context, data, Some((&inviter, &settings)))
        .await
        .map_err(service_error)?;
    state.notify_mail_worker();
    Ok(Outcome {
        status: 201,
        location: Some(format!("{}/Users/{}", executor.base_url, record.user.id)),
        version: Some(etag(record.user.version)),
        error: None,
    })
}

async fn create_group(executor: &Executor<'_>, data: &Value) -> Result<Outcome, ScimError> {
    let state = executor.state;
    let context = change_context(executor.caller, executor.request_id);
    let input = groups::parse_body(data).map_err(service_error)?;
    let record = groups::create(&state.store, &executor.caller.0.organization, &context, input)
        .await
        .map_err(service_error)?;
    Ok(Outcome {
        status: 201,
        location: Some(format!("{}/Groups/{}", executor.base_url, record.group.id)),
        version: Some(etag(record.group.version)),
        error: None,
    })
}

async fn change_user(executor: &Executor<'_>, id: &str, method: Method, data: &Value, version: Option<&str>) -> Result<Outcome, ScimError> {
    let state = executor.state;
    let organization = &executor.caller.0.organization;
    let context = change_context(executor.caller, executor.request_id);
    let location = Some(format!("{}/Users/{id}", executor.base_url));
    let record = match method {
        Method::Put => users::replace(&state.store, organization, &context, id, data, version).await,
        Method::Patch => users::patch(&state.store, organization, &context, id, data, version).await,
        Method::Delete => {
            users::delete(&state.store, organization, &context, id, version).await.map_err(service_error)?;
            return Ok(Outcome {
                status: 204,
                location,
                version: None,
                error: None,
            });
        }
        Method::Post => return Err(ScimError::invalid_path("POST goes to /Users, not to /Users/{id}.")),
    }
    .map_err(service_error)?;
    Ok(Outcome {
        status: 200,
        location,
        version: Some(etag(record.user.version)),
        error: None,
    })
}

async fn change_group(executor: &Executor<'_>, id: &str, method: Method, data: &Value, version: Option<&str>) -> Result<Outcome, ScimError> {
    let state = executor.state;
    let organization = &executor.caller.0.organization;
    let context = change_context(executor.caller, executor.request_id);
    let location = Some(format!("{}/Groups/{id}", executor.base_url));
    let record = match method {
        Method::Put => {
            let input = groups::parse_body(data).map_err(service_error)?;
            groups::replace(&state.store, organization, &context, id, input, version).await
        }
        Method::Patch => groups::patch(&state.store, organization, &context, id, data, version).await,
        Method::Delete => {
            groups::delete(&state.store, organization, &context, id, version).await.map_err(service_error)?;
            return Ok(Outcome {
                status: 204,
                location,
                version: None,
                error: None,
            });
        }
        Method::Post => return Err(ScimError::invalid_path("POST goes to /Groups, not to /Groups/{id}.")),
    }
    .map_err(service_error)?;
    Ok(Outcome {
        status: 200,
        location,
        version: Some(etag(record.group.version)),
        error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_found_in_data_and_path() {
        let operation = BulkOperation {
            method: Method::Patch,
            path: "/Groups/bulkId:g1".to_string(),
            bulk_id: None,
            version: None,
            data: Some(json!({"Operations": [{"value": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}]})),
        };

        let found = references(&operation);

        assert_eq!(found, HashSet::from(["g1".to_string(), "u1".to_string(), "u2".to_string()]));
    }

    #[test]
    fn substitution_replaces_references() {
        let resolved = HashMap::from([("u1".to_string(), "abc".to_string())]);

        let value = substitute(&json!({"members": [{"value": "bulkId:u1"}]}), &resolved);

        assert_eq!(value, json!({"members": [{"value": "abc"}]}));
    }
}
