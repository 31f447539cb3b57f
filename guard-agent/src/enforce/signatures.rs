//! The signatures the kernel decides alone, as data.
//!
//! Each signature names binaries (by basename, as the caller executed them), up to
//! three clauses (each satisfied by any of its items: `l:xyz` means any of the short
//! option letters x, y, z; anything else is a lower-case keyword: a whole argument, the
//! part of an argument before `=`, or a word inside an argument) and the path facts of
//! which one must be seen. What needs real parsing (shell scripts, SQL beyond keywords,
//! inline interpreter code) is left to the agent's classifier.

use guard_common::{enforce::intent, matcher::fact};

/// A signature of a destructive command.
pub struct Signature {
    pub name: &'static str,
    pub class: u8,
    pub binaries: &'static [&'static str],
    pub clauses: &'static [&'static [&'static str]],
    pub path: u32,
}

const DELETE_TARGET: u32 = fact::AT_OR_ABOVE_PROTECTED | fact::IN_DATA_DIR;

/// Formatters and disk tools: any disk argument is a wipe.
const DISK_TOOLS: &[&str] = &[
    "mkfs", "mkfs.ext2", "mkfs.ext3", "mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "mkfs.vfat", "mkfs.fat",
    "mkfs.ntfs", "mkfs.f2fs", "mke2fs", "mkswap", "wipefs", "blkdiscard", "sgdisk", "shred",
];

pub const SIGNATURES: &[Signature] = &[
    Signature { name: "rm-recursive-protected", class: intent::BULK_DELETE, binaries: &["rm"], clauses: &[&["l:rR", "--recursive"]], path: DELETE_TARGET },
    Signature { name: "find-delete-protected", class: intent::BULK_DELETE, binaries: &["find"], clauses: &[&["-delete", "rm"]], path: DELETE_TARGET },
    Signature {
        name: "rsync-delete-protected",
        class: intent::BULK_DELETE,
        binaries: &["rsync"],
        clauses: &[&["--delete", "--delete-before", "--delete-during", "--delete-after", "--remove-source-files"]],
        path: DELETE_TARGET,
    },
    Signature { name: "erase-security-logs", class: intent::AUDIT_TAMPER, binaries: &["rm", "shred", "truncate", "unlink"], clauses: &[], path: fact::IN_LOG },
    Signature { name: "dd-to-disk", class: intent::DISK_WIPE, binaries: &["dd"], clauses: &[], path: fact::BLOCK_DEVICE_OUT },
    Signature { name: "format-or-wipe-disk", class: intent::DISK_WIPE, binaries: DISK_TOOLS, clauses: &[], path: fact::BLOCK_DEVICE },
    Signature {
        name: "sql-drop-truncate",
        class: intent::SCHEMA_DESTROY,
        binaries: &["psql", "mysql", "mariadb", "sqlite3", "clickhouse-client", "cqlsh"],
        clauses: &[&["drop", "truncate"]],
        path: 0,
    },
    Signature { name: "redis-flush", class: intent::SCHEMA_DESTROY, binaries: &["redis-cli"], clauses: &[&["flushall", "flushdb"]], path: 0 },
    Signature { name: "s3-rm-recursive", class: intent::CLOUD_DESTROY, binaries: &["aws"], clauses: &[&["s3"], &["rm"], &["--recursive"]], path: 0 },
    Signature { name: "s3-rb-force", class: intent::CLOUD_DESTROY, binaries: &["aws"], clauses: &[&["s3"], &["rb"], &["--force"]], path: 0 },
    Signature {
        name: "aws-delete-resource",
        class: intent::CLOUD_DESTROY,
        binaries: &["aws"],
        clauses: &[&["delete-bucket", "delete-db-instance", "delete-db-cluster", "terminate-instances", "delete-stack"]],
        path: 0,
    },
    Signature { name: "gsutil-rm-recursive", class: intent::CLOUD_DESTROY, binaries: &["gsutil"], clauses: &[&["rm"], &["l:rR", "--recursive"]], path: 0 },
    Signature { name: "gsutil-rb", class: intent::CLOUD_DESTROY, binaries: &["gsutil"], clauses: &[&["rb"]], path: 0 },
    Signature { name: "iac-destroy", class: intent::CLOUD_DESTROY, binaries: &["terraform", "tofu", "pulumi"], clauses: &[&["destroy", "-destroy"]], path: 0 },
    Signature {
        name: "kubectl-delete-namespace-or-all",
        class: intent::CLOUD_DESTROY,
        binaries: &["kubectl", "oc"],
        clauses: &[&["delete"], &["namespace", "namespaces", "ns", "--all", "--all-namespaces"]],
        path: 0,
    },
    Signature { name: "container-volumes-rm", class: intent::CLOUD_DESTROY, binaries: &["docker", "podman"], clauses: &[&["volume", "system"], &["rm", "prune"]], path: 0 },
    Signature {
        name: "curl-upload-sensitive",
        class: intent::DATA_EXFILTRATION,
        binaries: &["curl"],
        clauses: &[&["l:TdF", "--upload-file", "--data", "--data-binary", "--data-raw", "--form"]],
        path: fact::SENSITIVE,
    },
    Signature { name: "wget-post-sensitive", class: intent::DATA_EXFILTRATION, binaries: &["wget"], clauses: &[&["--post-file"]], path: fact::SENSITIVE },
    Signature { name: "copy-sensitive-remote", class: intent::DATA_EXFILTRATION, binaries: &["scp", "nc", "ncat", "socat", "sftp"], clauses: &[], path: fact::SENSITIVE },
    Signature { name: "shutdown-reboot", class: intent::SERVICE_DISRUPTION, binaries: &["shutdown", "reboot", "poweroff", "halt"], clauses: &[], path: 0 },
    Signature {
        name: "systemctl-power",
        class: intent::SERVICE_DISRUPTION,
        binaries: &["systemctl"],
        clauses: &[&["poweroff", "reboot", "halt"]],
        path: 0,
    },
    Signature {
        name: "firewall-drop-policy",
        class: intent::SERVICE_DISRUPTION,
        binaries: &["iptables", "ip6tables"],
        clauses: &[&["l:P", "--policy"], &["drop"]],
        path: 0,
    },
    Signature {
        name: "stop-audit-services",
        class: intent::AUDIT_TAMPER,
        binaries: &["systemctl", "service"],
        clauses: &[&["stop", "disable", "mask", "kill"], &["auditd", "rsyslog", "journald", "guard-agent", "falco"]],
        path: 0,
    },
    Signature { name: "auditctl-delete-rules", class: intent::AUDIT_TAMPER, binaries: &["auditctl"], clauses: &[&["l:D"]], path: 0 },
    Signature {
        name: "journal-vacuum",
        class: intent::AUDIT_TAMPER,
        binaries: &["journalctl"],
        clauses: &[&["--vacuum-time", "--vacuum-size", "--rotate"]],
        path: 0,
    },
    Signature {
        name: "recursive-permission-change",
        class: intent::PERMISSION_CHANGE,
        binaries: &["chmod", "chown", "chgrp", "setfacl"],
        clauses: &[&["l:R", "--recursive"]],
        path: fact::AT_OR_ABOVE_PROTECTED,
    },
];

/// Security logs and shell history: erasing them is audit tampering.
pub const LOG_PATHS: &[&str] = &[
    "/var/log/audit", "/var/log/auth.log", "/var/log/secure", "/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog",
    "/var/log/syslog", "/var/log/messages", "/var/log/journal", "/var/log/kern.log", "/root/.bash_history",
    "/root/.zsh_history", "/root/.sh_history",
];

/// Entries of /dev that are not disks.
pub const DEV_SAFE: &[&str] = &[
    "null", "zero", "full", "random", "urandom", "stdin", "stdout", "stderr", "tty", "fd", "pts", "shm", "console",
    "ptmx", "mqueue", "hugepages", "log",
];
