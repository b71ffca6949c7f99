//! The invitation as the server describes it.
//!
//! For maintainers: `Invitation` is the generated type itself, so a change the spec makes to
//! `InvitationRepresentation` is a change to this crate's API, versioned as one (see the
//! release check in the README). Generated types are `#[non_exhaustive]`, so a field the spec
//! adds is a minor change; a field it removes or retypes is a breaking one.

/// An invitation as the server describes it. Only `id` and `email` are always present;
/// `created_at` is `yyyy-MM-ddTHH:mmZ` (UTC, minutes), not RFC 3339: read it as a time with
/// [`created_at_utc`](Invitation::created_at_utc).
pub type Invitation = phasetwo_invitations_client::types::InvitationRepresentation;
