//! Invite people into Phase Two organizations.
//!
//! The generated client is available as [`raw`].

pub use phasetwo_invitations_client as raw;
