//! The invitation as the server describes it.

/// An invitation as the server describes it. Only `id` and `email` are always present;
/// `created_at` is `yyyy-MM-ddTHH:mmZ` (UTC, minutes), not RFC 3339.
pub type Invitation = phasetwo_invitations_client::types::InvitationRepresentation;
