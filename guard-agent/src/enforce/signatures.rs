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
    /// Items (as in a clause) that can make a matching command harmless: when one is
    /// seen too, the kernel asks the agent instead of denying alone.
    pub unsure: &'static [&'static str],
    /// Path facts that do the same (a `chown -R` inside a data directory).
    pub unsure_path: u32,
}

const DELETE_TARGET: u32 = fact::AT_OR_ABOVE_PROTECTED | fact::IN_DATA_DIR;

/// Formatters and disk tools: any disk argument is a wipe.
const DISK_TOOLS: &[&str] = &[
    "mkfs", "mkfs.ext2", "mkfs.ext3", "mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "mkfs.vfat", "mkfs.fat",
    "mkfs.ntfs", "mkfs.f2fs", "mke2fs", "mkswap", "blkdiscard", "shred",
];

pub const SIGNATURES: &[Signature] = &[
    Signature { name: "rm-recursive-protected", class: intent::BULK_DELETE, binaries: &["rm"], clauses: &[&["l:rR", "--recursive"]], unsure: &[], unsure_path: 0, path: DELETE_TARGET },
    Signature { name: "find-delete-protected", class: intent::BULK_DELETE, binaries: &["find"], clauses: &[&["-delete", "rm"]], unsure: &[], unsure_path: 0, path: DELETE_TARGET },
    Signature {
        name: "rsync-delete-protected",
        class: intent::BULK_DELETE,
        binaries: &["rsync"],
        clauses: &[&["--delete", "--delete-before", "--delete-during", "--delete-after", "--remove-source-files"]],
        unsure: &[], unsure_path: 0, path: DELETE_TARGET,
    },
    Signature { name: "erase-security-logs", class: intent::AUDIT_TAMPER, binaries: &["rm", "shred", "truncate", "unlink"], clauses: &[], unsure: &[], unsure_path: 0, path: fact::IN_LOG },
    Signature { name: "dd-to-disk", class: intent::DISK_WIPE, binaries: &["dd"], clauses: &[], unsure: &[], unsure_path: 0, path: fact::BLOCK_DEVICE_OUT },
    Signature { name: "format-or-wipe-disk", class: intent::DISK_WIPE, binaries: DISK_TOOLS, clauses: &[], unsure: &[], unsure_path: 0, path: fact::BLOCK_DEVICE },
    // wipefs without -a or -o only lists signatures.
    Signature { name: "wipefs-erase", class: intent::DISK_WIPE, binaries: &["wipefs"], clauses: &[&["l:ao", "--all", "--offset"]], unsure: &[], unsure_path: 0, path: fact::BLOCK_DEVICE },
    // sgdisk -p/-i/-v/-L only read the table.
    Signature { name: "sgdisk-write", class: intent::DISK_WIPE, binaries: &["sgdisk"], clauses: &[], unsure: &["l:pivL"], unsure_path: 0, path: fact::BLOCK_DEVICE },
    Signature {
        name: "sql-drop-truncate",
        class: intent::SCHEMA_DESTROY,
        binaries: &["psql", "mysql", "mariadb", "sqlite3", "clickhouse-client", "cqlsh"],
        clauses: &[&["drop", "truncate"]],
        // DROP INDEX/VIEW/FUNCTION/TEMPORARY TABLE keep the data; the words inside a
        // SELECT's or INSERT's string literal are data: the classifier's parser knows.
        unsure: &["index", "view", "function", "temporary", "select", "insert"],
        unsure_path: 0,
        path: 0,
    },
    Signature { name: "redis-flush", class: intent::SCHEMA_DESTROY, binaries: &["redis-cli"], clauses: &[&["flushall", "flushdb"]], unsure: &[], unsure_path: 0, path: 0 },
    Signature { name: "s3-rm-recursive", class: intent::CLOUD_DESTROY, binaries: &["aws"], clauses: &[&["s3"], &["rm"], &["--recursive"]], unsure: &[], unsure_path: 0, path: 0 },
    Signature { name: "s3-rb-force", class: intent::CLOUD_DESTROY, binaries: &["aws"], clauses: &[&["s3"], &["rb"], &["--force"]], unsure: &[], unsure_path: 0, path: 0 },
    Signature {
        name: "aws-delete-resource",
        class: intent::CLOUD_DESTROY,
        binaries: &["aws"],
        clauses: &[&["delete-bucket", "delete-db-instance", "delete-db-cluster", "terminate-instances", "delete-stack"]],
        unsure: &[], unsure_path: 0, path: 0,
    },
    Signature { name: "gsutil-rm-recursive", class: intent::CLOUD_DESTROY, binaries: &["gsutil"], clauses: &[&["rm"], &["l:rR", "--recursive"]], unsure: &[], unsure_path: 0, path: 0 },
    Signature { name: "gsutil-rb", class: intent::CLOUD_DESTROY, binaries: &["gsutil"], clauses: &[&["rb"]], unsure: &[], unsure_path: 0, path: 0 },
    Signature { name: "iac-destroy", class: intent::CLOUD_DESTROY, binaries: &["terraform", "tofu", "pulumi"], clauses: &[&["destroy", "-destroy"]], unsure: &[], unsure_path: 0, path: 0 },
    Signature {
        name: "kubectl-delete-namespace-or-all",
        class: intent::CLOUD_DESTROY,
        binaries: &["kubectl", "oc"],
        clauses: &[&["delete"], &["namespace", "namespaces", "ns", "--all", "--all-namespaces"]],
        unsure: &[], unsure_path: 0, path: 0,
    },
    Signature { name: "container-volumes-rm", class: intent::CLOUD_DESTROY, binaries: &["docker", "podman"], clauses: &[&["volume"], &["rm", "prune"]], unsure: &[], unsure_path: 0, path: 0 },
    // system prune removes volumes only when asked to.
    Signature { name: "container-system-prune-volumes", class: intent::CLOUD_DESTROY, binaries: &["docker", "podman"], clauses: &[&["system"], &["prune"], &["--volumes"]], unsure: &[], unsure_path: 0, path: 0 },
    Signature {
        name: "curl-upload-sensitive",
        class: intent::DATA_EXFILTRATION,
        binaries: &["curl"],
        clauses: &[&["l:TdF", "--upload-file", "--data", "--data-binary", "--data-raw", "--form"]],
        unsure: &[], unsure_path: 0, path: fact::SENSITIVE,
    },
    Signature { name: "wget-post-sensitive", class: intent::DATA_EXFILTRATION, binaries: &["wget"], clauses: &[&["--post-file"]], unsure: &[], unsure_path: 0, path: fact::SENSITIVE },
    Signature { name: "copy-sensitive-remote", class: intent::DATA_EXFILTRATION, binaries: &["scp", "nc", "ncat", "socat", "sftp"], clauses: &[], unsure: &[], unsure_path: 0, path: fact::SENSITIVE },
    // shutdown -c cancels a pending shutdown; -k only warns.
    Signature { name: "shutdown-reboot", class: intent::SERVICE_DISRUPTION, binaries: &["shutdown", "reboot", "poweroff", "halt"], clauses: &[], unsure: &["l:ck"], unsure_path: 0, path: 0 },
    Signature {
        name: "systemctl-power",
        class: intent::SERVICE_DISRUPTION,
        binaries: &["systemctl"],
        clauses: &[&["poweroff", "reboot", "halt"]],
        unsure: &[], unsure_path: 0, path: 0,
    },
    Signature {
        name: "firewall-drop-policy",
        class: intent::SERVICE_DISRUPTION,
        binaries: &["iptables", "ip6tables"],
        clauses: &[&["l:P", "--policy"], &["drop"]],
        unsure: &[], unsure_path: 0, path: 0,
    },
    Signature {
        name: "stop-audit-services",
        class: intent::AUDIT_TAMPER,
        binaries: &["systemctl", "service"],
        clauses: &[&["stop", "disable", "mask", "kill"], &["auditd", "rsyslog", "journald", "guard-agent", "falco"]],
        unsure: &[], unsure_path: 0, path: 0,
    },
    Signature { name: "auditctl-delete-rules", class: intent::AUDIT_TAMPER, binaries: &["auditctl"], clauses: &[&["l:D"]], unsure: &[], unsure_path: 0, path: 0 },
    Signature {
        name: "journal-vacuum",
        class: intent::AUDIT_TAMPER,
        binaries: &["journalctl"],
        clauses: &[&["--vacuum-time", "--vacuum-size", "--rotate"]],
        unsure: &[], unsure_path: 0, path: 0,
    },
    Signature {
        name: "recursive-permission-change",
        class: intent::PERMISSION_CHANGE,
        binaries: &["chmod", "chown", "chgrp", "setfacl"],
        clauses: &[&["l:R", "--recursive"]],
        // Handing a data directory to its service account (`chown -R mysql:mysql
        // /var/lib/mysql`) is routine; the classifier tells it from `chmod -R 777`.
        unsure: &[],
        unsure_path: fact::IN_DATA_DIR,
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
