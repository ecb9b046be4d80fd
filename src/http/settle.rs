//! Holds back the responses to failed writes until the writes they saw have committed.
//!
//! On SQLite, concurrent writes share one transaction, and each reads the uncommitted
//! changes of those before it. A request refused because of such a change (404 for a user another
//! request just deleted, 409 for a userName another request just took, 412 for a version
//! another request just raised) would otherwise be answered before that change is durable,
//! and a crash in between would leave the client believing in a state that never was. A
//! `/Bulk` response may hold such refusals among its operations, so it waits too.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// Waits for the shared SQLite transaction after a write request that failed, and after every
/// `/Bulk` request.
pub async fn settle_failed_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let write = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let bulk = request.uri().path().ends_with("/Bulk");
    let response = next.run(request).await;

    let failed = response.status().is_client_error() || response.status().is_server_error();
    if write && (failed || bulk) {
        state.store.settle().await;
    }
    response
}
