//! Dogtag PKI signed audit events → ECS (FORMATS.md §5.3), plus the name history of §5.1.

use super::{m, Table};

/// Event name → category and type. First match wins; `*` marks a prefix or suffix pattern.
pub static TABLE: Table = Table::new(&[
    ("AUDIT_LOG_STARTUP", m(&["process"], &["start"])),
    ("AUDIT_LOG_SHUTDOWN", m(&["process"], &["end"])),
    ("AUDIT_LOG_SIGNING", m(&["process"], &["info"])),
    ("AUDIT_LOG_DELETE", m(&["file"], &["deletion"])),
    ("CIMC_CERT_VERIFICATION", m(&["configuration"], &["info"])),
    ("CERT_SIGNING_INFO", m(&["configuration"], &["info"])),
    ("OCSP_SIGNING_INFO", m(&["configuration"], &["info"])),
    ("CRL_SIGNING_INFO", m(&["configuration"], &["info"])),
    ("LOG_PATH_CHANGE", m(&["configuration"], &["change"])),
    ("CONFIG_ROLE", m(&["iam"], &["group", "change"])),
    ("CONFIG_*", m(&["configuration"], &["change"])),
    ("SECURITY_DOMAIN_UPDATE", m(&["configuration"], &["change"])),
    ("AUTHORITY_CONFIG", m(&["configuration"], &["change"])),
    ("OCSP_ADD_CA_REQUEST*", m(&["configuration"], &["change"])),
    (
        "OCSP_REMOVE_CA_REQUEST*",
        m(&["configuration"], &["change"]),
    ),
    ("ACCESS_SESSION_ESTABLISH", m(&["session"], &["start"])),
    (
        "CLIENT_ACCESS_SESSION_ESTABLISH",
        m(&["session"], &["start"]),
    ),
    ("ACCESS_SESSION_TERMINATED", m(&["session"], &["end"])),
    (
        "CLIENT_ACCESS_SESSION_TERMINATED",
        m(&["session"], &["end"]),
    ),
    ("AUTH", m(&["authentication"], &["start"])),
    ("TOKEN_AUTH", m(&["authentication"], &["start"])),
    ("AUTHZ", m(&["iam"], &["info"])),
    ("ROLE_ASSUME", m(&["iam"], &["info"])),
    ("PROFILE_CERT_REQUEST", m(&["iam"], &["info"])),
    ("NON_PROFILE_CERT_REQUEST", m(&["iam"], &["info"])),
    ("CMC_*", m(&["iam"], &["info"])),
    ("PROOF_OF_POSSESSION", m(&["iam"], &["info"])),
    ("CERT_REQUEST_PROCESSED", m(&["iam"], &["creation"])),
    ("TOKEN_CERT_ENROLLMENT", m(&["iam"], &["creation"])),
    ("TOKEN_CERT_RENEWAL", m(&["iam"], &["creation"])),
    ("KEY_GEN_ASYMMETRIC", m(&["iam"], &["creation"])),
    ("SERVER_SIDE_KEYGEN_*", m(&["iam"], &["creation"])),
    ("ASYMKEY_GENERATION_*", m(&["iam"], &["creation"])),
    ("SYMKEY_GENERATION_*", m(&["iam"], &["creation"])),
    (
        "SECURITY_DATA_ARCHIVAL_REQUEST*",
        m(&["iam"], &["creation"]),
    ),
    ("CERT_STATUS_CHANGE_REQUEST*", m(&["iam"], &["change"])),
    ("TOKEN_CERT_STATUS_CHANGE_REQUEST", m(&["iam"], &["change"])),
    ("KEY_STATUS_CHANGE", m(&["iam"], &["change"])),
    ("TOKEN_STATE_CHANGE", m(&["iam"], &["change"])),
    ("TOKEN_FORMAT", m(&["iam"], &["change"])),
    ("TOKEN_APPLET_UPGRADE", m(&["iam"], &["change"])),
    ("TOKEN_KEY_CHANGEOVER*", m(&["iam"], &["change"])),
    ("TOKEN_KEY_SANITY_CHECK", m(&["iam"], &["change"])),
    ("TOKEN_PIN_RESET", m(&["iam"], &["user", "change"])),
    ("FULL_CRL_GENERATION", m(&["iam"], &["info"])),
    ("DELTA_CRL_GENERATION", m(&["iam"], &["info"])),
    ("*_CRL_PUBLISHING", m(&["iam"], &["info"])),
    ("SCHEDULE_CRL_GENERATION", m(&["iam"], &["info"])),
    ("OCSP_GENERATION", m(&["iam"], &["info"])),
    ("TOKEN_OP_REQUEST", m(&["iam"], &["info"])),
    ("TOKEN_CERT_RETRIEVAL", m(&["iam"], &["info"])),
    (
        "SECURITY_DATA_RECOVERY_REQUEST*",
        m(&["database"], &["access"]),
    ),
    ("SECURITY_DATA_EXPORT_KEY", m(&["database"], &["access"])),
    ("SECURITY_DATA_INFO", m(&["database"], &["access"])),
    ("KEY_RECOVERY_*", m(&["database"], &["access"])),
    ("TOKEN_KEY_RECOVERY", m(&["database"], &["access"])),
    ("COMPUTE_SESSION_KEY_*", m(&["process"], &["info"])),
    ("COMPUTE_RANDOM_DATA_*", m(&["process"], &["info"])),
    ("ENCRYPT_DATA_*", m(&["process"], &["info"])),
    ("RANDOM_GENERATION", m(&["process"], &["info"])),
    ("SELFTESTS_EXECUTION", m(&["process"], &["info"])),
    ("DIVERSIFY_KEY_REQUEST*", m(&["configuration"], &["change"])),
    ("INTER_BOUNDARY", m(&["network"], &["info"])),
]);

/// Names whose success/failure variants were merged in 10.7.0 keep their base name; these
/// renames and template typos are normalised too (old or misspelt → current).
pub const RENAMED: &[(&str, &str)] = &[
    ("LOGGING_SIGNED_AUDIT_SIGNING", "AUDIT_LOG_SIGNING"),
    (
        "COMPUTE_RANDOM_DATA_REQUEST_PROCCESED",
        "COMPUTE_RANDOM_DATA_REQUEST_PROCESSED",
    ),
];

/// Parameter names whose values are secrets (Dogtag's `CMS.isSensitive` list and the PIN
/// names TPS uses); their values are replaced by `********` in events by default.
pub const SENSITIVE_PARAMS: &[&str] = &[
    "pin",
    "pwd",
    "password",
    "passwd",
    "pwdagain",
    "newpin",
    "new_pin",
    "oldpin",
    "card_cryptogram",
    "host_challenge",
    "card_challenge",
    "hostcryptogram",
    "drm_trans_desKey",
    "kek_wrapped_desKey",
    "sessionkey",
    "secret",
];

/// Parts of a parameter name that mark its value as a secret, whatever the rest of the name
/// (`so_pin`, `userPin`, `newPassword`, `sharedSecret`, `authToken`), compared
/// case-insensitively.
pub const SENSITIVE_NAME_PARTS: &[&str] = &["pin", "pwd", "passw", "secret", "token"];

/// Names that contain one of [`SENSITIVE_NAME_PARTS`] but describe rather than hold a secret.
pub const NOT_SENSITIVE: &[&str] = &[
    "tokentype",
    "token_type",
    "tokenid",
    "token_id",
    "tokenpolicy",
    "tokenstatus",
    "tokenreason",
    "tokenorigin",
    "tokenuserid",
    "tokenprofile",
];

/// Whether the value of parameter `name` is a secret: a name of [`SENSITIVE_PARAMS`], or one
/// holding a part of [`SENSITIVE_NAME_PARTS`] that is not in [`NOT_SENSITIVE`].
#[must_use]
pub fn is_sensitive_param(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    SENSITIVE_PARAMS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(&name))
        || (SENSITIVE_NAME_PARTS.iter().any(|part| name.contains(part))
            && !NOT_SENSITIVE.contains(&name.as_str()))
}

/// The mask Dogtag itself writes for masked parameters.
pub const MASK: &str = "********";

/// Zone abbreviations → offset in minutes. Some are ambiguous (IST, CST, BST); this default
/// table picks the reading below and a source can override any entry (`zones`).
pub const ZONES: &[(&str, i32)] = &[
    ("UTC", 0),
    ("GMT", 0),
    ("UT", 0),
    ("Z", 0),
    ("WET", 0),
    ("WEST", 60),
    ("BST", 60),
    ("CET", 60),
    ("CEST", 120),
    ("MET", 60),
    ("MEST", 120),
    ("EET", 120),
    ("EEST", 180),
    ("MSK", 180),
    ("IST", 330),
    ("NPT", 345),
    ("PKT", 300),
    ("ICT", 420),
    ("WIB", 420),
    ("SGT", 480),
    ("HKT", 480),
    ("AWST", 480),
    ("JST", 540),
    ("KST", 540),
    ("ACST", 570),
    ("ACDT", 630),
    ("AEST", 600),
    ("AEDT", 660),
    ("NZST", 720),
    ("NZDT", 780),
    ("HST", -600),
    ("AKST", -540),
    ("AKDT", -480),
    ("PST", -480),
    ("PDT", -420),
    ("MST", -420),
    ("MDT", -360),
    ("CST", -360),
    ("CDT", -300),
    ("EST", -300),
    ("EDT", -240),
    ("AST", -240),
    ("ADT", -180),
    ("NST", -210),
    ("NDT", -150),
    ("BRT", -180),
    ("ART", -180),
];

/// Month names as Java writes them in common locales (lower case, trailing `.` removed).
pub const MONTHS: &[(&str, u32)] = &[
    ("jan", 1),
    ("janv", 1),
    ("ene", 1),
    ("gen", 1),
    ("jän", 1),
    ("feb", 2),
    ("févr", 2),
    ("fév", 2),
    ("fevr", 2),
    ("mar", 3),
    ("mars", 3),
    ("mär", 3),
    ("mrz", 3),
    ("apr", 4),
    ("avr", 4),
    ("abr", 4),
    ("may", 5),
    ("mai", 5),
    ("mag", 5),
    ("mayo", 5),
    ("jun", 6),
    ("juin", 6),
    ("giu", 6),
    ("jul", 7),
    ("juil", 7),
    ("lug", 7),
    ("aug", 8),
    ("août", 8),
    ("aout", 8),
    ("ago", 8),
    ("sep", 9),
    ("sept", 9),
    ("set", 9),
    ("oct", 10),
    ("okt", 10),
    ("ott", 10),
    ("out", 10),
    ("nov", 11),
    ("dec", 12),
    ("déc", 12),
    ("dez", 12),
    ("dic", 12),
];

/// Where an attribute goes in ECS (FORMATS.md §5.3). `None`: `dogtag.<Name>`.
#[must_use]
pub fn attribute_field(name: &str) -> Option<&'static str> {
    Some(match name {
        "AuthMgr" => "dogtag.auth_manager",
        "aclResource" => "dogtag.acl.resource",
        "Op" => "dogtag.acl.operation",
        "Info" => "event.reason",
        "ReqID" => "dogtag.request.id",
        "ProfileID" => "dogtag.request.profile_id",
        "CertSubject" => "dogtag.request.cert_subject",
        "RequestType" => "dogtag.request.type",
        "RevokeReasonNum" => "dogtag.request.revoke_reason",
        "Approval" => "dogtag.request.approval",
        "CUID" => "dogtag.token.cuid",
        "MSN" => "dogtag.token.msn",
        "tokenType" => "dogtag.token.type",
        "AppletVersion" => "dogtag.token.applet_version",
        "KeyVersion" => "dogtag.token.key_version",
        _ => return None,
    })
}
