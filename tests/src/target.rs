//! The server a conformance case runs against: the built-in `FakeServer`, or the real Phase
//! Two server that `phasetwo-server` started, described in `PHASETWO_SERVER`.
//!
//! Every case makes its own organizations and users, with unique names, so cases can run in
//! parallel on one real server and a case never sees another's invitations.

use std::time::Duration;

use phasetwo_invitations::Client;
use phasetwo_invitations_testing::{FakeServer, Permission};

use crate::admin::{Admin, Description, ROLES};

/// The variable holding the real server's description (one JSON line).
pub const SERVER_VARIABLE: &str = "PHASETWO_SERVER";
/// The fake server's client-credentials lifetime: Keycloak's default.
const FAKE_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// One server, and what a case needs to set up on it.
#[derive(Debug)]
pub struct Target {
    server: Server,
    realm: String,
    client_id: String,
    client_secret: String,
    view_client_id: String,
    view_client_secret: String,
}

#[derive(Debug)]
enum Server {
    Fake(FakeServer),
    Real { description: Box<Description>, admin: Admin },
}

/// The real server's part of a description; a description without one is not of a real server.
fn real(description: &Description) -> &phasetwo_invitations_testing::KeycloakDetails {
    description.keycloak.as_ref().unwrap_or_else(|| {
        panic!("{SERVER_VARIABLE} describes no Keycloak: run the tests through phasetwo-server")
    })
}

impl Target {
    /// The real server when `PHASETWO_SERVER` is set, else a new built-in one.
    pub async fn new() -> Target {
        match std::env::var(SERVER_VARIABLE) {
            Ok(line) => {
                let description: Description = serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("{SERVER_VARIABLE} is not a server description: {e}")
                });
                let keycloak = real(&description);
                let admin = Admin::sign_in(
                    &description.url,
                    &keycloak.admin_user,
                    &keycloak.admin_password,
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
                Target {
                    realm: description.realm.clone(),
                    client_id: description.client_id.clone(),
                    client_secret: description.client_secret.clone(),
                    view_client_id: description.view_client_id.clone(),
                    view_client_secret: description.view_client_secret.clone(),
                    server: Server::Real { description: Box::new(description), admin },
                }
            }
            Err(_) => {
                let (realm, client, viewer) = (
                    "acme",
                    ("invitations-service", "service-secret"),
                    ("invitations-viewer", "viewer-secret"),
                );
                let fake = FakeServer::start().await;
                for ((id, secret), permission) in
                    [(client, Permission::Manage), (viewer, Permission::View)]
                {
                    fake.add_client(realm, id, secret, permission, FAKE_TOKEN_LIFETIME);
                }
                Target {
                    server: Server::Fake(fake),
                    realm: realm.to_owned(),
                    client_id: client.0.to_owned(),
                    client_secret: client.1.to_owned(),
                    view_client_id: viewer.0.to_owned(),
                    view_client_secret: viewer.1.to_owned(),
                }
            }
        }
    }

    /// The server URL, without `/realms`.
    pub fn url(&self) -> &str {
        match &self.server {
            Server::Fake(fake) => fake.url(),
            Server::Real { description, .. } => &description.url,
        }
    }

    /// Whether the server checks the request's email with its bean validation (`must be a
    /// well-formed email address`) before its own parser. Of the verified Keycloak releases
    /// only 26.5.0 does; 26.4.0 and 26.5.7 store what the parser accepts (`Jo <jo@b.io>`,
    /// `dash@-b.io`), with the extension's code unchanged. The built-in server behaves as the
    /// pinned release does.
    pub fn checks_email_format(&self) -> bool {
        match &self.server {
            Server::Fake(_) => true,
            Server::Real { description, .. } => real(description).keycloak_version == "26.5.0",
        }
    }

    /// The realm of every fixture.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The token endpoint's lifetime for client-credentials tokens.
    pub fn token_lifetime(&self) -> Duration {
        match &self.server {
            Server::Fake(_) => FAKE_TOKEN_LIFETIME,
            Server::Real { description, .. } => Duration::from_secs(description.token_lifetime_s),
        }
    }

    /// A new organization with the roles `member` and `admin` (and Phase Two's own).
    pub async fn new_org(&self) -> String {
        let name = format!("org-{}", uuid::Uuid::new_v4().simple());
        match &self.server {
            Server::Fake(fake) => {
                fake.add_org(&self.realm, &name, ROLES);
                name
            }
            Server::Real { admin, .. } => {
                admin.create_org(&self.realm, &name, &ROLES).await.unwrap_or_else(|e| panic!("{e}"))
            }
        }
    }

    /// A unique email, in lower case.
    pub fn email(&self, tag: &str) -> String {
        format!("{tag}-{}@example.com", &uuid::Uuid::new_v4().simple().to_string()[..12])
    }

    /// Makes a new user with `email` a member of `org`.
    pub async fn add_member(&self, org: &str, email: &str) {
        match &self.server {
            Server::Fake(fake) => fake.add_member(&self.realm, org, email),
            Server::Real { admin, .. } => {
                let user = admin
                    .create_user(&self.realm, email, None)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                admin.add_member(&self.realm, org, &user).await.unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    /// A bearer token of a new user with a verified `email`, who belongs to no organization.
    pub async fn user_token(&self, email: &str) -> String {
        match &self.server {
            Server::Fake(fake) => {
                let token = format!("user-{}", uuid::Uuid::new_v4().simple());
                fake.add_token(&token, Permission::User(email.to_owned()));
                token
            }
            Server::Real { admin, description } => {
                let password = uuid::Uuid::new_v4().simple().to_string();
                admin
                    .create_user(&self.realm, email, Some(&password))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                admin
                    .user_token(&self.realm, &real(description).user_client_id, email, &password)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        }
    }

    /// `(realm, client id, secret)` of the client whose service account manages invitations.
    pub fn manager_credentials(&self) -> (&str, &str, &str) {
        (&self.realm, &self.client_id, &self.client_secret)
    }

    /// A client signed in with the managing client's credentials. Retries wait 10 ms at most.
    pub fn manager(&self) -> Client {
        self.builder()
            .client_credentials(&self.realm, &self.client_id, &self.client_secret)
            .build()
            .expect("a valid client")
    }

    /// A client whose service account may only view.
    pub fn viewer(&self) -> Client {
        self.builder()
            .client_credentials(&self.realm, &self.view_client_id, &self.view_client_secret)
            .build()
            .expect("a valid client")
    }

    /// A client with a fixed bearer token.
    pub fn with_token(&self, token: &str) -> Client {
        self.builder().bearer_token(token).build().expect("a valid client")
    }

    /// A client builder for this server, with short retry waits.
    pub fn builder(&self) -> phasetwo_invitations::ClientBuilder {
        Client::builder()
            .base_url(self.url())
            .retry(phasetwo_invitations_testing::support::quick_retries())
    }

    /// A token of the managing client, for requests made by hand.
    pub async fn manager_token(&self) -> String {
        self.client_token(&self.client_id, &self.client_secret).await
    }

    /// A token of the view-only client, for requests made by hand.
    pub async fn viewer_token(&self) -> String {
        self.client_token(&self.view_client_id, &self.view_client_secret).await
    }

    async fn client_token(&self, client_id: &str, secret: &str) -> String {
        crate::admin::token(
            &reqwest::Client::new(),
            self.url(),
            &self.realm,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }
}
