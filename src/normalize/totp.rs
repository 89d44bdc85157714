//! The TOTP-secrets manager's audit actions → ECS (FORMATS.md §4).

use super::{m, Outcome, Table};

/// Action → category and type.
pub static TABLE: Table = Table::new(&[
    ("login_success", m(&["authentication"], &["start"])),
    ("login_failed", m(&["authentication"], &["start"])),
    ("logout", m(&["authentication"], &["end"])),
    ("password_changed", m(&["iam"], &["user", "change"])),
    ("account_created", m(&["iam"], &["creation"])),
    ("account_updated", m(&["iam"], &["change"])),
    ("account_deleted", m(&["iam"], &["deletion"])),
    ("totp_viewed", m(&["database"], &["access"])),
    ("user_created", m(&["iam"], &["user", "creation"])),
    ("user_deleted", m(&["iam"], &["user", "deletion"])),
    ("user_role_changed", m(&["iam"], &["user", "change"])),
    ("users:list", m(&["iam"], &["user", "info"])),
    ("api_key_created", m(&["iam"], &["creation"])),
    ("api_key_updated", m(&["iam"], &["change"])),
    ("api_key_deleted", m(&["iam"], &["deletion"])),
    ("backup_downloaded", m(&["database"], &["access"])),
    ("logo_uploaded", m(&["configuration"], &["change"])),
    ("settings_changed", m(&["configuration"], &["change"])),
]);

/// The outcome of an action: the documented ones (`documented`: it has a row in [`TABLE`])
/// are logged after success, except `login_failed`; an unknown action says so only through
/// its name.
#[must_use]
pub fn outcome(action: &str, documented: bool) -> Outcome {
    if action == "login_failed" {
        return Outcome::Failure;
    }
    if documented {
        return Outcome::Success;
    }
    if action.ends_with("_failed") || action.ends_with("_failure") {
        Outcome::Failure
    } else if action.ends_with("_success") {
        Outcome::Success
    } else {
        Outcome::Unknown
    }
}
