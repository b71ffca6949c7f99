//! Shared pieces of the benchmarks (`src/bin/bench.rs`, `src/bin/bench-server.rs`) and of the
//! real server (`src/bin/phasetwo-server.rs`); the cross-crate tests themselves live in `tests/`.

pub mod admin;
pub mod keycloak;
pub mod process;
pub mod target;
pub mod toxiproxy;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An invitation as a hand-written client would declare it: the same fields as the generated
/// `InvitationRepresentation`, with plain serde derives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandInvitation {
    pub id: String,
    pub created_at: Option<String>,
    pub email: String,
    pub inviter_id: Option<String>,
    pub invitation_url: Option<String>,
    pub organization_id: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// The `index`-th invitation of a synthetic organization, every field filled as the real
/// server fills them.
pub fn synthetic_invitation(index: u64, org_id: &str) -> HandInvitation {
    HandInvitation {
        id: format!("{index:08x}-1c2d-4e5f-8a9b-{index:012x}"),
        created_at: Some("2026-11-26T06:21Z".to_owned()),
        email: format!("person{index}@example.com"),
        inviter_id: Some("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a".to_owned()),
        invitation_url: Some(String::new()),
        organization_id: Some(org_id.to_owned()),
        roles: vec!["member".to_owned()],
        attributes: BTreeMap::from([("team".to_owned(), vec!["blue".to_owned()])]),
    }
}

/// The JSON body of the page `first..first + max` of an organization of `total` invitations.
pub fn page_body(first: u64, max: u64, total: u64, org_id: &str) -> Vec<u8> {
    let end = first.saturating_add(max).min(total);
    let page: Vec<HandInvitation> =
        (first.min(end)..end).map(|i| synthetic_invitation(i, org_id)).collect();
    serde_json::to_vec(&page).expect("invitations serialise")
}
