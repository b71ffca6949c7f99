//! The same API for programs without an async runtime: every builder ends in a `send()` that
//! waits for the answer, listings are iterators, bulk runs return their report.
//!
//! ```no_run
//! fn main() -> Result<(), phasetwo_invitations::Error> {
//!     let client = phasetwo_invitations::blocking::Client::from_env()?;
//!     let org = client.invitations("acme", "3f2a9c");
//!     let created = org.create("alice@example.com").roles(["member"]).send()?;
//!     println!("invited: {}", created.id());
//!     for invitation in org.list().page_size(100) {
//!         println!("{}", invitation?.email);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! A [`Client`] runs its calls on a runtime of its own, with one thread that serves its
//! connections, and opens connections of its own (never shared with the async client it was
//! made from, whose connections belong to other runtimes). Like `reqwest::blocking`, it must
//! not be used from inside an async runtime: a call made there panics ("Cannot start a
//! runtime from within a runtime"); use the async API there. Clones share the runtime and may
//! be used from several threads.

use std::future::IntoFuture;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::runtime::Runtime;

use crate::bulk::ItemResult;
use crate::bulk::NewInvitation;
use crate::error::Error;
use crate::list::ListInvitations;
use crate::model::Invitation;
use crate::retry::RetryConfig;

/// A blocking client: a [`crate::Client`] and the runtime its calls run on. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    /// What the blocking calls use: connections opened on `runtime` only.
    inner: crate::client::Client,
    /// The client it was made from, for async code on other runtimes.
    as_async: crate::client::Client,
    runtime: Arc<Runtime>,
}

impl Client {
    /// Wraps a client configured with [`crate::Client::builder`]. The blocking client shares
    /// its settings, token cache and retry budget, and opens connections of its own, served by
    /// a thread of its own: a connection is served by the runtime that opened it, so sharing
    /// them with another runtime would leave calls waiting on connections nobody serves.
    pub fn new(client: crate::client::Client) -> Result<Client, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("phasetwo-invitations-blocking")
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(crate::error::ErrorKind::Transport)
                    .with_detail("could not start the blocking client's runtime")
                    .with_source(e)
            })?;
        Ok(Client {
            inner: client.with_own_connections()?,
            as_async: client,
            runtime: Arc::new(runtime),
        })
    }

    /// [`crate::Client::from_env`], blocking.
    pub fn from_env() -> Result<Client, Error> {
        Client::new(crate::client::Client::from_env()?)
    }

    /// The async client this one was made from (same settings and tokens), for async code
    /// on another runtime. Its connections are not the blocking client's.
    pub fn as_async(&self) -> &crate::client::Client {
        &self.as_async
    }

    /// The invitations of one organization.
    pub fn invitations(
        &self,
        realm: impl Into<String>,
        org_id: impl Into<String>,
    ) -> OrgInvitations {
        OrgInvitations {
            inner: self.inner.invitations(realm, org_id),
            runtime: self.runtime.clone(),
        }
    }

    /// The invitations addressed to the user whose token this client sends.
    pub fn my_invitations(&self, realm: impl Into<String>) -> MyInvitations {
        MyInvitations { inner: self.inner.my_invitations(realm), runtime: self.runtime.clone() }
    }
}

/// An async builder driven to its answer by `send()`: the setters are the async builder's.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until sent"]
pub struct Blocking<B> {
    inner: B,
    runtime: Arc<Runtime>,
}

impl<B> Blocking<B> {
    fn map(self, change: impl FnOnce(B) -> B) -> Self {
        Blocking { inner: change(self.inner), runtime: self.runtime }
    }
}

impl<B: IntoFuture> Blocking<B> {
    /// Sends, and waits for the answer.
    pub fn send(self) -> B::Output {
        self.runtime.block_on(self.inner.into_future())
    }
}

/// The per-call settings every builder has, forwarded.
macro_rules! call_settings {
    ($($builder:ty),* $(,)?) => {$(
        impl Blocking<$builder> {
            /// Retries this call with `config` instead of the client's policy.
            pub fn retry(self, config: RetryConfig) -> Self {
                self.map(|b| b.retry(config))
            }

            /// Gives each attempt at most `limit`.
            pub fn attempt_timeout(self, limit: Duration) -> Self {
                self.map(|b| b.attempt_timeout(limit))
            }

            /// Gives the whole call, all attempts and waits together, at most `limit`.
            pub fn operation_timeout(self, limit: Duration) -> Self {
                self.map(|b| b.operation_timeout(limit))
            }
        }
    )*};
}

call_settings!(
    crate::create::CreateInvitation,
    ListInvitations,
    crate::org::GetInvitation,
    crate::org::GetOptionalInvitation,
    crate::org::CountInvitations,
    crate::org::DeleteInvitation,
    crate::org::ResendInvitation,
    crate::me::ListMyInvitations,
    crate::me::RespondToInvitation,
);

impl Blocking<crate::org::GetInvitation> {
    /// See [`crate::GetInvitation::optional`].
    pub fn optional(self) -> Blocking<crate::org::GetOptionalInvitation> {
        Blocking { inner: self.inner.optional(), runtime: self.runtime }
    }
}

/// The invitations of one organization; see [`crate::OrgInvitations`].
#[derive(Clone, Debug)]
pub struct OrgInvitations {
    inner: crate::org::OrgInvitations,
    runtime: Arc<Runtime>,
}

impl OrgInvitations {
    fn wrap<B>(&self, builder: B) -> Blocking<B> {
        Blocking { inner: builder, runtime: self.runtime.clone() }
    }

    /// See [`crate::OrgInvitations::create`].
    pub fn create(&self, email: impl Into<String>) -> Blocking<crate::create::CreateInvitation> {
        self.wrap(self.inner.create(email))
    }

    /// See [`crate::OrgInvitations::list`]; iterate over it for every invitation.
    pub fn list(&self) -> Blocking<ListInvitations> {
        self.wrap(self.inner.list())
    }

    /// See [`crate::OrgInvitations::get`].
    pub fn get(&self, invitation_id: impl Into<String>) -> Blocking<crate::org::GetInvitation> {
        self.wrap(self.inner.get(invitation_id))
    }

    /// See [`crate::OrgInvitations::count`].
    pub fn count(&self) -> Blocking<crate::org::CountInvitations> {
        self.wrap(self.inner.count())
    }

    /// See [`crate::OrgInvitations::delete`].
    pub fn delete(
        &self,
        invitation_id: impl Into<String>,
    ) -> Blocking<crate::org::DeleteInvitation> {
        self.wrap(self.inner.delete(invitation_id))
    }

    /// See [`crate::OrgInvitations::resend`].
    pub fn resend(
        &self,
        invitation_id: impl Into<String>,
    ) -> Blocking<crate::org::ResendInvitation> {
        self.wrap(self.inner.resend(invitation_id))
    }

    /// See [`crate::OrgInvitations::create_many`]; `send()` returns the report.
    pub fn create_many<I: Into<NewInvitation>>(
        &self,
        items: impl IntoIterator<Item = I>,
    ) -> Blocking<crate::bulk::CreateManyInvitations> {
        self.wrap(self.inner.create_many(items))
    }

    /// See [`crate::OrgInvitations::find_by_email`].
    pub fn find_by_email(&self, email: &str) -> Result<Option<Invitation>, Error> {
        self.runtime.block_on(self.inner.find_by_email(email))
    }

    /// See [`crate::OrgInvitations::select`].
    pub fn select(&self) -> Blocking<crate::revoke::SelectInvitations> {
        self.wrap(self.inner.select())
    }

    /// See [`crate::OrgInvitations::revoke`]; `send()` returns the report.
    pub fn revoke<I: Into<String>>(
        &self,
        ids: impl IntoIterator<Item = I>,
    ) -> Blocking<crate::revoke::RevokeInvitations> {
        self.wrap(self.inner.revoke(ids))
    }
}

impl Blocking<crate::create::CreateInvitation> {
    /// See [`crate::CreateInvitation::idempotent`].
    pub fn idempotent(self) -> Self {
        self.map(|b| b.idempotent())
    }

    /// See [`crate::CreateInvitation::roles`].
    pub fn roles(self, roles: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.map(|b| b.roles(roles))
    }

    /// See [`crate::CreateInvitation::send_email`].
    pub fn send_email(self, send: bool) -> Self {
        self.map(|b| b.send_email(send))
    }

    /// See [`crate::CreateInvitation::redirect_uri`].
    pub fn redirect_uri(self, uri: impl Into<String>) -> Self {
        self.map(|b| b.redirect_uri(uri))
    }

    /// See [`crate::CreateInvitation::inviter_id`].
    pub fn inviter_id(self, user_id: impl Into<String>) -> Self {
        self.map(|b| b.inviter_id(user_id))
    }

    /// See [`crate::CreateInvitation::attribute`].
    pub fn attribute(
        self,
        key: impl Into<String>,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.map(|b| b.attribute(key, values))
    }

    /// See [`crate::CreateInvitation::or_existing`].
    pub fn or_existing(self) -> Blocking<crate::create::CreateOrGetInvitation> {
        Blocking { inner: self.inner.or_existing(), runtime: self.runtime }
    }
}

impl Blocking<ListInvitations> {
    /// See [`ListInvitations::search`].
    pub fn search(self, text: impl AsRef<str>) -> Self {
        self.map(|b| b.search(text))
    }

    /// See [`ListInvitations::offset`].
    pub fn offset(self, offset: u64) -> Self {
        self.map(|b| b.offset(offset))
    }

    /// See [`ListInvitations::page_size`].
    pub fn page_size(self, size: u32) -> Self {
        self.map(|b| b.page_size(size))
    }

    /// See [`ListInvitations::max_items`].
    pub fn max_items(self, n: u64) -> Self {
        self.map(|b| b.max_items(n))
    }

    /// See [`ListInvitations::dedupe_window`].
    pub fn dedupe_window(self, pages: usize) -> Self {
        self.map(|b| b.dedupe_window(pages))
    }

    /// Every page, collected; see [`ListInvitations::collect`]. One page is
    /// [`send`](Blocking::send).
    pub fn collect(self) -> Result<Vec<Invitation>, Error> {
        self.runtime.block_on(self.inner.collect())
    }
}

/// Every invitation, fetched page by page as the iteration goes; see
/// [`ListInvitations::stream`].
impl IntoIterator for Blocking<ListInvitations> {
    type Item = Result<Invitation, Error>;
    type IntoIter = Iter<Invitation>;

    fn into_iter(self) -> Self::IntoIter {
        Iter { stream: Box::pin(self.inner.stream()), runtime: self.runtime }
    }
}

/// The items of a stream, each waited for in turn.
pub struct Iter<T> {
    stream: Pin<Box<dyn Stream<Item = Result<T, Error>> + Send>>,
    runtime: Arc<Runtime>,
}

impl<T> std::fmt::Debug for Iter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Iter")
    }
}

impl<T> Iterator for Iter<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.runtime.block_on(self.stream.next())
    }
}

impl Blocking<crate::org::DeleteInvitation> {
    /// See [`crate::DeleteInvitation::ignore_missing`].
    pub fn ignore_missing(self) -> Self {
        self.map(|b| b.ignore_missing())
    }
}

impl Blocking<crate::bulk::CreateManyInvitations> {
    /// See [`crate::CreateManyInvitations::concurrency`].
    pub fn concurrency(self, n: usize) -> Self {
        self.map(|b| b.concurrency(n))
    }

    /// See [`crate::CreateManyInvitations::max_concurrency`].
    pub fn max_concurrency(self, n: usize) -> Self {
        self.map(|b| b.max_concurrency(n))
    }

    /// See [`crate::CreateManyInvitations::rate_limit`].
    pub fn rate_limit(self, per_second: u32) -> Self {
        self.map(|b| b.rate_limit(per_second))
    }

    /// See [`crate::CreateManyInvitations::dry_run`].
    pub fn dry_run(self) -> Self {
        self.map(|b| b.dry_run())
    }

    /// Each item's result, as it finishes.
    pub fn results(self) -> impl Iterator<Item = ItemResult> {
        let runtime = self.runtime;
        let mut stream = Box::pin(self.inner.stream());
        std::iter::from_fn(move || runtime.block_on(stream.next()))
    }
}

impl Blocking<crate::revoke::SelectInvitations> {
    /// See [`crate::SelectInvitations::email`].
    pub fn email(self, email: impl Into<String>) -> Self {
        self.map(|b| b.email(email))
    }

    /// See [`crate::SelectInvitations::domain`].
    pub fn domain(self, domain: impl Into<String>) -> Self {
        self.map(|b| b.domain(domain))
    }

    /// See [`crate::SelectInvitations::search`].
    pub fn search(self, text: impl Into<String>) -> Self {
        self.map(|b| b.search(text))
    }

    /// See [`crate::SelectInvitations::filter`].
    pub fn filter(self, keep: impl Fn(&Invitation) -> bool + Send + Sync + 'static) -> Self {
        self.map(|b| b.filter(keep))
    }

    /// See [`crate::SelectInvitations::all`].
    pub fn all(self) -> Self {
        self.map(|b| b.all())
    }

    /// See [`crate::SelectInvitations::collect`].
    pub fn collect(self) -> Result<Vec<Invitation>, Error> {
        self.runtime.block_on(self.inner.collect())
    }

    /// See [`crate::SelectInvitations::count`].
    pub fn count(self) -> Result<u64, Error> {
        self.runtime.block_on(self.inner.count())
    }

    /// See [`crate::SelectInvitations::plan_revocation`]; apply the plan with [`RevocationPlan::apply`].
    pub fn plan_revocation(self) -> Result<RevocationPlan, Error> {
        let plan = self.runtime.block_on(self.inner.plan_revocation())?;
        Ok(RevocationPlan { inner: plan, runtime: self.runtime })
    }
}

/// See [`crate::RevocationPlan`].
#[derive(Debug, Clone)]
pub struct RevocationPlan {
    inner: crate::revoke::RevocationPlan,
    runtime: Arc<Runtime>,
}

impl RevocationPlan {
    /// What will be revoked.
    pub fn invitations(&self) -> &[Invitation] {
        self.inner.invitations()
    }

    /// Revokes the planned invitations; `send()` returns the report.
    pub fn apply(&self) -> Blocking<crate::revoke::RevokeInvitations> {
        Blocking { inner: self.inner.apply(), runtime: self.runtime.clone() }
    }
}

impl Blocking<crate::revoke::RevokeInvitations> {
    /// See [`crate::RevokeInvitations::concurrency`].
    pub fn concurrency(self, n: usize) -> Self {
        self.map(|b| b.concurrency(n))
    }

    /// Each item's result, as it finishes.
    pub fn results(self) -> impl Iterator<Item = ItemResult> {
        let runtime = self.runtime;
        let mut stream = Box::pin(self.inner.stream());
        std::iter::from_fn(move || runtime.block_on(stream.next()))
    }
}

/// The invitee's side; see [`crate::MyInvitations`].
#[derive(Clone, Debug)]
pub struct MyInvitations {
    inner: crate::me::MyInvitations,
    runtime: Arc<Runtime>,
}

impl MyInvitations {
    fn wrap<B>(&self, builder: B) -> Blocking<B> {
        Blocking { inner: builder, runtime: self.runtime.clone() }
    }

    /// See [`crate::MyInvitations::list`].
    pub fn list(&self) -> Blocking<crate::me::ListMyInvitations> {
        self.wrap(self.inner.list())
    }

    /// See [`crate::MyInvitations::accept`].
    pub fn accept(
        &self,
        invitation_id: impl Into<String>,
    ) -> Blocking<crate::me::RespondToInvitation> {
        self.wrap(self.inner.accept(invitation_id))
    }

    /// See [`crate::MyInvitations::reject`].
    pub fn reject(
        &self,
        invitation_id: impl Into<String>,
    ) -> Blocking<crate::me::RespondToInvitation> {
        self.wrap(self.inner.reject(invitation_id))
    }
}
