//! The one place where an [`ErrorKind`] becomes an HTTP status. Handlers
//! return [`ApiError`] (or anything that converts into it) and never pick a
//! status themselves.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_types::{Error, ErrorKind};

/// Maps every error kind to the status dockerd uses for it.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidParameter => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict | ErrorKind::InvalidState => StatusCode::CONFLICT,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Timeout | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error on its way to the client as `{"message": ...}`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self.0)
    }
}

/// Renders an error as dockerd does: its status and a JSON message body.
pub fn error_response(err: &Error) -> Response {
    let body = serde_json::to_vec(&berth_types::error::ErrorResponse {
        message: err.message.clone(),
    })
    .unwrap_or_else(|_| b"{\"message\":\"internal error\"}".to_vec());
    (
        status_of(err.kind),
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

pub type ApiResult<T> = Result<T, ApiError>;
