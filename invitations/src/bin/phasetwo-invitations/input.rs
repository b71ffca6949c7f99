//! Reading the people to invite: a CSV file with a header, or a plain list of emails.

use std::collections::BTreeMap;

use phasetwo_invitations::NewInvitation;

/// Parses `text`: CSV when its first line has an `email` column, else one email a line
/// (empty lines and lines starting with `#` are skipped). A leading byte-order mark, as
/// spreadsheets write, is ignored.
///
/// CSV columns: `email` (required), `roles`, `redirect_uri`, and `attr.NAME` for attribute
/// NAME. Fields are separated by `,`, and the values of a list (roles, attribute values) by
/// `;`; a file whose header is separated by `;` (as spreadsheets write in many locales) is read
/// the other way round: fields by `;`, list values by `,`.
///
/// Each item comes with its line in the file (1-based, the header counted), for messages.
pub fn parse(text: &str) -> Result<Vec<(usize, NewInvitation)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let names_email = |separator: char| {
        first_line
            .split(separator)
            .any(|field| field.trim().trim_matches('"').eq_ignore_ascii_case("email"))
    };
    if names_email(',') {
        parse_csv(text, b',', ';')
    } else if names_email(';') {
        parse_csv(text, b';', ',')
    } else {
        parse_list(text)
    }
}

/// One email a line. A line holding `,` or `;` is refused: it is a CSV row without a header
/// naming the `email` column, and sending it whole would invite a wrong address.
fn parse_list(text: &str) -> Result<Vec<(usize, NewInvitation)>, String> {
    let mut items = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains([',', ';']) {
            return Err(format!(
                "line {}: `{line}` holds `,` or `;`; a CSV file needs a first line naming its columns, one of them `email`",
                number + 1
            ));
        }
        items.push((number + 1, NewInvitation::new(line)));
    }
    Ok(items)
}

/// Which realm and organization a revocation plan was made for; `revoke --dry-run` writes it
/// first, as `# plan {"realm":…,"org":…}` or, with `--json`, `{"plan":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanScope {
    pub realm: String,
    pub org: String,
}

/// The text form's prefix of a plan's first line.
pub const PLAN_HEADER: &str = "# plan ";

/// A revocation plan read back: the organization it names (if it names one) and its ids,
/// each with its line number.
#[derive(Debug, PartialEq, Eq)]
pub struct PlanFile {
    pub scope: Option<PlanScope>,
    pub ids: Vec<(usize, String)>,
}

/// The ids of a revocation plan: the first word of each line, or the `id` of a JSON line
/// (what `revoke --dry-run` prints, as text or with `--json`). Blank lines and other lines
/// starting with `#` are skipped. A line whose id cannot be one of the server's (Keycloak
/// makes them UUIDs) is refused with its number: an email list given by mistake revokes
/// nothing and says so.
pub fn parse_ids(text: &str) -> Result<PlanFile, String> {
    let mut plan = PlanFile { scope: None, ids: Vec::new() };
    let scope = |json: &str, number: usize| {
        serde_json::from_str::<PlanScope>(json)
            .map_err(|e| format!("line {number}: the plan's header is not readable: {e}"))
    };
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        let line = line.trim().trim_start_matches('\u{feff}');
        if let Some(header) = line.strip_prefix(PLAN_HEADER) {
            plan.scope = Some(scope(header, number)?);
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = if line.starts_with('{') {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("line {number}: not JSON: {e}"))?;
            match value.get("id").and_then(|id| id.as_str()) {
                Some(id) => id.to_owned(),
                None => match value.get("plan") {
                    Some(header) => {
                        plan.scope = Some(scope(&header.to_string(), number)?);
                        continue;
                    }
                    // The summary line of a `--json` dry run.
                    None if value.get("would_revoke").is_some() => continue,
                    None => return Err(format!("line {number}: no \"id\"")),
                },
            }
        } else {
            line.split_whitespace().next().unwrap_or_default().to_owned()
        };
        if uuid::Uuid::try_parse(&id).is_err() {
            return Err(format!(
                "line {number}: `{id}` is not an invitation id (the server's ids are UUIDs); nothing was revoked"
            ));
        }
        plan.ids.push((number, id));
    }
    Ok(plan)
}

enum Column {
    Email,
    Roles,
    RedirectUri,
    Attribute(String),
}

fn split_list(value: &str, separator: char) -> Vec<String> {
    value.split(separator).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect()
}

fn parse_csv(
    text: &str,
    delimiter: u8,
    list_separator: char,
) -> Result<Vec<(usize, NewInvitation)>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("CSV header: {e}"))?;
    let columns = headers
        .iter()
        .map(|name| match name.to_ascii_lowercase().as_str() {
            "email" => Ok(Column::Email),
            "roles" => Ok(Column::Roles),
            "redirect_uri" => Ok(Column::RedirectUri),
            other => match other.strip_prefix("attr.") {
                Some(key) if !key.is_empty() => Ok(Column::Attribute(name[5..].to_owned())),
                _ => Err(format!(
                    "unknown CSV column `{name}` (expected email, roles, redirect_uri, attr.NAME)"
                )),
            },
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut items = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| match e.position() {
            Some(at) => format!("line {}: {e}", at.line()),
            None => e.to_string(),
        })?;
        let line = record.position().map_or(0, |at| at.line() as usize);
        let mut item = NewInvitation::default();
        let mut attributes = BTreeMap::new();
        for (column, value) in columns.iter().zip(record.iter()) {
            match column {
                Column::Email => item.email = value.to_owned(),
                Column::Roles => item.roles = split_list(value, list_separator),
                Column::RedirectUri if !value.is_empty() => {
                    item.redirect_uri = Some(value.to_owned())
                }
                Column::RedirectUri => {}
                Column::Attribute(key) => {
                    let values = split_list(value, list_separator);
                    if !values.is_empty() {
                        attributes.insert(key.clone(), values);
                    }
                }
            }
        }
        item.attributes = attributes;
        items.push((line, item));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lists_skip_blanks_and_comments() {
        let items = parse("# team\na@x.io\n\n  b@x.io  \n").unwrap();
        let emails: Vec<_> = items.iter().map(|(l, i)| (*l, i.email.as_str())).collect();
        assert_eq!(emails, [(2, "a@x.io"), (4, "b@x.io")]);
    }

    #[test]
    fn csv_reads_roles_redirects_and_attributes() {
        let text = "email,roles,redirect_uri,attr.team\n\
                    a@x.io,member;admin,https://app.example.com/,blue\n\
                    b@x.io,,,\n";
        let items = parse(text).unwrap();
        assert_eq!((items[0].0, items[1].0), (2, 3), "lines count the header");
        let items: Vec<_> = items.into_iter().map(|(_, i)| i).collect();
        assert_eq!(items[0].roles, ["member", "admin"]);
        assert_eq!(items[0].redirect_uri.as_deref(), Some("https://app.example.com/"));
        assert_eq!(items[0].attributes["team"], ["blue"]);
        assert_eq!(items[1], NewInvitation::new("b@x.io"));
    }

    #[test]
    fn a_byte_order_mark_and_semicolon_separated_files_are_read() {
        let (_, item) = &parse("\u{feff}email,roles\nbom1@x.io,admin\n").unwrap()[0];
        assert_eq!(item.email, "bom1@x.io");
        assert_eq!(item.roles, ["admin"]);
        let (_, item) =
            &parse("\u{feff}Email;Roles;attr.team\nsemi@x.io;admin,member;blue\n").unwrap()[0];
        assert_eq!(item.email, "semi@x.io");
        assert_eq!(item.roles, ["admin", "member"]);
        assert_eq!(item.attributes["team"], ["blue"]);
        assert_eq!(parse("\u{feff}a@x.io\n").unwrap()[0].1.email, "a@x.io");
    }

    #[test]
    fn a_plain_list_line_with_a_separator_is_refused_with_its_line() {
        let e = parse("# people\na@x.io\nb@x.io,admin\n").unwrap_err();
        assert!(e.starts_with("line 3:"), "{e}");
        assert!(parse("a@x.io;admin\n").unwrap_err().starts_with("line 1:"));
    }

    const ID_A: &str = "3f2a0c1e-9d4b-4f6a-8c2d-1b7e5a9f0c3d";
    const ID_B: &str = "7b1c2d3e-4f50-4a6b-9c7d-8e9f0a1b2c3d";

    #[test]
    fn plan_files_give_their_scope_and_ids_as_text_or_json() {
        let text = format!(
            "# plan {{\"realm\":\"acme\",\"org\":\"o1\"}}\n{ID_A}  a@x.io  2026-11-26T06:21Z  member\n\n{ID_B}  b@x.io  -  \n# 2 would be revoked\n"
        );
        let scope = PlanScope { realm: "acme".into(), org: "o1".into() };
        assert_eq!(
            parse_ids(&text).unwrap(),
            PlanFile { scope: Some(scope.clone()), ids: vec![(2, ID_A.into()), (4, ID_B.into())] }
        );
        let json = format!(
            "{{\"plan\":{{\"realm\":\"acme\",\"org\":\"o1\"}}}}\n{{\"id\":\"{ID_A}\",\"email\":\"a@x.io\"}}\n{{\"would_revoke\":1}}\n"
        );
        let read = parse_ids(&json).unwrap();
        assert_eq!(read.scope, Some(scope));
        assert_eq!(read.ids, [(2, ID_A.to_owned())]);
        // A list of ids without a header is one the user made.
        assert_eq!(parse_ids(ID_B).unwrap().scope, None);
        assert!(parse_ids("{\"email\":\"a@x.io\"}\n").unwrap_err().starts_with("line 1"));
    }

    #[test]
    fn a_line_that_cannot_be_an_invitation_id_is_refused_with_its_number() {
        // The bulk input (emails) given as a plan.
        let e = parse_ids("# people to invite\n\na@x.io\nb@x.io\n").unwrap_err();
        assert!(e.starts_with("line 3:") && e.contains("a@x.io"), "{e}");
        let e = parse_ids(&format!("{ID_A}\nemail,roles\n")).unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
    }

    #[test]
    fn unknown_columns_and_ragged_rows_are_errors() {
        assert!(parse("email,team\na@x.io,blue\n").unwrap_err().contains("`team`"));
        assert!(parse("email,roles\na@x.io,member,extra\n").unwrap_err().contains("line 2"));
    }
}
