//! Invite people into [Phase Two](https://phasetwo.io) organizations (Keycloak with the
//! Phase Two organizations extension) from Rust.
//!
//! # Connecting
//!
//! A [`Client`] needs the Keycloak server URL and a way to get tokens: a bearer token, a
//! [`TokenProvider`] you refresh yourself, or client credentials, for which the client asks
//! Keycloak's token endpoint and renews the token before it expires.
//!
//! ```no_run
//! # fn demo() -> Result<(), phasetwo_invitations::Error> {
//! use phasetwo_invitations::Client;
//!
//! let client = Client::builder()
//!     .base_url("https://keycloak.example.com")     // `/realms` is appended
//!     .client_credentials("master", "invitations-service", "s3cr3t")
//!     .build()?;
//! // Or from PHASETWO_URL and PHASETWO_TOKEN / PHASETWO_CLIENT_ID + PHASETWO_CLIENT_SECRET:
//! let client = Client::from_env()?;
//! # Ok(()) }
//! ```
//!
//! # Inviting
//!
//! Everything about one organization goes through a handle, which is cheap to clone and can
//! be moved into tasks. The server answers a create with the new id in `Location`:
//!
//! ```no_run
//! # async fn demo(client: phasetwo_invitations::Client) -> Result<(), phasetwo_invitations::Error> {
//! let org = client.invitations("acme", "3f2a9c");
//! let created = org
//!     .create("Alice@Example.com")          // stored as alice@example.com
//!     .roles(["member"])
//!     .send_email(true)
//!     .redirect_uri("https://app.example.com/welcome")
//!     .send()
//!     .await?;
//! println!("invited {} as {}", created.email(), created.id());
//! # Ok(()) }
//! ```
//!
//! A sign-up hook that may run twice for the same person wants the existing invitation rather
//! than a 409: [`CreateInvitation::or_existing`] returns either, and says which.
//!
//! Input the server would refuse or choke on (an empty email, an over-long role, a relative
//! redirect URI, an id of `..`) fails with [`ErrorKind::InvalidInput`] before anything is sent.
//!
//! # Errors
//!
//! Every operation returns [`Error`]; [`Error::kind`] says what happened in the server's
//! terms, including the two meanings of a 409:
//!
//! ```no_run
//! # async fn demo(org: phasetwo_invitations::OrgInvitations) -> Result<(), phasetwo_invitations::Error> {
//! use phasetwo_invitations::ErrorKind;
//!
//! match org.create("bob@example.com").send().await {
//!     Ok(created) => println!("invited: {}", created.id()),
//!     Err(e) if e.kind() == ErrorKind::AlreadyInvited => println!("already invited"),
//!     Err(e) if e.kind() == ErrorKind::AlreadyMember => println!("already a member"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```
//!
//! # Reading
//!
//! ```no_run
//! # async fn demo(org: phasetwo_invitations::OrgInvitations) -> Result<(), phasetwo_invitations::Error> {
//! use futures::TryStreamExt;
//!
//! let n = org.count().await?;                                   // builders can be awaited
//! let first_page = org.list().page_size(10).send().await?;     // exactly one request
//! let everyone: Vec<_> = org.list().search("example.com").collect().await?;
//! let bob = org.find_by_email("bob@example.com").await?;
//! if let Some(invitation) = org.get("8c1e…").optional().await? {
//!     org.resend(&invitation.id).await?;
//!     org.delete(&invitation.id).await?;
//! }
//! # Ok(()) }
//! ```
//!
//! `stream()` and `pages()` request one page at a time as they are read, never yield an
//! invitation twice (the server's offset paging can repeat them), and fail with
//! [`ErrorKind::RepeatedPage`] rather than loop forever on a server that ignores offsets.
//! `get` fails with [`ErrorKind::NotFound`] on a missing invitation; `get(id).optional()` and
//! `find_by_email` answer `None`.
//!
//! # What the server does that shapes your code
//!
//! Checked against Keycloak 26.5.0 with Phase Two's organizations extension 0.142:
//!
//! - The list has **no promised order** (it was seen in creation order). Offset paging skips an
//!   invitation for each one removed behind the offset while you page; collect ids first, then
//!   act on them, as [`OrgInvitations::select`] and its revocation plan do.
//! - `created_at` is `yyyy-MM-ddTHH:mmZ`: UTC, to the minute, not RFC 3339.
//! - A token without the needed role gets a **401**, like an expired one
//!   ([`ErrorKind::Unauthorized`]); the server never answers 403. Viewing rights suffice to
//!   resend an invitation.
//! - A 409 means either [`ErrorKind::AlreadyInvited`] or [`ErrorKind::AlreadyMember`]; both
//!   compare the lower-cased email.
//! - The search is a case-sensitive substring of the stored, lower-case email; the facade
//!   lower-cases it for you.
//!
//! # The invitee's side
//!
//! With the invited user's own token:
//!
//! ```no_run
//! # async fn demo(client: phasetwo_invitations::Client) -> Result<(), phasetwo_invitations::Error> {
//! let mine = client.my_invitations("acme");
//! for invitation in mine.list().send().await? {
//!     mine.accept(&invitation.id).send().await?;
//! }
//! # Ok(()) }
//! ```
//!
//! # The generated client
//!
//! [`raw`] is the client generated from the OpenAPI spec; [`Client::raw`] gives one with the
//! same server and authentication.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod adaptive;
mod auth;
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
mod bulk;
mod call;
mod client;
mod create;
mod error;
mod list;
mod me;
mod model;
pub mod operation;
mod org;
mod response;
mod retry;
mod revoke;
mod setters;
mod validate;

// Inlined, so that the generated client's documentation is part of this crate's.
#[doc(inline)]
pub use phasetwo_invitations_client as raw;

pub use auth::{BoxError, BoxFuture, TokenProvider};
pub use bulk::{
    BulkReport, CreateManyInvitations, DEFAULT_CONCURRENCY, DEFAULT_MAX_CONCURRENCY, Failure,
    ItemResult, NewInvitation, Outcome,
};
pub use call::REQUEST_ID_HEADER;
pub use client::{
    Client, ClientBuilder, DEFAULT_AUTH_REALM, DEFAULT_BASE_URL, DEFAULT_MAX_RESPONSE_BYTES,
};
pub use create::{CreateInvitation, CreateOrGetInvitation, Created, Invited};
pub use error::{Error, ErrorKind};
pub use list::{DEFAULT_PAGE_SIZE, ListInvitations, MAX_PAGES_WITHOUT_NEWS};
pub use me::{ListMyInvitations, MyInvitations, RespondToInvitation};
pub use org::{
    CountInvitations, DeleteInvitation, GetInvitation, GetOptionalInvitation, OrgInvitations,
    ResendInvitation,
};
pub use retry::RetryConfig;
pub use revoke::{RevocationPlan, RevokeInvitations, SelectInvitations};

pub use model::Invitation;

/// The README's Rust example, compiled as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExample;
