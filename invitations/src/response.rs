//! Turning what the server (or the network) answered into [`Error`]s. Nothing a server sends
//! makes this panic: bodies are read up to a limit, decoded leniently, and kept as a snippet
//! when unreadable.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::{Error, ErrorKind, Sent, kind_for_status};
use phasetwo_invitations_client as raw;
use phasetwo_invitations_client::types::ErrorRepresentation;

/// The most of an error body read into memory; the rest is dropped.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The status and headers of the last answer of a call, recorded by the request hook: the
/// generated client loses them when a body cannot be decoded.
#[derive(Debug, Clone)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
}

/// Reads at most [`MAX_ERROR_BODY`] bytes of a body.
pub(crate) async fn read_limited(mut response: reqwest::Response) -> reqwest::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ERROR_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_ERROR_BODY {
            break;
        }
    }
    Ok(body)
}

/// The readable part of an error body: the JSON fields Keycloak uses, or a short plain text.
/// HTML pages and binary bodies give `None` (they are kept as a snippet instead).
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    if let Ok(parsed) = serde_json::from_slice::<ErrorRepresentation>(body) {
        return message_of(&parsed);
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    let looks_like_markup = text.starts_with('<');
    (!text.is_empty() && !looks_like_markup && text.len() <= 1024).then(|| text.to_owned())
}

fn message_of(body: &ErrorRepresentation) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in [&body.error_message, &body.error, &body.error_description].into_iter().flatten() {
        if !part.is_empty() && !parts.contains(&part.as_str()) {
            parts.push(part);
        }
    }
    // What the request's validation refused says more than its headline.
    let violations = body.violations.join("; ");
    if !violations.is_empty() {
        parts.push(&violations);
    }
    (!parts.is_empty()).then(|| parts.join(": "))
}

/// `Retry-After` as a delay from now: delta-seconds or an HTTP-date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still a wait longer than anyone will take.
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// An error status with its (possibly empty or unreadable) body.
pub(crate) fn status_error(status: StatusCode, headers: Option<&HeaderMap>, body: &[u8]) -> Error {
    let message = error_message(body);
    let kind = kind_for_status(status, message.as_deref());
    let mut error = Error::new(kind)
        .with_status(status)
        .with_server_message(message.clone())
        .with_retry_after(headers.and_then(retry_after));
    if message.is_none() && !body.is_empty() {
        error = error.with_body_snippet(body);
    }
    if status.is_redirection() {
        error = error.with_detail(redirect_detail(headers));
    }
    error
}

/// Where a redirect pointed, as an origin only: its path and query may hold personal data.
fn redirect_detail(headers: Option<&HeaderMap>) -> String {
    let origin = headers
        .and_then(|h| h.get(reqwest::header::LOCATION))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url::Url::parse(v).ok())
        .map(|url| url.origin().ascii_serialization());
    match origin {
        Some(origin) => format!("redirected to {origin}, not followed: check the base URL"),
        None => "redirected, not followed: check the base URL".to_owned(),
    }
}

/// A success status whose body is not what the spec promises.
pub(crate) fn decode_error(status: StatusCode, body: &[u8], why: impl Into<String>) -> Error {
    Error::new(ErrorKind::Decode).with_status(status).with_detail(why).with_body_snippet(body)
}

/// The limit an answer's body went past, if that is what `error` is.
fn body_too_large(error: &reqwest::Error) -> Option<usize> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(too_large) = e.downcast_ref::<raw::BodyTooLarge>() {
            return Some(too_large.limit);
        }
        source = e.source();
    }
    None
}

/// A failure of the transport: timeout or broken connection, or a body over the client's
/// limit (a [`Decode`](ErrorKind::Decode) error: sending again would not help). The URL is
/// dropped from the source because a listing's query string may hold part of an email.
pub(crate) fn transport_error(error: reqwest::Error) -> Error {
    if let Some(limit) = body_too_large(&error) {
        return Error::new(ErrorKind::Decode)
            .with_sent(Sent::Yes)
            .with_detail(format!("the answer is larger than the limit of {limit} bytes"));
    }
    let kind = if error.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Transport };
    // A connection that could not be made carried nothing; anything later may have.
    let sent = if error.is_connect() { Sent::No } else { Sent::Maybe };
    let mut out = Error::new(kind).with_sent(sent);
    if let Some(status) = error.status() {
        out = out.with_status(status);
    }
    if let Some(cause) = innermost_cause(&error) {
        out = out.with_detail(cause);
    }
    out.with_source(error.without_url())
}

/// The message of the deepest error in a chain: the one that says what went wrong ("message
/// head is too large"), where the outer ones only say where ("error sending request").
fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut deepest = error.source()?;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    Some(deepest.to_string())
}

/// Converts an error of the generated client, using the response head the hook recorded.
pub(crate) async fn from_raw(
    error: raw::Error<ErrorRepresentation>,
    head: Option<ResponseHead>,
) -> Error {
    match error {
        raw::Error::ErrorResponse(response) => {
            let status = response.status();
            let retry = retry_after(response.headers());
            let message = message_of(&response);
            Error::new(kind_for_status(status, message.as_deref()))
                .with_status(status)
                .with_server_message(message)
                .with_retry_after(retry)
        }
        raw::Error::UnexpectedResponse(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            match read_limited(response).await {
                Ok(body) if status.is_success() => {
                    decode_error(status, &body, format!("unexpected status {status}"))
                }
                Ok(body) => status_error(status, Some(&headers), &body),
                Err(e) => transport_error(e).with_status(status),
            }
        }
        raw::Error::InvalidResponsePayload(body, cause) => match head {
            Some(head) if !head.status.is_success() => {
                status_error(head.status, Some(&head.headers), &body)
            }
            Some(head) => decode_error(head.status, &body, cause.to_string()),
            None => Error::new(ErrorKind::Decode)
                .with_detail(cause.to_string())
                .with_body_snippet(&body),
        },
        raw::Error::CommunicationError(e) | raw::Error::ResponseBodyError(e) => {
            let error = transport_error(e);
            match head {
                Some(head) if error.status().is_none() => error.with_status(head.status),
                _ => error,
            }
        }
        raw::Error::InvalidUpgrade(e) => transport_error(e),
        raw::Error::InvalidRequest(why) => Error::new(ErrorKind::InvalidInput).with_detail(why),
        raw::Error::Custom(why) => Error::new(ErrorKind::NoToken).with_detail(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_any_keycloak_field() {
        assert_eq!(
            error_message(br#"{"error":"Unknown role in list."}"#).as_deref(),
            Some("Unknown role in list.")
        );
        assert_eq!(
            error_message(br#"{"errorMessage":"User exists with same email"}"#).as_deref(),
            Some("User exists with same email")
        );
        assert_eq!(
            error_message(br#"{"error":"unknown_error","error_description":"boom"}"#).as_deref(),
            Some("unknown_error: boom")
        );
        assert_eq!(
            error_message(
                br#"{"error":"Provided data is invalid","violations":["email: bad","roles: bad"]}"#
            )
            .as_deref(),
            Some("Provided data is invalid: email: bad; roles: bad")
        );
        assert_eq!(error_message(b"Too many requests").as_deref(), Some("Too many requests"));
        assert_eq!(error_message(b"<html><body>Bad gateway</body></html>"), None);
        assert_eq!(error_message(b""), None);
        assert_eq!(error_message(&[0xff, 0xfe, 0x00]), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        let later = SystemTime::now() + Duration::from_secs(120);
        headers.insert(RETRY_AFTER, httpdate::fmt_http_date(later).parse().unwrap());
        let delay = retry_after(&headers).unwrap();
        assert!(delay > Duration::from_secs(110) && delay <= Duration::from_secs(120), "{delay:?}");
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "99999999999999999999".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::MAX));
    }

    #[test]
    fn html_error_bodies_are_kept_as_a_snippet() {
        let body = format!("<html>{}</html>", "x".repeat(10_000));
        let e = status_error(StatusCode::BAD_GATEWAY, None, body.as_bytes());
        assert_eq!(e.kind(), ErrorKind::Server);
        assert_eq!(e.server_message(), None);
        assert_eq!(e.body_snippet().unwrap().len(), crate::error::SNIPPET_LEN);
    }
}
