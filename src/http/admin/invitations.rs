//! `/api/v1/invitations` and `/api/v1/users/{id}/invitation`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::AdminCaller;
use super::error::AdminError;
use super::extract::AdminJson;
use super::views::{invitation_view, user_view};
use crate::domain::user::Role;
use crate::domain::DomainError;
use crate::http::AppState;
use crate::service::admin_users::require_manage_users;
use crate::service::invitations::{self, InviteOutcome, InviteRequest, Inviter};
use crate::storage::{invitations as invitation_store, mail_queue};

fn inviter(caller: &AdminCaller) -> Inviter {
    Inviter {
        actor: caller.context().actor,
        display_name: caller.display_name(),
    }
}

/// Rule 3: only an Owner may invite an Owner.
fn check_invited_role(caller: &AdminCaller, request: &InviteRequest) -> Result<(), AdminError> {
    let wants_owner = request.role.as_deref().and_then(Role::parse) == Some(Role::Owner);
    if wants_owner && caller.identity.effective_role != Role::Owner {
        return Err(DomainError::Forbidden("Only an Owner may invite an Owner.".to_string()).into());
    }
    Ok(())
}

fn outcome_view(state: &AppState, outcome: &InviteOutcome) -> Value {
    json!({
        "user": user_view(&outcome.user, &[]),
        "invitation": invitation_view(&outcome.invitation, None, state.clock.now()),
    })
}

/// POST /api/v1/invitations: invites one person.
pub async fn invitations_create(
    State(state): State<AppState>,
    caller: AdminCaller,
    AdminJson(request): AdminJson<InviteRequest>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    require_manage_users(&caller.identity)?;
    check_invited_role(&caller, &request)?;
    let settings = state.invitation_settings();
    let outcome = invitations::invite(&state.store, &caller.identity.organization, &caller.context(), &inviter(&caller), &request, &settings).await?;
    state.notify_mail_worker();
    Ok((StatusCode::CREATED, Json(outcome_view(&state, &outcome))))
}

/// A bulk invitation request.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    pub invitations: Vec<InviteRequest>,
}

/// POST /api/v1/invitations/bulk: invites 1 to 20 people, each with its own result.
pub async fn invitations_bulk(
    State(state): State<AppState>,
    caller: AdminCaller,
    AdminJson(body): AdminJson<BulkBody>,
) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    let max = crate::domain::invitation::MAX_BULK_INVITATIONS;
    if body.invitations.is_empty() || body.invitations.len() > max {
        return Err(AdminError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_value",
            format!("A bulk invitation has 1 to {max} entries; this one has {}.", body.invitations.len()),
        ));
    }
    let settings = state.invitation_settings();
    let inviter = inviter(&caller);
    let context = caller.context();

    let mut allowed = Vec::new();
    let mut rejected = Vec::new();
    for (index, request) in body.invitations.iter().enumerate() {
        match check_invited_role(&caller, request) {
            Ok(()) => allowed.push((index, request.clone())),
            Err(error) => rejected.push((index, error)),
        }
    }
    let requests: Vec<InviteRequest> = allowed.iter().map(|(_, request)| request.clone()).collect();
    let outcomes = if requests.is_empty() {
        Vec::new()
    } else {
        invitations::invite_bulk(&state.store, &caller.identity.organization, &context, &inviter, &requests, &settings).await?
    };
    state.notify_mail_worker();

    let mut results: Vec<(usize, Value)> = Vec::new();
    for ((index, request), outcome) in allowed.into_iter().zip(outcomes) {
        let entry = match outcome {
            Ok(outcome) => {
                let mut view = outcome_view(&state, &outcome);
                view["index"] = json!(index);
                view["email"] = json!(request.email);
                view["status"] = json!(201);
                view
            }
            Err(error) => error_entry(index, &request.email, error.into()),
        };
        results.push((index, entry));
    }
    for (index, error) in rejected {
        results.push((index, error_entry(index, &body.invitations[index].email, error)));
    }
    results.sort_by_key(|(index, _)| *index);
    let created = results.iter().filter(|(_, entry)| entry["status"] == json!(201)).count();
    let entries: Vec<Value> = results.into_iter().map(|(_, entry)| entry).collect();
    Ok(Json(json!({"results": entries, "created": created, "failed": entries.len() - created})))
}

fn error_entry(index: usize, email: &str, error: AdminError) -> Value {
    json!({
        "index": index,
        "email": email,
        "status": error.status.as_u16(),
        "error": {"code": error.code, "message": error.message},
    })
}

/// POST /api/v1/users/{id}/invitation: sends a new link; the previous one stops working.
pub async fn invitation_resend(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    require_manage_users(&caller.identity)?;
    let invited = crate::service::users::get(&state.store, &caller.identity.organization.id, &id).await?;
    if invited.user.role == Role::Owner && caller.identity.effective_role != Role::Owner {
        return Err(DomainError::Forbidden("Only an Owner may invite an Owner.".to_string()).into());
    }
    let settings = state.invitation_settings();
    let outcome = invitations::resend(&state.store, &caller.identity.organization, &caller.context(), &inviter(&caller), &id, &settings).await?;
    state.notify_mail_worker();
    Ok((StatusCode::CREATED, Json(outcome_view(&state, &outcome))))
}

/// GET /api/v1/users/{id}/invitation: the latest invitation and the delivery state of its mail.
pub async fn invitation_get(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    require_manage_users(&caller.identity)?;
    let org_id = &caller.identity.organization.id;
    let Some(invitation) = invitation_store::latest_for_user(&mut state.store.db(), org_id, &id).await? else {
        return Err(AdminError::not_found(format!("User {id:?} has no invitation.")));
    };
    let mail = mail_queue::latest_for_invitation(&mut state.store.db(), &invitation.id).await?;
    Ok(Json(invitation_view(&invitation, mail.as_ref(), state.clock.now())))
}
