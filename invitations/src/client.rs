//! The client and its configuration.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::auth::bearer_header;
use crate::auth::{ClientCredentials, TokenCache, TokenProvider, TokenSource};
use crate::call::{AuthHook, Engine, Settings};
use crate::error::{Error, ErrorKind};
use crate::retry::{DEFAULT_RETRY_BUDGET, RetryBudget, RetryConfig};
use crate::setters::setters;
use phasetwo_invitations_client as raw;

/// The server the spec names when no other is given.
pub const DEFAULT_BASE_URL: &str = "https://app.phasetwo.io";
/// Realm whose token endpoint serves client credentials unless told otherwise.
pub const DEFAULT_AUTH_REALM: &str = "master";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read; a page of 1,000 invitations is about 400 KB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// A Phase Two client: cheap to clone (one `Arc`), safe to share between tasks.
///
/// ```no_run
/// # async fn demo() -> Result<(), phasetwo_invitations::Error> {
/// use phasetwo_invitations::Client;
///
/// let client = Client::builder()
///     .base_url("https://keycloak.example.com/auth")
///     .client_credentials("master", "invitations-service", "s3cr3t")
///     .build()?;
/// let org = client.invitations("acme", "3f2a9c");
/// println!("{} pending invitations", org.count().send().await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    server: Url,
    #[cfg(feature = "blocking")]
    connections: Connections,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.inner.engine.settings;
        f.debug_struct("Client")
            .field("server", &self.inner.server.as_str())
            .field("auth", &self.inner.engine.tokens)
            .field("retry", &settings.retry)
            .field("attempt_timeout", &settings.attempt_timeout)
            .field("operation_timeout", &settings.operation_timeout)
            .field("budget", &settings.budget)
            .field("log_emails", &settings.log_emails)
            .finish()
    }
}

impl Client {
    /// Starts the configuration of a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the environment:
    ///
    /// - `PHASETWO_URL`: the Keycloak server URL (required);
    /// - either `PHASETWO_TOKEN`, a bearer token,
    /// - or `PHASETWO_CLIENT_ID` and `PHASETWO_CLIENT_SECRET`, for the client-credentials grant
    ///   in realm `PHASETWO_AUTH_REALM` (default `master`), at `PHASETWO_TOKEN_URL` when
    ///   the token endpoint is reached at another address (see
    ///   [`ClientBuilder::token_base_url`]).
    ///
    /// The error names every missing variable. A client serves every realm and organization,
    /// so `PHASETWO_REALM` and `PHASETWO_ORG` (which the command-line tool and the examples
    /// read) are not part of it: pass them to [`Client::invitations`].
    pub fn from_env() -> Result<Client, Error> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`Client::from_env`] reading from `lookup` instead of the process environment.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Client, Error> {
        Self::builder_from_vars(lookup)?.build()
    }

    /// The builder [`Client::from_vars`] builds, for settings the variables do not cover.
    pub fn builder_from_vars(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ClientBuilder, Error> {
        let url = lookup("PHASETWO_URL");
        let token = lookup("PHASETWO_TOKEN");
        let id = lookup("PHASETWO_CLIENT_ID");
        let secret = lookup("PHASETWO_CLIENT_SECRET");
        let mut missing = Vec::new();
        if url.is_none() {
            missing.push("PHASETWO_URL");
        }
        let mut builder = Client::builder();
        match (token, id, secret) {
            (Some(token), _, _) => builder = builder.bearer_token(token),
            (None, Some(id), Some(secret)) => {
                let realm =
                    lookup("PHASETWO_AUTH_REALM").unwrap_or_else(|| DEFAULT_AUTH_REALM.into());
                builder = builder.client_credentials(realm, id, secret);
                if let Some(url) = lookup("PHASETWO_TOKEN_URL") {
                    builder = builder.token_base_url(url);
                }
            }
            (None, id, secret) => {
                if id.is_some() {
                    missing.push("PHASETWO_CLIENT_SECRET");
                } else if secret.is_some() {
                    missing.push("PHASETWO_CLIENT_ID");
                } else {
                    missing
                        .push("PHASETWO_TOKEN (or PHASETWO_CLIENT_ID and PHASETWO_CLIENT_SECRET)");
                }
            }
        }
        if !missing.is_empty() {
            return Err(Error::invalid("environment", format!("missing {}", missing.join(", "))));
        }
        Ok(builder.base_url(url.unwrap_or_default()))
    }

    /// The generated client underneath, with the same authentication, for what the facade
    /// does not cover.
    pub fn raw(&self) -> &raw::Client {
        &self.inner.engine.raw
    }

    /// The Keycloak server URL in use (without `/realms`).
    pub fn server_url(&self) -> &Url {
        &self.inner.server
    }

    /// What carries out this client's calls.
    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

/// Configuration of a [`Client`].
#[derive(Default)]
pub struct ClientBuilder {
    base_url: Option<String>,
    token_base_url: Option<String>,
    auth: Option<AuthConfig>,
    allow_insecure_http: bool,
    connect_timeout: Option<Duration>,
    attempt_timeout: Option<Duration>,
    operation_timeout: Option<Duration>,
    retry: RetryConfig,
    retry_budget: Option<u32>,
    log_emails: bool,
    max_response_bytes: Option<usize>,
}

enum AuthConfig {
    Token(SecretString),
    Provider(Arc<dyn TokenProvider>),
    ClientCredentials { realm: String, client_id: String, client_secret: SecretString },
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            None => "none",
            Some(AuthConfig::Token(_)) => "bearer token",
            Some(AuthConfig::Provider(_)) => "token provider",
            Some(AuthConfig::ClientCredentials { .. }) => "client credentials",
        };
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("token_base_url", &self.token_base_url)
            .field("auth", &auth)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("retry", &self.retry)
            .field("log_emails", &self.log_emails)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

impl ClientBuilder {
    setters! {
        /// The Keycloak server URL, such as `https://keycloak.example.com` or
        /// `https://example.com/auth`; a trailing `/` or `/realms` is accepted. Default:
        /// [`DEFAULT_BASE_URL`].
        fn base_url(url: impl Into<String>) => base_url = Some(url.into());

        /// Sends this bearer token with every request.
        fn bearer_token(token: impl Into<String>)
            => auth = Some(AuthConfig::Token(SecretString::from(token.into())));

        /// Asks `provider` for the token before every request; see [`TokenProvider`].
        fn token_provider(provider: impl TokenProvider)
            => auth = Some(AuthConfig::Provider(Arc::new(provider)));
    }

    /// Gets tokens with the OAuth 2 client-credentials grant from the token endpoint of
    /// `realm` on the same server (`{server}/realms/{realm}/protocol/openid-connect/token`).
    /// The token is cached and renewed before it expires.
    pub fn client_credentials(
        mut self,
        realm: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.auth = Some(AuthConfig::ClientCredentials {
            realm: realm.into(),
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
        });
        self
    }

    setters! {
        /// Where Keycloak's token endpoint is reached, when not at the base URL (an internal
        /// address, another proxy): client credentials are then posted to
        /// `{token_base_url}/realms/{realm}/protocol/openid-connect/token`. Checked as the base URL
        /// is.
        fn token_base_url(url: impl Into<String>) => token_base_url = Some(url.into());

        /// Allows `http://` to a host that is not loopback. Off by default: the token would
        /// cross the network in clear text.
        fn allow_insecure_http(allow: bool) => allow_insecure_http = allow;

        /// How long to wait for a connection. Default 10 s.
        fn connect_timeout(timeout: Duration) => connect_timeout = Some(timeout);

        /// How long one attempt may take: its token, its request and reading the answer.
        /// Default 30 s; a call can set its own
        /// ([`GetInvitation::attempt_timeout`](crate::GetInvitation::attempt_timeout) and the
        /// same on every builder).
        fn attempt_timeout(timeout: Duration) => attempt_timeout = Some(timeout);

        /// How long one call may take, all attempts and waits between them together. No limit by
        /// default (each attempt still has its own limit); a call can set its own.
        fn operation_timeout(timeout: Duration) => operation_timeout = Some(timeout);

        /// The retry policy of every call; see [`RetryConfig`] for the defaults.
        fn retry(config: RetryConfig) => retry = config;

        /// The size of the retry budget shared by all calls of the client (default 500; a retry
        /// costs 5, a retry after a timeout 10, and a success gives 1 back).
        fn retry_budget(capacity: u32) => retry_budget = Some(capacity);

        /// The largest answer body read, in bytes; a longer one fails the call with
        /// [`ErrorKind::Decode`] instead of filling memory. Default
        /// [`DEFAULT_MAX_RESPONSE_BYTES`] (64 MiB).
        fn max_response_bytes(bytes: usize) => max_response_bytes = Some(bytes);

        /// Records invitees' email addresses in tracing spans. Off by default: they are personal
        /// data.
        fn log_emails(log: bool) => log_emails = log;
    }

    /// Checks the configuration and builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let server = server_url(
            self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL),
            self.allow_insecure_http,
        )?;
        let connections = Connections {
            connect_timeout: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            max_response_bytes: self.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            api_base: format!("{}/realms", server.as_str().trim_end_matches('/')),
        };
        let http = connections.http()?;
        let attempt_timeout = self.attempt_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
        let tokens = match self.auth {
            None => {
                return Err(Error::invalid(
                    "auth",
                    "no credentials: call bearer_token, token_provider or client_credentials",
                ));
            }
            Some(AuthConfig::Token(token)) => {
                if token.expose_secret().trim().is_empty() {
                    return Err(Error::invalid("bearer_token", "must not be empty"));
                }
                TokenSource::Static(bearer_header(&token).map_err(|_| {
                    Error::invalid("bearer_token", "is not a valid HTTP header value")
                })?)
            }
            Some(AuthConfig::Provider(provider)) => TokenSource::Provider(provider),
            Some(AuthConfig::ClientCredentials { realm, client_id, client_secret }) => {
                crate::validate::path_segment("realm", &realm)?;
                if client_id.is_empty() {
                    return Err(Error::invalid("client_id", "must not be empty"));
                }
                let token_server = match &self.token_base_url {
                    Some(url) => {
                        checked_server_url("token_base_url", url, self.allow_insecure_http)?
                    }
                    None => server.clone(),
                };
                let token_url = token_url(&token_server, &realm);
                TokenSource::ClientCredentials(Arc::new(ClientCredentials::new(
                    token_url,
                    client_id,
                    client_secret,
                    http.clone(),
                    attempt_timeout,
                    TokenCache::new(self.retry.initial_backoff, self.retry.max_retry_after),
                )))
            }
        };
        let raw = connections.raw(http, &tokens);
        let settings = Settings {
            retry: self.retry,
            attempt_timeout,
            operation_timeout: self.operation_timeout,
            budget: Arc::new(RetryBudget::new(self.retry_budget.unwrap_or(DEFAULT_RETRY_BUDGET))),
            log_emails: self.log_emails,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                engine: Engine { raw, tokens, settings },
                server,
                #[cfg(feature = "blocking")]
                connections,
            }),
        })
    }
}

/// How a client's connections are made, kept so that a client can be given a pool of its own.
struct Connections {
    connect_timeout: Duration,
    max_response_bytes: usize,
    api_base: String,
}

impl Connections {
    /// A new HTTP client, with a connection pool of its own.
    fn http(&self) -> Result<reqwest::Client, Error> {
        reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // Keycloak's APIs do not redirect; following one would carry a create's body, a
            // search or the client secret to wherever the answer points.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::Transport).with_detail("could not set up HTTP").with_source(e)
            })
    }

    /// The generated client over `http`, setting `tokens` on each request.
    fn raw(&self, http: reqwest::Client, tokens: &TokenSource) -> raw::Client {
        let hooks = raw::Hooks::new(AuthHook { tokens: tokens.clone() })
            .with_max_body(self.max_response_bytes);
        raw::Client::new_with_client(&self.api_base, http, hooks)
    }
}

#[cfg(feature = "blocking")]
impl Client {
    /// The same client (settings, token cache, retry budget) with connections of its own. A
    /// connection is served by the runtime that opened it, so a client whose calls run on a
    /// runtime of their own (the blocking client's) must not share its pool with another
    /// runtime: a call would wait on a connection nobody serves.
    pub(crate) fn with_own_connections(&self) -> Result<Client, Error> {
        let inner = &self.inner;
        let http = inner.connections.http()?;
        let tokens = inner.engine.tokens.with_http(&http);
        Ok(Client {
            inner: Arc::new(Inner {
                engine: Engine {
                    raw: inner.connections.raw(http, &tokens),
                    tokens,
                    settings: inner.engine.settings.clone(),
                },
                server: inner.server.clone(),
                connections: Connections {
                    api_base: inner.connections.api_base.clone(),
                    ..inner.connections
                },
            }),
        })
    }
}

/// Normalises the server URL: no trailing `/`, no trailing `/realms`, http(s) only, no
/// credentials, query or fragment; plain http only to loopback unless allowed.
pub(crate) fn server_url(input: &str, allow_insecure_http: bool) -> Result<Url, Error> {
    checked_server_url("base_url", input, allow_insecure_http)
}

/// `input` as a Keycloak server URL, with `field` named in the errors.
fn checked_server_url(
    field: &'static str,
    input: &str,
    allow_insecure_http: bool,
) -> Result<Url, Error> {
    let mut url = Url::parse(input.trim())
        .map_err(|e| Error::invalid(field, format!("not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid(field, "must be http or https"));
    }
    if url.host().is_none() {
        return Err(Error::invalid(field, "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            field,
            "must not hold credentials; use bearer_token or client_credentials",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(field, "must not have a query or fragment"));
    }
    if url.scheme() == "http" && !allow_insecure_http && !is_loopback(&url) {
        return Err(Error::invalid(
            field,
            "http:// to a non-loopback host would send the token in clear text; \
             use https or allow_insecure_http(true)",
        ));
    }
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/realms").unwrap_or(path).to_owned();
    url.set_path(&path);
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Keycloak's token endpoint of `realm` on `server`.
pub(crate) fn token_url(server: &Url, realm: &str) -> Url {
    let mut url = server.clone();
    url.path_segments_mut().expect("http(s) URLs have path segments").pop_if_empty().extend([
        "realms",
        realm,
        "protocol",
        "openid-connect",
        "token",
    ]);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalised(input: &str) -> String {
        server_url(input, false).unwrap().to_string()
    }

    #[test]
    fn base_url_accepts_prefixes_slashes_and_realms() {
        assert_eq!(normalised("http://localhost:8080"), "http://localhost:8080/");
        assert_eq!(normalised("http://localhost:8080/"), "http://localhost:8080/");
        assert_eq!(normalised("http://localhost:8080/realms"), "http://localhost:8080/");
        assert_eq!(normalised("http://127.0.0.1:8080/auth/"), "http://127.0.0.1:8080/auth");
        assert_eq!(
            normalised("https://kc.example.com/auth/realms/"),
            "https://kc.example.com/auth"
        );
    }

    #[test]
    fn plain_http_is_only_for_loopback_unless_allowed() {
        for ok in [
            "http://localhost",
            "http://127.0.0.2:1",
            "http://[::1]:8080",
            "https://kc.example.com",
        ] {
            assert!(server_url(ok, false).is_ok(), "{ok}");
        }
        let e = server_url("http://kc.example.com", false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.field(), Some("base_url"));
        assert!(e.to_string().contains("clear text"), "{e}");
        assert!(server_url("http://kc.example.com", true).is_ok());
    }

    #[test]
    fn base_url_refuses_what_cannot_be_a_server() {
        for bad in [
            "kc.example.com",
            "ftp://kc.example.com",
            "https://u:p@kc.example.com",
            "https://kc.example.com/?x=1",
            "",
        ] {
            assert_eq!(server_url(bad, false).unwrap_err().field(), Some("base_url"), "{bad}");
        }
    }

    #[test]
    fn token_url_is_keycloaks_under_the_same_prefix() {
        let server = server_url("https://kc.example.com/auth/", false).unwrap();
        assert_eq!(
            token_url(&server, "my realm").as_str(),
            "https://kc.example.com/auth/realms/my%20realm/protocol/openid-connect/token"
        );
        let root = server_url("https://kc.example.com", false).unwrap();
        assert_eq!(
            token_url(&root, "master").as_str(),
            "https://kc.example.com/realms/master/protocol/openid-connect/token"
        );
    }

    #[test]
    fn from_vars_names_what_is_missing() {
        let none = |_: &str| None;
        let e = Client::from_vars(none).unwrap_err();
        assert!(e.to_string().contains("PHASETWO_URL"), "{e}");
        assert!(e.to_string().contains("PHASETWO_TOKEN"), "{e}");

        let only_id = |name: &str| match name {
            "PHASETWO_URL" => Some("http://localhost:8080".to_owned()),
            "PHASETWO_CLIENT_ID" => Some("svc".to_owned()),
            _ => None,
        };
        let e = Client::from_vars(only_id).unwrap_err();
        assert!(e.to_string().contains("PHASETWO_CLIENT_SECRET"), "{e}");
        assert!(!e.to_string().contains("PHASETWO_URL"), "{e}");

        let credentials = |name: &str| match name {
            "PHASETWO_URL" => Some("http://localhost:8080/auth".to_owned()),
            "PHASETWO_CLIENT_ID" => Some("svc".to_owned()),
            "PHASETWO_CLIENT_SECRET" => Some("shh-789".to_owned()),
            _ => None,
        };
        let client = Client::from_vars(credentials).unwrap();
        let shown = format!("{client:?}");
        assert!(shown.contains("/auth/realms/master/protocol"), "{shown}");
        assert!(!shown.contains("shh-789"), "{shown}");
    }

    #[test]
    fn build_refuses_missing_or_unusable_credentials() {
        let e = Client::builder().build().unwrap_err();
        assert_eq!(e.field(), Some("auth"));
        let e = Client::builder().bearer_token("a\r\nb").build().unwrap_err();
        assert_eq!(e.field(), Some("bearer_token"));
        assert!(!e.to_string().contains("a\r\nb"));
        let e = Client::builder().bearer_token(" ").build().unwrap_err();
        assert_eq!(e.field(), Some("bearer_token"));
    }
}
