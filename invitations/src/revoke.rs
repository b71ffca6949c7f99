//! Revoking invitations you can review first: select by exact predicates, look at the plan,
//! then revoke exactly the invitations it lists, or revoke a list of ids you have.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use tokio::time::Instant;

use futures_util::{Stream, StreamExt, TryStreamExt, stream};

use crate::bulk::{BulkReport, DEFAULT_CONCURRENCY, ItemResult, Outcome, StopSignal};
use crate::error::Error;
use crate::model::Invitation;
use crate::org::OrgInvitations;
use crate::setters::setters;
use crate::validate;

impl OrgInvitations {
    /// Invitations chosen by exact predicates, to list or to plan their revocation. A
    /// selection with no predicate is refused unless it asks for [`all`](SelectInvitations::all).
    ///
    /// ```no_run
    /// # async fn demo(org: phasetwo_invitations::OrgInvitations) -> Result<(), phasetwo_invitations::Error> {
    /// let plan = org.select().domain("corp.example").plan_revocation().await?;
    /// for invitation in plan.invitations() {
    ///     println!("will revoke {} ({})", invitation.id, invitation.email);
    /// }
    /// let report = plan.apply().send().await; // exactly those ids; nothing is listed again
    /// println!("{report}");
    /// # Ok(()) }
    /// ```
    pub fn select(&self) -> SelectInvitations {
        SelectInvitations {
            org: self.clone(),
            email: None,
            domain: None,
            search: None,
            filters: Vec::new(),
            all: false,
        }
    }

    /// Revokes exactly these invitations, by id, as a bulk run; an id already gone is
    /// reported as such.
    pub fn revoke<I: Into<String>>(&self, ids: impl IntoIterator<Item = I>) -> RevokeInvitations {
        RevokeInvitations {
            org: self.clone(),
            items: ids.into_iter().map(|id| (id.into(), String::new())).collect(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

type Filter = Arc<dyn Fn(&Invitation) -> bool + Send + Sync>;

/// Builder of [`OrgInvitations::select`]. An invitation is selected when it meets every
/// predicate given.
#[derive(Clone)]
#[must_use = "a selection does nothing until collected, counted or planned"]
pub struct SelectInvitations {
    org: OrgInvitations,
    email: Option<String>,
    domain: Option<String>,
    search: Option<String>,
    filters: Vec<Filter>,
    all: bool,
}

impl fmt::Debug for SelectInvitations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectInvitations")
            .field("org", &self.org)
            .field("email", &self.email)
            .field("domain", &self.domain)
            .field("search", &self.search)
            .field("filters", &self.filters.len())
            .field("all", &self.all)
            .finish()
    }
}

impl SelectInvitations {
    setters! {
        /// The invitation of exactly this email (compared trimmed and lower-cased).
        fn email(email: impl Into<String>) => email = Some(email.into());

        /// Invitations whose email's domain is exactly this (`corp.example` selects
        /// `a@corp.example`, not `a@corp.example.evil.com` nor `a@sub.corp.example`).
        fn domain(domain: impl Into<String>) => domain = Some(domain.into());

        /// Invitations whose email contains this text, as the server's search matches.
        fn search(text: impl Into<String>) => search = Some(text.into());
    }

    /// Invitations for which `keep` is true.
    pub fn filter(mut self, keep: impl Fn(&Invitation) -> bool + Send + Sync + 'static) -> Self {
        self.filters.push(Arc::new(keep));
        self
    }

    /// Every invitation of the organization. Without it, a selection with no predicate (or
    /// only a blank one) is refused, so that an empty variable cannot select everything.
    pub fn all(mut self) -> Self {
        self.all = true;
        self
    }

    /// The normalised predicates, or why they select nothing safely.
    fn checked(&self) -> Result<Checked, Error> {
        let email = self.email.as_deref().map(validate::email).transpose()?;
        let domain = match self.domain.as_deref().map(str::trim) {
            Some(d) if d.trim_start_matches('@').is_empty() => {
                return Err(Error::invalid("domain", "is blank"));
            }
            Some(d) => Some(d.trim_start_matches('@').to_lowercase()),
            None => None,
        };
        let search = match self.search.as_deref() {
            Some(s) if s.trim().is_empty() => {
                return Err(Error::invalid(
                    "search",
                    "is blank; call all() to select every invitation",
                ));
            }
            Some(s) => Some(s.to_lowercase()),
            None => None,
        };
        let chosen = email.is_some() || domain.is_some() || search.is_some();
        if !chosen && self.filters.is_empty() && !self.all {
            return Err(Error::invalid(
                "selection",
                "no predicate: give an email, a domain, a search or a filter, or call all()",
            ));
        }
        Ok(Checked { email, domain, search })
    }

    /// The selected invitations, one by one, as the pages are read: every page, then the
    /// predicates. A selection refused (see [`all`](Self::all)) is the stream's one item.
    pub fn stream(self) -> impl Stream<Item = Result<Invitation, Error>> + Send + 'static {
        let checked = match self.checked() {
            Ok(checked) => checked,
            Err(refused) => return stream::once(async { Err(refused) }).left_stream(),
        };
        // The server's substring search narrows what is listed; the exact predicates decide.
        let narrowing = checked
            .email
            .clone()
            .or_else(|| checked.domain.as_ref().map(|d| format!("@{d}")))
            .or_else(|| checked.search.clone());
        let mut list = self.org.list();
        if let Some(text) = narrowing {
            list = list.search(text);
        }
        let filters = self.filters;
        list.stream()
            .try_filter(move |i| {
                let kept = checked.keeps(i) && filters.iter().all(|keep| keep(i));
                std::future::ready(kept)
            })
            .right_stream()
    }

    /// The selected invitations, collected.
    pub async fn collect(self) -> Result<Vec<Invitation>, Error> {
        self.stream().try_collect().await
    }

    /// How many invitations the selection holds, counted as the pages are read. The
    /// organization's total, in one request, is [`OrgInvitations::count`].
    pub async fn count(self) -> Result<u64, Error> {
        self.stream().try_fold(0, |n, _| async move { Ok(n + 1) }).await
    }

    /// Lists the selected invitations as a plan: review it, then
    /// [`apply`](RevocationPlan::apply) it to revoke exactly those.
    pub async fn plan_revocation(self) -> Result<RevocationPlan, Error> {
        let org = self.org.clone();
        Ok(RevocationPlan { org, invitations: self.collect().await? })
    }
}

struct Checked {
    email: Option<String>,
    domain: Option<String>,
    search: Option<String>,
}

impl Checked {
    fn keeps(&self, invitation: &Invitation) -> bool {
        let email = invitation.email.to_lowercase();
        self.email.as_ref().is_none_or(|e| *e == email)
            && self
                .domain
                .as_ref()
                .is_none_or(|d| email.rsplit_once('@').is_some_and(|(_, domain)| domain == d))
            && self.search.as_ref().is_none_or(|s| email.contains(s.as_str()))
    }
}

/// The invitations a revocation will remove, listed once. Applying it revokes exactly these.
#[derive(Debug, Clone)]
pub struct RevocationPlan {
    org: OrgInvitations,
    invitations: Vec<Invitation>,
}

impl RevocationPlan {
    /// What will be revoked.
    pub fn invitations(&self) -> &[Invitation] {
        &self.invitations
    }

    /// Revokes the planned invitations.
    pub fn apply(&self) -> RevokeInvitations {
        RevokeInvitations {
            org: self.org.clone(),
            items: self.invitations.iter().map(|i| (i.id.clone(), i.email.clone())).collect(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Builder of [`OrgInvitations::revoke`] and [`RevocationPlan::apply`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until run"]
pub struct RevokeInvitations {
    org: OrgInvitations,
    /// Id, and email when known (empty for a revocation by id alone).
    items: Vec<(String, String)>,
    concurrency: usize,
}

impl RevokeInvitations {
    /// Revocations in flight at once (at least 1). Default [`DEFAULT_CONCURRENCY`].
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Runs, and reports when every item is done.
    pub async fn send(self) -> BulkReport {
        let started = Instant::now();
        let mut report = BulkReport::collect(self.stream()).await;
        report.elapsed = started.elapsed();
        report
    }

    /// Runs as the stream is read, yielding each item's result as it finishes. An id the
    /// request could not name (empty, `..`) is invalid; an id given again is a
    /// [`Duplicate`](Outcome::Duplicate) of its first (so that the run never reports "already
    /// gone" for what it deleted itself); errors that would fail every item (401, an unknown
    /// organization) stop the run.
    pub fn stream(self) -> impl Stream<Item = ItemResult> + Send + 'static {
        let RevokeInvitations { org, items, concurrency } = self;
        let stop = Arc::new(StopSignal::default());
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        let items: Vec<_> = items
            .into_iter()
            .enumerate()
            .map(|(index, (id, email))| {
                let first = *first_seen.entry(id.clone()).or_insert(index);
                (index, id, email, (first != index).then_some(first))
            })
            .collect();
        stream::iter(items)
            .map(move |(index, id, email, duplicate_of)| {
                let (org, stop) = (org.clone(), stop.clone());
                async move {
                    let outcome = if let Some(first_index) = duplicate_of {
                        Outcome::Duplicate { first_index }
                    } else if let Err(e) = validate::path_segment("invitation_id", &id) {
                        Outcome::Invalid(e)
                    } else if let Some(stopped_by) = stop.stopped_by() {
                        Outcome::NotAttempted { stopped_by }
                    } else {
                        match org.delete(&id).send().await {
                            Ok(()) => Outcome::Deleted { id: id.clone() },
                            Err(e) if e.names_missing_invitation(&id) => {
                                Outcome::AlreadyGone { id: id.clone() }
                            }
                            Err(error) => stop.failed(error),
                        }
                    };
                    ItemResult { index, email, id: Some(id), outcome }
                }
            })
            .buffer_unordered(concurrency)
    }
}

crate::call::awaitable!(RevokeInvitations => BulkReport);
