//! What the fake server knows: realms, organizations, invitations, tokens, and the requests
//! and faults of tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{Fault, FaultAction, Scope};

/// The roles Phase Two creates in every organization; invitations may grant them too.
pub const BUILT_IN_ROLES: [&str; 11] = [
    "view-organization",
    "manage-organization",
    "delete-organization",
    "view-members",
    "manage-members",
    "view-roles",
    "manage-roles",
    "view-invitations",
    "manage-invitations",
    "view-identity-providers",
    "manage-identity-providers",
];

/// What a bearer token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    /// List, get and count invitations of every organization.
    View,
    /// Also create, delete and resend.
    Manage,
    /// A signed-in user with this email: only the invitee's own operations.
    User(String),
}

/// An invitation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvitation {
    /// Its id (a UUID).
    pub id: String,
    /// The email, lower-cased.
    pub email: String,
    /// `yyyy-MM-ddTHH:mmZ`.
    pub created_at: String,
    /// Who invited; absent for seeded invitations.
    pub inviter_id: Option<String>,
    /// Where the invitee lands after accepting (`""` when not given).
    pub redirect_uri: String,
    /// Roles granted on acceptance.
    pub roles: BTreeSet<String>,
    /// Attributes of the invitation.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Whether the create asked for an email.
    pub send_email: bool,
    /// How many times the email was sent (on create with `send`, and on each resend).
    pub emails_sent: u32,
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path as sent, percent-encoding included.
    pub path: String,
    /// The query string, if any, as sent.
    pub query: Option<String>,
    /// Every header, in order.
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
pub(crate) struct Org {
    pub(crate) roles: BTreeSet<String>,
    pub(crate) members: BTreeSet<String>,
    pub(crate) invitations: Vec<StoredInvitation>,
}

#[derive(Debug)]
pub(crate) struct Token {
    pub(crate) permission: Permission,
    pub(crate) expires: Option<Instant>,
    /// Issued by the token endpoint (rather than seeded).
    pub(crate) granted: bool,
}

#[derive(Debug)]
pub(crate) struct ClientRegistration {
    pub(crate) secret: String,
    pub(crate) permission: Permission,
    pub(crate) lifetime: Duration,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// realm -> org id -> org
    pub(crate) realms: HashMap<String, HashMap<String, Org>>,
    pub(crate) tokens: HashMap<String, Token>,
    /// (realm, client id) -> registration
    pub(crate) clients: HashMap<(String, String), ClientRegistration>,
    pub(crate) grants: usize,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) faults_applied: usize,
}

/// `yyyy-MM-dd'T'HH:mm'Z'`, as the server formats `createdAt`.
pub(crate) fn created_at_now() -> String {
    let text = httpdate::fmt_http_date(std::time::SystemTime::now());
    // "Thu, 26 Nov 2026 06:21:16 GMT" -> 2026-11-26T06:21Z
    let parts: Vec<&str> = text.split(' ').collect();
    let month = match parts[2] {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        _ => 12,
    };
    format!("{}-{month:02}-{}T{}Z", parts[3], parts[1], &parts[4][..5])
}

impl State {
    pub(crate) fn add_org(&mut self, realm: &str, org_id: &str, roles: BTreeSet<String>) {
        let org = self
            .realms
            .entry(realm.to_owned())
            .or_default()
            .entry(org_id.to_owned())
            .or_insert_with(|| Org {
                roles: BUILT_IN_ROLES.iter().map(|r| (*r).to_owned()).collect(),
                ..Org::default()
            });
        org.roles.extend(roles);
    }

    pub(crate) fn org_mut(&mut self, realm: &str, org_id: &str) -> Option<&mut Org> {
        self.realms.get_mut(realm)?.get_mut(org_id)
    }

    pub(crate) fn add_member(&mut self, realm: &str, org_id: &str, email: &str) {
        self.add_org(realm, org_id, BTreeSet::new());
        if let Some(org) = self.org_mut(realm, org_id) {
            org.members.insert(email.to_lowercase());
        }
    }

    pub(crate) fn add_invitation(&mut self, realm: &str, org_id: &str, email: &str) -> String {
        self.add_org(realm, org_id, BTreeSet::new());
        let invitation = StoredInvitation {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.to_lowercase(),
            created_at: created_at_now(),
            inviter_id: None,
            redirect_uri: String::new(),
            roles: BTreeSet::new(),
            attributes: BTreeMap::new(),
            send_email: false,
            emails_sent: 0,
        };
        let id = invitation.id.clone();
        if let Some(org) = self.org_mut(realm, org_id) {
            org.invitations.push(invitation);
        }
        id
    }

    pub(crate) fn add_token(
        &mut self,
        token: &str,
        permission: Permission,
        life: Option<Duration>,
    ) {
        self.tokens.insert(
            token.to_owned(),
            Token {
                permission,
                expires: life.map(|l| Instant::now() + l),
                granted: life.is_some(),
            },
        );
    }

    pub(crate) fn add_client(
        &mut self,
        realm: &str,
        client_id: &str,
        secret: &str,
        permission: Permission,
        lifetime: Duration,
    ) {
        self.realms.entry(realm.to_owned()).or_default();
        self.clients.insert(
            (realm.to_owned(), client_id.to_owned()),
            ClientRegistration { secret: secret.to_owned(), permission, lifetime },
        );
    }

    pub(crate) fn stored(&self, realm: &str, org_id: &str) -> Vec<StoredInvitation> {
        self.realms
            .get(realm)
            .and_then(|r| r.get(org_id))
            .map(|o| o.invitations.clone())
            .unwrap_or_default()
    }

    pub(crate) fn members(&self, realm: &str, org_id: &str) -> Vec<String> {
        self.realms
            .get(realm)
            .and_then(|r| r.get(org_id))
            .map(|o| o.members.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The permission of a valid, unexpired bearer token.
    pub(crate) fn permission(&self, authorization: Option<&str>) -> Option<Permission> {
        let token = authorization?.strip_prefix("Bearer ")?;
        let entry = self.tokens.get(token)?;
        match entry.expires {
            Some(expires) if Instant::now() >= expires => None,
            _ => Some(entry.permission.clone()),
        }
    }

    pub(crate) fn record(&mut self, parts: &hyper::http::request::Parts, body: &Bytes) {
        self.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            body: body.clone(),
        });
    }

    /// The action of the first fault due for this request, using up one of its count. Every
    /// fault whose scope matches counts the request, due or not.
    pub(crate) fn take_fault(
        &mut self,
        operation: Option<&str>,
        path: &str,
    ) -> Option<FaultAction> {
        let mut due = None;
        for (index, fault) in self.faults.iter_mut().enumerate() {
            let in_scope = match &fault.scope {
                Scope::Any => true,
                Scope::Operation(op) => operation == Some(*op),
                Scope::PathPrefix(prefix) => path.starts_with(prefix.as_str()),
            };
            if !in_scope {
                continue;
            }
            fault.seen += 1;
            if due.is_none() && fault.seen.is_multiple_of(fault.every) {
                due = Some(index);
            }
        }
        let index = due?;
        self.faults_applied += 1;
        let fault = &mut self.faults[index];
        let action = fault.action.clone();
        fault.count -= 1;
        if fault.count == 0 {
            self.faults.remove(index);
        }
        Some(action)
    }
}
