//! Where the bearer token of each request comes from.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use futures_util::FutureExt;
use futures_util::future::Shared;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::error::{Error, ErrorKind, Sent};
use crate::response::{error_message, read_limited, status_error, transport_error};

/// An error a [`TokenProvider`] may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed, sendable future (the generated client's hooks use the same).
pub use phasetwo_invitations_client::BoxFuture;

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

/// How a [`Client`](crate::Client) authenticates. What it hands out per request is the
/// `Authorization` header itself ([`bearer_header`]), made once per token rather than once
/// per request.
#[derive(Clone)]
pub(crate) enum TokenSource {
    Static(HeaderValue),
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
                .field("token_url", &cc.grant.token_url.as_str())
                .field("client_id", &cc.grant.client_id)
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

    /// The same source, asking the token endpoint (if it does) through `http`; the cached
    /// token is shared.
    #[cfg(feature = "blocking")]
    pub(crate) fn with_http(&self, http: &reqwest::Client) -> TokenSource {
        match self {
            TokenSource::ClientCredentials(cc) => {
                TokenSource::ClientCredentials(Arc::new(ClientCredentials {
                    grant: Arc::new(Grant {
                        token_url: cc.grant.token_url.clone(),
                        client_id: cc.grant.client_id.clone(),
                        client_secret: cc.grant.client_secret.clone(),
                        http: http.clone(),
                        time_limit: cc.grant.time_limit,
                    }),
                    cache: cc.cache.clone(),
                }))
            }
            other => other.clone(),
        }
    }

    /// Forgets `rejected`, so the next request gets a new token. Never waits: a fetch under
    /// way holds no lock.
    pub(crate) fn invalidate(&self, rejected: &HeaderValue) {
        if let TokenSource::ClientCredentials(cc) = self {
            cc.cache.invalidate(rejected);
        }
    }

    /// The `Authorization` header for the next request.
    pub(crate) async fn authorization(&self) -> Result<HeaderValue, Error> {
        match self {
            TokenSource::Static(header) => Ok(header.clone()),
            TokenSource::Provider(provider) => {
                let token = provider.token().await.map_err(|e| {
                    Error::new(ErrorKind::NoToken)
                        .with_detail("the token provider failed")
                        .with_source(e)
                })?;
                bearer_header(&token)
            }
            TokenSource::ClientCredentials(cc) => cc.authorization().await,
        }
    }
}

/// The longest a token is kept, whatever lifetime the token endpoint claims.
const MAX_CACHED_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// A token request as the cache runs it: the token's header and its lifetime.
pub(crate) type Fetch = BoxFuture<'static, Result<(HeaderValue, Duration), Error>>;

/// A fetch under way, awaited by every caller that needs a token meanwhile.
type SharedFetch = Shared<BoxFuture<'static, Result<HeaderValue, Error>>>;

/// A cached token, renewed ahead of its expiry.
///
/// One fetch runs at a time, and it belongs to the cache, not to the caller that started it:
/// every caller awaits the same shared fetch under its own time limit, and a caller that gives
/// up leaves it to the others or to the next caller, so a token endpoint slower than one
/// caller's limit still yields a token. A passing failure of the endpoint is handed to the
/// callers that ask within its retry delay instead of each asking again. The lock is never
/// held across an await: forgetting a rejected token never waits for a fetch.
pub(crate) struct TokenCache {
    state: Mutex<CacheState>,
    /// How long a passing failure is shared when the endpoint names no `Retry-After`.
    failure_hold: Duration,
    /// The longest a failure is shared, whatever `Retry-After` says.
    max_failure_hold: Duration,
}

#[derive(Default)]
struct CacheState {
    token: Option<CachedToken>,
    /// The fetch under way and its number.
    fetch: Option<(u64, SharedFetch)>,
    /// The last fetch's passing failure, shared until the instant given.
    failure: Option<(Error, Instant)>,
    fetches_started: u64,
}

struct CachedToken {
    /// The token as the header that carries it.
    authorization: HeaderValue,
    refresh_at: Instant,
}

impl TokenCache {
    /// A cache whose passing failures are shared for `failure_hold` (or the `Retry-After`
    /// they carry, at most `max_failure_hold`): the client's first backoff and its cap.
    pub(crate) fn new(failure_hold: Duration, max_failure_hold: Duration) -> Self {
        TokenCache { state: Mutex::default(), failure_hold, max_failure_hold }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the cached token if it is `rejected` (a newer one, fetched meanwhile by another
    /// caller, is kept).
    pub(crate) fn invalidate(&self, rejected: &HeaderValue) {
        let mut state = self.lock();
        if state.token.as_ref().is_some_and(|t| t.authorization == *rejected) {
            state.token = None;
        }
    }

    /// The cached token if it is still fresh; else a shared failure still in its hold; else
    /// the result of the fetch under way, or of a new one made by `fetch`.
    pub(crate) async fn get_or_refresh(
        self: &Arc<Self>,
        fetch: impl FnOnce() -> Fetch,
    ) -> Result<HeaderValue, Error> {
        let shared = {
            let mut state = self.lock();
            let now = Instant::now();
            if let Some(token) = &state.token
                && now < token.refresh_at
            {
                return Ok(token.authorization.clone());
            }
            if let Some((error, until)) = &state.failure
                && now < *until
            {
                return Err(error.clone());
            }
            match &state.fetch {
                Some((_, under_way)) => under_way.clone(),
                None => {
                    state.fetches_started += 1;
                    let number = state.fetches_started;
                    // Weak: the cache holds the fetch, which must not keep the cache alive.
                    let cache = Arc::downgrade(self);
                    let request = fetch();
                    let shared = async move {
                        let result = request.await;
                        match cache.upgrade() {
                            Some(cache) => cache.finish(number, now, result),
                            None => result.map(|(authorization, _)| authorization),
                        }
                    }
                    .boxed()
                    .shared();
                    state.fetch = Some((number, shared.clone()));
                    shared
                }
            }
        };
        shared.await
    }

    /// Records the result of fetch `number`, started at `started`.
    fn finish(
        &self,
        number: u64,
        started: Instant,
        result: Result<(HeaderValue, Duration), Error>,
    ) -> Result<HeaderValue, Error> {
        let mut state = self.lock();
        if state.fetch.as_ref().is_some_and(|(n, _)| *n == number) {
            state.fetch = None;
        }
        match result {
            Ok((authorization, lifetime)) => {
                // A server may claim any lifetime; no clock can add 2^64 seconds. Lifetimes
                // count from before the request: the server's clock started then at the latest.
                let lifetime = lifetime.min(MAX_CACHED_LIFETIME);
                state.token = Some(CachedToken {
                    authorization: authorization.clone(),
                    refresh_at: started + lifetime - refresh_margin(lifetime),
                });
                state.failure = None;
                Ok(authorization)
            }
            Err(error) => {
                // Only a passing failure has a retry delay to share; a refusal of the
                // credentials is asked again by the next caller.
                if error.is_retryable() {
                    let hold =
                        error.retry_after().unwrap_or(self.failure_hold).min(self.max_failure_hold);
                    state.failure =
                        Instant::now().checked_add(hold).map(|until| (error.clone(), until));
                }
                Err(error)
            }
        }
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
    grant: Arc<Grant>,
    cache: Arc<TokenCache>,
}

/// What one token request needs; shared with the fetch the cache runs.
struct Grant {
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
    http: reqwest::Client,
    /// The client's attempt limit: a fetch shared by several callers outlives each of their
    /// own limits, and must still end.
    time_limit: Duration,
}

/// The fields of Keycloak's token response that matter here. `expires_in` is read by hand: it
/// should be a number, and some servers send a numeric string.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<serde_json::Value>,
}

/// Lifetime assumed when the token endpoint does not say.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// `expires_in` as a lifetime: a non-negative number of seconds, as a JSON number or a
/// numeric string, saturating at the largest duration.
fn lifetime(expires_in: Option<&serde_json::Value>) -> Result<Duration, String> {
    use serde_json::Value;
    let seconds = match expires_in {
        None | Some(Value::Null) => return Ok(DEFAULT_LIFETIME),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(text)) => text.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    match seconds {
        Some(s) if s >= 0.0 => Ok(Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)),
        _ => Err(format!(
            "its expires_in ({}) is not a non-negative number of seconds",
            expires_in.map(|v| v.to_string()).unwrap_or_default()
        )),
    }
}

/// Whether a token endpoint's answer is worth asking again: it is the server's or a proxy's
/// passing trouble, not a verdict on the credentials.
fn transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

impl ClientCredentials {
    pub(crate) fn new(
        token_url: Url,
        client_id: String,
        client_secret: SecretString,
        http: reqwest::Client,
        time_limit: Duration,
        cache: TokenCache,
    ) -> Self {
        ClientCredentials {
            grant: Arc::new(Grant { token_url, client_id, client_secret, http, time_limit }),
            cache: Arc::new(cache),
        }
    }

    async fn authorization(&self) -> Result<HeaderValue, Error> {
        let grant = self.grant.clone();
        self.cache.get_or_refresh(move || Box::pin(async move { grant.request().await })).await
    }
}

impl Grant {
    /// One token request. Its failures leave the API request unsent (`Sent::No`): passing
    /// ones (unreachable, timed out, 408, 429, 5xx) keep their kind so that the call retries
    /// them under its policy; the rest are [`ErrorKind::NoToken`].
    async fn request(&self) -> Result<(HeaderValue, Duration), Error> {
        let endpoint = format!("token endpoint {}", self.token_url);
        let auth_error = || Error::new(ErrorKind::NoToken);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", self.client_secret.expose_secret())
            .finish();
        let response = self
            .http
            .post(self.token_url.clone())
            .timeout(self.time_limit)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                transport_error(e)
                    .and_detail(&format!("{endpoint} unreachable"))
                    .with_sent(Sent::No)
            })?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = read_limited(response).await.map_err(|e| {
            transport_error(e)
                .with_status(status)
                .and_detail(&format!("{endpoint}: its answer broke off"))
                .with_sent(Sent::No)
        })?;
        if transient(status) {
            return Err(status_error(status, Some(&headers), &bytes)
                .with_detail(format!("{endpoint} failed"))
                .with_sent(Sent::No));
        }
        if !status.is_success() {
            return Err(auth_error()
                .with_status(status)
                .with_detail(format!("{endpoint} refused client `{}`", self.client_id))
                .with_server_message(error_message(&bytes))
                .with_sent(Sent::No));
        }
        let refused = |why: String| {
            auth_error()
                .with_status(status)
                .with_detail(format!("{endpoint} answered 200, but {why}"))
                .with_sent(Sent::No)
        };
        let parsed: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| refused(format!("not with a token: {e}")))?;
        let lifetime = lifetime(parsed.expires_in.as_ref()).map_err(refused)?;
        // Refused here, not cached: a token that cannot be sent would fail every call for its
        // lifetime.
        let authorization = bearer_header(&SecretString::from(parsed.access_token))
            .map_err(|_| refused("its access_token is not usable in an HTTP header".to_owned()))?;
        Ok((authorization, lifetime))
    }
}

/// `Authorization: Bearer …`, marked sensitive so that it is redacted from reqwest's `Debug`.
pub(crate) fn bearer_header(token: &SecretString) -> Result<HeaderValue, Error> {
    let mut value =
        HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).map_err(|_| {
            Error::new(ErrorKind::NoToken).with_detail("the token is not a valid HTTP header value")
        })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margin_is_a_quarter_of_short_lives_and_30s_of_long_ones() {
        assert_eq!(refresh_margin(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(refresh_margin(Duration::from_secs(60)), Duration::from_secs(15));
        assert_eq!(refresh_margin(Duration::from_secs(300)), Duration::from_secs(30));
        assert_eq!(refresh_margin(Duration::ZERO), Duration::ZERO);
    }

    use std::sync::atomic::{AtomicUsize, Ordering};

    fn header(n: usize) -> HeaderValue {
        HeaderValue::from_str(&format!("token-{n}")).unwrap()
    }

    /// A cache on tokio's clock (paused in these tests), sharing failures for 100 ms.
    fn cache() -> Arc<TokenCache> {
        Arc::new(TokenCache::new(Duration::from_millis(100), Duration::from_secs(60)))
    }

    /// A fetch that takes `delay`, then answers `result(n)` for the n-th fetch (from 1),
    /// counting fetches in `calls`.
    fn fetch(
        calls: &Arc<AtomicUsize>,
        delay: Duration,
        result: fn(usize) -> Result<(HeaderValue, Duration), Error>,
    ) -> impl FnOnce() -> Fetch + use<> {
        let calls = calls.clone();
        move || {
            Box::pin(async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(delay).await;
                result(n)
            })
        }
    }

    fn living_a_minute(n: usize) -> Result<(HeaderValue, Duration), Error> {
        Ok((header(n), Duration::from_secs(60)))
    }

    fn unavailable(_: usize) -> Result<(HeaderValue, Duration), Error> {
        Err(Error::new(ErrorKind::Server).with_status(StatusCode::SERVICE_UNAVAILABLE))
    }

    #[tokio::test(start_paused = true)]
    async fn token_is_reused_until_shortly_before_expiry() {
        let cache = cache();
        let calls = Arc::new(AtomicUsize::new(0));
        let get = || cache.get_or_refresh(fetch(&calls, Duration::ZERO, living_a_minute));

        assert_eq!(get().await.unwrap(), "token-1");
        tokio::time::advance(Duration::from_secs(44)).await;
        assert_eq!(get().await.unwrap(), "token-1");
        // 60 s lifetime, refreshed 15 s before expiry.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(get().await.unwrap(), "token-2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn refused_credentials_are_asked_again_by_the_next_caller() {
        let cache = cache();
        let calls = Arc::new(AtomicUsize::new(0));
        let refused = cache
            .get_or_refresh(fetch(&calls, Duration::ZERO, |_| Err(Error::new(ErrorKind::NoToken))))
            .await;
        assert_eq!(refused.unwrap_err().kind(), ErrorKind::NoToken);
        let token = cache.get_or_refresh(fetch(&calls, Duration::ZERO, living_a_minute)).await;
        assert_eq!(token.unwrap(), "token-2");
    }

    #[tokio::test(start_paused = true)]
    async fn a_passing_failure_is_shared_for_its_retry_delay_then_asked_again() {
        let cache = cache();
        let calls = Arc::new(AtomicUsize::new(0));
        let failed = cache.get_or_refresh(fetch(&calls, Duration::ZERO, unavailable));
        assert_eq!(failed.await.unwrap_err().kind(), ErrorKind::Server);
        tokio::time::advance(Duration::from_millis(99)).await;
        let shared = cache.get_or_refresh(fetch(&calls, Duration::ZERO, living_a_minute));
        assert_eq!(shared.await.unwrap_err().kind(), ErrorKind::Server);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no second request within the hold");
        tokio::time::advance(Duration::from_millis(1)).await;
        let token = cache.get_or_refresh(fetch(&calls, Duration::ZERO, living_a_minute));
        assert_eq!(token.await.unwrap(), "token-2");
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_sets_how_long_a_failure_is_shared() {
        let cache = cache();
        let calls = Arc::new(AtomicUsize::new(0));
        let failed = cache.get_or_refresh(fetch(&calls, Duration::ZERO, |_| {
            Err(Error::new(ErrorKind::Server)
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .with_retry_after(Some(Duration::from_secs(2))))
        }));
        assert!(failed.await.is_err());
        tokio::time::advance(Duration::from_millis(1_999)).await;
        let shared = cache.get_or_refresh(fetch(&calls, Duration::ZERO, living_a_minute));
        assert!(shared.await.is_err());
        tokio::time::advance(Duration::from_millis(1)).await;
        let token = cache.get_or_refresh(fetch(&calls, Duration::ZERO, living_a_minute));
        assert_eq!(token.await.unwrap(), "token-2");
    }

    /// The caller that starts a fetch may give up before it ends (its time limit is shorter
    /// than the token endpoint's answer); the fetch goes on, and serves the next caller.
    #[tokio::test(start_paused = true)]
    async fn a_fetch_outlives_the_caller_that_started_it() {
        let cache = cache();
        let calls = Arc::new(AtomicUsize::new(0));
        let slow = Duration::from_millis(1_200);
        let first = tokio::time::timeout(
            Duration::from_secs(1),
            cache.get_or_refresh(fetch(&calls, slow, living_a_minute)),
        )
        .await;
        assert!(first.is_err(), "the first caller gave up at its limit");
        let second = tokio::time::timeout(
            Duration::from_secs(1),
            cache.get_or_refresh(fetch(&calls, slow, living_a_minute)),
        )
        .await;
        assert_eq!(second.unwrap().unwrap(), "token-1");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// Forgetting a rejected token while a fetch is under way neither waits for it nor drops
    /// the token it brings.
    #[tokio::test(start_paused = true)]
    async fn invalidating_during_a_fetch_keeps_the_new_token() {
        let cache = cache();
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(
            cache
                .get_or_refresh(fetch(&calls, Duration::ZERO, |n| Ok((header(n), Duration::ZERO))))
                .await
                .unwrap(),
            "token-1"
        );
        let fetching = tokio::spawn({
            let cache = cache.clone();
            let refresh = fetch(&calls, Duration::from_secs(8), living_a_minute);
            async move { cache.get_or_refresh(refresh).await }
        });
        tokio::task::yield_now().await;
        cache.invalidate(&header(1));
        assert_eq!(fetching.await.unwrap().unwrap(), "token-2");
        cache.invalidate(&header(1));
        let again = cache.get_or_refresh(fetch(&calls, Duration::ZERO, living_a_minute));
        assert_eq!(again.await.unwrap(), "token-2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    /// 50 callers at once; returns what each got and how many fetches ran.
    async fn fifty_callers(
        result: fn(usize) -> Result<(HeaderValue, Duration), Error>,
    ) -> (Vec<Result<String, ErrorKind>>, usize) {
        let cache = cache();
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let cache = cache.clone();
                let refresh = fetch(&calls, Duration::from_millis(100), result);
                tokio::spawn(async move {
                    cache
                        .get_or_refresh(refresh)
                        .await
                        .map(|t| t.to_str().unwrap().to_owned())
                        .map_err(|e| e.kind())
                })
            })
            .collect();
        let mut got = Vec::new();
        for task in tasks {
            got.push(task.await.unwrap());
        }
        (got, calls.load(Ordering::SeqCst))
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_refresh() {
        let (got, fetches) = fifty_callers(living_a_minute).await;
        assert_eq!(fetches, 1);
        assert!(got.iter().all(|r| r.as_deref() == Ok("token-1")), "{got:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_share_a_failed_fetch_instead_of_each_trying_again() {
        let (got, fetches) = fifty_callers(unavailable).await;
        assert_eq!(fetches, 1);
        assert!(got.iter().all(|r| *r == Err(ErrorKind::Server)), "{got:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_due_on_arrival_still_serves_the_callers_waiting_for_it() {
        let (got, fetches) = fifty_callers(|n| Ok((header(n), Duration::ZERO))).await;
        assert_eq!(fetches, 1);
        assert!(got.iter().all(|r| r.as_deref() == Ok("token-1")), "{got:?}");
    }

    #[test]
    fn expires_in_is_read_as_seconds_or_refused_by_name() {
        use serde_json::json;
        let read = |v: serde_json::Value| lifetime(Some(&v));
        assert_eq!(lifetime(None), Ok(DEFAULT_LIFETIME));
        assert_eq!(read(json!(300)), Ok(Duration::from_secs(300)));
        assert_eq!(read(json!(300.0)), Ok(Duration::from_secs(300)));
        assert_eq!(read(json!("300")), Ok(Duration::from_secs(300)));
        assert_eq!(read(json!(u64::MAX)).map(|d| d >= MAX_CACHED_LIFETIME), Ok(true));
        assert_eq!(read(json!(1e300)), Ok(Duration::MAX));
        for bad in [json!(-1), json!("soon"), json!(true), json!([300])] {
            let why = read(bad.clone()).unwrap_err();
            assert!(why.contains("expires_in"), "{bad}: {why}");
        }
    }

    #[test]
    fn debug_hides_tokens_and_secrets() {
        let token = TokenSource::Static(bearer_header(&SecretString::from("tok-123")).unwrap());
        assert!(!format!("{token:?}").contains("tok-123"));
        let cc = TokenSource::ClientCredentials(Arc::new(ClientCredentials::new(
            Url::parse("http://127.0.0.1/realms/master/protocol/openid-connect/token").unwrap(),
            "svc".into(),
            SecretString::from("shh-456"),
            reqwest::Client::new(),
            Duration::from_secs(1),
            Arc::try_unwrap(cache()).ok().unwrap(),
        )));
        let shown = format!("{cc:?}");
        assert!(shown.contains("svc") && !shown.contains("shh-456"), "{shown}");
    }
}
