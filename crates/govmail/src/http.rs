//! The HTTP listener: `/healthz` (alive) and `/readyz` (every required part answers).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::serve::Shared;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(shared)
}

async fn readyz(State(shared): State<Arc<Shared>>) -> (StatusCode, Json<serde_json::Value>) {
    let database = shared.store.ping().await;
    let clamd = match &shared.clamd {
        Some(clamd) => Some(clamd.ping().await),
        None => None,
    };
    let ready = database.is_ok() && clamd.as_ref().is_none_or(|c| c.is_ok());
    let body = json!({
        "ready": ready,
        "database": { "ok": database.is_ok(), "backend": shared.store.backend_name(),
                      "error": database.err().map(|e| e.to_string()) },
        "clamd": match clamd {
            None => json!({ "ok": true, "enabled": false }),
            Some(result) => json!({ "ok": result.is_ok(), "enabled": true,
                                     "error": result.err().map(|e| e.to_string()) }),
        },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
