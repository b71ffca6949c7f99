//! The one output layer: every command's result is a serialisable value shown either as text
//! or as one line of JSON, and every failure has an exit code and a text or JSON form.

use std::io::Write;

use phasetwo_invitations::{Error, Invitation};

use crate::exit::Exit;
use serde::Serialize;

/// A result a command prints: JSON from its fields, or this text.
pub trait Show: Serialize {
    fn text(&self) -> String;
}

/// Where results go, and in which form.
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    /// Prints one result on standard output.
    pub fn show(&self, value: &impl Show) -> Result<(), Failure> {
        let line = if self.json {
            serde_json::to_string(value).map_err(|e| Failure::output(e.to_string()))?
        } else {
            value.text()
        };
        writeln!(std::io::stdout().lock(), "{line}").map_err(|e| Failure::output(e.to_string()))
    }

    /// Prints a failure on standard error.
    pub fn fail(&self, failure: &Failure) {
        let line = if self.json {
            serde_json::json!({ "error": failure }).to_string()
        } else {
            format!("error: {}", failure.message)
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// A failure of the tool, with its exit code.
#[derive(Debug, Serialize)]
pub struct Failure {
    #[serde(skip)]
    pub code: u8,
    /// The error kind, snake_case (`already_invited`), or `usage` / `output` for the tool's own.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Failure {
    /// A mistake in the command line or its input.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: Exit::Usage.code(),
            kind: "usage".to_owned(),
            status: None,
            message: message.into(),
            request_id: None,
        }
    }

    /// Output that could not be written.
    pub fn output(why: String) -> Self {
        Failure {
            code: Exit::ServerOrNetwork.code(),
            kind: "output".to_owned(),
            status: None,
            message: format!("cannot write output: {why}"),
            request_id: None,
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure {
            code: Exit::of(&error).code(),
            kind: error.kind().as_str().to_owned(),
            status: error.status().map(|s| s.as_u16()),
            message: error.to_string(),
            request_id: error.request_id().map(str::to_owned),
        }
    }
}

/// An invitation as the tool shows it: snake_case keys, like the rest of its JSON.
#[derive(Serialize)]
pub struct InvitationView<'a> {
    id: &'a str,
    email: &'a str,
    created_at: Option<&'a str>,
    inviter_id: Option<&'a str>,
    organization_id: Option<&'a str>,
    roles: &'a [String],
    attributes: &'a std::collections::BTreeMap<String, Vec<String>>,
    invitation_url: Option<&'a str>,
}

impl<'a> From<&'a Invitation> for InvitationView<'a> {
    fn from(i: &'a Invitation) -> Self {
        InvitationView {
            id: &i.id,
            email: &i.email,
            created_at: i.created_at.as_deref(),
            inviter_id: i.inviter_id.as_deref(),
            organization_id: i.organization_id.as_deref(),
            roles: &i.roles,
            attributes: &i.attributes,
            invitation_url: i.invitation_url.as_deref(),
        }
    }
}

/// The table's header line, above [`Row`]s.
pub const TABLE_HEADER: &str = "ID                                    EMAIL                                     CREATED            ROLES";

/// An invitation as a line of the list's table.
#[derive(Serialize)]
#[serde(transparent)]
pub struct Row<'a>(pub InvitationView<'a>);

impl Show for Row<'_> {
    fn text(&self) -> String {
        let i = &self.0;
        format!(
            "{:<36}  {:<40}  {:<17}  {}",
            i.id,
            i.email,
            i.created_at.unwrap_or("-"),
            i.roles.join(",")
        )
    }
}

/// An invitation with every field on a line of its own.
#[derive(Serialize)]
#[serde(transparent)]
pub struct Details<'a>(pub InvitationView<'a>);

impl Show for Details<'_> {
    fn text(&self) -> String {
        let i = &self.0;
        let attributes: Vec<String> =
            i.attributes.iter().map(|(k, v)| format!("{k}={}", v.join(";"))).collect();
        [
            ("id", i.id),
            ("email", i.email),
            ("created", i.created_at.unwrap_or_default()),
            ("inviter", i.inviter_id.unwrap_or_default()),
            ("organization", i.organization_id.unwrap_or_default()),
            ("roles", &i.roles.join(",")),
            ("attributes", &attributes.join(" ")),
            ("url", i.invitation_url.unwrap_or_default()),
        ]
        .iter()
        .map(|(k, v)| format!("{k:<13}{v}"))
        .collect::<Vec<_>>()
        .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_header_lines_up_with_its_rows() {
        let roles = vec!["member".to_owned()];
        let attributes = Default::default();
        let view = InvitationView {
            id: "3f2a6b1c-0d4e-4f5a-9b8c-7d6e5f4a3b2c",
            email: "a@x.io",
            created_at: Some("2026-11-26T06:21Z"),
            inviter_id: None,
            organization_id: None,
            roles: &roles,
            attributes: &attributes,
            invitation_url: None,
        };
        let row = Row(view).text();
        assert_eq!(row.find("a@x.io"), TABLE_HEADER.find("EMAIL"));
        assert_eq!(row.find("2026"), TABLE_HEADER.find("CREATED"));
        assert_eq!(row.find("member"), TABLE_HEADER.find("ROLES"));
    }
}
