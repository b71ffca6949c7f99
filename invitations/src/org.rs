//! The invitations of one organization: the handle, and get, count, delete, resend (create is
//! in `create.rs`, list in `list.rs`).

use std::sync::Arc;

use url::Url;

use crate::call::{Call, CallOptions, Reply, call_builder};
use crate::client::Client;
use crate::error::Error;
use crate::model::Invitation;
use crate::operation;
use crate::retry::Effect;
use crate::validate;

/// The invitations of one organization. Cheap to clone, `Send + 'static`: it owns a clone of
/// the [`Client`].
#[derive(Clone, Debug)]
pub struct OrgInvitations {
    pub(crate) client: Client,
    pub(crate) realm: Arc<str>,
    pub(crate) org_id: Arc<str>,
}

impl Client {
    /// The invitations of one organization: a cheap handle that owns a clone of the client.
    pub fn invitations(
        &self,
        realm: impl Into<String>,
        org_id: impl Into<String>,
    ) -> OrgInvitations {
        OrgInvitations::new(self.clone(), realm.into(), org_id.into())
    }
}

impl OrgInvitations {
    pub(crate) fn new(client: Client, realm: String, org_id: String) -> Self {
        OrgInvitations { client, realm: realm.into(), org_id: org_id.into() }
    }

    /// The realm's name.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The organization's id.
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// Describes a call on this organization to the retry loop.
    pub(crate) fn call<'a>(
        &'a self,
        operation: &'static str,
        effect: Effect,
        options: &'a CallOptions,
    ) -> Call<'a> {
        Call { org_id: Some(&self.org_id), ..Call::new(operation, effect, options, &self.realm) }
    }

    /// Describes a call on one invitation of this organization to the retry loop.
    pub(crate) fn call_on<'a>(
        &'a self,
        operation: &'static str,
        effect: Effect,
        options: &'a CallOptions,
        invitation_id: &'a str,
    ) -> Call<'a> {
        Call { invitation_id: Some(invitation_id), ..self.call(operation, effect, options) }
    }

    /// `{base}/realms/{realm}/orgs/{org}/invitations`, where creates go.
    pub(crate) fn collection_url(&self) -> Url {
        let mut url = self.client.server_url().clone();
        url.path_segments_mut().expect("http(s) URLs have path segments").pop_if_empty().extend([
            "realms",
            &self.realm,
            "orgs",
            &self.org_id,
            "invitations",
        ]);
        url
    }

    /// Checks the realm, the organization and an invitation id before a request names them.
    pub(crate) fn check_invitation(&self, id: &str, operation: &'static str) -> Result<(), Error> {
        self.check_scope()
            .and_then(|()| validate::path_segment("invitation_id", id))
            .map_err(|e| e.with_operation(operation))
    }

    /// Checks the realm and organization before a request names them.
    pub(crate) fn check_scope(&self) -> Result<(), Error> {
        validate::path_segment("realm", &self.realm)?;
        validate::path_segment("org_id", &self.org_id)
    }

    /// One invitation by id; a [`NotFound`](crate::ErrorKind::NotFound) error when there is
    /// none; [`optional`](GetInvitation::optional) makes a missing invitation `None`. The rule
    /// across the API: `get` fails on what is missing, `get(id).optional()` and `find_*`
    /// answer `None`.
    pub fn get(&self, invitation_id: impl Into<String>) -> GetInvitation {
        GetInvitation {
            org: self.clone(),
            options: CallOptions::default(),
            id: invitation_id.into(),
        }
    }

    /// How many invitations the organization has.
    pub fn count(&self) -> CountInvitations {
        CountInvitations { org: self.clone(), options: CallOptions::default() }
    }

    /// Deletes (revokes) an invitation.
    pub fn delete(&self, invitation_id: impl Into<String>) -> DeleteInvitation {
        DeleteInvitation {
            org: self.clone(),
            options: CallOptions::default(),
            id: invitation_id.into(),
            ignore_missing: false,
        }
    }

    /// Sends the invitation email again.
    pub fn resend(&self, invitation_id: impl Into<String>) -> ResendInvitation {
        ResendInvitation {
            org: self.clone(),
            options: CallOptions::default(),
            id: invitation_id.into(),
        }
    }

    /// The invitation whose email is exactly `email` (after trimming and lower-casing), if
    /// any. Pages through the server's substring search for it.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<Invitation>, Error> {
        self.find_by_email_within(email, &CallOptions::default()).await
    }

    /// [`find_by_email`](Self::find_by_email) as part of another call, under its options and
    /// deadline.
    pub(crate) async fn find_by_email_within(
        &self,
        email: &str,
        options: &CallOptions,
    ) -> Result<Option<Invitation>, Error> {
        use futures_util::TryStreamExt;

        let email = validate::email(email)?;
        let matches = self.list().with_options(options.clone()).search(&email).stream();
        futures_util::pin_mut!(matches);
        while let Some(invitation) = matches.try_next().await? {
            if invitation.email == email {
                return Ok(Some(invitation));
            }
        }
        Ok(None)
    }
}

/// Builder of [`OrgInvitations::get`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until sent"]
pub struct GetInvitation {
    org: OrgInvitations,
    options: CallOptions,
    id: String,
}

impl GetInvitation {
    /// The invitation. An unknown invitation, organization or realm is an
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) error, whose server message says
    /// which is missing.
    pub async fn send(self) -> Result<Invitation, Error> {
        fetch_one(&self.org, &self.options, &self.id).await
    }

    /// The same request, answering `None` when the server says the organization has no
    /// invitation with this id. Any other 404 (an unknown organization, a wrong base path)
    /// is still an error.
    pub fn optional(self) -> GetOptionalInvitation {
        let GetInvitation { org, options, id } = self;
        GetOptionalInvitation { org, options, id }
    }
}

call_builder!(GetInvitation => Invitation);

/// Builder of [`GetInvitation::optional`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until sent"]
pub struct GetOptionalInvitation {
    org: OrgInvitations,
    options: CallOptions,
    id: String,
}

impl GetOptionalInvitation {
    /// The invitation, or `None` when the organization has no invitation with this id. An
    /// unknown organization or realm is still an error: a wrong organization id does not
    /// look like a missing invitation.
    pub async fn send(self) -> Result<Option<Invitation>, Error> {
        match fetch_one(&self.org, &self.options, &self.id).await {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.names_missing_invitation(&self.id) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

call_builder!(GetOptionalInvitation => Option<Invitation>);

/// One `GET …/invitations/{id}`.
async fn fetch_one(
    org: &OrgInvitations,
    options: &CallOptions,
    id: &str,
) -> Result<Invitation, Error> {
    const OP: &str = operation::GET;
    org.check_invitation(id, OP)?;
    let response = org
        .client
        .engine()
        .call(org.call_on(OP, Effect::Read, options, id), |raw| {
            raw.get_organization_invitation_by_id()
                .realm(&*org.realm)
                .org_id(&*org.org_id)
                .invitation_id(id)
                .send()
        })
        .await?
        .answered()?;
    Ok(response.into_inner())
}

/// Builder of [`OrgInvitations::count`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until sent"]
pub struct CountInvitations {
    org: OrgInvitations,
    options: CallOptions,
}

impl CountInvitations {
    /// The number of invitations.
    pub async fn send(self) -> Result<u64, Error> {
        const OP: &str = operation::COUNT;
        self.org.check_scope().map_err(|e| e.with_operation(OP))?;
        let org = &self.org;
        let response = org
            .client
            .engine()
            .call(org.call(OP, Effect::Read, &self.options), |raw| {
                raw.get_organization_invitation_count()
                    .realm(&*org.realm)
                    .org_id(&*org.org_id)
                    .send()
            })
            .await?
            .answered()?;
        let status = response.status();
        let count = response.into_inner();
        u64::try_from(count).map_err(|_| {
            crate::response::decode_error(status, count.to_string().as_bytes(), "negative count")
                .with_operation(OP)
        })
    }
}

call_builder!(CountInvitations => u64);

/// Builder of [`OrgInvitations::delete`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until sent"]
pub struct DeleteInvitation {
    org: OrgInvitations,
    options: CallOptions,
    id: String,
    ignore_missing: bool,
}

impl DeleteInvitation {
    /// Treats the server's "no such invitation" (already deleted, or never there) as success.
    /// Any other 404, such as a wrong base path or an unknown organization, is still an error.
    pub fn ignore_missing(mut self) -> Self {
        self.ignore_missing = true;
        self
    }

    /// Deletes the invitation; a 404 is [`ErrorKind::NotFound`](crate::error::ErrorKind::NotFound) unless
    /// [`ignore_missing`](Self::ignore_missing) was set.
    pub async fn send(self) -> Result<(), Error> {
        const OP: &str = operation::DELETE;
        self.org.check_invitation(&self.id, OP)?;
        let org = &self.org;
        let result = org
            .client
            .engine()
            .call(org.call_on(OP, Effect::Remove, &self.options, &self.id), |raw| {
                raw.remove_organization_invitation()
                    .realm(&*org.realm)
                    .org_id(&*org.org_id)
                    .invitation_id(&self.id)
                    .send()
            })
            .await;
        match result {
            // Deleted now, or by an earlier attempt whose answer was lost.
            Ok(Reply::Answered(_) | Reply::DoneEarlier(_)) => Ok(()),
            Err(e) if self.ignore_missing && e.names_missing_invitation(&self.id) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

call_builder!(DeleteInvitation => ());

/// Builder of [`OrgInvitations::resend`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until sent"]
pub struct ResendInvitation {
    org: OrgInvitations,
    options: CallOptions,
    id: String,
}

impl ResendInvitation {
    /// Asks the server to email the invitation again.
    pub async fn send(self) -> Result<(), Error> {
        const OP: &str = operation::RESEND;
        self.org.check_invitation(&self.id, OP)?;
        let org = &self.org;
        org.client
            .engine()
            .call(
                org.call_on(OP, Effect::Create { idempotent: false }, &self.options, &self.id),
                |raw| {
                    raw.resend_organization_invitation()
                        .realm(&*org.realm)
                        .org_id(&*org.org_id)
                        .invitation_id(&self.id)
                        .send()
                },
            )
            .await?
            .answered()?;
        Ok(())
    }
}

call_builder!(ResendInvitation => ());
