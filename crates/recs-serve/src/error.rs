//! The one error body of the API: `{"error": "…", "param": "…"}` with a 4xx status for
//! anything the client got wrong, naming the parameter; a 5xx only for the server's own
//! failures (a timeout, a model that fails to score, a panic caught).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use recs_core::{Capability, ScoreError};
use recs_registry::query::QueryError;
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// What went wrong, in words.
    pub message: String,
    /// The parameter at fault (`user`, `k`, `body`, …), when one is.
    pub param: Option<String>,
    /// Seconds after which to try again (a `Retry-After` header), when the server is busy.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with `status` about `param`.
    pub fn new(status: StatusCode, param: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            param: param.map(str::to_string),
            retry_after: None,
        }
    }

    /// 503 with `Retry-After: 1`: every place for scoring work, and in the queue for one,
    /// is taken.
    pub fn busy(max_in_flight: usize, max_queue: usize) -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                format!(
                    "the server is busy: {max_in_flight} requests are being scored and \
                     {max_queue} are waiting (its limits); retry in a second"
                ),
            )
        }
    }

    /// 400 about `param`.
    pub fn bad(param: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(param), message)
    }

    /// 422 about `param`.
    pub fn unprocessable(param: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, Some(param), message)
    }

    /// 404 about `param`.
    pub fn not_found(param: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, Some(param), message)
    }

    /// 500: the server's own failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, None, message)
    }

    /// A query's error: unknown ids are 404 naming `user_param` or the item parameter, a
    /// capability the model lacks 422, anything else the server's failure.
    pub fn from_query(e: QueryError, user_param: &str) -> Self {
        let msg = e.to_string();
        match e {
            QueryError::UnknownUser { .. } => Self::not_found(user_param, msg),
            QueryError::UnknownItem { param, .. } => Self::not_found(param, msg),
            QueryError::NoFoldIn { .. } => Self::unprocessable(
                "items",
                format!(
                    "{msg}: it scores only the users it was trained with (models that fold in: {}; that cannot: {})",
                    recs_registry::with(Capability::FoldIn).join(", "),
                    recs_registry::without(Capability::FoldIn).join(", "),
                ),
            ),
            QueryError::Score(ScoreError::Cancelled) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, None, msg)
            }
            QueryError::NoItemVectors { .. } => Self::unprocessable("model", msg),
            QueryError::NoIds { .. } | QueryError::Registry(_) | QueryError::Score(_) => {
                Self::internal(msg)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match &self.param {
            Some(p) => json!({"error": self.message, "param": p}),
            None => json!({"error": self.message}),
        };
        let mut r = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        r
    }
}
