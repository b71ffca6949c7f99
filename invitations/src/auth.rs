//! Where the bearer token of each request comes from.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use crate::error::{Error, ErrorKind};
use crate::response::{error_message, read_limited};

/// An error a [`TokenProvider`] may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed, sendable future (the generated client's hooks use the same).
pub use crate::raw::BoxFuture;

/// A source of bearer tokens run by the caller, who owns refreshing them. Called before every
/// request, so it should answer from a cache when the token is still good.
///
/// Any `Fn() -> impl Future<Output = Result<String, E>>` closure is one:
///
/// ```no_run
/// # fn demo() -> Result<(), phasetwo_invitations::Error> {
/// let client = phasetwo_invitations::Client::builder()
///     .base_url("https://keycloak.example.com")
///     .token_provider(|| async { Ok::<_, std::io::Error>("eyJ...".to_owned()) })
///     .build()?;
/// # Ok(()) }
/// ```
pub trait TokenProvider: Send + Sync + 'static {
    /// The token to send now.
    fn token(&self) -> BoxFuture<'_, Result<SecretString, BoxError>>;
}

impl<F, Fut, E> TokenProvider for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, E>> + Send + 'static,
    E: Into<BoxError>,
{
    fn token(&self) -> BoxFuture<'_, Result<SecretString, BoxError>> {
        let future = self();
        Box::pin(async move { future.await.map(SecretString::from).map_err(Into::into) })
    }
}

/// How a [`Client`](crate::Client) authenticates.
#[derive(Clone)]
pub(crate) enum TokenSource {
    Static(SecretString),
    Provider(Arc<dyn TokenProvider>),
    ClientCredentials(Arc<ClientCredentials>),
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Static(_) => f.write_str("BearerToken(***)"),
            TokenSource::Provider(_) => f.write_str("TokenProvider"),
            TokenSource::ClientCredentials(cc) => f
                .debug_struct("ClientCredentials")
                .field("token_url", &cc.token_url.as_str())
                .field("client_id", &cc.client_id)
                .field("client_secret", &"***")
                .finish(),
        }
    }
}

impl TokenSource {
    /// Whether asking again may give another token than the one just rejected.
    pub(crate) fn can_refresh(&self) -> bool {
        !matches!(self, TokenSource::Static(_))
    }

    /// Forgets `rejected`, so the next request gets a new token.
    pub(crate) async fn invalidate(&self, rejected: &SecretString) {
        if let TokenSource::ClientCredentials(cc) = self {
            cc.cache.invalidate(rejected).await;
        }
    }

    /// The token for the next request.
    pub(crate) async fn token(&self) -> Result<SecretString, Error> {
        match self {
            TokenSource::Static(token) => Ok(token.clone()),
            TokenSource::Provider(provider) => provider.token().await.map_err(|e| {
                Error::new(ErrorKind::Auth)
                    .with_detail("the token provider failed")
                    .with_source(e)
            }),
            TokenSource::ClientCredentials(cc) => cc.token().await,
        }
    }
}

/// The longest a token is kept, whatever lifetime the token endpoint claims.
const MAX_CACHED_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// A cached token, renewed ahead of its expiry. Callers that find it stale wait for one
/// renewal instead of each starting their own: the lock is held while it runs.
#[derive(Default)]
pub(crate) struct TokenCache {
    cached: tokio::sync::Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: SecretString,
    refresh_at: Instant,
}

impl TokenCache {
    /// Drops the cached token if it is `rejected` (a newer one, fetched meanwhile by another
    /// caller, is kept).
    pub(crate) async fn invalidate(&self, rejected: &SecretString) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == rejected.expose_secret())
        {
            *cached = None;
        }
    }

    /// The cached token if it is still fresh, else the one `fetch` gets (with its lifetime).
    pub(crate) async fn get_or_refresh<Fut>(
        &self,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<SecretString, Error>
    where
        Fut: Future<Output = Result<(SecretString, Duration), Error>>,
    {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        // Lifetimes count from before the request: the server's clock started then at the latest.
        let started = Instant::now();
        let (token, lifetime) = fetch().await?;
        // A server may claim any lifetime; no clock can add 2^64 seconds.
        let lifetime = lifetime.min(MAX_CACHED_LIFETIME);
        *cached = Some(CachedToken {
            token: token.clone(),
            refresh_at: started + lifetime - refresh_margin(lifetime),
        });
        Ok(token)
    }
}

/// When to refresh a token that lives `lifetime`: a quarter of its life before expiry, and
/// at most 30 s before, so that a request started just before the refresh still arrives with
/// a valid token.
pub(crate) fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 4).min(Duration::from_secs(30))
}

/// The OAuth 2 client-credentials grant against Keycloak's token endpoint. Never uses a
/// refresh token: Keycloak issues none for this grant by default, and a new grant costs one
/// request.
pub(crate) struct ClientCredentials {
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
    http: reqwest::Client,
    cache: TokenCache,
}

/// The fields of Keycloak's token response that matter here.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

/// Lifetime assumed when the token endpoint does not say.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

impl ClientCredentials {
    pub(crate) fn new(
        token_url: Url,
        client_id: String,
        client_secret: SecretString,
        http: reqwest::Client,
    ) -> Self {
        ClientCredentials {
            token_url,
            client_id,
            client_secret,
            http,
            cache: TokenCache::default(),
        }
    }

    async fn token(&self) -> Result<SecretString, Error> {
        self.cache.get_or_refresh(|| self.grant()).await
    }

    async fn grant(&self) -> Result<(SecretString, Duration), Error> {
        let auth_error = || Error::new(ErrorKind::Auth);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", self.client_secret.expose_secret())
            .finish();
        let response = self
            .http
            .post(self.token_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| {
                auth_error()
                    .with_detail(format!("token endpoint {} unreachable", self.token_url))
                    .with_source(e.without_url())
            })?;
        let status = response.status();
        let bytes = read_limited(response).await.map_err(|e| {
            auth_error()
                .with_status(status)
                .with_detail("token endpoint answer broke off")
                .with_source(e.without_url())
        })?;
        if !status.is_success() {
            return Err(auth_error()
                .with_status(status)
                .with_detail(format!(
                    "token endpoint refused client `{}`",
                    self.client_id
                ))
                .with_server_message(error_message(&bytes)));
        }
        let parsed: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| {
            auth_error()
                .with_status(status)
                .with_detail(format!("token endpoint answer has no access_token: {e}"))
        })?;
        let lifetime = parsed
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        Ok((SecretString::from(parsed.access_token), lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margin_is_a_quarter_of_short_lives_and_30s_of_long_ones() {
        assert_eq!(
            refresh_margin(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(60)),
            Duration::from_secs(15)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(300)),
            Duration::from_secs(30)
        );
        assert_eq!(refresh_margin(Duration::ZERO), Duration::ZERO);
    }

    /// A fetcher that hands out `token-1`, `token-2`, ... living `lifetime`, and counts calls.
    async fn counting_fetcher(
        calls: &std::sync::atomic::AtomicUsize,
        lifetime: Duration,
    ) -> Result<(SecretString, Duration), Error> {
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Ok((SecretString::from(format!("token-{n}")), lifetime))
    }

    #[tokio::test(start_paused = true)]
    async fn token_is_reused_until_shortly_before_expiry() {
        let cache = TokenCache::default();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let lifetime = Duration::from_secs(60);
        let get = || cache.get_or_refresh(|| counting_fetcher(&calls, lifetime));

        assert_eq!(get().await.unwrap().expose_secret(), "token-1");
        tokio::time::advance(Duration::from_secs(44)).await;
        assert_eq!(get().await.unwrap().expose_secret(), "token-1");
        // 60 s lifetime, refreshed 15 s before expiry.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(get().await.unwrap().expose_secret(), "token-2");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_refresh() {
        let cache = std::sync::Arc::new(TokenCache::default());
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_refresh(|| async {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            counting_fetcher(&calls, Duration::from_secs(60)).await
                        })
                        .await
                        .map(|t| t.expose_secret().to_owned())
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), "token-1");
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_is_retried_by_the_next_caller() {
        let cache = TokenCache::default();
        let failed = cache
            .get_or_refresh(|| async { Err(Error::new(ErrorKind::Auth)) })
            .await;
        assert_eq!(failed.unwrap_err().kind(), ErrorKind::Auth);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let token = cache
            .get_or_refresh(|| counting_fetcher(&calls, Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(token.expose_secret(), "token-1");
    }

    #[test]
    fn debug_hides_tokens_and_secrets() {
        let token = TokenSource::Static(SecretString::from("tok-123"));
        assert!(!format!("{token:?}").contains("tok-123"));
        let cc = TokenSource::ClientCredentials(Arc::new(ClientCredentials::new(
            Url::parse("http://127.0.0.1/realms/master/protocol/openid-connect/token").unwrap(),
            "svc".into(),
            SecretString::from("shh-456"),
            reqwest::Client::new(),
        )));
        let shown = format!("{cc:?}");
        assert!(
            shown.contains("svc") && !shown.contains("shh-456"),
            "{shown}"
        );
    }
}
