//! Every answer tells the truth and every deadline holds, checked by a randomized model test.
//!
//! proptest draws sequences of operations through the public API, async and blocking, each
//! with an optional fault of the built-in server (statuses with JSON, HTML or empty bodies,
//! connections closed before or after the work is done, delays around the time limits,
//! truncated and non-JSON bodies, a token endpoint slow or failing, tokens revoked, the list
//! shifting under a listing). After every step the server's state is the oracle:
//!
//! - **truth**: `Ok`, "created", "already invited", "existing", "deleted", "already gone" and
//!   `None` agree with what the server held before and after the step (a "done earlier" is
//!   accepted only after a fault that may have hidden the work); an error with
//!   `may_have_been_sent() == false` left the server as it was;
//! - **deadline**: a call returns within the client's operation time limit plus [`SLACK`];
//! - **no duplicate effect**: no email holds two invitations, no listing yields an id twice.
//!
//! `cargo test` runs [`DEFAULT_CASES`] cases; `MODEL_CASES=2000 cargo test -p invitations-tests
//! --test model` is the long run. A failure prints the shortest sequence proptest found.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use phasetwo_invitations::{
    Client, Error, ErrorKind, Invited, ItemResult, Outcome, RetryConfig, blocking, operation,
};
use phasetwo_invitations_testing::{FakeServer, Fault, FaultAction, Permission, Scope};
use proptest::prelude::*;

const REALM: &str = "acme";
const ORG: &str = "org-1";
/// Emails drawn from `u0@x.io` to `u4@x.io`; `u0` is the invitee with a token of his own.
const EMAILS: usize = 5;
const INVITEE_TOKEN: &str = "model-invitee-token";
/// The client's limits: each request, and each call (all attempts and waits).
const REQUEST_LIMIT: Duration = Duration::from_millis(400);
const OPERATION_LIMIT: Duration = Duration::from_millis(1_000);
/// What a call may take beyond its operation limit: scheduling and the last answer's read.
const SLACK: Duration = Duration::from_millis(300);
const DEFAULT_CASES: u32 = 40;

fn email(i: usize) -> String {
    format!("u{i}@x.io")
}

#[derive(Debug, Clone, Copy)]
enum How {
    Plain,
    Idempotent,
    OrExisting,
}

/// An invitation the step names: one the server holds (by position, modulo their number), or
/// an id it never issued.
#[derive(Debug, Clone, Copy)]
enum Target {
    Held(usize),
    Unknown,
}

#[derive(Debug, Clone)]
enum Op {
    Create { email: usize, how: How },
    Get { target: Target, optional: bool },
    Delete { target: Target, ignore_missing: bool },
    Resend { target: Target },
    Accept { target: Target },
    Reject { target: Target },
    List { page_size: u32, window: Option<usize> },
    Bulk { emails: Vec<usize> },
    RevokePlan { email: Option<usize> },
    RevokeIds { targets: Vec<Target> },
    RevokeGrants,
}

#[derive(Debug, Clone, Copy)]
enum Body {
    Json,
    Html,
    Empty,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Status(u16, Body),
    CloseBeforeAnswer,
    CloseAfterHandling,
    Delay(u64),
    TruncatedBody,
    NonJsonBody,
    RemoveOldest(usize),
}

impl Action {
    /// Whether the server may have done the work although the client cannot know it: only
    /// then may a later 404 or 409 be read as "done by an earlier attempt".
    fn may_hide_work(self) -> bool {
        !matches!(self, Action::Status(408 | 429 | 503, _) | Action::RemoveOldest(_))
    }

    fn fault(self) -> FaultAction {
        match self {
            Action::Status(status, Body::Json) => FaultAction::Status { status, retry_after: None },
            Action::Status(status, body) => {
                FaultAction::ProxyStatus { status, html: matches!(body, Body::Html) }
            }
            Action::CloseBeforeAnswer => FaultAction::CloseBeforeAnswer,
            Action::CloseAfterHandling => FaultAction::CloseAfterHandling,
            Action::Delay(ms) => FaultAction::Delay(Duration::from_millis(ms)),
            Action::TruncatedBody => FaultAction::TruncatedBody,
            Action::NonJsonBody => FaultAction::NonJsonBody,
            Action::RemoveOldest(n) => FaultAction::RemoveOldest(n),
        }
    }
}

#[derive(Debug, Clone)]
struct FaultSpec {
    action: Action,
    on_token_endpoint: bool,
    every: usize,
    count: usize,
}

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    fault: Option<FaultSpec>,
    blocking: bool,
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![4 => (0..8usize).prop_map(Target::Held), 1 => Just(Target::Unknown)]
}

fn op() -> impl Strategy<Value = Op> {
    let how = prop_oneof![Just(How::Plain), Just(How::Idempotent), Just(How::OrExisting)];
    prop_oneof![
        4 => (0..EMAILS, how).prop_map(|(email, how)| Op::Create { email, how }),
        2 => (target(), any::<bool>()).prop_map(|(target, optional)| Op::Get { target, optional }),
        2 => (target(), any::<bool>())
            .prop_map(|(target, ignore_missing)| Op::Delete { target, ignore_missing }),
        1 => target().prop_map(|target| Op::Resend { target }),
        1 => target().prop_map(|target| Op::Accept { target }),
        1 => target().prop_map(|target| Op::Reject { target }),
        2 => (1..4u32, prop::option::of(1..3usize))
            .prop_map(|(page_size, window)| Op::List { page_size, window }),
        2 => prop::collection::vec(0..EMAILS, 1..6).prop_map(|emails| Op::Bulk { emails }),
        1 => prop::option::of(0..EMAILS).prop_map(|email| Op::RevokePlan { email }),
        1 => prop::collection::vec(target(), 1..4).prop_map(|targets| Op::RevokeIds { targets }),
        1 => Just(Op::RevokeGrants),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    let body = prop_oneof![Just(Body::Json), Just(Body::Html), Just(Body::Empty)];
    let status = prop_oneof![Just(408u16), Just(429), Just(500), Just(502), Just(503), Just(504)];
    prop_oneof![
        4 => (status, body).prop_map(|(s, b)| Action::Status(s, b)),
        1 => Just(Action::CloseBeforeAnswer),
        2 => Just(Action::CloseAfterHandling),
        // Around the request limit (400 ms) and the operation limit (1 s).
        2 => prop_oneof![Just(50u64), Just(350), Just(450), Just(1_100)].prop_map(Action::Delay),
        1 => Just(Action::TruncatedBody),
        1 => Just(Action::NonJsonBody),
        1 => (1..3usize).prop_map(Action::RemoveOldest),
    ]
}

fn fault() -> impl Strategy<Value = FaultSpec> {
    (action(), prop::bool::weighted(0.25), 1..3usize, 1..3usize).prop_map(
        |(action, on_token_endpoint, every, count)| FaultSpec {
            action,
            on_token_endpoint,
            every,
            count,
        },
    )
}

fn step() -> impl Strategy<Value = Step> {
    (op(), prop::option::weighted(0.6, fault()), prop::bool::weighted(0.3))
        .prop_map(|(op, fault, blocking)| Step { op, fault, blocking })
}

/// What the server holds: invitations (id to email) and members.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    invitations: BTreeMap<String, String>,
    members: BTreeSet<String>,
}

impl Snapshot {
    fn of(server: &FakeServer) -> Snapshot {
        let stored = server.invitations(REALM, ORG);
        let mut emails = BTreeSet::new();
        for invitation in &stored {
            assert!(
                emails.insert(invitation.email.clone()),
                "no duplicate effect: {} holds two invitations",
                invitation.email
            );
        }
        Snapshot {
            invitations: stored.into_iter().map(|i| (i.id, i.email)).collect(),
            members: server.members(REALM, ORG).into_iter().collect(),
        }
    }

    fn has_email(&self, email: &str) -> bool {
        self.invitations.values().any(|e| e == email)
    }

    fn resolve(&self, target: Target) -> String {
        match target {
            Target::Held(i) if !self.invitations.is_empty() => {
                self.invitations.keys().nth(i % self.invitations.len()).cloned().unwrap_or_default()
            }
            _ => "00000000-0000-4000-8000-000000000000".to_owned(),
        }
    }
}

/// One case's world: the server on a runtime of its own, and the clients.
struct World {
    /// Serves `server`; kept for as long as the world lives.
    _server_runtime: tokio::runtime::Runtime,
    server: FakeServer,
    runtime: tokio::runtime::Runtime,
    client: Client,
    blocking: blocking::Client,
    invitee: Client,
    blocking_invitee: blocking::Client,
}

impl World {
    fn start() -> World {
        let server_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = server_runtime.block_on(async {
            let server = FakeServer::start().await;
            server.add_org(REALM, ORG, ["member"]);
            server.add_client(
                "master",
                "model",
                "model-secret",
                Permission::Manage,
                Duration::from_secs(2),
            );
            server.add_token(INVITEE_TOKEN, Permission::User(email(0)));
            server
        });
        let retry = RetryConfig::default()
            .initial_backoff(Duration::from_millis(10))
            .max_retry_after(Duration::from_secs(2));
        let builder = || {
            Client::builder()
                .base_url(server.url())
                .attempt_timeout(REQUEST_LIMIT)
                .operation_timeout(OPERATION_LIMIT)
                .retry(retry.clone())
        };
        let client =
            builder().client_credentials("master", "model", "model-secret").build().unwrap();
        let invitee = builder().bearer_token(INVITEE_TOKEN).build().unwrap();
        World {
            blocking: blocking::Client::new(client.clone()).unwrap(),
            blocking_invitee: blocking::Client::new(invitee.clone()).unwrap(),
            runtime: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
            _server_runtime: server_runtime,
            server,
            client,
            invitee,
        }
    }

    fn inject(&self, spec: &FaultSpec) {
        let scope = match spec.action {
            // Removals happen while a listing pages.
            Action::RemoveOldest(_) => Scope::Operation(operation::LIST),
            _ if spec.on_token_endpoint => Scope::PathPrefix("/realms/master/protocol".into()),
            _ => Scope::PathPrefix(format!("/realms/{REALM}/")),
        };
        self.server.inject(Fault::every(scope, spec.action.fault(), spec.every, spec.count));
    }
}

/// What a step showed, for the checks.
struct Seen<'a> {
    before: &'a Snapshot,
    after: &'a Snapshot,
    /// A fault was applied that may have done work the client could not see.
    hidden_work: bool,
    /// A fault changed the server's state on its own.
    state_fault: bool,
}

fn check_unsent(error: &Error, seen: &Seen, what: &str) -> Result<(), TestCaseError> {
    if !error.may_have_been_sent() && !seen.state_fault {
        prop_assert_eq!(
            seen.before,
            seen.after,
            "{}: an error that was surely not sent changed the server: {:?}",
            what,
            error
        );
    }
    Ok(())
}

fn check_deadline(took: Duration, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        took <= OPERATION_LIMIT + SLACK,
        "deadline: {} took {:?}, the limit is {:?} + {:?}",
        what,
        took,
        OPERATION_LIMIT,
        SLACK
    );
    Ok(())
}

fn check_created(
    id: &str,
    reconciled: bool,
    email: &str,
    seen: &Seen,
) -> Result<(), TestCaseError> {
    // A fault that removes invitations on its own (as invitees accepting them would) may take
    // one this call created before the call ends; otherwise it must be there, for its email.
    match seen.after.invitations.get(id) {
        Some(stored) => prop_assert_eq!(stored.as_str(), email),
        None => prop_assert!(seen.state_fault, "created {} is not stored", id),
    }
    if !reconciled {
        prop_assert!(
            !seen.before.invitations.contains_key(id),
            "created {} was there before the call",
            id
        );
    }
    Ok(())
}

/// A claim that the invitation `id` was removed by the call ("Ok", "deleted").
fn check_removed(id: &str, seen: &Seen, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !seen.after.invitations.contains_key(id),
        "{}: reported done, but {} is still there",
        what,
        id
    );
    prop_assert!(
        seen.before.invitations.contains_key(id) || seen.hidden_work,
        "{}: reported done for {}, which did not exist and no fault could have hidden the work",
        what,
        id
    );
    Ok(())
}

/// The outcomes of a bulk run of creates.
fn check_bulk_items(items: &[ItemResult], seen: &Seen) -> Result<(), TestCaseError> {
    for item in items {
        match &item.outcome {
            Outcome::Created { id, reconciled } => {
                check_created(id, *reconciled, &item.email, seen)?;
            }
            Outcome::AlreadyInvited { id, .. } => prop_assert_eq!(
                seen.before.invitations.get(id),
                Some(&item.email),
                "already invited: {}",
                id
            ),
            Outcome::AlreadyMember => prop_assert!(seen.before.members.contains(&item.email)),
            Outcome::Failed(e) | Outcome::NotAttempted { stopped_by: e }
                if !e.may_have_been_sent() =>
            {
                prop_assert_eq!(
                    seen.before.has_email(&item.email),
                    seen.after.has_email(&item.email),
                    "{} failed unsent, yet its invitation changed",
                    item.email
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// The outcomes of a revocation, against the state just before it was applied.
fn check_revocations(items: &[ItemResult], seen: &Seen) -> Result<(), TestCaseError> {
    for item in items {
        let id = item.id.as_deref();
        prop_assert!(id.is_some(), "a revocation outcome without its id: {:?}", item);
        let id = id.unwrap_or_default();
        match &item.outcome {
            Outcome::Deleted { .. } => check_removed(id, seen, "revoke")?,
            Outcome::AlreadyGone { .. } => prop_assert!(
                !seen.before.invitations.contains_key(id)
                    && !seen.after.invitations.contains_key(id),
                "already gone, but {} existed",
                id
            ),
            Outcome::Failed(e) | Outcome::NotAttempted { stopped_by: e }
                if !e.may_have_been_sent() =>
            {
                prop_assert_eq!(
                    seen.before.invitations.contains_key(id),
                    seen.after.invitations.contains_key(id),
                    "{} failed unsent, yet changed",
                    id
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// Runs a step's operation and checks what it answered against `before` and the state after.
fn run_step(world: &World, step: &Step) -> Result<(), TestCaseError> {
    let before = Snapshot::of(&world.server);
    let applied_before = world.server.faults_applied();
    if let Some(spec) = &step.fault {
        world.inject(spec);
    }
    let org = world.client.invitations(REALM, ORG);
    let borg = world.blocking.invitations(REALM, ORG);
    let block = |b: bool| b && step.blocking;
    let rt = &world.runtime;
    let started = Instant::now();
    // The checks need the state after; each arm returns what to check with it.
    type Check<'a> = Box<dyn FnOnce(&Seen) -> Result<(), TestCaseError> + 'a>;
    let check: Check = match step.op.clone() {
        Op::Create { email: e, how } => {
            let email = email(e);
            let result: Result<(String, bool, bool), Error> = match (how, block(true)) {
                (How::OrExisting, false) => {
                    rt.block_on(org.create(&email).or_existing().send()).map(invited_parts)
                }
                (How::OrExisting, true) => {
                    borg.create(&email).or_existing().send().map(invited_parts)
                }
                (how, blocking) => {
                    let idempotent = matches!(how, How::Idempotent);
                    let created = if blocking {
                        let c = borg.create(&email);
                        if idempotent { c.idempotent() } else { c }.send()
                    } else {
                        let c = org.create(&email);
                        rt.block_on(if idempotent { c.idempotent() } else { c }.send())
                    };
                    created.map(|c| (c.id().to_owned(), c.reconciled(), false))
                }
            };
            let took = started.elapsed();
            Box::new(move |seen| {
                check_deadline(took, "create")?;
                match &result {
                    Ok((id, _, existing)) if *existing => prop_assert_eq!(
                        seen.before.invitations.get(id),
                        Some(&email),
                        "an existing invitation that was not there"
                    ),
                    Ok((id, reconciled, _)) => check_created(id, *reconciled, &email, seen)?,
                    Err(e) if e.kind() == ErrorKind::AlreadyInvited => {
                        prop_assert!(seen.before.has_email(&email), "already invited? {e}")
                    }
                    Err(e) if e.kind() == ErrorKind::AlreadyMember => {
                        prop_assert!(seen.before.members.contains(&email), "a member? {e}")
                    }
                    Err(e) => check_unsent(e, seen, "create")?,
                }
                Ok(())
            })
        }
        Op::Get { target, optional } => {
            let id = before.resolve(target);
            let result = match (optional, block(true)) {
                (true, false) => rt.block_on(org.get(&id).optional().send()),
                (true, true) => borg.get(&id).optional().send(),
                (false, false) => rt.block_on(org.get(&id).send()).map(Some),
                (false, true) => borg.get(&id).send().map(Some),
            };
            let took = started.elapsed();
            Box::new(move |seen| {
                check_deadline(took, "get")?;
                match &result {
                    Ok(Some(found)) => {
                        prop_assert_eq!(seen.before.invitations.get(&found.id), Some(&found.email))
                    }
                    Ok(None) => prop_assert!(
                        !seen.before.invitations.contains_key(&id),
                        "get(id).optional() said None for {} that exists",
                        id
                    ),
                    Err(e) => check_unsent(e, seen, "get")?,
                }
                Ok(())
            })
        }
        Op::Delete { target, ignore_missing } => {
            let id = before.resolve(target);
            let result = if block(true) {
                let d = borg.delete(&id);
                if ignore_missing { d.ignore_missing() } else { d }.send()
            } else {
                let d = org.delete(&id);
                rt.block_on(if ignore_missing { d.ignore_missing() } else { d }.send())
            };
            let took = started.elapsed();
            Box::new(move |seen| {
                check_deadline(took, "delete")?;
                match &result {
                    Ok(()) if ignore_missing => {
                        prop_assert!(!seen.after.invitations.contains_key(&id))
                    }
                    Ok(()) => check_removed(&id, seen, "delete")?,
                    Err(e) => check_unsent(e, seen, "delete")?,
                }
                Ok(())
            })
        }
        Op::Resend { target } => {
            let id = before.resolve(target);
            let result = if block(true) {
                borg.resend(&id).send()
            } else {
                rt.block_on(org.resend(&id).send())
            };
            let took = started.elapsed();
            Box::new(move |seen| {
                check_deadline(took, "resend")?;
                match &result {
                    Ok(()) => prop_assert!(seen.before.invitations.contains_key(&id)),
                    Err(e) => check_unsent(e, seen, "resend")?,
                }
                Ok(())
            })
        }
        Op::Accept { target } | Op::Reject { target } => {
            let accept = matches!(step.op, Op::Accept { .. });
            let id = before.resolve(target);
            let result = match (accept, block(true)) {
                (true, false) => {
                    rt.block_on(world.invitee.my_invitations(REALM).accept(&id).send())
                }
                (false, false) => {
                    rt.block_on(world.invitee.my_invitations(REALM).reject(&id).send())
                }
                (true, true) => world.blocking_invitee.my_invitations(REALM).accept(&id).send(),
                (false, true) => world.blocking_invitee.my_invitations(REALM).reject(&id).send(),
            };
            let took = started.elapsed();
            Box::new(move |seen| {
                check_deadline(took, "accept or reject")?;
                match &result {
                    Ok(()) => {
                        check_removed(&id, seen, if accept { "accept" } else { "reject" })?;
                        // Without an invitation before, only a fault that may have hidden
                        // the work allowed `Ok` (check_removed): nothing more to compare.
                        if let Some(owner) = seen.before.invitations.get(&id) {
                            prop_assert_eq!(owner, &email(0), "another person's invitation");
                            if accept {
                                prop_assert!(
                                    seen.after.members.contains(&email(0)),
                                    "accepted, not a member"
                                );
                            }
                        }
                    }
                    Err(e) => check_unsent(e, seen, "accept or reject")?,
                }
                Ok(())
            })
        }
        Op::List { page_size, window } => {
            let mut list = org.list().page_size(page_size);
            if let Some(window) = window {
                list = list.dedupe_window(window);
            }
            let result: Result<Vec<String>, Error> = if block(true) {
                let mut blist = borg.list().page_size(page_size);
                if let Some(window) = window {
                    blist = blist.dedupe_window(window);
                }
                blist.into_iter().map(|i| i.map(|i| i.id)).collect()
            } else {
                rt.block_on(list.stream().map_ok(|i| i.id).try_collect())
            };
            Box::new(move |seen| {
                if let Ok(ids) = &result {
                    let distinct: BTreeSet<&String> = ids.iter().collect();
                    prop_assert_eq!(distinct.len(), ids.len(), "an id listed twice: {:?}", ids);
                    for id in ids {
                        prop_assert!(
                            seen.before.invitations.contains_key(id),
                            "{} never existed",
                            id
                        );
                    }
                    for id in seen.after.invitations.keys() {
                        prop_assert!(
                            !seen.before.invitations.contains_key(id) || distinct.contains(id),
                            "{} existed throughout but was not listed",
                            id
                        );
                    }
                }
                Ok(())
            })
        }
        Op::Bulk { emails } => {
            let emails: Vec<String> = emails.into_iter().map(email).collect();
            let items: Vec<ItemResult> = if block(true) {
                borg.create_many(emails.clone()).concurrency(2).results().collect()
            } else {
                rt.block_on(
                    org.create_many(emails.clone()).concurrency(2).stream().collect::<Vec<_>>(),
                )
            };
            Box::new(move |seen| check_bulk_items(&items, seen))
        }
        Op::RevokePlan { email: e } => {
            let planned = if block(true) {
                let select = borg.select();
                match e {
                    Some(e) => select.email(email(e)),
                    None => select.all(),
                }
                .plan_revocation()
                .map(|plan| {
                    (
                        plan.invitations().to_vec(),
                        Box::new(move || plan.apply().results().collect())
                            as Box<dyn FnOnce() -> Vec<ItemResult>>,
                    )
                })
            } else {
                let select = org.select();
                let select = match e {
                    Some(e) => select.email(email(e)),
                    None => select.all(),
                };
                rt.block_on(select.plan_revocation()).map(|plan| {
                    let invitations = plan.invitations().to_vec();
                    let apply = move || rt.block_on(plan.apply().stream().collect());
                    (invitations, Box::new(apply) as Box<dyn FnOnce() -> Vec<ItemResult>>)
                })
            };
            match planned {
                Err(_) => Box::new(|_: &Seen| Ok(())),
                Ok((invitations, apply)) => {
                    let planned: Vec<String> = invitations.iter().map(|i| i.id.clone()).collect();
                    let listed = Snapshot::of(&world.server);
                    let items: Vec<ItemResult> = apply();
                    let planning = before.clone();
                    Box::new(move |seen| {
                        for id in &planned {
                            prop_assert!(
                                planning.invitations.contains_key(id),
                                "planned {} never existed",
                                id
                            );
                        }
                        let mut matching = listed
                            .invitations
                            .keys()
                            .filter(|id| e.is_none_or(|e| listed.invitations[*id] == email(e)));
                        prop_assert!(
                            matching
                                .all(|id| !planning.invitations.contains_key(id)
                                    || planned.contains(id)),
                            "the plan missed an invitation that existed throughout"
                        );
                        let applying = Seen { before: &listed, ..*seen };
                        check_revocations(&items, &applying)
                    })
                }
            }
        }
        Op::RevokeIds { targets } => {
            let ids: Vec<String> = targets.into_iter().map(|t| before.resolve(t)).collect();
            let items: Vec<ItemResult> = if block(true) {
                borg.revoke(ids).results().collect()
            } else {
                rt.block_on(org.revoke(ids).stream().collect())
            };
            Box::new(move |seen| check_revocations(&items, seen))
        }
        Op::RevokeGrants => {
            world.server.revoke_grants();
            Box::new(|_: &Seen| Ok(()))
        }
    };
    let after = Snapshot::of(&world.server);
    let applied = world.server.faults_applied() > applied_before;
    let spec = step.fault.as_ref().filter(|_| applied);
    let seen = Seen {
        before: &before,
        after: &after,
        hidden_work: spec.is_some_and(|s| !s.on_token_endpoint && s.action.may_hide_work()),
        state_fault: spec.is_some_and(|s| matches!(s.action, Action::RemoveOldest(_))),
    };
    world.server.clear_faults();
    check(&seen)
}

fn invited_parts(invited: Invited) -> (String, bool, bool) {
    match invited {
        Invited::Created(c) => (c.id().to_owned(), c.reconciled(), false),
        Invited::Existing(i) | Invited::ExistingWithOtherRoles(i) => (i.id, false, true),
    }
}

fn cases() -> u32 {
    std::env::var("MODEL_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_CASES)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_answer_tells_the_truth_and_every_deadline_holds(
        steps in prop::collection::vec(step(), 1..8)
    ) {
        let world = World::start();
        for step in &steps {
            run_step(&world, step)?;
        }
    }
}
