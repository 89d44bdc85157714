//! SAP BTP audit log records → ECS (FORMATS.md §3.5), including the OAuth 2.0 service events
//! of §3.3 and the XSUAA/UAA security events.

use super::{m, Mapping, Outcome, Table};

/// UAA event names inside security events → category and type; the outcome follows the name.
pub static UAA_EVENTS: Table = Table::new(&[
    ("*AuthenticationSuccess", m(&["authentication"], &["start"])),
    ("*AuthenticationFailure", m(&["authentication"], &["start"])),
    ("UserNotFound", m(&["authentication"], &["start"])),
    ("TokenIssuedEvent", m(&["authentication"], &["info"])),
    ("PasswordChangeSuccess", m(&["iam"], &["user", "change"])),
    ("PasswordChangeFailure", m(&["iam"], &["user", "change"])),
    ("UserCreatedEvent", m(&["iam"], &["user", "creation"])),
    ("UserDeletedEvent", m(&["iam"], &["user", "deletion"])),
    ("UserModifiedEvent", m(&["iam"], &["user", "change"])),
    ("GroupModifiedEvent", m(&["iam"], &["group", "change"])),
]);

/// The outcome a UAA event name states.
#[must_use]
pub fn uaa_outcome(name: &str) -> Outcome {
    if name.ends_with("Failure") || name == "UserNotFound" {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

/// Objects of the OAuth 2.0 service: tokens and codes are authentication steps, clients are
/// administered identities.
#[must_use]
pub fn oauth_object(object: &str, action: &str) -> Mapping {
    if object.contains("client") {
        let kind: &'static [&'static str] = match action {
            "create" => &["admin", "creation"],
            "delete" => &["admin", "deletion"],
            _ => &["admin", "change"],
        };
        m(&["iam"], kind)
    } else {
        m(&["authentication"], &["info"])
    }
}
