//! What runs around every request of the generated client.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo};
use reqwest::header::{ACCEPT, HeaderValue};

use crate::Client;

/// A boxed future, as returned by [`RequestHook::before_send`].
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
}

impl Hooks {
    /// Hooks that run `hook` around every request.
    pub fn new(hook: impl RequestHook) -> Self {
        Self {
            hook: Some(Arc::new(hook)),
        }
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hook may hold credentials: say only whether there is one.
        f.debug_struct("Hooks")
            .field("installed", &self.hook.is_some())
            .finish()
    }
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
            hook.before_send(request, info.operation_id)
                .await
                .map_err(Error::Custom)?;
        }
        Ok(())
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
