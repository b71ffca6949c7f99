//! The command line: global options and subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// What `--help` says after the options and the exit codes.
const AFTER_HELP: &str = "\
With --json, results are JSON on standard output and errors JSON on standard error
({\"error\": {\"kind\", \"status\", \"message\", \"request_id\"}}), one object per line.

Secrets: prefer PHASETWO_TOKEN / PHASETWO_CLIENT_SECRET to --token / --client-secret, which
other users of the machine can see in the process list.";

#[derive(Parser)]
#[command(name = "phasetwo-invitations", version, about = "Manage Phase Two organization invitations", after_help = format!("{}\n{AFTER_HELP}", crate::exit::help()))]
pub struct Cli {
    /// Keycloak server URL (`/realms` is appended).
    #[arg(long, env = "PHASETWO_URL", global = true)]
    pub url: Option<String>,
    /// Realm of the organization.
    #[arg(long, env = "PHASETWO_REALM", global = true)]
    pub realm: Option<String>,
    /// Organization id.
    #[arg(long, env = "PHASETWO_ORG", global = true)]
    pub org: Option<String>,
    /// Bearer token.
    #[arg(long, env = "PHASETWO_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Client id for the client-credentials grant.
    #[arg(long, env = "PHASETWO_CLIENT_ID", global = true)]
    pub client_id: Option<String>,
    /// Client secret for the client-credentials grant.
    #[arg(long, env = "PHASETWO_CLIENT_SECRET", hide_env_values = true, global = true)]
    pub client_secret: Option<String>,
    /// Realm of the client-credentials token endpoint.
    #[arg(
        long,
        env = "PHASETWO_AUTH_REALM",
        default_value = phasetwo_invitations::DEFAULT_AUTH_REALM,
        global = true
    )]
    pub auth_realm: String,
    /// Keycloak server URL for the token endpoint, when it differs from --url.
    #[arg(long, env = "PHASETWO_TOKEN_URL", global = true)]
    pub token_url: Option<String>,
    /// JSON output, one object per line.
    #[arg(long, global = true)]
    pub json: bool,
    /// Allow http:// to a host that is not loopback (the token travels in clear text).
    #[arg(long, global = true)]
    pub allow_insecure_http: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    #[command(flatten)]
    Invitation(InvitationCommand),
    #[command(flatten)]
    Bulk(BulkCommand),
}

/// Commands on invitations one by one.
#[derive(Subcommand)]
pub enum InvitationCommand {
    /// List invitations.
    List {
        /// Only emails containing this text.
        #[arg(long)]
        search: Option<String>,
        /// Only emails at exactly this domain (`corp.example` is not `a@x.corp.example`).
        #[arg(long)]
        domain: Option<String>,
        /// Invitations per request.
        #[arg(long, default_value_t = phasetwo_invitations::DEFAULT_PAGE_SIZE, value_parser = clap::value_parser!(u32).range(1..))]
        page_size: u32,
        /// Stop after this many.
        #[arg(long)]
        limit: Option<u64>,
        /// Sort by creation time (oldest first; the same minute keeps the server's order) or
        /// by email. Reads every invitation before printing the first.
        #[arg(long, value_enum)]
        sort: Option<SortKey>,
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
        /// Succeed with the existing invitation when the email already has one (exit 0,
        /// saying so), as a sign-up hook needs; implies --idempotent.
        #[arg(long)]
        or_existing: bool,
    },
    /// Delete (revoke) an invitation.
    Delete {
        id: String,
        /// Succeed when it does not exist (and say so).
        #[arg(long)]
        ignore_missing: bool,
    },
    /// Email an invitation again.
    Resend { id: String },
}

/// Commands on many invitations at once.
#[derive(Subcommand)]
pub enum BulkCommand {
    /// Invite everyone in a file: CSV with a header (email, roles, redirect_uri, attr.NAME)
    /// or one email a line; `-` reads standard input.
    Bulk {
        file: PathBuf,
        /// Exactly this many requests in flight at once. Without it, the run finds its own
        /// number from the throughput it observes, up to --max-concurrency.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        concurrency: Option<u32>,
        /// The most requests in flight at once when the run finds its own number.
        #[arg(long, default_value_t = phasetwo_invitations::DEFAULT_MAX_CONCURRENCY as u32, value_parser = clap::value_parser!(u32).range(1..))]
        max_concurrency: u32,
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
    /// Revoke the invitations a selection names, or exactly the ids in a file. `--dry-run`
    /// prints the plan (one invitation a line, id first); `--ids` applies such a file.
    #[command(group = clap::ArgGroup::new("what").required(true).multiple(true))]
    Revoke {
        /// The invitation of exactly this email.
        #[arg(long, group = "what")]
        email: Option<String>,
        /// Invitations whose email's domain is exactly this (corp.example).
        #[arg(long, group = "what")]
        domain: Option<String>,
        /// Invitations whose email contains this text.
        #[arg(long, group = "what")]
        search: Option<String>,
        /// Every invitation of the organization.
        #[arg(long, group = "what")]
        all: bool,
        /// Exactly the ids in this file (`-` for standard input): the first word of each line,
        /// or the `id` of a JSON line; blank lines and lines starting with `#` are skipped.
        #[arg(long, group = "what", conflicts_with_all = ["email", "domain", "search", "all"])]
        ids: Option<PathBuf>,
        /// Print what would be revoked; revoke nothing.
        #[arg(long)]
        dry_run: bool,
        /// Revocations in flight at once.
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

/// What `list --sort` orders by.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SortKey {
    /// The time the invitation was made.
    Created,
    /// The invitee's email.
    Email,
}
