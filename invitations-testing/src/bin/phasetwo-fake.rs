//! The built-in Phase Two server as a process, for local development and tests without
//! Keycloak. Run `phasetwo-fake --help` for what it seeds and the flags that change it.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use phasetwo_invitations_testing::{FakeServer, Permission, SeededInvitation, ServerDescription};

const HELP: &str = "\
usage: phasetwo-fake [OPTIONS]

Serves the built-in Phase Two server on 127.0.0.1 until interrupted, and prints one JSON line
describing what it seeded, with the field names `cargo xtask phasetwo-server` uses for the real
server (url, realm, org, token, other_org, roles, client_id, client_secret, view_client_id,
view_client_secret, view_token, member_email, members, invitee_email, invitee_token,
invitations, token_lifetime_s). Every option has a default, so no option is needed.

options:
  --addr HOST:PORT            where to listen (default 127.0.0.1:0, a free port)
  --realm NAME                the realm (demo)
  --org ID                    the organization (demo-org)
  --other-org ID              a second organization, with the same roles (demo-other-org)
  --role NAME                 a role of both organizations; repeat for more (member, admin).
                              Phase Two's built-in organization roles exist as well.
  --token TOKEN               a bearer token that may view and manage invitations (devtoken)
  --view-token TOKEN          a bearer token that may only view (viewtoken)
  --client-id ID              a client whose client-credentials tokens manage (invitations-service)
  --client-secret SECRET      its secret (devsecret)
  --view-client-id ID         a client whose tokens only view (invitations-viewer)
  --view-client-secret SECRET its secret (viewsecret)
  --token-lifetime SECONDS    lifetime of the tokens the token endpoint issues (300)
  --member EMAIL              a member of the organization; repeat for more (member@example.com)
  --invitee EMAIL             a user with a verified email and no membership (invitee@example.com)
  --invitee-token TOKEN       the invitee's token (invitee-token)
  --invitation EMAIL          an invitation of the organization; repeat for more (none)
  -h, --help                  this text

exit codes: 0 after an interrupt, 1 when the address cannot be bound, 2 for a usage error.
";

/// What to seed, with the defaults of `HELP`.
#[derive(Debug)]
struct Options {
    addr: SocketAddr,
    realm: String,
    org: String,
    other_org: String,
    roles: Vec<String>,
    token: String,
    view_token: String,
    client_id: String,
    client_secret: String,
    view_client_id: String,
    view_client_secret: String,
    token_lifetime: Duration,
    members: Vec<String>,
    invitee: String,
    invitee_token: String,
    invitations: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        let text = |s: &str| s.to_owned();
        Options {
            addr: ([127, 0, 0, 1], 0).into(),
            realm: text("demo"),
            org: text("demo-org"),
            other_org: text("demo-other-org"),
            roles: vec![text("member"), text("admin")],
            token: text("devtoken"),
            view_token: text("viewtoken"),
            client_id: text("invitations-service"),
            client_secret: text("devsecret"),
            view_client_id: text("invitations-viewer"),
            view_client_secret: text("viewsecret"),
            token_lifetime: Duration::from_secs(300),
            members: vec![text("member@example.com")],
            invitee: text("invitee@example.com"),
            invitee_token: text("invitee-token"),
            invitations: Vec::new(),
        }
    }
}

/// Reads the flags; `Ok(None)` asks for the help text.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options::default();
    // A repeatable flag given once replaces its default list.
    let (mut roles, mut members) = (Vec::new(), Vec::new());
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => {
                options.addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?;
            }
            "--realm" => options.realm = value,
            "--org" => options.org = value,
            "--other-org" => options.other_org = value,
            "--role" => roles.push(value),
            "--token" => options.token = value,
            "--view-token" => options.view_token = value,
            "--client-id" => options.client_id = value,
            "--client-secret" => options.client_secret = value,
            "--view-client-id" => options.view_client_id = value,
            "--view-client-secret" => options.view_client_secret = value,
            "--token-lifetime" => {
                let seconds: u64 =
                    value.parse().map_err(|e| format!("--token-lifetime {value}: {e}"))?;
                options.token_lifetime = Duration::from_secs(seconds);
            }
            "--member" => members.push(value),
            "--invitee" => options.invitee = value,
            "--invitee-token" => options.invitee_token = value,
            "--invitation" => options.invitations.push(value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if !roles.is_empty() {
        options.roles = roles;
    }
    if !members.is_empty() {
        options.members = members;
    }
    Ok(Some(options))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("phasetwo-fake: {e}\n(phasetwo-fake --help lists the options)");
            return ExitCode::from(2);
        }
    };
    let server = match FakeServer::start_on(options.addr).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("phasetwo-fake: cannot listen on {}: {e}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    let realm = &options.realm;
    for org in [&options.org, &options.other_org] {
        server.add_org(realm, org, &options.roles);
    }
    server.add_token(&options.token, Permission::Manage);
    server.add_token(&options.view_token, Permission::View);
    for (id, secret, permission) in [
        (&options.client_id, &options.client_secret, Permission::Manage),
        (&options.view_client_id, &options.view_client_secret, Permission::View),
    ] {
        server.add_client(realm, id, secret, permission, options.token_lifetime);
    }
    for member in &options.members {
        server.add_member(realm, &options.org, member);
    }
    server.add_token(&options.invitee_token, Permission::User(options.invitee.clone()));
    let invitations: Vec<_> = options
        .invitations
        .iter()
        .map(|email| {
            let id = server.add_invitation(realm, &options.org, email);
            SeededInvitation { id, email: email.to_lowercase() }
        })
        .collect();
    let description = ServerDescription {
        url: server.url().to_owned(),
        realm: realm.clone(),
        org: options.org.clone(),
        token: options.token.clone(),
        other_org: options.other_org.clone(),
        roles: options.roles.clone(),
        client_id: options.client_id.clone(),
        client_secret: options.client_secret.clone(),
        view_client_id: options.view_client_id.clone(),
        view_client_secret: options.view_client_secret.clone(),
        view_token: options.view_token.clone(),
        member_email: options.members.first().cloned().unwrap_or_default(),
        invitee_email: options.invitee.clone(),
        invitee_token: options.invitee_token.clone(),
        token_lifetime_s: options.token_lifetime.as_secs(),
        members: options.members.clone(),
        invitations,
        keycloak: None,
    };
    println!("{}", serde_json::to_string(&description).expect("a description serialises"));
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
