//! The tool's exit codes, in one table: `--help` prints it, errors and bulk runs choose from it.

use phasetwo_invitations::{Error, ErrorKind};

/// How the tool ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    ItemsFailed = 1,
    Usage = 2,
    Auth = 3,
    NotFound = 4,
    ServerOrNetwork = 5,
    AlreadyThere = 6,
    Refused = 7,
}

/// Every exit code and what it means, in order.
const MEANINGS: [(Exit, &str); 8] = [
    (Exit::Success, "success"),
    (Exit::ItemsFailed, "some items of a bulk run failed"),
    (Exit::Usage, "usage error or invalid input"),
    (Exit::Auth, "authentication or permission (401, 403, token endpoint)"),
    (Exit::NotFound, "not found (404)"),
    (
        Exit::ServerOrNetwork,
        "server or network (5xx, 429, a redirect, timeout, broken connection, unreadable answer)",
    ),
    (Exit::AlreadyThere, "already invited, or already a member (409)"),
    (Exit::Refused, "the server refused the request (400, another 409)"),
];

impl Exit {
    /// The exit code of a failed call.
    pub fn of(error: &Error) -> Exit {
        match error.kind() {
            ErrorKind::InvalidInput => Exit::Usage,
            ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::NoToken => Exit::Auth,
            ErrorKind::NotFound => Exit::NotFound,
            ErrorKind::AlreadyInvited | ErrorKind::AlreadyMember => Exit::AlreadyThere,
            ErrorKind::BadRequest | ErrorKind::Conflict => Exit::Refused,
            _ => Exit::ServerOrNetwork,
        }
    }

    /// Whether an item's failure of this kind says why a bulk run stopped early (the token,
    /// the organization, the server or the network), rather than something about the item.
    pub fn concerns_the_run(self) -> bool {
        matches!(self, Exit::Auth | Exit::NotFound | Exit::ServerOrNetwork)
    }

    /// The process's exit status.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The exit codes as `--help` lists them.
pub fn help() -> String {
    let mut text = String::from("Exit codes:\n");
    for (exit, meaning) in MEANINGS {
        text.push_str(&format!("  {}  {meaning}\n", exit.code()));
    }
    text
}
