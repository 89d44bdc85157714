//! Keycloak and `TideCloak` events → ECS (FORMATS.md §2.6–2.7).

use super::{m, Mapping, Table};

/// User event types. `X_ERROR` takes the mapping of `X` (see [`user_event`]).
pub static USER_EVENTS: Table = Table::new(&[
    ("LOGIN", m(&["authentication"], &["start"])),
    ("CLIENT_LOGIN", m(&["authentication"], &["start"])),
    (
        "IDENTITY_PROVIDER_LOGIN",
        m(&["authentication"], &["start"]),
    ),
    (
        "IDENTITY_PROVIDER_FIRST_LOGIN",
        m(&["authentication"], &["start"]),
    ),
    (
        "IDENTITY_PROVIDER_POST_LOGIN",
        m(&["authentication"], &["start"]),
    ),
    ("OAUTH2_DEVICE_AUTH", m(&["authentication"], &["start"])),
    ("IMPERSONATE", m(&["authentication"], &["start"])),
    ("LOGOUT", m(&["authentication"], &["end"])),
    ("CODE_TO_TOKEN", m(&["authentication"], &["info"])),
    ("REFRESH_TOKEN", m(&["authentication"], &["info"])),
    ("TOKEN_EXCHANGE", m(&["authentication"], &["info"])),
    ("INTROSPECT_TOKEN", m(&["authentication"], &["info"])),
    ("USER_INFO_REQUEST", m(&["authentication"], &["info"])),
    (
        "OAUTH2_DEVICE_CODE_TO_TOKEN",
        m(&["authentication"], &["info"]),
    ),
    ("AUTHREQID_TO_TOKEN", m(&["authentication"], &["info"])),
    ("PERMISSION_TOKEN", m(&["authentication"], &["info"])),
    ("OAUTH2_EXTENSION_GRANT", m(&["authentication"], &["info"])),
    (
        "PUSHED_AUTHORIZATION_REQUEST",
        m(&["authentication"], &["info"]),
    ),
    ("CLIENT_INFO", m(&["authentication"], &["info"])),
    ("REGISTER_NODE", m(&["authentication"], &["info"])),
    ("UNREGISTER_NODE", m(&["authentication"], &["info"])),
    ("RESTART_AUTHENTICATION", m(&["authentication"], &["info"])),
    ("INVALID_SIGNATURE", m(&["authentication"], &["info"])),
    (
        "IDENTITY_PROVIDER_RESPONSE",
        m(&["authentication"], &["info"]),
    ),
    (
        "IDENTITY_PROVIDER_RETRIEVE_TOKEN",
        m(&["authentication"], &["info"]),
    ),
    ("VALIDATE_ACCESS_TOKEN", m(&["authentication"], &["info"])),
    ("REGISTER", m(&["iam"], &["user", "creation"])),
    ("DELETE_ACCOUNT", m(&["iam"], &["user", "deletion"])),
    ("UPDATE_PROFILE", m(&["iam"], &["user", "change"])),
    ("UPDATE_EMAIL", m(&["iam"], &["user", "change"])),
    ("VERIFY_EMAIL", m(&["iam"], &["user", "change"])),
    ("VERIFY_PROFILE", m(&["iam"], &["user", "change"])),
    ("UPDATE_CONSENT", m(&["iam"], &["user", "change"])),
    ("GRANT_CONSENT", m(&["iam"], &["user", "change"])),
    ("REVOKE_GRANT", m(&["iam"], &["user", "change"])),
    ("FEDERATED_IDENTITY_LINK", m(&["iam"], &["user", "change"])),
    (
        "IDENTITY_PROVIDER_LINK_ACCOUNT",
        m(&["iam"], &["user", "change"]),
    ),
    (
        "REMOVE_FEDERATED_IDENTITY",
        m(&["iam"], &["user", "change"]),
    ),
    (
        "FEDERATED_IDENTITY_OVERRIDE_LINK",
        m(&["iam"], &["user", "change"]),
    ),
    ("UPDATE_PASSWORD", m(&["iam"], &["user", "change"])),
    ("RESET_PASSWORD", m(&["iam"], &["user", "change"])),
    ("UPDATE_CREDENTIAL", m(&["iam"], &["user", "change"])),
    ("REMOVE_CREDENTIAL", m(&["iam"], &["user", "change"])),
    ("UPDATE_TOTP", m(&["iam"], &["user", "change"])),
    ("REMOVE_TOTP", m(&["iam"], &["user", "change"])),
    ("SEND_RESET_PASSWORD", m(&["iam"], &["user", "info"])),
    ("SEND_VERIFY_EMAIL", m(&["iam"], &["user", "info"])),
    (
        "SEND_IDENTITY_PROVIDER_LINK",
        m(&["iam"], &["user", "info"]),
    ),
    ("EXECUTE_ACTIONS", m(&["iam"], &["user", "info"])),
    ("EXECUTE_ACTION_TOKEN", m(&["iam"], &["user", "info"])),
    ("CUSTOM_REQUIRED_ACTION", m(&["iam"], &["user", "info"])),
    ("INVITE_ORG", m(&["iam"], &["user", "info"])),
    (
        "USER_DISABLED_BY_TEMPORARY_LOCKOUT",
        m(&["iam"], &["user", "change"]),
    ),
    (
        "USER_DISABLED_BY_PERMANENT_LOCKOUT",
        m(&["iam"], &["user", "change"]),
    ),
    ("CLIENT_REGISTER", m(&["configuration"], &["creation"])),
    ("CLIENT_UPDATE", m(&["configuration"], &["change"])),
    ("CLIENT_DELETE", m(&["configuration"], &["deletion"])),
    // `TideCloak` user events (names from the brief).
    ("AUTHORIZE", m(&["iam"], &["info"])),
    ("LOCK", m(&["iam"], &["user", "change"])),
    ("UNLOCK", m(&["iam"], &["user", "change"])),
]);

/// The mapping of a user event type; `X_ERROR` maps as `X`.
#[must_use]
pub fn user_event(kind: &str) -> Option<Mapping> {
    let base = kind.strip_suffix("_ERROR").unwrap_or(kind);
    super::lookup(&USER_EVENTS, base)
}

/// Admin resource types → category and the type that joins the operation's type.
pub static ADMIN_RESOURCES: Table = Table::new(&[
    ("USER_SESSION", m(&["session"], &["end"])),
    ("USER_LOGIN_FAILURE", m(&["iam"], &["user"])),
    ("USER", m(&["iam"], &["user"])),
    ("REALM_ROLE_MAPPING", m(&["iam"], &["user"])),
    ("CLIENT_ROLE_MAPPING", m(&["iam"], &["user"])),
    ("GROUP_MEMBERSHIP", m(&["iam"], &["group"])),
    ("GROUP", m(&["iam"], &["group"])),
    ("REALM_ROLE", m(&["iam"], &["admin"])),
    ("CLIENT_ROLE", m(&["iam"], &["admin"])),
    ("TIDE_VENDOR_KEY", m(&["configuration"], &[])),
    ("TIDE_LICENSE", m(&["configuration"], &[])),
    ("REALM", m(&["configuration"], &[])),
    ("CLIENT", m(&["configuration"], &[])),
    ("CLIENT_SCOPE*", m(&["configuration"], &[])),
    ("PROTOCOL_MAPPER", m(&["configuration"], &[])),
    ("IDENTITY_PROVIDER*", m(&["configuration"], &[])),
    ("AUTH_*", m(&["configuration"], &[])),
    ("AUTHENTICATOR_CONFIG", m(&["configuration"], &[])),
    ("REQUIRED_ACTION*", m(&["configuration"], &[])),
    ("COMPONENT", m(&["configuration"], &[])),
    ("USER_FEDERATION_*", m(&["configuration"], &[])),
    ("AUTHORIZATION_*", m(&["configuration"], &[])),
    ("USER_PROFILE", m(&["configuration"], &[])),
    ("ORGANIZATION*", m(&["configuration"], &[])),
    ("CLUSTER_NODE", m(&["configuration"], &[])),
    ("CLIENT_INITIAL_ACCESS_MODEL", m(&["configuration"], &[])),
    ("CUSTOM", m(&["configuration"], &[])),
]);

/// The ECS type of an admin operation.
#[must_use]
pub fn operation_type(op: &str) -> Option<&'static str> {
    Some(match op {
        "CREATE" => "creation",
        "UPDATE" | "ACTION" => "change",
        "DELETE" => "deletion",
        _ => return None,
    })
}

/// The resource type of an old admin event without one, from its path (§2.4).
#[must_use]
pub fn resource_from_path(path: &str) -> &'static str {
    for (prefix, resource) in [
        ("users/", "USER"),
        ("groups/", "GROUP"),
        ("clients/", "CLIENT"),
        ("roles/", "REALM_ROLE"),
        ("client-scopes/", "CLIENT_SCOPE"),
    ] {
        if path.starts_with(prefix) {
            return resource;
        }
    }
    "REALM"
}

/// Detail keys with a field of their own; the rest go to `keycloak.details.<key>`.
#[must_use]
pub fn detail_field(key: &str) -> Option<&'static str> {
    Some(match key {
        "username" => "user.name",
        "reason" => "event.reason",
        "updated_email" => "user.changes.email",
        "auth_method" => "keycloak.auth_method",
        "auth_type" => "keycloak.auth_type",
        "grant_type" => "keycloak.grant_type",
        "client_auth_method" => "keycloak.client_auth_method",
        "token_id" => "keycloak.token_id",
        "refresh_token_id" => "keycloak.refresh_token_id",
        "scope" => "keycloak.scope",
        "identity_provider" => "keycloak.identity_provider",
        "code_id" => "keycloak.code_id",
        "authSessionParentId" => "keycloak.auth_session.parent_id",
        "authSessionTabId" => "keycloak.auth_session.tab_id",
        "redirect_uri" | "requestUri" => "url.original",
        _ => return None,
    })
}

/// Whether events of this type or resource come from `TideCloak`'s extensions.
#[must_use]
pub fn is_tidecloak(name: &str) -> bool {
    name.starts_with("TIDE_") || matches!(name, "AUTHORIZE" | "LOCK" | "UNLOCK")
}
