//! What the API answers: JSON bodies, the `{"error": ...}` of every failed
//! call, the one mapping from the node's errors to HTTP statuses, and the
//! request-body extractors with their size and time limits.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::ErrorBody;
use crate::node::{DecideError, NodeError};

/// The largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;
/// A request body must have arrived this long after its head; a client that
/// trickles it would otherwise hold a connection slot for as long as it likes.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The status for each of the node's errors. Exhaustive on purpose: a new
/// variant must be given its status here.
pub fn status_of(e: &NodeError) -> StatusCode {
    match e {
        NodeError::BadTrace(_)
        | NodeError::Roster(_)
        | NodeError::Traces(crate::node::TraceStoreError::UnknownCursor(_)) => {
            StatusCode::BAD_REQUEST
        }
        NodeError::NoSuchTrace(_) => StatusCode::NOT_FOUND,
        NodeError::NothingToRetry(_) | NodeError::SendClear(_) => StatusCode::CONFLICT,
        NodeError::Decide(d) => decide_status(d),
        NodeError::SendTrace(e) => match e {
            crate::node::SendTraceError::Bootstrap
            | crate::node::SendTraceError::BlindBeyondBound(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
        NodeError::InstallRoster(e) => match e {
            crate::node::InstallRosterError::Unreadable(_)
            | crate::node::InstallRosterError::Rejected(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
        NodeError::InstallMakers(e) => match e {
            crate::node::InstallMakersError::Unreadable(_)
            | crate::node::InstallMakersError::Rejected(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
        NodeError::Key(_)
        | NodeError::Registry(_)
        | NodeError::Traces(_)
        | NodeError::TraceStoreAt { .. }
        | NodeError::Net(_)
        | NodeError::Config(_)
        | NodeError::Storage(_)
        | NodeError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status of each way an inbox decision can fail.
fn decide_status(e: &DecideError) -> StatusCode {
    match e {
        DecideError::NoSuchItem(_) => StatusCode::NOT_FOUND,
        DecideError::AlreadyDecided(_) | DecideError::Expired { .. } => StatusCode::CONFLICT,
        DecideError::BothOrNeither | DecideError::NoRegistry => StatusCode::BAD_REQUEST,
        DecideError::RosterExpired | DecideError::RequesterRemoved(_) => StatusCode::CONFLICT,
        // Recorded and signed, but the requester could not be reached: the
        // requester gets it on its retry.
        DecideError::NotDelivered { .. } => StatusCode::BAD_GATEWAY,
        DecideError::Corrupt { .. } | DecideError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A failed call: its status and the one line the caller sees.
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub message: String,
    /// The bad lines of an import refused whole, for the body to list.
    pub rejections: Vec<crate::registry::import::Rejection>,
    /// With `rejections`: how many lines were bad in all.
    pub rejected: Option<u64>,
    /// A trace not sent for what was asked, for the body's `fault`.
    pub fault: Option<crate::node::TraceFault>,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
            rejections: Vec::new(),
            rejected: None,
            fault: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }
}

impl From<DecideError> for Failure {
    fn from(e: DecideError) -> Self {
        Failure::new(decide_status(&e), e.to_string())
    }
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Self {
        let mut f = Failure::new(status_of(&e), e.to_string());
        if let NodeError::BadTrace(fault) = e {
            f.fault = Some(fault);
        }
        f
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        json(
            self.status,
            &ErrorBody {
                error: self.message,
                rejections: self.rejections,
                rejected: self.rejected,
                fault: self.fault,
            },
        )
    }
}

pub type Reply = Result<Response, Failure>;

/// `v` as a JSON body with `status`.
pub fn json<T: Serialize>(status: StatusCode, v: &T) -> Response {
    let body =
        serde_json::to_vec(v).unwrap_or_else(|_| b"{\"error\":\"encoding failed\"}".to_vec());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `v` as a JSON body with status 200.
pub fn ok<T: Serialize>(v: &T) -> Reply {
    Ok(json(StatusCode::OK, v))
}

/// A request body as bytes, at most `MAX_BODY` of them, within `BODY_TIMEOUT`.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Failure> {
        match tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(req, state)).await {
            Ok(Ok(b)) => Ok(RawBody(b)),
            Ok(Err(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body over {MAX_BODY} bytes"),
            )),
            Ok(Err(e)) => Err(Failure::bad_request(format!(
                "request body: {}",
                e.body_text()
            ))),
            Err(_) => Err(Failure::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )),
        }
    }
}

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Failure> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| Failure::bad_request(format!("request body: {e}")))
    }
}

/// Gives every failed call the `{"error": ...}` body, also those that axum
/// answers itself (a path or query it cannot extract, a method a path does not
/// take).
pub async fn error_as_json(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status().is_success() || is_json {
        return resp;
    }
    let status = resp.status();
    let text = match axum::body::to_bytes(resp.into_body(), 64 * 1024).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    };
    Failure::new(status, text).into_response()
}

/// Refuses a request for a streamed listing (the audit log, the registry's
/// export) whose reply could not say that the listing ended: such a body
/// ends with HTTP/1.1's last chunk only when every item was sent, and
/// before HTTP/1.1 a body of unknown length ends by closing the
/// connection, as a failed one does. A 505 that says to use HTTP/1.1.
pub fn chunked_only(version: axum::http::Version) -> Result<(), Failure> {
    if version < axum::http::Version::HTTP_11 {
        return Err(Failure::new(
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            format!(
                "this listing is streamed, and only HTTP/1.1 or later can tell a listing that ended from one cut off; send this request with HTTP/1.1 (this one is {version:?})"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_errors_map_to_statuses() {
        let s = |e| status_of(&e);
        assert_eq!(
            s(NodeError::BadTrace(crate::node::TraceFault::whole("x"))),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(s(NodeError::Roster("x".into())), StatusCode::BAD_REQUEST);
        assert_eq!(s(NodeError::NoSuchTrace("x".into())), StatusCode::NOT_FOUND);
        assert_eq!(
            s(NodeError::Decide(DecideError::NoSuchItem("x".into()))),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            s(NodeError::Decide(DecideError::AlreadyDecided("x".into()))),
            StatusCode::CONFLICT
        );
        assert_eq!(
            s(NodeError::Config("x".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
