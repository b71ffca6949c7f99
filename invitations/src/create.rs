//! Creating an invitation: the builder, "create or get" for callers that may run twice, and
//! reading the new id from the 201's `Location`.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::header::{HeaderMap, LOCATION};
use url::Url;

use crate::call::{Call, CallOptions, Reply, call_builder};
use crate::error::{Error, ErrorKind};
use crate::model::Invitation;
use crate::operation;
use crate::org::OrgInvitations;
use crate::retry::Effect;
use crate::setters::setters;
use crate::validate;
use phasetwo_invitations_client::types::InvitationRequestRepresentation;

impl OrgInvitations {
    /// Invites `email` into the organization. The email is trimmed and lower-cased, as the
    /// server stores it.
    pub fn create(&self, email: impl Into<String>) -> CreateInvitation {
        CreateInvitation {
            org: self.clone(),
            options: CallOptions::default(),
            idempotent: false,
            email: email.into(),
            roles: Vec::new(),
            send_email: false,
            redirect_uri: None,
            inviter_id: None,
            attributes: BTreeMap::new(),
        }
    }
}

/// Builder of [`OrgInvitations::create`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until sent"]
pub struct CreateInvitation {
    org: OrgInvitations,
    options: CallOptions,
    email: String,
    roles: Vec<String>,
    send_email: bool,
    redirect_uri: Option<String>,
    inviter_id: Option<String>,
    attributes: BTreeMap<String, Vec<String>>,
    idempotent: bool,
}

impl CreateInvitation {
    /// Allows re-sending after an attempt whose outcome is unknown (a timeout, a broken
    /// connection, a 5xx). If such a retry meets the server's 409 "already exists", the
    /// invitation is looked up by its email and returned with
    /// [`Created::reconciled`] set, instead of the 409.
    ///
    /// Use it when an existing invitation for the email may count as success; without it, a
    /// create is re-sent only when it surely did not reach the server.
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Organization roles granted on acceptance; each must exist in the organization.
    pub fn roles<R: Into<String>>(mut self, roles: impl IntoIterator<Item = R>) -> Self {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    setters! {
        /// Whether the server emails the invitee (default: no). The server does not report mail
        /// failures.
        fn send_email(send: bool) => send_email = send;

        /// Where the invitee lands after accepting: an absolute http(s) URI.
        fn redirect_uri(uri: impl Into<String>) => redirect_uri = Some(uri.into());

        /// The user shown as the inviter; by default the caller.
        fn inviter_id(user_id: impl Into<String>) => inviter_id = Some(user_id.into());
    }

    /// Adds an attribute with its values.
    pub fn attribute<V: Into<String>>(
        mut self,
        key: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.attributes.entry(key.into()).or_default().extend(values.into_iter().map(Into::into));
        self
    }

    /// Returns the email's existing invitation instead of failing with
    /// [`ErrorKind::AlreadyInvited`]: one call that is safe to repeat, as a sign-up hook needs.
    /// Implies [`idempotent`](Self::idempotent). "Already a member" stays an error
    /// ([`ErrorKind::AlreadyMember`]).
    ///
    /// ```no_run
    /// # async fn demo(org: phasetwo_invitations::OrgInvitations) -> Result<(), phasetwo_invitations::Error> {
    /// use phasetwo_invitations::Invited;
    ///
    /// match org.create("new.user@example.com").roles(["member"]).or_existing().await? {
    ///     Invited::Created(created) => println!("invited: {}", created.id()),
    ///     Invited::Existing(invitation) => println!("already invited: {}", invitation.id),
    ///     Invited::ExistingWithOtherRoles(invitation) => {
    ///         println!("already invited with roles {:?}", invitation.roles)
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// An existing invitation keeps its own roles and attributes; this call changes nothing,
    /// and says when the roles differ ([`Invited::ExistingWithOtherRoles`]).
    pub fn or_existing(self) -> CreateOrGetInvitation {
        CreateOrGetInvitation { create: self.idempotent() }
    }

    /// Runs every check and returns the email as it will be sent.
    pub(crate) fn checked_email(&self) -> Result<String, Error> {
        self.body().map(|body| body.email)
    }

    /// The request body, after every check.
    fn body(&self) -> Result<InvitationRequestRepresentation, Error> {
        self.org.check_scope()?;
        let email = validate::email(&self.email)?;
        self.roles.iter().try_for_each(|r| validate::role(r))?;
        if let Some(uri) = &self.redirect_uri {
            validate::redirect_uri(uri)?;
        }
        if let Some(inviter) = &self.inviter_id {
            validate::path_segment("inviter_id", inviter)?;
        }
        for (key, values) in &self.attributes {
            validate::attribute(key, values)?;
        }
        let body = InvitationRequestRepresentation::builder()
            .email(email)
            .send(self.send_email)
            .inviter_id(self.inviter_id.clone())
            .redirect_uri(self.redirect_uri.clone())
            .roles(self.roles.clone())
            .attributes(self.attributes.clone());
        Ok(body.try_into().expect("every field of the request body is set"))
    }

    /// Creates the invitation and returns its id, read from the answer's `Location`.
    pub async fn send(self) -> Result<Created, Error> {
        const OP: &str = operation::CREATE;
        let body = self.body().map_err(|e| e.with_operation(OP))?;
        let email = body.email.clone();
        let org = &self.org;
        let effect = Effect::Create { idempotent: self.idempotent };
        // The lookup after a lost answer is part of this call: one deadline for both.
        let options = self.options.anchored(org.client.engine());
        let call = Call { email: Some(&email), ..org.call(OP, effect, &options) };
        let result = org
            .client
            .engine()
            .call(call, |raw| {
                raw.add_organization_invitation()
                    .realm(&*org.realm)
                    .org_id(&*org.org_id)
                    .body(body.clone())
                    .send()
            })
            .await;
        let response = match result.map_err(|e| self.name_the_roles(e))? {
            Reply::Answered(response) => response,
            // An idempotent create whose earlier attempt stored the invitation.
            Reply::DoneEarlier(conflict) => return self.reconcile(conflict, &options).await,
        };
        let (location, id) =
            created_location(response.headers(), &org.collection_url(), &org.realm, &org.org_id)
                .map_err(|e| e.with_status(response.status()).with_operation(OP))?;
        Ok(Created { id, location: location.to_string(), email, reconciled: false })
    }

    /// The server's "Unknown role in list." does not say which: the error lists the roles
    /// asked for, so that a caller can compare them with the organization's.
    fn name_the_roles(&self, error: Error) -> Error {
        let unknown_role = error.kind() == ErrorKind::BadRequest
            && error
                .server_message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("unknown role"));
        if unknown_role {
            let asked = self.roles.join(", ");
            error.and_detail(&format!("the roles asked for: {asked}"))
        } else {
            error
        }
    }

    /// After a retry met "already exists": the invitation an earlier attempt created.
    async fn reconcile(&self, conflict: Error, options: &CallOptions) -> Result<Created, Error> {
        let email = validate::email(&self.email)?;
        let Some(found) = self.org.find_by_email_within(&email, options).await? else {
            // Deleted meanwhile, or never ours: report what the server said.
            return Err(conflict);
        };
        let mut location = self.org.collection_url();
        location.path_segments_mut().expect("http(s) URLs have path segments").push(&found.id);
        Ok(Created { id: found.id, location: location.to_string(), email, reconciled: true })
    }
}

call_builder!(CreateInvitation => Created);

/// What [`CreateInvitation::or_existing`] found or did. An existing invitation is never
/// changed; when its roles are not the ones asked for, it says so, since a caller granting
/// access by invitation has to decide what that means.
#[derive(Debug, Clone)]
pub enum Invited {
    /// The invitation was created now.
    Created(Created),
    /// The email already had an invitation with the roles asked for (compared as sets).
    Existing(Invitation),
    /// The email already had an invitation, with other roles than the ones asked for; it
    /// keeps its own.
    ExistingWithOtherRoles(Invitation),
}

impl Invited {
    /// The invitation's id, in every case.
    pub fn id(&self) -> &str {
        match self {
            Invited::Created(created) => created.id(),
            Invited::Existing(invitation) | Invited::ExistingWithOtherRoles(invitation) => {
                &invitation.id
            }
        }
    }

    /// The invitation's email as the server stores it, in every case.
    pub fn email(&self) -> &str {
        match self {
            Invited::Created(created) => created.email(),
            Invited::Existing(invitation) | Invited::ExistingWithOtherRoles(invitation) => {
                &invitation.email
            }
        }
    }

    /// Whether this call created it.
    pub fn was_created(&self) -> bool {
        matches!(self, Invited::Created(_))
    }

    /// The invitation found, when it existed before this call.
    pub fn existing(&self) -> Option<&Invitation> {
        match self {
            Invited::Created(_) => None,
            Invited::Existing(invitation) | Invited::ExistingWithOtherRoles(invitation) => {
                Some(invitation)
            }
        }
    }
}

impl CreateInvitation {
    /// The email's `existing` invitation, as this create would report it: its roles compared
    /// with the ones asked for, as sets.
    pub(crate) fn found(&self, existing: Invitation) -> Invited {
        let roles = |roles: &[String]| roles.iter().cloned().collect::<BTreeSet<_>>();
        if roles(&existing.roles) == roles(&self.roles) {
            Invited::Existing(existing)
        } else {
            Invited::ExistingWithOtherRoles(existing)
        }
    }
}

/// Builder of [`CreateInvitation::or_existing`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until sent"]
pub struct CreateOrGetInvitation {
    create: CreateInvitation,
}

/// Rounds of "create, already exists, look up, gone meanwhile" before giving up: each one
/// means the invitation was deleted between the two requests.
const CREATE_OR_GET_ROUNDS: usize = 3;

impl CreateOrGetInvitation {
    /// Creates the invitation, or finds the existing one. The create and the lookups are one
    /// call: they share its time limit and retry policy.
    pub async fn send(self) -> Result<Invited, Error> {
        let org = &self.create.org;
        let options = self.create.options.anchored(org.client.engine());
        let create = CreateInvitation { options: options.clone(), ..self.create.clone() };
        let mut round = 0;
        loop {
            round += 1;
            let conflict = match create.clone().send().await {
                Ok(created) => return Ok(Invited::Created(created)),
                Err(e) if e.kind() == ErrorKind::AlreadyInvited => e,
                Err(e) => return Err(e),
            };
            match org.find_by_email_within(&create.email, &options).await? {
                Some(existing) => return Ok(create.found(existing)),
                // Deleted between the 409 and the lookup: try to create it again.
                None if round < CREATE_OR_GET_ROUNDS => continue,
                None => return Err(conflict),
            }
        }
    }
}

crate::call::awaitable!(CreateOrGetInvitation => Result<Invited, Error>);

/// A created invitation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    id: String,
    location: String,
    email: String,
    reconciled: bool,
}

impl Created {
    /// The new invitation's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The URL the server gave for it.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The email as the server stores it (trimmed, lower-cased).
    pub fn email(&self) -> &str {
        &self.email
    }

    /// Whether the invitation was found rather than confirmed: an attempt of an
    /// [`idempotent`](CreateInvitation::idempotent) create timed out or broke, and its retry
    /// met "already exists".
    pub fn reconciled(&self) -> bool {
        self.reconciled
    }
}

/// The new invitation's URL and id, from the `Location` of a create's 201. A relative
/// reference is resolved against the request's URL (RFC 9110 allows one). The path must end in
/// this call's `/realms/{realm}/orgs/{org}/invitations/{id}`: an answer naming another realm or
/// organization is not about this invitation. The host may differ from the base URL: Keycloak
/// builds `Location` from its configured frontend hostname, which a service calling it on an
/// internal address does not share.
fn created_location(
    headers: &HeaderMap,
    collection: &Url,
    realm: &str,
    org_id: &str,
) -> Result<(Url, String), Error> {
    let missing = |why: String| Error::new(ErrorKind::MissingLocation).with_detail(why);
    let value = headers
        .get(LOCATION)
        .ok_or_else(|| missing("no Location header".to_owned()))?
        .to_str()
        .map_err(|_| missing("Location is not text".to_owned()))?;
    let location = collection
        .join(value)
        .map_err(|_| missing("Location is not a URL reference".to_owned()))?;
    let id = invitation_id(&location)?;
    let segments = decoded_segments(&location);
    let expected = ["realms", realm, "orgs", org_id, "invitations", id.as_str()];
    if !segments.ends_with(&expected.map(str::to_owned)) {
        return Err(missing(format!(
            "Location `{}` names another realm or organization than /realms/{realm}/orgs/{org_id}",
            location.path()
        )));
    }
    Ok((location, id))
}

/// A URL's non-empty path segments, percent-decoded (lossily: they are only compared).
fn decoded_segments(url: &Url) -> Vec<String> {
    url.path_segments()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

/// The id in `…/invitations/{id}`.
fn invitation_id(location: &Url) -> Result<String, Error> {
    let missing = || {
        Error::new(ErrorKind::MissingLocation)
            .with_detail(format!("Location `{location}` does not end in /invitations/{{id}}"))
    };
    let segments: Vec<&str> =
        location.path_segments().ok_or_else(missing)?.filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [.., "invitations", id] => {
            let id =
                percent_encoding::percent_decode_str(id).decode_utf8().map_err(|_| missing())?;
            Ok(id.into_owned())
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_may_be_relative_or_on_another_host_but_not_another_org() {
        let collection =
            Url::parse("https://kc.internal:8443/realms/r/orgs/o/invitations").unwrap();
        let read = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(LOCATION, value.parse().unwrap());
            created_location(&headers, &collection, "r", "o")
        };
        for good in [
            "https://kc.internal:8443/realms/r/orgs/o/invitations/abc",
            "/realms/r/orgs/o/invitations/abc",
            "invitations/abc",
            "https://auth.example.com/auth/realms/r/orgs/o/invitations/abc",
        ] {
            let (url, id) = read(good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(id, "abc", "{good}");
            assert!(url.as_str().ends_with("/realms/r/orgs/o/invitations/abc"));
        }
        for bad in [
            "/realms/r/orgs/other/invitations/abc",
            "https://kc.internal:8443/realms/other/orgs/o/invitations/abc",
            "/realms/r/orgs/o/members/abc",
            "/abc",
        ] {
            assert_eq!(read(bad).unwrap_err().kind(), ErrorKind::MissingLocation, "{bad}");
        }
    }

    #[test]
    fn invitation_id_is_the_segment_after_invitations() {
        let id = |s: &str| invitation_id(&Url::parse(s).unwrap());
        assert_eq!(id("http://h/realms/r/orgs/o/invitations/abc-123").unwrap(), "abc-123");
        assert_eq!(id("http://h/auth/realms/r/orgs/o/invitations/a%20b/").unwrap(), "a b");
        for bad in [
            "http://h/realms/r/orgs/o/invitations",
            "http://h/realms/r/orgs/o/invitations/",
            "http://h/",
            "http://h/realms/r/orgs/o/members/abc",
        ] {
            assert_eq!(id(bad).unwrap_err().kind(), ErrorKind::MissingLocation, "{bad}");
        }
    }
}
