//! `createdAt` as a point in time. The server writes it in UTC at minute precision
//! (`2026-11-28T23:43Z`), which is not RFC 3339, so the spec keeps it a string; this reads it.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::types::InvitationRepresentation;

/// The server's form: `yyyy-MM-ddTHH:mmZ`.
const SERVER_FORM: &str = "%Y-%m-%dT%H:%MZ";

impl InvitationRepresentation {
    /// When the invitation was made, read from [`created_at`](Self::created_at): the
    /// server's minute-precision form, or RFC 3339 should a server send seconds. `None` when
    /// the field is absent or in neither form (the text stays in `created_at`).
    ///
    /// Sorting by it (`sort_by_key(|i| i.created_at_utc())`) is stable: invitations made in
    /// the same minute keep the order they came in, and those without a readable time come
    /// first.
    pub fn created_at_utc(&self) -> Option<DateTime<Utc>> {
        let text = self.created_at.as_deref()?.trim();
        NaiveDateTime::parse_from_str(text, SERVER_FORM)
            .map(|naive| naive.and_utc())
            .or_else(|_| DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made_at(id: &str, created_at: Option<&str>) -> InvitationRepresentation {
        InvitationRepresentation::builder()
            .id(id)
            .email(format!("{id}@example.com"))
            .created_at(created_at.map(str::to_owned))
            .try_into()
            .unwrap()
    }

    #[test]
    fn reads_the_servers_form_and_rfc_3339() {
        let at = |text| made_at("a", Some(text)).created_at_utc().map(|t| t.to_rfc3339());
        assert_eq!(at("2026-11-28T23:43Z").as_deref(), Some("2026-11-28T23:43:00+00:00"));
        assert_eq!(
            at("2026-11-28T23:43:17.5+01:00").as_deref(),
            Some("2026-11-28T22:43:17.500+00:00")
        );
        for unreadable in ["", "yesterday", "2026-11-28", "2026-13-28T23:43Z", "2026-11-28T24:00Z"]
        {
            assert_eq!(at(unreadable), None, "{unreadable:?}");
        }
        assert_eq!(made_at("a", None).created_at_utc(), None);
    }

    #[test]
    fn sorting_by_it_is_stable_and_puts_unreadable_times_first() {
        let mut invitations = [
            made_at("late", Some("2026-11-29T08:00Z")),
            made_at("same-1", Some("2026-11-28T23:43Z")),
            made_at("none", None),
            made_at("same-2", Some("2026-11-28T23:43Z")),
            made_at("early", Some("2025-01-01T00:00Z")),
        ];
        invitations.sort_by_key(|i| i.created_at_utc());
        let order: Vec<_> = invitations.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(order, ["none", "early", "same-1", "same-2", "late"]);
    }
}
