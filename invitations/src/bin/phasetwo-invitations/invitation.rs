//! The commands on an organization's invitations one by one: list, get, count, create,
//! delete, resend.

use futures_util::{Stream, StreamExt, TryStreamExt};
use phasetwo_invitations::{Created, Invitation, Invited, OrgInvitations};
use serde::Serialize;

use crate::args::{InvitationCommand as Command, SortKey};
use crate::output::{Details, Failure, Output, Row, Show, TABLE_HEADER};

#[derive(Serialize)]
struct Count {
    count: u64,
}

impl Show for Count {
    fn text(&self) -> String {
        self.count.to_string()
    }
}

#[derive(Serialize)]
struct CreatedView<'a> {
    id: &'a str,
    email: &'a str,
    location: &'a str,
    reconciled: bool,
    existed: bool,
}

impl<'a> From<&'a Created> for CreatedView<'a> {
    fn from(created: &'a Created) -> Self {
        CreatedView {
            id: created.id(),
            email: created.email(),
            location: created.location(),
            reconciled: created.reconciled(),
            existed: false,
        }
    }
}

impl Show for CreatedView<'_> {
    fn text(&self) -> String {
        format!("created {} for {}", self.id, self.email)
    }
}

/// An invitation that `create --or-existing` found rather than created.
#[derive(Serialize)]
struct Existing<'a> {
    id: &'a str,
    email: &'a str,
    existed: bool,
    /// Its roles, when they are not the ones asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    other_roles: Option<&'a [String]>,
}

impl<'a> Existing<'a> {
    fn of(found: &'a Invitation, other_roles: bool) -> Self {
        Existing {
            id: &found.id,
            email: &found.email,
            existed: true,
            other_roles: other_roles.then_some(found.roles.as_slice()),
        }
    }
}

impl Show for Existing<'_> {
    fn text(&self) -> String {
        match self.other_roles {
            None => format!("already invited: {} for {}", self.id, self.email),
            Some(roles) => format!(
                "already invited, with other roles ({}): {} for {}",
                roles.join(","),
                self.id,
                self.email
            ),
        }
    }
}

#[derive(Serialize)]
struct Deleted<'a> {
    deleted: &'a str,
    /// It did not exist (with `--ignore-missing`).
    already_gone: bool,
}

impl Show for Deleted<'_> {
    fn text(&self) -> String {
        if self.already_gone {
            format!("{} was already gone", self.deleted)
        } else {
            format!("deleted {}", self.deleted)
        }
    }
}

#[derive(Serialize)]
struct Resent<'a> {
    resent: &'a str,
}

impl Show for Resent<'_> {
    fn text(&self) -> String {
        format!("resent {}", self.resent)
    }
}

/// Runs one command on invitations one by one; returns the exit code.
pub async fn run(command: Command, org: &OrgInvitations, out: &Output) -> Result<u8, Failure> {
    match command {
        Command::List { search, domain, page_size, limit, sort } => {
            let at_most = limit.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
            let mut invitations: std::pin::Pin<Box<dyn Stream<Item = _> + Send>> = match domain {
                // An exact domain is the library's selection rule, as `revoke --domain` uses it.
                Some(domain) => {
                    let mut select = org.select().domain(domain);
                    if let Some(search) = search {
                        select = select.search(search);
                    }
                    Box::pin(select.stream().take(at_most))
                }
                None => {
                    let mut list = org.list().page_size(page_size);
                    if let Some(search) = search {
                        list = list.search(search);
                    }
                    if let Some(limit) = limit {
                        list = list.max_items(limit);
                    }
                    Box::pin(list.stream())
                }
            };
            if let Some(key) = sort {
                let mut all: Vec<_> = invitations.try_collect().await?;
                match key {
                    SortKey::Created => all.sort_by_key(|i| i.created_at_utc()),
                    SortKey::Email => all.sort_by(|a, b| a.email.cmp(&b.email)),
                }
                invitations = Box::pin(futures_util::stream::iter(all.into_iter().map(Ok)));
            }
            // The header goes out with the first row (or alone at the end), so that an error
            // before any row prints no table.
            let mut header = !out.json();
            let show_header = |header: &mut bool| -> Result<(), Failure> {
                if std::mem::take(header) {
                    out.show(&Header)?;
                }
                Ok(())
            };
            while let Some(invitation) = invitations.next().await {
                let invitation = invitation?;
                show_header(&mut header)?;
                out.show(&Row((&invitation).into()))?;
            }
            show_header(&mut header)?;
        }
        Command::Get { id } => out.show(&Details((&org.get(&id).await?).into()))?,
        Command::Count => out.show(&Count { count: org.count().await? })?,
        Command::Create {
            email,
            roles,
            send_email,
            redirect_uri,
            attributes,
            idempotent,
            or_existing,
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
            if or_existing {
                match create.or_existing().await? {
                    Invited::Created(created) => out.show(&CreatedView::from(&created))?,
                    Invited::Existing(found) => out.show(&Existing::of(&found, false))?,
                    Invited::ExistingWithOtherRoles(found) => {
                        out.show(&Existing::of(&found, true))?
                    }
                }
            } else {
                out.show(&CreatedView::from(&create.await?))?;
            }
        }
        Command::Delete { id, ignore_missing } => {
            let already_gone = match org.delete(&id).await {
                Ok(()) => false,
                Err(e) if ignore_missing && e.is_not_found() => true,
                Err(e) => return Err(e.into()),
            };
            out.show(&Deleted { deleted: &id, already_gone })?;
        }
        Command::Resend { id } => {
            org.resend(&id).await?;
            out.show(&Resent { resent: &id })?;
        }
    }
    Ok(crate::exit::Exit::Success.code())
}

/// The list's table header (text only).
#[derive(Serialize)]
struct Header;

impl Show for Header {
    fn text(&self) -> String {
        TABLE_HEADER.to_owned()
    }
}
