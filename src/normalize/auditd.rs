//! Linux auditd record types and syscalls → ECS (FORMATS.md §6.3, after go-libaudit's table).

use super::{m, Mapping};

/// Record type → (`event.action`, mapping). Auxiliary kernel records are absent: they only
/// ever complete a SYSCALL event.
pub const RECORDS: &[(&str, &str, Mapping)] = &[
    (
        "USER_LOGIN",
        "logged-in",
        m(&["authentication"], &["start"]),
    ),
    (
        "USER_LOGOUT",
        "logged-out",
        m(&["authentication"], &["end"]),
    ),
    (
        "USER_AUTH",
        "authenticated",
        m(&["authentication"], &["info"]),
    ),
    (
        "USER_ACCT",
        "was-authorized",
        m(&["authentication"], &["info"]),
    ),
    ("USER_ERR", "error", m(&["authentication"], &["info"])),
    (
        "CRED_ACQ",
        "acquired-credentials",
        m(&["authentication"], &["info"]),
    ),
    (
        "CRED_REFR",
        "refreshed-credentials",
        m(&["authentication"], &["info"]),
    ),
    (
        "CRED_DISP",
        "disposed-credentials",
        m(&["authentication"], &["info"]),
    ),
    (
        "LOGIN",
        "changed-login-id-to",
        m(&["authentication"], &["start"]),
    ),
    ("USER_START", "started-session", m(&["session"], &["start"])),
    ("USER_END", "ended-session", m(&["session"], &["end"])),
    (
        "ANOM_LOGIN_FAILURES",
        "failed-log-in-too-many-times-to",
        m(
            &["authentication", "intrusion_detection"],
            &["start", "denied"],
        ),
    ),
    (
        "ANOM_LOGIN_*",
        "attempted-log-in-from-unusual-place-to",
        m(
            &["authentication", "intrusion_detection"],
            &["start", "denied"],
        ),
    ),
    ("ANOM_*", "anomaly", m(&["intrusion_detection"], &["info"])),
    (
        "ADD_USER",
        "added-user-account",
        m(&["iam"], &["user", "creation"]),
    ),
    (
        "DEL_USER",
        "deleted-user-account",
        m(&["iam"], &["user", "deletion"]),
    ),
    (
        "ADD_GROUP",
        "added-group-account-to",
        m(&["iam"], &["group", "creation"]),
    ),
    (
        "DEL_GROUP",
        "deleted-group-account-from",
        m(&["iam"], &["group", "deletion"]),
    ),
    (
        "GRP_MGMT",
        "modified-group-account",
        m(&["iam"], &["group", "change"]),
    ),
    (
        "USER_MGMT",
        "modified-user-account",
        m(&["iam"], &["user", "change"]),
    ),
    (
        "USER_CHAUTHTOK",
        "changed-password",
        m(&["iam"], &["user", "change"]),
    ),
    (
        "ROLE_ASSIGN",
        "assigned-user-role-to",
        m(&["iam"], &["user", "change"]),
    ),
    (
        "ROLE_REMOVE",
        "removed-user-role-from",
        m(&["iam"], &["user", "change"]),
    ),
    ("USER_CMD", "ran-command", m(&["process"], &["start"])),
    (
        "CONFIG_CHANGE",
        "changed-audit-configuration",
        m(&["process", "configuration"], &["change"]),
    ),
    (
        "USYS_CONFIG",
        "changed-configuration",
        m(&["configuration"], &["change"]),
    ),
    (
        "NETFILTER_CFG",
        "loaded-firewall-rule-to",
        m(&["configuration"], &["change"]),
    ),
    (
        "MAC_*",
        "changed-selinux-configuration",
        m(&["configuration"], &["change"]),
    ),
    ("DAEMON_START", "started-audit", m(&["process"], &["start"])),
    ("DAEMON_END", "shutdown-audit", m(&["process"], &["end"])),
    ("DAEMON_*", "audit-daemon-event", m(&["process"], &["info"])),
    (
        "SERVICE_START",
        "started-service",
        m(&["process"], &["start"]),
    ),
    ("SERVICE_STOP", "stopped-service", m(&["process"], &["end"])),
    ("SYSTEM_BOOT", "booted-system", m(&["host"], &["start"])),
    ("SYSTEM_SHUTDOWN", "shutdown-system", m(&["host"], &["end"])),
    (
        "SYSTEM_RUNLEVEL",
        "changed-to-runlevel",
        m(&["host"], &["change"]),
    ),
    (
        "CRYPTO_KEY_USER",
        "negotiated-crypto-key",
        m(&["process"], &["info"]),
    ),
    (
        "CRYPTO_SESSION",
        "started-crypto-session",
        m(&["process"], &["info"]),
    ),
    ("AVC", "violated-selinux-policy", m(&[], &[])),
    ("USER_AVC", "access-permission", m(&[], &[])),
    ("USER_TTY", "typed", m(&[], &[])),
    ("TTY", "typed", m(&[], &[])),
];

/// The action and mapping of a standalone record type.
#[must_use]
pub fn record(kind: &str) -> Option<(&'static str, Mapping)> {
    RECORDS
        .iter()
        .find(|(p, _, _)| match p.strip_suffix('*') {
            Some(prefix) => kind.starts_with(prefix),
            None => *p == kind,
        })
        .map(|(_, a, m)| (*a, *m))
}

/// Kernel record types that belong to a multi-record event (grouped until `EOE`).
#[must_use]
pub fn is_compound(kind: &str) -> bool {
    matches!(
        kind,
        "SYSCALL"
            | "EXECVE"
            | "CWD"
            | "PATH"
            | "PROCTITLE"
            | "SOCKADDR"
            | "AVC"
            | "SELINUX_ERR"
            | "BPRM_FCAPS"
            | "CAPSET"
            | "MMAP"
            | "IPC"
            | "FD_PAIR"
            | "OBJ_PID"
            | "SECCOMP"
            | "KERN_MODULE"
            | "NETFILTER_CFG"
            | "CONFIG_CHANGE"
            | "TIME_ADJNTPVAL"
            | "TIME_INJOFFSET"
            | "MQ_OPEN"
            | "MQ_SENDRECV"
            | "MQ_NOTIFY"
            | "MQ_GETSETATTR"
            | "EOE"
    ) || kind.starts_with("UNKNOWN[")
}

/// x86-64 syscall numbers of the syscalls the table below names.
pub const X86_64: &[(u32, &str)] = &[
    (2, "open"),
    (42, "connect"),
    (43, "accept"),
    (49, "bind"),
    (59, "execve"),
    (62, "kill"),
    (82, "rename"),
    (83, "mkdir"),
    (84, "rmdir"),
    (85, "creat"),
    (86, "link"),
    (87, "unlink"),
    (88, "symlink"),
    (90, "chmod"),
    (91, "fchmod"),
    (92, "chown"),
    (93, "fchown"),
    (94, "lchown"),
    (101, "ptrace"),
    (105, "setuid"),
    (106, "setgid"),
    (113, "setreuid"),
    (117, "setresuid"),
    (165, "mount"),
    (166, "umount2"),
    (175, "init_module"),
    (176, "delete_module"),
    (257, "openat"),
    (260, "fchownat"),
    (263, "unlinkat"),
    (264, "renameat"),
    (268, "fchmodat"),
    (288, "accept4"),
    (313, "finit_module"),
    (316, "renameat2"),
    (322, "execveat"),
];

/// Syscall name → (action, mapping).
#[must_use]
pub fn syscall(name: &str) -> Option<(&'static str, Mapping)> {
    Some(match name {
        "execve" | "execveat" => ("executed", m(&["process"], &["start"])),
        "open" | "openat" | "creat" => ("opened-file", m(&["file"], &["info"])),
        "unlink" | "unlinkat" | "rmdir" => ("deleted", m(&["file"], &["deletion"])),
        "rename" | "renameat" | "renameat2" => ("renamed", m(&["file"], &["change"])),
        "chmod" | "fchmod" | "fchmodat" => {
            ("changed-file-permissions-of", m(&["file"], &["change"]))
        }
        "chown" | "fchown" | "lchown" | "fchownat" => {
            ("changed-file-ownership-of", m(&["file"], &["change"]))
        }
        "mkdir" => ("created-directory", m(&["file"], &["creation"])),
        "link" | "symlink" => ("linked", m(&["file"], &["creation"])),
        "connect" => ("connected-to", m(&["network"], &["connection", "start"])),
        "bind" => ("bound-socket", m(&["network"], &["start"])),
        "accept" | "accept4" => (
            "accepted-connection-from",
            m(&["network"], &["connection", "start"]),
        ),
        "init_module" | "finit_module" => ("loaded-kernel-module", m(&["driver"], &["start"])),
        "delete_module" => ("unloaded-kernel-module", m(&["driver"], &["end"])),
        "setuid" | "setreuid" | "setresuid" | "setgid" => {
            ("changed-identity-of", m(&["process"], &["change"]))
        }
        "kill" => ("killed-pid", m(&["process"], &["end"])),
        "ptrace" => ("traced", m(&["process"], &["access"])),
        "mount" => ("mounted", m(&["file"], &["change"])),
        "umount2" => ("unmounted", m(&["file"], &["change"])),
        _ => return None,
    })
}

/// Records whose `acct` is the account used (it becomes `user.name`).
#[must_use]
pub fn acct_is_actor(kind: &str) -> bool {
    matches!(
        kind,
        "USER_AUTH"
            | "USER_ACCT"
            | "USER_LOGIN"
            | "USER_LOGOUT"
            | "USER_ERR"
            | "CRED_ACQ"
            | "CRED_REFR"
            | "CRED_DISP"
            | "USER_START"
            | "USER_END"
            | "ANOM_LOGIN_FAILURES"
    )
}

/// Records whose `acct` is the account acted upon (`user.target.name`).
#[must_use]
pub fn acct_is_target(kind: &str) -> bool {
    matches!(
        kind,
        "ADD_USER" | "DEL_USER" | "USER_MGMT" | "USER_CHAUTHTOK" | "ROLE_ASSIGN" | "ROLE_REMOVE"
    )
}

/// Group-management records (`group.name`).
#[must_use]
pub fn is_group_record(kind: &str) -> bool {
    matches!(kind, "ADD_GROUP" | "DEL_GROUP" | "GRP_MGMT")
}

/// Fields auditd hex-encodes when their value holds spaces, quotes or non-ASCII bytes.
#[must_use]
pub fn may_be_hex(key: &str) -> bool {
    matches!(
        key,
        "acct"
            | "exe"
            | "cmd"
            | "comm"
            | "name"
            | "cwd"
            | "proctitle"
            | "data"
            | "key"
            | "path"
            | "old"
            | "new"
            | "grp"
            | "id"
            | "vm"
            | "root_dir"
            | "sauid"
    ) || (key.starts_with('a') && key[1..].chars().next().is_some_and(|c| c.is_ascii_digit()))
}
