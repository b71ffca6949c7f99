//! One error type for every operation, with the server's meaning decoded.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input was refused before anything was sent; [`Error::field`] names the field.
    InvalidInput,
    /// HTTP 401. The Phase Two server answers 401 both for a missing or expired token and
    /// for a token that lacks the role needed by the operation.
    Unauthorized,
    /// HTTP 403.
    Forbidden,
    /// HTTP 404: unknown realm, organization or invitation; also the 400 "invitation not
    /// found" with which the server answers the rejection of an unknown invitation.
    NotFound,
    /// HTTP 409 "Invitation for ... already exists.": the email already has an invitation.
    AlreadyInvited,
    /// HTTP 409 "... is already a member of this organization.".
    AlreadyMember,
    /// Another 409.
    Conflict,
    /// HTTP 400 or another 4xx: the server refused the request (an unknown role, for example);
    /// [`Error::server_message`] says why.
    BadRequest,
    /// HTTP 429: the server or a proxy is throttling.
    RateLimited,
    /// HTTP 5xx.
    Server,
    /// A redirect (3xx). The client follows none, so that no token, secret or personal data
    /// reaches another origin; the error's detail names the origin it was sent to. It usually
    /// means a wrong base URL (`http` for `https`, a missing `/auth`).
    Redirect,
    /// No answer in time (connect or request timeout), or a 408.
    Timeout,
    /// The connection failed or broke.
    Transport,
    /// A success answer whose body could not be understood; the status and the first bytes
    /// of the body are kept.
    Decode,
    /// A 201 from create without a `Location` header naming the new invitation.
    MissingLocation,
    /// A listing's paging would never end: a page repeated the previous one exactly, or
    /// [`MAX_PAGES_WITHOUT_NEWS`](crate::MAX_PAGES_WITHOUT_NEWS) full pages in a row held only
    /// invitations already listed (the server ignores `first`), or a page held more than
    /// asked for (it ignores `max`, or a proxy drops the query).
    RepeatedPage,
    /// No usable token could be obtained: the token endpoint refused the client credentials
    /// or answered without a usable token, or the caller's token provider failed. (The token
    /// endpoint's passing failures keep their own kinds: `Server`, `Timeout`, ...)
    NoToken,
}

impl ErrorKind {
    /// A stable snake_case name (`already_invited`) for logs and machine-readable output, such
    /// as the command-line tool's JSON: part of the API, unchanged by a rename of the variant.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyInvited => "already_invited",
            ErrorKind::AlreadyMember => "already_member",
            ErrorKind::Conflict => "conflict",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Server => "server",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::Decode => "decode",
            ErrorKind::MissingLocation => "missing_location",
            ErrorKind::RepeatedPage => "repeated_page",
            ErrorKind::NoToken => "no_token",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Unauthorized => {
                "unauthorized: token missing, expired, or lacking the role for this operation"
            }
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyInvited => "already invited",
            ErrorKind::AlreadyMember => "already a member",
            ErrorKind::Conflict => "conflict",
            ErrorKind::BadRequest => "bad request",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Server => "server error",
            ErrorKind::Redirect => "redirected; redirects are not followed",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Transport => "connection failed",
            ErrorKind::Decode => "unreadable response",
            ErrorKind::MissingLocation => "created, but the response does not name the invitation",
            ErrorKind::RepeatedPage => "the server's paging does not progress",
            ErrorKind::NoToken => "could not get a token",
        }
    }
}

/// Whether a request reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Surely not: nothing was sent (input refused, connection refused, DNS failure).
    No,
    /// Perhaps: sending started and then failed, or no answer came in time.
    Maybe,
    /// An answer came back.
    Yes,
}

/// The error of every operation. Cheap to move (one box) and to clone; never shows a token or
/// secret.
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    operation: Option<&'static str>,
    status: Option<StatusCode>,
    /// Our own explanation, when the kind alone is not enough.
    detail: Option<String>,
    /// What the server said (`error`, `errorMessage` or `error_description`, or a short text
    /// body).
    server_message: Option<String>,
    /// The start of an unparseable body.
    body_snippet: Option<String>,
    field: Option<&'static str>,
    retry_after: Option<Duration>,
    /// Shared, so that one failed token request can be the error of every caller waiting for
    /// it.
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
    sent: Sent,
    attempts: u32,
    request_id: Option<String>,
}

/// How many bytes of an unreadable body an error keeps.
pub(crate) const SNIPPET_LEN: usize = 256;

impl Error {
    /// A create's error as the caller must read it. Two creates of one email at once both
    /// pass the server's "already exists" check; the database's unique (organization, email)
    /// key then refuses the later one, which Keycloak answers with its own 409 "Duplicate
    /// resource error": the same fact as the endpoint's "already exists".
    pub(crate) fn read_as_create(mut self) -> Self {
        if self.kind() == ErrorKind::Conflict
            && self.server_message().is_some_and(|m| m.ends_with(DUPLICATE_RESOURCE))
        {
            self.inner.kind = ErrorKind::AlreadyInvited;
        }
        self
    }

    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                operation: None,
                status: None,
                detail: None,
                server_message: None,
                body_snippet: None,
                field: None,
                retry_after: None,
                source: None,
                sent: Sent::No,
                attempts: 0,
                request_id: None,
            }),
        }
    }

    /// An input refused before sending: `field` is the builder method or parameter.
    pub(crate) fn invalid(field: &'static str, why: impl Into<String>) -> Self {
        let mut e = Error::new(ErrorKind::InvalidInput).with_detail(why);
        e.inner.field = Some(field);
        e
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.inner.detail = Some(detail.into());
        self
    }

    /// Adds to the detail, keeping what it already said.
    pub(crate) fn and_detail(mut self, more: &str) -> Self {
        self.inner.detail = Some(match self.inner.detail.take() {
            Some(detail) => format!("{detail}; {more}"),
            None => more.to_owned(),
        });
        self
    }

    /// An answer with this status came back, so the request was sent.
    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.inner.status = Some(status);
        self.inner.sent = Sent::Yes;
        self
    }

    pub(crate) fn with_sent(mut self, sent: Sent) -> Self {
        self.inner.sent = sent;
        self
    }

    pub(crate) fn sent(&self) -> Sent {
        self.inner.sent
    }

    /// Records how the retry loop ended: attempts made, the request id, and whether an
    /// earlier attempt may have been carried out.
    pub(crate) fn with_attempts(
        mut self,
        attempts: u32,
        request_id: &str,
        earlier_outcome_unknown: bool,
    ) -> Self {
        self.inner.attempts = attempts;
        self.inner.request_id = Some(request_id.to_owned());
        if earlier_outcome_unknown && self.inner.sent == Sent::No {
            self.inner.sent = Sent::Maybe;
        }
        self
    }

    pub(crate) fn with_server_message(mut self, message: Option<String>) -> Self {
        self.inner.server_message = message;
        self
    }

    pub(crate) fn with_body_snippet(mut self, body: &[u8]) -> Self {
        let end = body.len().min(SNIPPET_LEN);
        self.inner.body_snippet = Some(String::from_utf8_lossy(&body[..end]).into_owned());
        self
    }

    pub(crate) fn with_retry_after(mut self, delay: Option<Duration>) -> Self {
        self.inner.retry_after = delay;
        self
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.inner.source = Some(source.into().into());
        self
    }

    pub(crate) fn with_operation(mut self, operation: &'static str) -> Self {
        self.inner.operation.get_or_insert(operation);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// What the server said about the error, when it said something readable.
    pub fn server_message(&self) -> Option<&str> {
        self.inner.server_message.as_deref()
    }

    /// The first bytes of a body that could not be decoded.
    pub fn body_snippet(&self) -> Option<&str> {
        self.inner.body_snippet.as_deref()
    }

    /// For [`ErrorKind::InvalidInput`]: the field that was refused.
    pub fn field(&self) -> Option<&'static str> {
        self.inner.field
    }

    /// The delay the server asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The operation (its OpenAPI `operationId`) that failed.
    pub fn operation(&self) -> Option<&'static str> {
        self.inner.operation
    }

    /// How many attempts were made (0 when the input was refused before sending).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// The `X-Request-Id` sent with every attempt of the operation, to find it in server
    /// logs.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// Whether the server may have received the request (on any attempt). `false` means
    /// surely not: it is safe to send it again.
    pub fn may_have_been_sent(&self) -> bool {
        self.inner.sent != Sent::No
    }

    /// 404: the realm, organization or invitation does not exist.
    pub fn is_not_found(&self) -> bool {
        self.inner.kind == ErrorKind::NotFound
    }

    /// Whether the server said, in its own words, that the invitation `id` does not exist:
    /// `No invitation with id …` (get, delete, resend), `Invitation … not found` (accept) or
    /// `invitation not found` (reject). Any other 404 (a wrong base path, a proxy's page, an
    /// unknown organization) says nothing about the invitation.
    pub(crate) fn names_missing_invitation(&self, id: &str) -> bool {
        let Some(message) = self.server_message() else {
            return false;
        };
        match self.status().map(|s| s.as_u16()) {
            Some(404) => {
                message.strip_prefix("No invitation with id ") == Some(id)
                    || message
                        .strip_prefix("Invitation ")
                        .and_then(|rest| rest.strip_suffix(" not found"))
                        == Some(id)
            }
            Some(400) => message == "invitation not found",
            _ => false,
        }
    }

    /// Any 409: already invited, already a member, or another conflict.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::AlreadyInvited | ErrorKind::AlreadyMember | ErrorKind::Conflict
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        if let Some(op) = i.operation {
            write!(f, "{op}: ")?;
        }
        f.write_str(i.kind.describe())?;
        if let Some(status) = i.status {
            write!(f, " (HTTP {})", status.as_u16())?;
        }
        if let Some(field) = i.field {
            write!(f, ": `{field}`")?;
        }
        if let Some(detail) = &i.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(message) = &i.server_message {
            write!(f, ": {}", one_line(message))?;
        }
        if let Some(delay) = i.retry_after {
            write!(f, " (retry after {} s)", delay.as_secs_f64())?;
        }
        if i.attempts > 1 {
            write!(f, " after {} attempts", i.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &i.kind);
        if let Some(op) = i.operation {
            d.field("operation", &op);
        }
        if let Some(status) = i.status {
            d.field("status", &status.as_u16());
        }
        if let Some(field) = i.field {
            d.field("field", &field);
        }
        if let Some(detail) = &i.detail {
            d.field("detail", detail);
        }
        if let Some(message) = &i.server_message {
            d.field("server_message", message);
        }
        if let Some(body) = &i.body_snippet {
            d.field("body_snippet", body);
        }
        if let Some(delay) = i.retry_after {
            d.field("retry_after", &delay);
        }
        if let Some(source) = &i.source {
            d.field("source", &source.to_string());
        }
        if i.attempts > 0 {
            d.field("attempts", &i.attempts);
        }
        if let Some(id) = &i.request_id {
            d.field("request_id", id);
        }
        d.field("may_have_been_sent", &(i.sent != Sent::No));
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Server messages may span lines (HTML, stack traces); `Display` stays on one.
fn one_line(text: &str) -> String {
    let mut out: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.len() > SNIPPET_LEN {
        let mut end = SNIPPET_LEN;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

/// Keycloak's answer to a write that breaks a unique key at commit.
const DUPLICATE_RESOURCE: &str = "Duplicate resource error";

/// The kind an error status means on the Phase Two server.
pub(crate) fn kind_for_status(status: StatusCode, server_message: Option<&str>) -> ErrorKind {
    match status.as_u16() {
        // The invitee's reject answers an unknown invitation with this 400, where accept
        // and every other operation answer 404.
        400 if server_message == Some("invitation not found") => ErrorKind::NotFound,
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        409 => {
            let message = server_message.unwrap_or_default();
            if message.contains("already exists") {
                ErrorKind::AlreadyInvited
            } else if message.contains("already a member") {
                ErrorKind::AlreadyMember
            } else {
                ErrorKind::Conflict
            }
        }
        300..=399 => ErrorKind::Redirect,
        429 => ErrorKind::RateLimited,
        500..=599 => ErrorKind::Server,
        _ => ErrorKind::BadRequest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names a machine reads: snake_case, one per kind, none the same.
    #[test]
    fn kind_names_are_snake_case_and_distinct() {
        let all = [
            ErrorKind::InvalidInput,
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::AlreadyInvited,
            ErrorKind::AlreadyMember,
            ErrorKind::Conflict,
            ErrorKind::BadRequest,
            ErrorKind::RateLimited,
            ErrorKind::Server,
            ErrorKind::Redirect,
            ErrorKind::Timeout,
            ErrorKind::Transport,
            ErrorKind::Decode,
            ErrorKind::MissingLocation,
            ErrorKind::RepeatedPage,
            ErrorKind::NoToken,
        ];
        let names: std::collections::BTreeSet<_> = all.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), all.len());
        for name in names {
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name}");
        }
    }
}
