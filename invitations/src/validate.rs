//! Checks run before anything is sent. The limits are the server's column sizes: a longer
//! value makes the server fail with a 500 instead of a useful answer.

use crate::error::Error;

pub(crate) const MAX_EMAIL: usize = 255;
/// The longest local part (before `@`) the server's request validation lets through.
pub(crate) const MAX_EMAIL_LOCAL_PART: usize = 64;
pub(crate) const MAX_ROLE: usize = 255;
pub(crate) const MAX_REDIRECT_URI: usize = 2048;
pub(crate) const MAX_ATTRIBUTE_KEY: usize = 255;
pub(crate) const MAX_ATTRIBUTE_VALUE: usize = 4000;
/// `first` and `max` are Java `Integer`s on the server.
pub(crate) const MAX_WIRE_INT: u64 = i32::MAX as u64;

/// Refuses `field` with `why` when `refused`.
fn refuse_if(refused: bool, field: &'static str, why: impl Into<String>) -> Result<(), Error> {
    if refused { Err(Error::invalid(field, why)) } else { Ok(()) }
}

/// A realm, organization or invitation id, sent as one path segment. Empty, `.` and `..`
/// are refused: URL normalisation would drop or climb the segment and address another
/// resource.
pub(crate) fn path_segment(field: &'static str, value: &str) -> Result<(), Error> {
    match value {
        "" => Err(Error::invalid(field, "must not be empty")),
        "." | ".." => Err(Error::invalid(field, "must not be `.` or `..`")),
        _ if value.chars().any(char::is_control) => {
            Err(Error::invalid(field, "must not contain control characters"))
        }
        _ => Ok(()),
    }
}

/// Trims and lower-cases an email, as the server stores it, after checking it is plausible.
/// The server validates the request, then parses the address with an RFC 822 parser; we only
/// refuse what it was seen to refuse.
pub(crate) fn email(raw: &str) -> Result<String, Error> {
    let email = raw.trim();
    refuse_if(email.is_empty(), "email", "must not be empty")?;
    refuse_if(email.chars().any(char::is_control), "email", "must not contain control characters")?;
    refuse_if(
        email.contains(['<', '>']),
        "email",
        "must be a bare address (jo@example.com), without a name or angle brackets",
    )?;
    let Some((local, _)) = email.rsplit_once('@') else {
        return Err(Error::invalid("email", "must contain `@`"));
    };
    let unquoted: String = email.split('"').step_by(2).collect();
    refuse_if(unquoted.chars().any(char::is_whitespace), "email", "must not contain spaces")?;
    refuse_if(
        local.chars().count() > MAX_EMAIL_LOCAL_PART,
        "email",
        format!("the part before `@` is longer than {MAX_EMAIL_LOCAL_PART} characters"),
    )?;
    // The length that counts is the stored one: lower-casing can lengthen a string
    // ("İ" becomes two characters).
    let stored = email.to_lowercase();
    refuse_if(
        stored.chars().count() > MAX_EMAIL,
        "email",
        format!("longer than {MAX_EMAIL} characters once lower-cased"),
    )?;
    Ok(stored)
}

/// A role name of the organization.
pub(crate) fn role(name: &str) -> Result<(), Error> {
    refuse_if(name.trim().is_empty(), "roles", "a role name is empty")?;
    refuse_if(
        name.chars().any(char::is_control),
        "roles",
        "a role name contains control characters",
    )?;
    refuse_if(
        name.chars().count() > MAX_ROLE,
        "roles",
        format!("a role name is longer than {MAX_ROLE} characters"),
    )?;
    Ok(())
}

/// Where the invitee lands after accepting: an absolute http(s) URI.
pub(crate) fn redirect_uri(uri: &str) -> Result<(), Error> {
    // URL parsing silently drops tabs and line breaks; refuse them instead.
    refuse_if(
        uri.chars().any(char::is_control),
        "redirect_uri",
        "must not contain control characters",
    )?;
    refuse_if(
        uri.chars().count() > MAX_REDIRECT_URI,
        "redirect_uri",
        format!("longer than {MAX_REDIRECT_URI} characters"),
    )?;
    match url::Url::parse(uri) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(()),
        _ => Err(Error::invalid("redirect_uri", "must be an absolute http or https URI")),
    }
}

/// One attribute of the invitation.
pub(crate) fn attribute(key: &str, values: &[String]) -> Result<(), Error> {
    refuse_if(key.is_empty(), "attributes", "an attribute name is empty")?;
    refuse_if(
        key.chars().count() > MAX_ATTRIBUTE_KEY,
        "attributes",
        format!("an attribute name is longer than {MAX_ATTRIBUTE_KEY} characters"),
    )?;
    refuse_if(
        values.iter().any(|v| v.chars().count() > MAX_ATTRIBUTE_VALUE),
        "attributes",
        format!("a value of `{key}` is longer than {MAX_ATTRIBUTE_VALUE} characters"),
    )?;
    Ok(())
}

/// A non-negative integer the server reads as a Java `Integer`.
pub(crate) fn wire_int(field: &'static str, value: u64) -> Result<i32, Error> {
    i32::try_from(value)
        .map_err(|_| Error::invalid(field, format!("must be at most {MAX_WIRE_INT}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(email("  Alice@Example.COM \n").unwrap(), "alice@example.com");
    }

    #[test]
    fn bad_emails_name_the_field() {
        let long = format!("a@{}.io", "x".repeat(MAX_EMAIL));
        let long_local = format!("{}@x.io", "a".repeat(MAX_EMAIL_LOCAL_PART + 1));
        for bad in [
            "",
            "   ",
            "no-at-sign",
            "a@x.io\r\nBcc: b@x.io",
            "Jo <jo@x.io>",
            "jo smith@x.io",
            long.as_str(),
            long_local.as_str(),
        ] {
            let e = email(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
            assert_eq!(e.field(), Some("email"), "{bad:?}");
        }
        let at_limit = format!("a@{}.io", "x".repeat(MAX_EMAIL - 5));
        assert!(email(&at_limit).is_ok());
        // 206 characters as given, 406 once lower-cased ("İ" becomes "i" and a combining dot).
        let grows = format!("a@{}.io", "İ".repeat(200));
        assert!(grows.chars().count() <= MAX_EMAIL);
        let e = email(&grows).unwrap_err();
        assert!(e.to_string().contains("once lower-cased"), "{e}");
        assert!(email("\"jo smith\"@x.io").is_ok(), "quoted spaces are allowed");
    }

    #[test]
    fn dot_segments_and_empty_ids_are_refused() {
        for bad in ["", ".", "..", "a\nb"] {
            assert!(path_segment("org_id", bad).is_err(), "{bad:?}");
        }
        for good in ["...", "a/b", "%2e%2e", "café"] {
            assert!(path_segment("org_id", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn redirect_uri_must_be_absolute_http() {
        assert!(redirect_uri("https://app.example.com/welcome").is_ok());
        for bad in ["/welcome", "ftp://x.io/", "javascript:alert(1)", "not a uri"] {
            assert_eq!(redirect_uri(bad).unwrap_err().field(), Some("redirect_uri"));
        }
        let long = format!("https://x.io/{}", "a".repeat(MAX_REDIRECT_URI));
        assert!(redirect_uri(&long).is_err());
    }

    #[test]
    fn roles_and_attributes_respect_column_sizes() {
        assert!(role("member").is_ok());
        assert!(role(" ").is_err());
        assert!(role(&"r".repeat(MAX_ROLE + 1)).is_err());
        assert!(attribute("team", &["blue".into()]).is_ok());
        assert!(attribute(&"k".repeat(MAX_ATTRIBUTE_KEY + 1), &[]).is_err());
        assert!(attribute("team", &["v".repeat(MAX_ATTRIBUTE_VALUE + 1)]).is_err());
        assert!(attribute("", &[]).is_err());
    }

    #[test]
    fn wire_ints_fit_a_java_integer() {
        assert_eq!(wire_int("offset", 0).unwrap(), 0);
        assert_eq!(wire_int("offset", MAX_WIRE_INT).unwrap(), i32::MAX);
        assert_eq!(wire_int("offset", MAX_WIRE_INT + 1).unwrap_err().field(), Some("offset"));
    }
}
