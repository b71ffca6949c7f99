//! Where the bearer token of each request comes from.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderValue;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use crate::error::{Error, ErrorKind, Sent};
use crate::response::{error_message, read_limited, status_error, transport_error};

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
    pub(crate) async fn invalidate(&self, rejected: &HeaderValue) {
        if let TokenSource::ClientCredentials(cc) = self {
            cc.cache.invalidate(rejected).await;
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

/// A cached token, renewed ahead of its expiry. One fetch runs at a time (the lock is held
/// while it runs); every caller that was waiting for it takes its result, token or failure,
/// instead of starting a fetch of its own. A caller gives up waiting when its own time limit
/// ends (its future is dropped), and the next waiter then fetches.
#[derive(Default)]
pub(crate) struct TokenCache {
    state: tokio::sync::Mutex<CacheState>,
    /// Fetches finished so far, readable without the lock: a caller notes it before waiting,
    /// and a change means a fetch finished while it waited.
    finished: AtomicU64,
}

#[derive(Default)]
struct CacheState {
    /// The last fetch's result, unless it was invalidated.
    last: Option<Result<CachedToken, Error>>,
}

struct CachedToken {
    /// The token as the header that carries it.
    authorization: HeaderValue,
    refresh_at: Instant,
}

impl TokenCache {
    /// Drops the cached token if it is `rejected` (a newer one, fetched meanwhile by another
    /// caller, is kept).
    pub(crate) async fn invalidate(&self, rejected: &HeaderValue) {
        let mut state = self.state.lock().await;
        if let Some(Ok(cached)) = &state.last
            && cached.authorization == *rejected
        {
            state.last = None;
        }
    }

    /// The cached token if it is still fresh, else the result of a fetch: the one that
    /// finished while this caller waited (even a token already due, or a failure), or a new
    /// one by `fetch` (which returns the token's header with its lifetime).
    pub(crate) async fn get_or_refresh<Fut>(
        &self,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<HeaderValue, Error>
    where
        Fut: Future<Output = Result<(HeaderValue, Duration), Error>>,
    {
        let seen = self.finished.load(Ordering::Acquire);
        let mut state = self.state.lock().await;
        let finished_while_waiting = self.finished.load(Ordering::Acquire) != seen;
        match &state.last {
            Some(Ok(c)) if finished_while_waiting || Instant::now() < c.refresh_at => {
                return Ok(c.authorization.clone());
            }
            Some(Err(e)) if finished_while_waiting => return Err(e.clone()),
            _ => {}
        }
        // Lifetimes count from before the request: the server's clock started then at the latest.
        let started = Instant::now();
        let result = fetch().await.map(|(authorization, lifetime)| {
            // A server may claim any lifetime; no clock can add 2^64 seconds.
            let lifetime = lifetime.min(MAX_CACHED_LIFETIME);
            CachedToken {
                authorization,
                refresh_at: started + lifetime - refresh_margin(lifetime),
            }
        });
        let answer = match &result {
            Ok(c) => Ok(c.authorization.clone()),
            Err(e) => Err(e.clone()),
        };
        state.last = Some(result);
        self.finished.fetch_add(1, Ordering::Release);
        answer
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
    ) -> Self {
        ClientCredentials {
            token_url,
            client_id,
            client_secret,
            http,
            cache: TokenCache::default(),
        }
    }

    async fn authorization(&self) -> Result<HeaderValue, Error> {
        // The grant is boxed: inline, its request would make every call's future as large as
        // a token request, and that future is moved through each layer of every call.
        self.cache.get_or_refresh(|| Box::pin(self.grant())).await
    }

    /// One token request. Its failures leave the API request unsent (`Sent::No`): passing
    /// ones (unreachable, timed out, 408, 429, 5xx) keep their kind so that the call retries
    /// them under its policy; the rest are [`ErrorKind::NoToken`].
    async fn grant(&self) -> Result<(HeaderValue, Duration), Error> {
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
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
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
    ) -> Result<(HeaderValue, Duration), Error> {
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Ok((header(n), lifetime))
    }

    fn header(n: usize) -> HeaderValue {
        HeaderValue::from_str(&format!("token-{n}")).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn token_is_reused_until_shortly_before_expiry() {
        let cache = TokenCache::default();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let lifetime = Duration::from_secs(60);
        let get = || cache.get_or_refresh(|| counting_fetcher(&calls, lifetime));

        assert_eq!(get().await.unwrap(), "token-1");
        tokio::time::advance(Duration::from_secs(44)).await;
        assert_eq!(get().await.unwrap(), "token-1");
        // 60 s lifetime, refreshed 15 s before expiry.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(get().await.unwrap(), "token-2");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_is_retried_by_the_next_caller() {
        let cache = TokenCache::default();
        let failed = cache
            .get_or_refresh(|| async { Err(Error::new(ErrorKind::NoToken)) })
            .await;
        assert_eq!(failed.unwrap_err().kind(), ErrorKind::NoToken);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let token = cache
            .get_or_refresh(|| counting_fetcher(&calls, Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(token, "token-1");
    }

    /// 50 callers at once, each running `fetch` if the cache lets it; returns what each got
    /// and how many fetches ran.
    async fn fifty_callers(
        result: fn(usize) -> Result<(HeaderValue, Duration), Error>,
    ) -> (Vec<Result<String, ErrorKind>>, usize) {
        let cache = Arc::new(TokenCache::default());
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_refresh(|| async {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            result(calls.fetch_add(1, Ordering::SeqCst) + 1)
                        })
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
        let (got, fetches) = fifty_callers(|n| Ok((header(n), Duration::from_secs(60)))).await;
        assert_eq!(fetches, 1);
        assert!(got.iter().all(|r| r.as_deref() == Ok("token-1")), "{got:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_share_a_failed_fetch_instead_of_each_trying_again() {
        let (got, fetches) = fifty_callers(|_| Err(Error::new(ErrorKind::Server))).await;
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
        assert_eq!(
            read(json!(u64::MAX)).map(|d| d >= MAX_CACHED_LIFETIME),
            Ok(true)
        );
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
        )));
        let shown = format!("{cc:?}");
        assert!(
            shown.contains("svc") && !shown.contains("shh-456"),
            "{shown}"
        );
    }
}
