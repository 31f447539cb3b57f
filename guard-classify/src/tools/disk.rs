//! Disk and volume destruction: dd/cat onto devices, mkfs, wipefs, blkdiscard, partition
//! tables, LVM, ZFS, md, LUKS, NVMe/ATA secure erase.

use super::{has_flag, operands, words_lower};
use crate::engine::{Cmd, Engine};
use crate::intent::IntentClass::DiskWipe;

pub(crate) const TOOLS: &[&str] = &[
    "dd", "mkfs", "mke2fs", "mkswap", "wipefs", "blkdiscard", "sgdisk", "sfdisk", "parted",
    "lvremove", "vgremove", "pvremove", "zpool", "zfs", "mdadm", "cryptsetup", "hdparm", "nvme",
    "badblocks", "dcfldd", "dc3dd", "fdisk", "gdisk", "lvreduce", "btrfs", "vgreduce", "ddrescue",
];

pub(crate) fn handles(n: &str) -> bool {
    TOOLS.contains(&n) || n.starts_with("mkfs.") || n.starts_with("mke2fs")
}

/// Whole disks, partitions and volume devices (not /dev/null, /dev/zero, ttys...).
pub(crate) fn is_block_device(p: &str) -> bool {
    let Some(d) = p.strip_prefix("/dev/") else { return false };
    ["sd", "hd", "vd", "xvd", "nvme", "mmcblk", "md", "dm-", "mapper/", "disk/", "loop", "nbd", "rbd", "zd", "mem", "kmem", "port"]
        .iter()
        .any(|pre| d.starts_with(pre))
        || d.split('/').count() == 2 && !d.starts_with("pts/") && !d.starts_with("pty/") && !d.starts_with("fd/") && !d.starts_with("shm/") && !d.starts_with("tcp/") && !d.starts_with("udp/")
}

pub(crate) fn check(eng: &mut Engine<'_>, cmd: &Cmd<'_>) {
    let n = cmd.name.as_str();
    let args = cmd.args;
    if n == "dd" {
        if let Some(p) = args.iter().filter_map(|a| a.strip_prefix("of=")).map(|t| cmd.path(t)).find(|p| eng.ctx.is_log(p)) {
            eng.flag(crate::IntentClass::AuditTamper, format!("dd overwrites log {p}"), cmd.evidence());
        }
    }
    let devices: Vec<String> = operands(args, &["-t", "-L", "-b", "-c", "-i", "-o", "-n", "-O", "-E", "-U", "-l", "-N", "-m"])
        .into_iter()
        .map(|a| cmd.path(a))
        .filter(|p| is_block_device(p))
        .collect();
    let first_dev = devices.first().cloned();
    let w = words_lower(args);
    let sub = w.first().map(String::as_str).unwrap_or("");
    let reason: Option<String> = match n {
        "dd" | "dcfldd" | "dc3dd" | "ddrescue" => dd_target(args, cmd).map(|t| format!("{n} writes to block device {t}")),
        _ if n.starts_with("mkfs") || n.starts_with("mke2fs") || n == "mkswap" => {
            first_dev.map(|d| format!("{n} formats {d}"))
        }
        "wipefs" => (has_flag(args, 'a', &["all"]) || args.iter().any(|a| a.starts_with("-o") || a.starts_with("--offset")))
            .then_some(first_dev.map(|d| format!("wipefs erases signatures on {d}")))
            .flatten(),
        "blkdiscard" => first_dev.map(|d| format!("blkdiscard discards every block of {d}")),
        "sgdisk" | "gdisk" => (has_flag(args, 'Z', &["zap-all", "zap", "clear"]) || has_flag(args, 'z', &[]) || has_flag(args, 'o', &[]))
            .then_some(first_dev.map(|d| format!("{n} destroys the partition table of {d}")))
            .flatten(),
        "sfdisk" => (has_flag(args, '\0', &["delete"]) || cmd.stdin.text.is_some())
            .then_some(first_dev.map(|d| format!("sfdisk rewrites the partition table of {d}")))
            .flatten(),
        "fdisk" => cmd.stdin.text.as_deref().filter(|t| t.contains('w') && (t.contains('d') || t.contains('o') || t.contains('g')))
            .and(first_dev.map(|d| format!("scripted fdisk rewrites {d}"))),
        "parted" => w.iter().any(|x| x == "mklabel" || x == "rm" || x == "mkpart")
            .then(|| format!("parted rewrites partitions on {}", first_dev.unwrap_or_default())),
        "lvremove" | "vgremove" | "pvremove" | "lvreduce" | "vgreduce" => {
            Some(format!("{n} destroys LVM volumes"))
        }
        "zpool" => matches!(sub, "destroy" | "labelclear").then(|| format!("zpool {sub}")),
        "zfs" => (sub == "destroy" && (has_flag(args, 'r', &[]) || has_flag(args, 'R', &[]) || !w.iter().skip(1).any(|d| d.contains('@'))))
            .then(|| "zfs destroy removes datasets".to_owned()),
        "btrfs" => (w.len() >= 2 && w[0] == "subvolume" && w[1] == "delete").then(|| "btrfs subvolume delete".to_owned()),
        "mdadm" => has_flag(args, '\0', &["zero-superblock"]).then(|| "mdadm --zero-superblock".to_owned()),
        "cryptsetup" => matches!(sub, "luksformat" | "erase" | "lukserase" | "luksremovekey" | "luksKillSlot")
            .then(|| format!("cryptsetup {sub} destroys encrypted volume keys")),
        "hdparm" => args.iter().any(|a| a.starts_with("--security-erase") || a.starts_with("--trim-sector-ranges"))
            .then(|| "hdparm secure erase".to_owned()),
        "nvme" => matches!(sub, "format" | "sanitize").then(|| format!("nvme {sub} erases the namespace")),
        "badblocks" => (has_flag(args, 'w', &[])).then_some(first_dev.map(|d| format!("badblocks -w overwrites {d}"))).flatten(),
        _ => None,
    };
    if let Some(r) = reason {
        eng.flag(DiskWipe, r, cmd.evidence());
    }
}

fn dd_target(args: &[String], cmd: &Cmd<'_>) -> Option<String> {
    args.iter()
        .filter_map(|a| a.strip_prefix("of="))
        .map(|t| cmd.path(t))
        .find(|p| is_block_device(p))
}

#[cfg(test)]
mod tests {
    use crate::{Context, IntentClass, classify_shell};

    fn wipe(s: &str) -> bool {
        classify_shell(s, &Context::builtin()).has(IntentClass::DiskWipe)
    }

    #[test]
    fn devices() {
        assert!(super::is_block_device("/dev/sda1"));
        assert!(super::is_block_device("/dev/nvme0n1"));
        assert!(!super::is_block_device("/dev/null"));
        assert!(!super::is_block_device("/dev/tcp/1.2.3.4/80"));
    }

    #[test]
    fn wipes() {
        assert!(wipe("dd if=/dev/zero of=/dev/sda bs=1M"));
        assert!(wipe("mkfs.ext4 /dev/sdb1"));
        assert!(wipe("wipefs -a /dev/sdb"));
        assert!(wipe("sgdisk --zap-all /dev/nvme0n1"));
        assert!(wipe("zpool destroy tank"));
        assert!(!wipe("dd if=/dev/sda of=/backup/sda.img bs=4M"));
        assert!(!wipe("dd if=/dev/zero of=./swapfile bs=1M count=1024"));
        assert!(!wipe("mkfs.ext4 ./disk.img"));
        assert!(!wipe("zfs list"));
    }
}
