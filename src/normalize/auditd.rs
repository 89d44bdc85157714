//! Linux auditd record types and syscalls → ECS (FORMATS.md §6.3, after go-libaudit's table).

use super::{m, Mapping};
use crate::normalize::syscalls;

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
    (
        "ANOM_LOGIN_SESSIONS",
        "opened-too-many-sessions-to",
        m(
            &["authentication", "intrusion_detection"],
            &["start", "denied"],
        ),
    ),
    (
        "ANOM_LOGIN_TIME",
        "attempted-log-in-during-unusual-hour-to",
        m(
            &["authentication", "intrusion_detection"],
            &["start", "denied"],
        ),
    ),
    (
        "ANOM_ABEND",
        "crashed-program",
        m(&["process", "intrusion_detection"], &["end", "info"]),
    ),
    (
        "ANOM_EXEC",
        "attempted-execution-of-forbidden-program",
        m(&["process", "intrusion_detection"], &["start", "denied"]),
    ),
    (
        "ANOM_LINK",
        "used-suspicious-link",
        m(&["file", "intrusion_detection"], &["info"]),
    ),
    (
        "ANOM_PROMISCUOUS",
        "changed-promiscuous-mode-on-device",
        m(&["network", "intrusion_detection"], &["change", "info"]),
    ),
    (
        "ANOM_RBAC_INTEGRITY_FAIL",
        "tested-file-system-integrity-of",
        m(&["file", "intrusion_detection"], &["info"]),
    ),
    ("ANOM_*", "anomaly", m(&["intrusion_detection"], &["info"])),
    (
        "ACCT_LOCK",
        "locked-account",
        m(&["iam"], &["user", "change"]),
    ),
    (
        "ACCT_UNLOCK",
        "unlocked-account",
        m(&["iam"], &["user", "change"]),
    ),
    ("ROLE_MODIFY", "modified-role", m(&["iam"], &["change"])),
    (
        "GRP_CHAUTHTOK",
        "changed-group-password",
        m(&["iam"], &["group", "change"]),
    ),
    (
        "GRP_AUTH",
        "authenticated-to-group",
        m(&["authentication"], &["info"]),
    ),
    (
        "USER_ROLE_CHANGE",
        "changed-role-to",
        m(&["iam"], &["user", "change"]),
    ),
    ("VIRT_CONTROL", "issued-vm-control", m(&["host"], &["info"])),
    (
        "VIRT_CREATE",
        "created-vm-image",
        m(&["host"], &["creation"]),
    ),
    (
        "VIRT_DESTROY",
        "deleted-vm-image",
        m(&["host"], &["deletion"]),
    ),
    (
        "VIRT_INTEGRITY_CHECK",
        "checked-integrity-of",
        m(&["host"], &["info"]),
    ),
    (
        "VIRT_MACHINE_ID",
        "assigned-vm-id",
        m(&["host"], &["creation"]),
    ),
    (
        "VIRT_MIGRATE_IN",
        "migrated-vm-from",
        m(&["host"], &["info"]),
    ),
    (
        "VIRT_MIGRATE_OUT",
        "migrated-vm-to",
        m(&["host"], &["info"]),
    ),
    (
        "VIRT_RESOURCE",
        "assigned-vm-resource",
        m(&["host"], &["info"]),
    ),
    ("CHGRP_ID", "changed-group", m(&["process"], &["change"])),
    ("CHUSER_ID", "changed-user-id", m(&["process"], &["change"])),
    ("TEST", "sent-test", m(&["process"], &["info"])),
    (
        "TRUSTED_APP",
        "trusted-app-message",
        m(&["process"], &["info"]),
    ),
    ("USER", "sent-message", m(&["process"], &["info"])),
    (
        "KERNEL",
        "initialized-audit-subsystem",
        m(&["process"], &["info"]),
    ),
    (
        "KERN_MODULE",
        "loaded-kernel-module",
        m(&["driver"], &["start"]),
    ),
    (
        "SOFTWARE_UPDATE",
        "package-updated",
        m(&["package"], &["change"]),
    ),
    (
        "FEATURE_CHANGE",
        "changed-audit-feature",
        m(&["configuration"], &["change"]),
    ),
    (
        "MAC_CONFIG_CHANGE",
        "changed-selinux-boolean",
        m(&["configuration"], &["change"]),
    ),
    (
        "MAC_POLICY_LOAD",
        "loaded-selinux-policy",
        m(&["configuration"], &["access"]),
    ),
    (
        "MAC_STATUS",
        "changed-selinux-enforcement",
        m(&["configuration"], &["change"]),
    ),
    (
        "USER_MAC_CONFIG_CHANGE",
        "changed-mac-configuration",
        m(&["configuration"], &["change"]),
    ),
    (
        "USER_MAC_POLICY_LOAD",
        "loaded-mac-policy",
        m(&["configuration"], &["access"]),
    ),
    ("USER_SELINUX_ERR", "access-error", m(&[], &[])),
    ("SELINUX_ERR", "caused-mac-policy-error", m(&[], &[])),
    (
        "SECCOMP",
        "violated-seccomp-policy",
        m(&["process"], &["info"]),
    ),
    (
        "FS_RELABEL",
        "relabeled-filesystem",
        m(&["configuration"], &["change"]),
    ),
    ("LABEL_LEVEL_CHANGE", "modified-level-of", m(&[], &[])),
    ("LABEL_OVERRIDE", "overrode-label-of", m(&[], &[])),
    ("MAC_CHECK", "mac-permission", m(&[], &[])),
    ("DAC_CHECK", "access-result", m(&[], &[])),
    (
        "CRYPTO_LOGIN",
        "crypto-officer-logged-in",
        m(&["authentication"], &["start"]),
    ),
    (
        "CRYPTO_LOGOUT",
        "crypto-officer-logged-out",
        m(&["authentication"], &["end"]),
    ),
    (
        "TIME_ADJNTPVAL",
        "changed-system-time",
        m(&["host"], &["change"]),
    ),
    (
        "TIME_INJOFFSET",
        "changed-system-time",
        m(&["host"], &["change"]),
    ),
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
    (
        "DAEMON_ABORT",
        "aborted-auditd-startup",
        m(&["process"], &["end"]),
    ),
    (
        "DAEMON_ACCEPT",
        "remote-audit-connected",
        m(&["network"], &["connection", "start"]),
    ),
    (
        "DAEMON_CLOSE",
        "remote-audit-disconnected",
        m(&["network"], &["connection", "end"]),
    ),
    (
        "DAEMON_CONFIG",
        "changed-auditd-configuration",
        m(&["process", "configuration"], &["change"]),
    ),
    ("DAEMON_ERR", "audit-error", m(&["process"], &["info"])),
    (
        "DAEMON_RECONFIG",
        "reconfigured-auditd",
        m(&["process", "configuration"], &["info"]),
    ),
    (
        "DAEMON_RESUME",
        "resumed-audit-logging",
        m(&["process"], &["change"]),
    ),
    (
        "DAEMON_ROTATE",
        "rotated-audit-logs",
        m(&["process"], &["change"]),
    ),
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

/// The syscall `number` names on the architecture an auditd `arch` value (the `AUDIT_ARCH_*`
/// constant in hex) names; x86-64 when the record gives no architecture.
#[must_use]
pub fn syscall_name(arch: Option<&str>, number: u32) -> Option<&'static str> {
    let table: &[&str] = match arch.map(str::to_ascii_lowercase).as_deref() {
        None | Some("c000003e") => &syscalls::X86_64,
        Some("40000003") => &syscalls::I386,
        Some("c00000b7") => &syscalls::AARCH64,
        Some(_) => return None,
    };
    table
        .get(usize::try_from(number).ok()?)
        .copied()
        .filter(|n| !n.is_empty())
}

/// What a syscall does: its action, mapping, the direction of its traffic and which `PATH`
/// record names its object (`None`: the first that names a file).
pub struct Syscall {
    pub action: &'static str,
    pub mapping: Mapping,
    pub direction: Option<&'static str>,
    pub path_index: Option<usize>,
}

const fn call(action: &'static str, mapping: Mapping) -> Syscall {
    Syscall {
        action,
        mapping,
        direction: None,
        path_index: None,
    }
}

/// Syscall name → what it does, after go-libaudit's normalisations (the ones Auditbeat ships).
/// A syscall not named here is a process event (`process`/`info`) whose action is its name.
#[must_use]
pub fn syscall(name: &str) -> Option<Syscall> {
    let file = |types| m(&["file"], types);
    let network = |types| m(&["network"], types);
    Some(match name {
        "execve" | "execveat" => call("executed", m(&["process"], &["start"])),
        "creat" => call("opened-file", file(&["creation"])),
        "fallocate" | "truncate" | "ftruncate" => call("opened-file", file(&["change"])),
        "open" | "openat" | "openat2" | "readlink" | "readlinkat" | "open_by_handle_at" => {
            call("opened-file", file(&["info"]))
        }
        "read" => call("read-file", file(&["info"])),
        "write" => call("wrote-to-file", file(&["change"])),
        "setxattr" | "fsetxattr" | "lsetxattr" | "removexattr" | "fremovexattr"
        | "lremovexattr" => call("changed-file-attributes-of", file(&["change"])),
        "chmod" | "fchmod" | "fchmodat" | "fchmodat2" => {
            call("changed-file-permissions-of", file(&["change"]))
        }
        "chown" | "fchown" | "fchownat" | "lchown" | "chown32" | "fchown32" | "lchown32" => {
            call("changed-file-ownership-of", file(&["change"]))
        }
        "init_module" | "finit_module" => call("loaded-kernel-module", m(&["driver"], &["start"])),
        "delete_module" => call("unloaded-kernel-module", m(&["driver"], &["end"])),
        "mkdir" | "mkdirat" => Syscall {
            path_index: Some(1),
            ..call("created-directory", file(&["creation"]))
        },
        "mount" => Syscall {
            path_index: Some(1),
            ..call("mounted", file(&["creation"]))
        },
        "umount" | "umount2" => call("unmounted", file(&["deletion"])),
        "rename" | "renameat" | "renameat2" => Syscall {
            path_index: Some(2),
            ..call("renamed", file(&["change"]))
        },
        "access" | "faccessat" | "faccessat2" | "fstatat" | "newfstatat" | "stat" | "stat64"
        | "fstat" | "lstat" | "statx" | "getxattr" | "lgetxattr" | "fgetxattr" => {
            call("checked-metadata-of", file(&["info"]))
        }
        "statfs" | "fstatfs" => call("checked-filesystem-metadata-of", file(&["info"])),
        "symlink" | "symlinkat" => call("symlinked", file(&["creation"])),
        "link" | "linkat" => call("linked", file(&["creation"])),
        "rmdir" | "unlink" | "unlinkat" => call("deleted", file(&["deletion"])),
        "utime" | "utimes" | "futimesat" | "futimens" | "utimensat" => {
            call("changed-timestamp-of", file(&["info"]))
        }
        "listen" => call("listen-for-connections", network(&["start"])),
        "accept" | "accept4" => Syscall {
            direction: Some("ingress"),
            ..call(
                "accepted-connection-from",
                network(&["connection", "start"]),
            )
        },
        "bind" => call("bound-socket", network(&["start"])),
        "connect" => Syscall {
            direction: Some("egress"),
            ..call("connected-to", network(&["connection", "start"]))
        },
        "recv" | "recvfrom" | "recvmsg" | "recvmmsg" => Syscall {
            direction: Some("ingress"),
            ..call("received-from", network(&["connection", "info"]))
        },
        "send" | "sendto" | "sendmsg" | "sendmmsg" => Syscall {
            direction: Some("egress"),
            ..call("sent-to", network(&["connection", "info"]))
        },
        "kill" | "tkill" | "tgkill" | "pidfd_send_signal" => {
            call("killed-pid", m(&["process"], &["end"]))
        }
        "setuid" | "seteuid" | "setfsuid" | "setreuid" | "setgid" | "setegid" | "setfsgid"
        | "setregid" | "setresuid" | "setresgid" | "setuid32" | "setgid32" | "setreuid32"
        | "setregid32" | "setresuid32" | "setresgid32" | "setfsuid32" | "setfsgid32" => {
            call("changed-identity-of", m(&["process"], &["change"]))
        }
        "settimeofday" | "clock_settime" | "stime" | "adjtimex" | "clock_adjtime" => {
            call("changed-system-time", m(&["host"], &["change"]))
        }
        "mknod" | "mknodat" => call("make-device", file(&["creation"])),
        "sethostname" | "setdomainname" => call("changed-system-name", m(&["host"], &["change"])),
        "mmap" | "mmap2" | "brk" => call("allocated-memory", m(&["process"], &["info"])),
        "sched_setparam" | "sched_setscheduler" | "sched_setattr" => call(
            "adjusted-scheduling-policy-of",
            m(&["process"], &["change"]),
        ),
        "ptrace" => call("traced", m(&["process"], &["access"])),
        _ => return None,
    })
}

/// The mapping of a syscall the table does not name.
pub const OTHER_SYSCALL: Mapping = m(&["process"], &["info"]);

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

/// Records of a session or key exchange with a peer: an `addr` there is the remote end.
#[must_use]
pub fn is_remote_session(kind: &str) -> bool {
    matches!(
        kind,
        "USER_LOGIN" | "USER_START" | "USER_ERR" | "CRYPTO_KEY_USER" | "CRYPTO_SESSION"
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
            | "grp"
            | "vm"
            | "root_dir"
    ) || (key.starts_with('a') && key[1..].chars().next().is_some_and(|c| c.is_ascii_digit()))
}
