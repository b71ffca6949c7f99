//! Many invitations at once: `create_many`, and the report and outcomes that revocations
//! (`revoke.rs`) share.
//!
//! Every item is checked before anything is sent, duplicates are dropped, creates are
//! idempotent (a re-run after a crash creates only what is missing), and results stream out as
//! they finish. Errors that would fail every item (401, 403, 404 of the organization) stop the
//! run; the items not yet started are reported as not attempted.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use futures_util::{Stream, StreamExt, stream};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::adaptive::AdaptiveLimit;
use crate::create::{CreateInvitation, Invited};
use crate::error::{Error, ErrorKind};
use crate::org::OrgInvitations;
use crate::setters::setters;

impl OrgInvitations {
    /// Invites many people: checks every item first, drops duplicates, then creates
    /// idempotently with bounded concurrency; see [`CreateManyInvitations`].
    pub fn create_many<I: Into<NewInvitation>>(
        &self,
        items: impl IntoIterator<Item = I>,
    ) -> CreateManyInvitations {
        CreateManyInvitations::new(self.clone(), items.into_iter().map(Into::into).collect())
    }

    /// The create builder for one bulk item.
    pub(crate) fn create_from(&self, item: &NewInvitation) -> CreateInvitation {
        let mut create = self
            .create(item.email.clone())
            .roles(item.roles.iter().cloned())
            .send_email(item.send_email);
        if let Some(uri) = &item.redirect_uri {
            create = create.redirect_uri(uri.clone());
        }
        for (key, values) in &item.attributes {
            create = create.attribute(key.clone(), values.iter().cloned());
        }
        create
    }
}

/// Requests in flight at once of a revocation, unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The most requests in flight at once that a bulk create's adaptive limit may reach, unless
/// told otherwise.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;

/// How many creates a run keeps in flight.
#[derive(Debug, Clone, Copy)]
enum Concurrency {
    Fixed(usize),
    /// Found from the throughput observed, up to a maximum.
    Adaptive {
        max: usize,
    },
}

/// One invitation to create: an email, and optionally what [`CreateInvitation`] can set.
///
/// [`CreateInvitation`]: crate::CreateInvitation
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewInvitation {
    /// The invitee's email; trimmed and lower-cased before sending.
    pub email: String,
    /// Organization roles granted on acceptance.
    pub roles: Vec<String>,
    /// Whether the server emails the invitee.
    pub send_email: bool,
    /// Where the invitee lands after accepting.
    pub redirect_uri: Option<String>,
    /// Attributes of the invitation.
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl NewInvitation {
    /// An invitation for `email` with nothing else set.
    pub fn new(email: impl Into<String>) -> Self {
        NewInvitation { email: email.into(), ..NewInvitation::default() }
    }
}

impl From<&str> for NewInvitation {
    fn from(email: &str) -> Self {
        NewInvitation::new(email)
    }
}

impl From<String> for NewInvitation {
    fn from(email: String) -> Self {
        NewInvitation::new(email)
    }
}

/// What happened to one item.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Created; `reconciled` when it was found after an attempt with an unknown outcome.
    Created {
        /// The invitation's id.
        id: String,
        /// Found after an attempt whose outcome was unknown, rather than confirmed.
        reconciled: bool,
    },
    /// The email already had an invitation (nothing was changed).
    AlreadyInvited {
        /// The existing invitation's id.
        id: String,
        /// Its roles are not the ones this item asked for (compared as sets); it keeps its own.
        other_roles: bool,
    },
    /// The email belongs to a member of the organization.
    AlreadyMember,
    /// The same email (after trimming and lower-casing), or for a revocation the same id,
    /// came earlier, at this index.
    Duplicate {
        /// Index of the first item with this email.
        first_index: usize,
    },
    /// Refused before sending.
    Invalid(Error),
    /// The server or the network failed for this item.
    Failed(Error),
    /// Not sent, because an earlier error would have failed it too.
    NotAttempted {
        /// The error that stopped the run.
        stopped_by: Error,
    },
    /// Dry run: would be created.
    WouldCreate,
    /// Deleted.
    Deleted {
        /// The invitation's id.
        id: String,
    },
    /// Already deleted by someone else.
    AlreadyGone {
        /// The invitation's id.
        id: String,
    },
}

impl Outcome {
    /// A short name, as written in reports: `created`, `already_invited`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Created { .. } => "created",
            Outcome::AlreadyInvited { .. } => "already_invited",
            Outcome::AlreadyMember => "already_member",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::Invalid(_) => "invalid",
            Outcome::Failed(_) => "failed",
            Outcome::NotAttempted { .. } => "not_attempted",
            Outcome::WouldCreate => "would_create",
            Outcome::Deleted { .. } => "deleted",
            Outcome::AlreadyGone { .. } => "already_gone",
        }
    }

    /// The error, for `Invalid` and `Failed`.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Outcome::Invalid(e) | Outcome::Failed(e) | Outcome::NotAttempted { stopped_by: e } => {
                Some(e)
            }
            _ => None,
        }
    }

    /// The invitation id, when there is one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Outcome::Created { id, .. }
            | Outcome::AlreadyInvited { id, .. }
            | Outcome::Deleted { id }
            | Outcome::AlreadyGone { id } => Some(id),
            _ => None,
        }
    }
}

/// The result of one item, in the input's order by `index`.
#[derive(Debug)]
#[non_exhaustive]
pub struct ItemResult {
    /// Position of the item in the input (0-based).
    pub index: usize,
    /// The email as sent (trimmed, lower-cased), or as given when it was invalid; empty for a
    /// revocation by id alone.
    pub email: String,
    /// The invitation's id when known: always for a revocation, whatever its outcome (so that
    /// a report can feed the next run), and for an item created or already invited.
    pub id: Option<String>,
    /// What happened to it.
    pub outcome: Outcome,
}

impl ItemResult {
    /// One line of JSON: `{"index":..,"email":..,"outcome":..,"id":..,"error":..,
    /// "may_have_been_sent":..}`, the last two for an item with an error.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "index": self.index,
            "email": self.email,
            "outcome": self.outcome.name(),
        });
        if let Some(id) = &self.id {
            value["id"] = id.as_str().into();
        }
        if let Outcome::Created { reconciled: true, .. } = self.outcome {
            value["reconciled"] = true.into();
        }
        if let Some(error) = self.outcome.error() {
            value["error"] = error.to_string().into();
            value["may_have_been_sent"] = error.may_have_been_sent().into();
        }
        if let Outcome::AlreadyInvited { other_roles: true, .. } = self.outcome {
            value["other_roles"] = true.into();
        }
        if let Outcome::Duplicate { first_index } = self.outcome {
            value["duplicate_of"] = first_index.into();
        }
        value
    }
}

/// A failed item, as kept in the report.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure {
    /// Position of the item in the input (0-based).
    pub index: usize,
    /// The email, as sent or as given (empty for a revocation by id alone).
    pub email: String,
    /// The invitation's id, for a revocation.
    pub id: Option<String>,
    /// Why it failed.
    pub error: Error,
}

/// Totals of a run. Serialises (for a machine-readable summary) with the failures as counts,
/// and `elapsed` as `elapsed_s`, in seconds.
#[derive(Debug, Default, serde::Serialize)]
#[non_exhaustive]
pub struct BulkReport {
    /// Invitations created (reconciled ones included).
    pub created: usize,
    /// Of those, found after an attempt whose outcome was unknown.
    pub reconciled: usize,
    /// Emails that already had an invitation.
    pub already_invited: usize,
    /// Of those, invitations whose roles are not the ones asked for.
    pub other_roles: usize,
    /// Emails of members of the organization.
    pub already_member: usize,
    /// Items dropped as repeats of an earlier one.
    pub duplicates: usize,
    /// Items refused before sending.
    #[serde(serialize_with = "count")]
    pub invalid: Vec<Failure>,
    /// Items the server or the network failed.
    #[serde(serialize_with = "count")]
    pub failed: Vec<Failure>,
    /// Items not sent because the run stopped early.
    pub not_attempted: usize,
    /// Dry run: items that would be created.
    pub would_create: usize,
    /// Invitations deleted.
    pub deleted: usize,
    /// Invitations already gone when their delete arrived.
    pub already_gone: usize,
    /// How long the run took.
    #[serde(rename = "elapsed_s", serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn count<S: serde::Serializer>(items: &[Failure], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(items.len() as u64)
}

fn seconds<S: serde::Serializer>(elapsed: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(elapsed.as_secs_f64())
}

impl BulkReport {
    /// Counts one item; errors are kept.
    pub fn record(&mut self, item: ItemResult) {
        match item.outcome {
            Outcome::Created { reconciled, .. } => {
                self.created += 1;
                self.reconciled += usize::from(reconciled);
            }
            Outcome::AlreadyInvited { other_roles, .. } => {
                self.already_invited += 1;
                self.other_roles += usize::from(other_roles);
            }
            Outcome::AlreadyMember => self.already_member += 1,
            Outcome::Duplicate { .. } => self.duplicates += 1,
            Outcome::Invalid(error) => self.invalid.push(Failure {
                index: item.index,
                email: item.email,
                id: item.id,
                error,
            }),
            Outcome::Failed(error) => self.failed.push(Failure {
                index: item.index,
                email: item.email,
                id: item.id,
                error,
            }),
            Outcome::NotAttempted { .. } => self.not_attempted += 1,
            Outcome::WouldCreate => self.would_create += 1,
            Outcome::Deleted { .. } => self.deleted += 1,
            Outcome::AlreadyGone { .. } => self.already_gone += 1,
        }
    }

    /// Whether every item ended as intended: nothing invalid, failed or left out.
    pub fn is_success(&self) -> bool {
        self.invalid.is_empty() && self.failed.is_empty() && self.not_attempted == 0
    }

    /// Reads a whole result stream into a report.
    pub async fn collect(results: impl Stream<Item = ItemResult>) -> BulkReport {
        let started = Instant::now();
        let mut report = BulkReport::default();
        futures_util::pin_mut!(results);
        while let Some(item) = results.next().await {
            report.record(item);
        }
        report.elapsed = started.elapsed();
        report
    }
}

impl fmt::Display for BulkReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let counts = [
            ("created", self.created),
            ("reconciled after a retry", self.reconciled),
            ("already invited", self.already_invited),
            ("already members", self.already_member),
            ("duplicates", self.duplicates),
            ("invalid", self.invalid.len()),
            ("failed", self.failed.len()),
            ("not attempted", self.not_attempted),
            ("would be created", self.would_create),
            ("deleted", self.deleted),
            ("already gone", self.already_gone),
        ];
        for (what, n) in counts {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if parts.is_empty() {
            parts.push("nothing to do".to_owned());
        }
        write!(f, "{} in {:.1} s", parts.join(", "), self.elapsed.as_secs_f64())
    }
}

/// Builder of [`OrgInvitations::create_many`].
#[must_use = "a builder does nothing until run"]
pub struct CreateManyInvitations {
    org: OrgInvitations,
    items: Vec<NewInvitation>,
    concurrency: Concurrency,
    rate: Option<Arc<DefaultDirectRateLimiter>>,
    dry_run: bool,
}

impl fmt::Debug for CreateManyInvitations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateManyInvitations")
            .field("org", &self.org)
            .field("items", &self.items.len())
            .field("concurrency", &self.concurrency)
            .field("rate_limited", &self.rate.is_some())
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

/// Stops a run once an error shows every further item would fail too.
#[derive(Default)]
pub(crate) struct StopSignal(Mutex<Option<Error>>);

impl StopSignal {
    /// The error that stopped the run, if one did.
    pub(crate) fn stopped_by(&self) -> Option<Error> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The outcome of an item that failed with `error`, stopping the run if every further
    /// item would fail the same way.
    pub(crate) fn failed(&self, error: Error) -> Outcome {
        self.stop_if_fatal(&error);
        Outcome::Failed(error)
    }

    /// Stops the run if `error` would fail every item: the token or the organization is bad.
    fn stop_if_fatal(&self, error: &Error) {
        let fatal = matches!(
            error.kind(),
            ErrorKind::Unauthorized
                | ErrorKind::Forbidden
                | ErrorKind::NotFound
                | ErrorKind::NoToken
        );
        if fatal {
            let mut stopped_by = self.0.lock().unwrap_or_else(|p| p.into_inner());
            stopped_by.get_or_insert_with(|| error.clone());
        }
    }
}

/// Whether an error says the server is overloaded, which should lower an adaptive limit.
fn overloaded(error: &Error) -> bool {
    matches!(error.kind(), ErrorKind::RateLimited | ErrorKind::Timeout)
        || error.status().is_some_and(|s| s.as_u16() == 503)
}

/// A shared requests-per-second limit.
fn rate_limiter(per_second: u32) -> Option<Arc<DefaultDirectRateLimiter>> {
    NonZeroU32::new(per_second).map(|n| Arc::new(RateLimiter::direct(Quota::per_second(n))))
}

impl CreateManyInvitations {
    pub(crate) fn new(org: OrgInvitations, items: Vec<NewInvitation>) -> Self {
        CreateManyInvitations {
            org,
            items,
            concurrency: Concurrency::Adaptive { max: DEFAULT_MAX_CONCURRENCY },
            rate: None,
            dry_run: false,
        }
    }

    setters! {
        /// Exactly `n` requests in flight at once (at least 1), instead of the adaptive default.
        fn concurrency(n: usize) => concurrency = Concurrency::Fixed(n.max(1));

        /// The adaptive default's ceiling (at least 1; default [`DEFAULT_MAX_CONCURRENCY`]). By
        /// default a run starts with 8 requests in flight and finds its own number from the
        /// throughput it observes: doubling while each step brings 5 % more creates a second,
        /// back to the last step that paid when one does not, halved at a 429, a 503 or a
        /// timeout, as TCP's congestion control grows and shrinks its window.
        fn max_concurrency(n: usize) => concurrency = Concurrency::Adaptive { max: n.max(1) };

        /// At most `per_second` creates a second (0: no limit).
        fn rate_limit(per_second: u32) => rate = rate_limiter(per_second);

        /// Checks every item and looks up which emails already have an invitation; sends no
        /// write.
        fn dry_run() => dry_run = true;
    }

    /// Runs, and reports when every item is done.
    pub async fn send(self) -> BulkReport {
        BulkReport::collect(self.stream()).await
    }

    /// Runs as the stream is read, yielding each item's result when it is known: invalid items
    /// and duplicates first, then sent ones as they finish.
    pub fn stream(self) -> impl Stream<Item = ItemResult> + Send + 'static {
        let CreateManyInvitations { org, items, concurrency, rate, dry_run } = self;
        let mut checked = Vec::new();
        let mut to_send = Vec::new();
        let mut first_seen: HashMap<String, usize> = HashMap::new();
        for (index, item) in items.into_iter().enumerate() {
            let request = org.create_from(&item);
            match request.checked_email() {
                Err(error) => checked.push(ItemResult {
                    index,
                    email: item.email,
                    id: None,
                    outcome: Outcome::Invalid(error),
                }),
                Ok(email) => match first_seen.get(&email) {
                    Some(&first_index) => checked.push(ItemResult {
                        index,
                        email,
                        id: None,
                        outcome: Outcome::Duplicate { first_index },
                    }),
                    None => {
                        first_seen.insert(email.clone(), index);
                        to_send.push((index, email, request));
                    }
                },
            }
        }

        let stop = Arc::new(StopSignal::default());
        let (width, adaptive) = match concurrency {
            Concurrency::Fixed(n) => (n, None),
            Concurrency::Adaptive { max } => (max, Some(Arc::new(AdaptiveLimit::new(max)))),
        };
        let sent = stream::iter(to_send)
            .map(move |(index, email, request)| {
                let (org, stop, rate) = (org.clone(), stop.clone(), rate.clone());
                let adaptive = adaptive.clone();
                async move {
                    if let Some(stopped_by) = stop.stopped_by() {
                        let outcome = Outcome::NotAttempted { stopped_by };
                        return ItemResult { index, email, id: None, outcome };
                    }
                    let outcome = if dry_run {
                        match org.find_by_email(&email).await {
                            Ok(Some(existing)) => outcome_of(request.found(existing)),
                            Ok(None) => Outcome::WouldCreate,
                            Err(error) => stop.failed(error),
                        }
                    } else {
                        if let Some(rate) = &rate {
                            rate.until_ready().await;
                        }
                        let admitted = match &adaptive {
                            Some(limit) => Some(limit.admit().await),
                            None => None,
                        };
                        let answer = request.or_existing().send().await;
                        if let Some(admitted) = admitted {
                            admitted.done(answer.as_ref().is_err_and(overloaded));
                        }
                        match answer {
                            Ok(invited) => outcome_of(invited),
                            Err(e) if e.kind() == ErrorKind::AlreadyMember => {
                                Outcome::AlreadyMember
                            }
                            Err(error) => stop.failed(error),
                        }
                    };
                    ItemResult { index, email, id: outcome.id().map(str::to_owned), outcome }
                }
            })
            .buffer_unordered(width);
        stream::iter(checked).chain(sent)
    }
}

crate::call::awaitable!(CreateManyInvitations => BulkReport);

/// A bulk item's outcome for what its `or_existing()` create found or did.
fn outcome_of(invited: Invited) -> Outcome {
    match invited {
        Invited::Created(created) => {
            Outcome::Created { reconciled: created.reconciled(), id: created.id().to_owned() }
        }
        Invited::Existing(existing) => {
            Outcome::AlreadyInvited { id: existing.id, other_roles: false }
        }
        Invited::ExistingWithOtherRoles(existing) => {
            Outcome::AlreadyInvited { id: existing.id, other_roles: true }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Sent;

    /// A failed item's line says whether its request may have reached the server, so that a
    /// script knows which failures to look up before sending them again.
    #[test]
    fn a_failed_items_line_says_whether_it_may_have_been_sent() {
        let item = |outcome| ItemResult { index: 3, email: "a@x.io".into(), id: None, outcome };
        for (sent, may) in [(Sent::No, false), (Sent::Maybe, true)] {
            let error = Error::new(ErrorKind::Transport).with_sent(sent);
            let line = item(Outcome::Failed(error)).to_json();
            assert_eq!(line["may_have_been_sent"], may, "{line}");
            assert!(line["error"].is_string(), "{line}");
        }
        let created = item(Outcome::Created { id: "x".into(), reconciled: false }).to_json();
        assert!(created.get("may_have_been_sent").is_none(), "{created}");
    }
}
