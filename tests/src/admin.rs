//! Configuring a real Keycloak with Phase Two through their admin REST APIs: realms, users,
//! clients, organizations, roles and members; and the description of what was created.

use serde_json::{Value, json};

use crate::keycloak::Error;

type Result<T> = std::result::Result<T, Error>;

use phasetwo_invitations_testing::KeycloakDetails;
/// What `phasetwo-server` created, printed as one JSON line and read back by the tests from
/// `PHASETWO_SERVER`: the format `phasetwo-fake` prints, with the real server's details.
pub use phasetwo_invitations_testing::ServerDescription as Description;

/// The roles every test organization gets.
pub const ROLES: [&str; 2] = ["member", "admin"];
/// The realm's access token lifetime: long enough for a printed token to serve a test run.
pub const TOKEN_LIFETIME_S: u64 = 3600;

/// An administrator's session: a master-realm token and an HTTP client.
#[derive(Debug, Clone)]
pub struct Admin {
    url: String,
    token: String,
    http: reqwest::Client,
}

fn check(step: &str, response: &reqwest::Response) -> Result<()> {
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{step}: HTTP {}", response.status()).into())
    }
}

/// The last path segment of a `Location` header: the id of what was created.
fn created_id(step: &str, response: &reqwest::Response) -> Result<String> {
    check(step, response)?;
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("{step}: no Location"))?;
    Ok(location.rsplit('/').next().unwrap_or_default().to_owned())
}

/// A token from `realm`'s token endpoint with the given form.
pub async fn token(
    http: &reqwest::Client,
    url: &str,
    realm: &str,
    form: &[(&str, &str)],
) -> Result<String> {
    let response = http
        .post(format!("{url}/realms/{realm}/protocol/openid-connect/token"))
        .form(form)
        .send()
        .await?;
    check(&format!("token from realm {realm}"), &response)?;
    let body: Value = response.json().await?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "token answer without access_token".into())
}

impl Admin {
    /// Signs in as the master realm's administrator.
    pub async fn sign_in(url: &str, user: &str, password: &str) -> Result<Admin> {
        let http = reqwest::Client::new();
        let token = token(
            &http,
            url,
            "master",
            &[
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", user),
                ("password", password),
            ],
        )
        .await
        .map_err(|e| format!("signing in as the administrator: {e}"))?;
        Ok(Admin { url: url.to_owned(), token, http })
    }

    async fn post(&self, path: &str, body: Value) -> Result<reqwest::Response> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// A GET whose answer is JSON.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        Ok(self.send(reqwest::Method::GET, path, None).await?.json().await?)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<reqwest::Response> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        Ok(request.send().await?)
    }

    /// Creates a realm whose tokens live `token_lifetime_s`.
    pub async fn create_realm(&self, realm: &str, token_lifetime_s: u64) -> Result<()> {
        let response = self
            .post(
                "/admin/realms",
                json!({
                    "realm": realm,
                    "enabled": true,
                    "accessTokenLifespan": token_lifetime_s,
                }),
            )
            .await?;
        check(&format!("creating realm {realm}"), &response)
    }

    /// Creates an organization with `roles` and returns its id.
    pub async fn create_org(&self, realm: &str, name: &str, roles: &[&str]) -> Result<String> {
        let step = format!("creating organization {name}");
        let response = self.post(&format!("/realms/{realm}/orgs"), json!({ "name": name })).await?;
        let org = created_id(&step, &response)?;
        for role in roles {
            let response = self
                .post(&format!("/realms/{realm}/orgs/{org}/roles"), json!({ "name": role }))
                .await?;
            check(&format!("adding role {role} to {name}"), &response)?;
        }
        Ok(org)
    }

    /// Creates an enabled user whose email is verified, with a password when given, and
    /// returns the user's id.
    pub async fn create_user(
        &self,
        realm: &str,
        email: &str,
        password: Option<&str>,
    ) -> Result<String> {
        let mut user = json!({
            "username": email,
            "email": email,
            "emailVerified": true,
            "enabled": true,
            "firstName": "Test",
            "lastName": "User",
        });
        if let Some(password) = password {
            user["credentials"] =
                json!([{ "type": "password", "value": password, "temporary": false }]);
        }
        let response = self.post(&format!("/admin/realms/{realm}/users"), user).await?;
        created_id(&format!("creating user {email}"), &response)
    }

    /// Makes a user a member of an organization.
    pub async fn add_member(&self, realm: &str, org: &str, user_id: &str) -> Result<()> {
        let response = self
            .send(
                reqwest::Method::PUT,
                &format!("/realms/{realm}/orgs/{org}/members/{user_id}"),
                None,
            )
            .await?;
        check("adding a member", &response)
    }

    /// Creates a confidential client with a service account holding the given
    /// `realm-management` roles, and returns its secret.
    pub async fn create_service_client(
        &self,
        realm: &str,
        client_id: &str,
        management_roles: &[&str],
    ) -> Result<String> {
        let secret = uuid::Uuid::new_v4().simple().to_string();
        let internal_id = self
            .create_client(
                realm,
                json!({
                    "clientId": client_id,
                    "publicClient": false,
                    "secret": secret,
                    "serviceAccountsEnabled": true,
                    "directAccessGrantsEnabled": false,
                }),
            )
            .await?;
        let account: Value = self
            .get_json(&format!("/admin/realms/{realm}/clients/{internal_id}/service-account-user"))
            .await?;
        let account_id = account["id"].as_str().ok_or("service account without id")?;
        let management = self.client_internal_id(realm, "realm-management").await?;
        let available: Vec<Value> =
            self.get_json(&format!("/admin/realms/{realm}/clients/{management}/roles")).await?;
        let wanted: Vec<&Value> = available
            .iter()
            .filter(|r| management_roles.contains(&r["name"].as_str().unwrap_or_default()))
            .collect();
        if wanted.len() != management_roles.len() {
            return Err(format!("realm-management lacks one of {management_roles:?}").into());
        }
        let response = self
            .post(
                &format!(
                    "/admin/realms/{realm}/users/{account_id}/role-mappings/clients/{management}"
                ),
                json!(wanted),
            )
            .await?;
        check(&format!("granting {management_roles:?} to {client_id}"), &response)?;
        Ok(secret)
    }

    /// Creates a public client that allows the password grant (for user tokens).
    pub async fn create_user_client(&self, realm: &str, client_id: &str) -> Result<()> {
        let client = json!({
            "clientId": client_id,
            "publicClient": true,
            "directAccessGrantsEnabled": true,
        });
        self.create_client(realm, client).await.map(drop)
    }

    /// Creates an enabled client without the browser flow, and returns its internal id.
    async fn create_client(&self, realm: &str, mut client: Value) -> Result<String> {
        let step = format!("creating client {}", client["clientId"]);
        client["enabled"] = json!(true);
        client["standardFlowEnabled"] = json!(false);
        let path = format!("/admin/realms/{realm}/clients");
        let response = self.send(reqwest::Method::POST, &path, Some(client)).await?;
        created_id(&step, &response)
    }

    async fn client_internal_id(&self, realm: &str, client_id: &str) -> Result<String> {
        let clients: Vec<Value> =
            self.get_json(&format!("/admin/realms/{realm}/clients?clientId={client_id}")).await?;
        clients
            .first()
            .and_then(|c| c["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("no client {client_id} in {realm}").into())
    }

    /// A user's token from the password grant of a public client.
    pub async fn user_token(
        &self,
        realm: &str,
        client_id: &str,
        username: &str,
        password: &str,
    ) -> Result<String> {
        token(
            &self.http,
            &self.url,
            realm,
            &[
                ("grant_type", "password"),
                ("client_id", client_id),
                ("username", username),
                ("password", password),
            ],
        )
        .await
        .map_err(|e| format!("signing in as {username}: {e}").into())
    }

    /// A service account's token from the client-credentials grant.
    pub async fn client_token(&self, realm: &str, client_id: &str, secret: &str) -> Result<String> {
        token(
            &self.http,
            &self.url,
            realm,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ],
        )
        .await
        .map_err(|e| format!("client credentials of {client_id}: {e}").into())
    }
}

/// Configures a fresh server: a realm, two organizations with [`ROLES`], a managing and a
/// view-only client, a member, and an invitee who can sign in.
pub async fn configure(
    url: &str,
    admin_password: &str,
    versions: (&str, &str),
) -> Result<Description> {
    let admin = Admin::sign_in(url, crate::keycloak::ADMIN_USER, admin_password).await?;
    let realm = "acme";
    admin.create_realm(realm, TOKEN_LIFETIME_S).await?;
    let org = admin.create_org(realm, "acme-org", &ROLES).await?;
    let other_org = admin.create_org(realm, "other-org", &ROLES).await?;
    let (client_id, view_client_id, user_client_id) =
        ("invitations-service", "invitations-viewer", "invitee-app");
    let client_secret = admin
        .create_service_client(realm, client_id, &["view-organizations", "manage-organizations"])
        .await?;
    let view_client_secret =
        admin.create_service_client(realm, view_client_id, &["view-organizations"]).await?;
    admin.create_user_client(realm, user_client_id).await?;
    let member_email = "member@example.com";
    let member = admin.create_user(realm, member_email, None).await?;
    admin.add_member(realm, &org, &member).await?;
    let invitee_email = "invitee@example.com";
    let invitee_password = uuid::Uuid::new_v4().simple().to_string();
    admin.create_user(realm, invitee_email, Some(&invitee_password)).await?;
    Ok(Description {
        url: url.to_owned(),
        realm: realm.to_owned(),
        token: admin.client_token(realm, client_id, &client_secret).await?,
        view_token: admin.client_token(realm, view_client_id, &view_client_secret).await?,
        invitee_token: admin
            .user_token(realm, user_client_id, invitee_email, &invitee_password)
            .await?,
        org,
        other_org,
        roles: ROLES.iter().map(|r| (*r).to_owned()).collect(),
        client_id: client_id.to_owned(),
        client_secret,
        view_client_id: view_client_id.to_owned(),
        view_client_secret,
        member_email: member_email.to_owned(),
        invitee_email: invitee_email.to_owned(),
        token_lifetime_s: TOKEN_LIFETIME_S,
        members: Vec::new(),
        invitations: Vec::new(),
        keycloak: Some(KeycloakDetails {
            invitee_password,
            user_client_id: user_client_id.to_owned(),
            admin_user: crate::keycloak::ADMIN_USER.to_owned(),
            admin_password: admin_password.to_owned(),
            keycloak_version: versions.0.to_owned(),
            keycloak_orgs: versions.1.to_owned(),
        }),
    })
}
