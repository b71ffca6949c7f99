//! What runs around every request of the generated client.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo};
use reqwest::header::{ACCEPT, HeaderValue};

use crate::Client;

/// A boxed future: what `RequestHook::before_send` and the facade's token providers return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Code the owner of a [`Client`] plugs into every request it makes: typically setting the
/// `Authorization` header from a token that may have been refreshed since the last request.
pub trait RequestHook: Send + Sync + 'static {
    /// Runs after the request is built and before it is sent. An `Err` aborts the request;
    /// its message reaches the caller as [`Error::Custom`].
    fn before_send<'a>(
        &'a self,
        request: &'a mut reqwest::Request,
        operation_id: &'static str,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// Runs when the response's head has arrived (or sending failed), before its body is read.
    fn after_response(
        &self,
        response: &reqwest::Result<reqwest::Response>,
        operation_id: &'static str,
    ) {
        let _ = (response, operation_id);
    }
}

/// The hooks a [`Client`] carries: none by default.
#[derive(Clone, Default)]
pub struct Hooks {
    hook: Option<Arc<dyn RequestHook>>,
    max_body: Option<usize>,
}

impl Hooks {
    /// Hooks that run `hook` around every request.
    pub fn new(hook: impl RequestHook) -> Self {
        Self { hook: Some(Arc::new(hook)), max_body: None }
    }

    /// Fails reading any answer whose body grows past `bytes`, with [`BodyTooLarge`] as the
    /// source of the error, instead of holding it all in memory.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = Some(bytes);
        self
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hook may hold credentials: say only whether there is one.
        f.debug_struct("Hooks")
            .field("installed", &self.hook.is_some())
            .field("max_body", &self.max_body)
            .finish()
    }
}

/// An answer's body went past the limit set with [`Hooks::with_max_body`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge {
    /// The limit, in bytes.
    pub limit: usize,
}

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the answer's body is larger than {} bytes", self.limit)
    }
}

impl std::error::Error for BodyTooLarge {}

/// `response` with a body that fails once more than `limit` bytes have come.
fn limit_body(response: reqwest::Response, limit: usize) -> reqwest::Response {
    use futures_util::StreamExt;

    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let mut seen = 0usize;
    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    let limited = response.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| Box::new(e) as BoxError)?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            return Err(Box::new(BodyTooLarge { limit }) as BoxError);
        }
        Ok(chunk)
    });
    let mut out = http::Response::new(reqwest::Body::wrap_stream(limited));
    *out.status_mut() = status;
    *out.version_mut() = version;
    *out.headers_mut() = headers;
    reqwest::Response::from(out)
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");

impl ClientHooks<Hooks> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        // Keycloak answers errors with an HTML page when `Accept` allows it; every operation
        // here speaks JSON, including those whose success has no body.
        request.headers_mut().entry(ACCEPT).or_insert(JSON);
        if let Some(hook) = &self.inner().hook {
            hook.before_send(request, info.operation_id).await.map_err(Error::Custom)?;
        }
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let response = self.client().execute(request).await?;
        Ok(match self.inner().max_body {
            // A body of declared length ends there: hyper reads no more than the
            // `Content-Length` it announced, so only an undeclared length needs counting.
            Some(limit) if response.content_length().is_some_and(|n| n <= limit as u64) => response,
            Some(limit) => limit_body(response, limit),
            None => response,
        })
    }

    async fn post<E>(
        &self,
        result: &reqwest::Result<reqwest::Response>,
        info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        if let Some(hook) = &self.inner().hook {
            hook.after_response(result, info.operation_id);
        }
        Ok(())
    }
}
