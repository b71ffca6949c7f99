//! `phasetwo-invitations`: manage Phase Two organization invitations from a shell.

mod input;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use phasetwo_invitations::{
    BulkReport, Client, Error, ErrorKind, Invitation, ItemResult, NewInvitation, OrgInvitations,
};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  some items failed, or the server refused the request (400, 409)
  2  usage error or invalid input
  3  authentication or permission (401, 403, token endpoint)
  4  not found (404)
  5  server or network (5xx, 429, a redirect, timeout, broken connection, unreadable answer)

Secrets: prefer PHASETWO_TOKEN / PHASETWO_CLIENT_SECRET to --token / --client-secret, which
other users of the machine can see in the process list.";

#[derive(Parser)]
#[command(name = "phasetwo-invitations", version, about = "Manage Phase Two organization invitations", after_help = EXIT_CODES)]
struct Cli {
    /// Keycloak server URL (`/realms` is appended).
    #[arg(long, env = "PHASETWO_URL", global = true)]
    url: Option<String>,
    /// Realm of the organization.
    #[arg(long, env = "PHASETWO_REALM", global = true)]
    realm: Option<String>,
    /// Organization id.
    #[arg(long, env = "PHASETWO_ORG", global = true)]
    org: Option<String>,
    /// Bearer token.
    #[arg(long, env = "PHASETWO_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Client id for the client-credentials grant.
    #[arg(long, env = "PHASETWO_CLIENT_ID", global = true)]
    client_id: Option<String>,
    /// Client secret for the client-credentials grant.
    #[arg(
        long,
        env = "PHASETWO_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
    client_secret: Option<String>,
    /// Realm of the client-credentials token endpoint.
    #[arg(
        long,
        env = "PHASETWO_AUTH_REALM",
        default_value = "master",
        global = true
    )]
    auth_realm: String,
    /// JSON output, one object per line.
    #[arg(long, global = true)]
    json: bool,
    /// Allow http:// to a host that is not loopback (the token travels in clear text).
    #[arg(long, global = true)]
    allow_insecure_http: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List invitations.
    List {
        /// Only emails containing this text.
        #[arg(long)]
        search: Option<String>,
        /// Invitations per request.
        #[arg(long, default_value_t = 100)]
        page_size: u32,
        /// Stop after this many.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Show one invitation.
    Get { id: String },
    /// Count invitations.
    Count,
    /// Invite one person.
    Create {
        email: String,
        /// Organization role granted on acceptance (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Have the server email the invitee.
        #[arg(long)]
        send_email: bool,
        /// Where the invitee lands after accepting.
        #[arg(long)]
        redirect_uri: Option<String>,
        /// Attribute as KEY=VALUE (repeatable).
        #[arg(long = "attr", value_parser = parse_attribute)]
        attributes: Vec<(String, String)>,
        /// Treat an existing invitation found after a retry as created.
        #[arg(long)]
        idempotent: bool,
    },
    /// Delete (revoke) an invitation.
    Delete {
        id: String,
        /// Succeed when it does not exist.
        #[arg(long)]
        ignore_missing: bool,
    },
    /// Email an invitation again.
    Resend { id: String },
    /// Invite everyone in a file: CSV with a header (email, roles, redirect_uri, attr.NAME)
    /// or one email a line; `-` reads standard input.
    Bulk {
        file: PathBuf,
        /// Requests in flight at once.
        #[arg(long, default_value_t = phasetwo_invitations::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        /// At most this many creates a second.
        #[arg(long)]
        rate: Option<u32>,
        /// Check the file and look up existing invitations; create nothing.
        #[arg(long)]
        dry_run: bool,
        /// Have the server email every invitee.
        #[arg(long)]
        send_email: bool,
        /// Role granted to every invitee, on top of the file's (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Write every item's outcome to this file as JSON lines.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Delete every invitation whose email contains SEARCH.
    DeleteMatching {
        search: String,
        /// List what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Deletes in flight at once.
        #[arg(long, default_value_t = phasetwo_invitations::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        /// Write every item's outcome to this file as JSON lines.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

fn parse_attribute(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))
}

/// A failure of the tool, with its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            code: exit_code(&error),
            message: error.to_string(),
        }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

fn exit_code(error: &Error) -> u8 {
    match error.kind() {
        ErrorKind::InvalidInput => 2,
        ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::NoToken => 3,
        ErrorKind::NotFound => 4,
        ErrorKind::BadRequest
        | ErrorKind::AlreadyInvited
        | ErrorKind::AlreadyMember
        | ErrorKind::Conflict => 1,
        _ => 5,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(5);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn client(cli: &Cli) -> Result<Client, Failure> {
    let url = cli
        .url
        .as_deref()
        .ok_or_else(|| usage("missing --url (or PHASETWO_URL)"))?;
    let builder = Client::builder()
        .base_url(url)
        .allow_insecure_http(cli.allow_insecure_http);
    let builder = match (&cli.token, &cli.client_id, &cli.client_secret) {
        (Some(token), _, _) => builder.bearer_token(token),
        (None, Some(id), Some(secret)) => builder.client_credentials(&cli.auth_realm, id, secret),
        _ => {
            return Err(usage(
                "missing --token (or PHASETWO_TOKEN), or --client-id and --client-secret \
                 (or PHASETWO_CLIENT_ID and PHASETWO_CLIENT_SECRET)",
            ));
        }
    };
    Ok(builder.build()?)
}

fn org(cli: &Cli, client: &Client) -> Result<OrgInvitations, Failure> {
    let realm = cli
        .realm
        .as_deref()
        .ok_or_else(|| usage("missing --realm (or PHASETWO_REALM)"))?;
    let org = cli
        .org
        .as_deref()
        .ok_or_else(|| usage("missing --org (or PHASETWO_ORG)"))?;
    Ok(client.invitations(realm, org))
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    let client = client(&cli)?;
    let org = org(&cli, &client)?;
    let json = cli.json;
    let mut out = std::io::stdout().lock();
    let write_err = |e: std::io::Error| Failure {
        code: 5,
        message: format!("cannot write output: {e}"),
    };
    match cli.command {
        Command::List {
            search,
            page_size,
            limit,
        } => {
            let mut list = org.list().page_size(page_size);
            if let Some(search) = search {
                list = list.search(search);
            }
            if let Some(limit) = limit {
                list = list.max_items(limit);
            }
            let mut invitations = std::pin::pin!(list.stream());
            if !json {
                writeln!(
                    out,
                    "{:<36}  {:<40}  {:<17}  ROLES",
                    "ID", "EMAIL", "CREATED"
                )
                .map_err(write_err)?;
            }
            while let Some(invitation) = invitations.next().await {
                let invitation = invitation?;
                if json {
                    writeln!(out, "{}", json_of(&invitation)).map_err(write_err)?;
                } else {
                    writeln!(out, "{}", row_of(&invitation)).map_err(write_err)?;
                }
            }
        }
        Command::Get { id } => {
            let Some(invitation) = org.get(&id).await? else {
                return Err(Failure {
                    code: 4,
                    message: format!("no invitation {id}"),
                });
            };
            if json {
                writeln!(out, "{}", json_of(&invitation)).map_err(write_err)?;
            } else {
                writeln!(out, "{}", details_of(&invitation)).map_err(write_err)?;
            }
        }
        Command::Count => {
            let n = org.count().await?;
            if json {
                writeln!(out, "{}", serde_json::json!({ "count": n })).map_err(write_err)?;
            } else {
                writeln!(out, "{n}").map_err(write_err)?;
            }
        }
        Command::Create {
            email,
            roles,
            send_email,
            redirect_uri,
            attributes,
            idempotent,
        } => {
            let mut create = org.create(email).roles(roles).send_email(send_email);
            if let Some(uri) = redirect_uri {
                create = create.redirect_uri(uri);
            }
            for (key, value) in attributes {
                create = create.attribute(key, [value]);
            }
            if idempotent {
                create = create.idempotent();
            }
            let created = create.await?;
            if json {
                let value = serde_json::json!({
                    "id": created.id(),
                    "email": created.email(),
                    "location": created.location(),
                    "reconciled": created.reconciled(),
                });
                writeln!(out, "{value}").map_err(write_err)?;
            } else {
                writeln!(out, "created {} for {}", created.id(), created.email())
                    .map_err(write_err)?;
            }
        }
        Command::Delete { id, ignore_missing } => {
            let mut delete = org.delete(&id);
            if ignore_missing {
                delete = delete.ignore_missing();
            }
            delete.await?;
            if json {
                writeln!(out, "{}", serde_json::json!({ "deleted": id })).map_err(write_err)?;
            } else {
                writeln!(out, "deleted {id}").map_err(write_err)?;
            }
        }
        Command::Resend { id } => {
            org.resend(&id).await?;
            if json {
                writeln!(out, "{}", serde_json::json!({ "resent": id })).map_err(write_err)?;
            } else {
                writeln!(out, "resent {id}").map_err(write_err)?;
            }
        }
        Command::Bulk {
            file,
            concurrency,
            rate,
            dry_run,
            send_email,
            roles,
            report,
        } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(&file)
            }
            .map_err(|e| usage(format!("{}: {e}", file.display())))?;
            let mut items =
                input::parse(&text).map_err(|e| usage(format!("{}: {e}", file.display())))?;
            for item in &mut items {
                item.roles.extend(roles.iter().cloned());
                item.send_email |= send_email;
            }
            let total = items.len();
            let mut run = org
                .create_many::<NewInvitation>(items)
                .concurrency(concurrency)
                .rate_limit(rate.unwrap_or(0));
            if dry_run {
                run = run.dry_run();
            }
            return finish(run.stream(), total, json, report.as_deref(), &mut out).await;
        }
        Command::DeleteMatching {
            search,
            dry_run,
            concurrency,
            report,
        } => {
            let mut run = org.delete_matching(&search).concurrency(concurrency);
            if dry_run {
                run = run.dry_run();
            }
            let results = run.stream().await?;
            return finish(results, 0, json, report.as_deref(), &mut out).await;
        }
    }
    Ok(0)
}

/// Shows progress (on a terminal only), writes the per-item report, prints the summary, and
/// chooses the exit code of a bulk run.
async fn finish(
    results: impl futures_util::Stream<Item = ItemResult>,
    total: usize,
    json: bool,
    report_path: Option<&std::path::Path>,
    out: &mut impl Write,
) -> Result<u8, Failure> {
    let progress = if std::io::stderr().is_terminal() && total > 0 {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut report_file = match report_path {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| usage(format!("{}: {e}", path.display())))?,
        )),
        None => None,
    };
    let write_err = |e: std::io::Error| Failure {
        code: 5,
        message: format!("cannot write output: {e}"),
    };
    let started = std::time::Instant::now();
    let mut report = BulkReport::default();
    let mut stop_code = None;
    let mut results = std::pin::pin!(results);
    while let Some(item) = results.next().await {
        progress.inc(1);
        let line = item.to_json();
        if let Some(file) = report_file.as_mut() {
            writeln!(file, "{line}").map_err(write_err)?;
        }
        if json {
            writeln!(out, "{line}").map_err(write_err)?;
        }
        if let Some(error) = item.outcome.error()
            && error.kind() != ErrorKind::InvalidInput
        {
            let code = exit_code(error);
            if code >= 3 {
                stop_code.get_or_insert(code);
            }
        }
        report.record(item);
    }
    progress.finish_and_clear();
    report.elapsed = started.elapsed();
    if let Some(file) = report_file.as_mut() {
        file.flush().map_err(write_err)?;
    }
    if json {
        let summary = serde_json::json!({
            "summary": report.to_string(),
            "created": report.created,
            "already_invited": report.already_invited,
            "already_member": report.already_member,
            "duplicates": report.duplicates,
            "invalid": report.invalid.len(),
            "failed": report.failed.len(),
            "not_attempted": report.not_attempted,
            "would_create": report.would_create,
            "deleted": report.deleted,
            "would_delete": report.would_delete,
        });
        writeln!(out, "{summary}").map_err(write_err)?;
    } else {
        writeln!(out, "{report}").map_err(write_err)?;
        for failure in report.invalid.iter().chain(&report.failed) {
            writeln!(
                out,
                "  line {}: {}: {}",
                failure.index + 1,
                failure.email,
                failure.error
            )
            .map_err(write_err)?;
        }
    }
    Ok(match (report.not_attempted > 0, stop_code) {
        // The run stopped early: say why, as the error's own code.
        (true, Some(code)) => code,
        _ if report.is_success() => 0,
        _ => 1,
    })
}

fn json_of(invitation: &Invitation) -> serde_json::Value {
    serde_json::to_value(invitation).unwrap_or_default()
}

fn row_of(invitation: &Invitation) -> String {
    format!(
        "{:<36}  {:<40}  {:<17}  {}",
        invitation.id,
        invitation.email,
        invitation.created_at.as_deref().unwrap_or("-"),
        invitation.roles.join(",")
    )
}

fn details_of(invitation: &Invitation) -> String {
    let attributes: Vec<String> = invitation
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={}", v.join(";")))
        .collect();
    [
        ("id", invitation.id.clone()),
        ("email", invitation.email.clone()),
        ("created", invitation.created_at.clone().unwrap_or_default()),
        ("inviter", invitation.inviter_id.clone().unwrap_or_default()),
        (
            "organization",
            invitation.organization_id.clone().unwrap_or_default(),
        ),
        ("roles", invitation.roles.join(",")),
        ("attributes", attributes.join(" ")),
        ("url", invitation.invitation_url.clone().unwrap_or_default()),
    ]
    .iter()
    .map(|(k, v)| format!("{k:<13}{v}"))
    .collect::<Vec<_>>()
    .join("\n")
}
