//! Permission and ownership changes: recursive chmod/chown/chgrp/setfacl of system paths,
//! world-writable or world-readable secrets, setuid bits on shells and interpreters.

use super::{has_flag, operands};
use crate::engine::{Cmd, Engine};
use crate::intent::IntentClass::PermissionChange;

/// Protected, but routinely re-owned application trees.
const APP_TREES: &[&str] = &["/var/www", "/srv", "/opt", "/data", "/mnt", "/media", "/var/backups", "/var/spool", "/var/mail", "/usr/local"];

/// Trees where a world-writable file or directory lets anyone replace system code or config.
const SYSTEM_TREES: &[&str] = &["/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/root", "/var/lib"];

/// Binaries that give a shell or arbitrary file access when setuid.
const SHELLISH: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "ash", "busybox", "python", "python2",
    "python3", "perl", "ruby", "php", "node", "lua", "find", "vim", "vi", "nano", "less", "more",
    "awk", "gawk", "env", "cp", "mv", "tar", "nmap", "tee", "dd", "xargs", "socat", "nc", "git",
    "docker", "cat", "sed", "bash.bak",
];

pub(crate) fn check(eng: &mut Engine<'_>, cmd: &Cmd<'_>) {
    let a = cmd.args;
    let n = cmd.name.as_str();
    if n == "chattr" {
        return;
    }
    let recursive = has_flag(a, 'R', &["recursive"]);
    let ops: Vec<&str> = operands(a, &["--reference", "-m", "-M", "-x", "-X"]);
    let (mode, targets): (Option<&str>, &[&str]) = match n {
        "chmod" => {
            // A mode like `-x` or `-w` looks like an option: recover it.
            let neg_mode = a.iter().find(|x| x.len() > 1 && x.starts_with('-') && x[1..].chars().all(|c| "rwxXst".contains(c)) && x != &"-R");
            if let Some(m) = neg_mode.filter(|_| ops.len() == a.iter().filter(|x| !x.starts_with('-')).count()) {
                (Some(m.as_str()), &ops[..])
            } else {
                ops.split_first().map_or((None, &[][..]), |(m, t)| (Some(*m), t))
            }
        }
        "chown" | "chgrp" => ops.split_first().map_or((None, &[][..]), |(_, t)| (None, t)),
        _ => (None, &ops[..]),
    };
    let setuid = mode.is_some_and(grants_setuid);
    let setgid = mode.is_some_and(grants_setgid);
    let world_w = mode.is_some_and(|m| grants_world(m, 0b010, 'w'));
    let world_r = mode.is_some_and(|m| grants_world(m, 0b100, 'r'));
    for t in targets {
        let p = cmd.path(t);
        let base = p.rsplit('/').next().unwrap_or(&p);
        let system = crate::path::is_anchored(&p)
            && eng.ctx.deletes_protected(&p)
            && !APP_TREES.iter().any(|app| crate::path::is_ancestor_or_self(app, &p))
            && !(p.starts_with("/home/") && p.matches('/').count() >= 2)
            && (p.starts_with('/') || p == "~");
        let in_system_tree = SYSTEM_TREES.iter().any(|t| crate::path::is_ancestor_or_self(t, &p)) || p == "/";
        if recursive && system {
            eng.flag(PermissionChange, format!("recursive {n} of system path {p}"), cmd.evidence());
        } else if setuid && (SHELLISH.contains(&base) || p.starts_with("/tmp/") || p.starts_with("/dev/shm/") || p.starts_with("/var/tmp/")) {
            eng.flag(PermissionChange, format!("sets the setuid bit on {p}"), cmd.evidence());
        } else if setuid {
            eng.flag(PermissionChange, format!("sets the setuid bit on {p}"), cmd.evidence());
        } else if setgid && SHELLISH.contains(&base) {
            eng.flag(PermissionChange, format!("sets the setgid bit on {p}"), cmd.evidence());
        } else if (world_w && (system || in_system_tree || eng.ctx.is_sensitive(&p)) || world_r && eng.ctx.is_sensitive(&p) && p != "/etc/passwd")
            && crate::path::is_anchored(&p)
        {
            eng.flag(PermissionChange, format!("makes {p} world-accessible"), cmd.evidence());
        } else if n != "chmod" && crate::path::is_anchored(&p) && eng.ctx.is_sensitive(&p) && !crate::path::is_ancestor_or_self("~", &p) && !p.starts_with("/home/") && !p.starts_with("/root") {
            eng.flag(PermissionChange, format!("changes ownership of sensitive file {p}"), cmd.evidence());
        }
    }
}

fn grants_setuid(m: &str) -> bool {
    if m.chars().all(|c| c.is_ascii_digit()) {
        return m.len() == 4 && matches!(m.as_bytes()[0], b'4' | b'6' | b'5' | b'7');
    }
    m.split(',').any(|c| c.contains('+') && c.contains('s') && (c.starts_with('u') || c.starts_with('+') || c.starts_with('a')))
}

fn grants_setgid(m: &str) -> bool {
    if m.chars().all(|c| c.is_ascii_digit()) {
        return m.len() == 4 && matches!(m.as_bytes()[0], b'2' | b'3' | b'6' | b'7');
    }
    m.split(',').any(|c| c.contains('+') && c.contains('s'))
}

/// Others get the permission (`bit` in octal, `letter` in symbolic modes).
fn grants_world(m: &str, bit: u8, letter: char) -> bool {
    if m.chars().all(|c| c.is_ascii_digit()) {
        return m.bytes().last().is_some_and(|d| d.wrapping_sub(b'0') & bit != 0);
    }
    m.split(',').any(|c| {
        let (who, rest) = c.split_at(c.find(['+', '=']).unwrap_or(c.len()));
        (who.is_empty() || who.contains('o') || who.contains('a')) && rest.contains(letter)
    })
}

#[cfg(test)]
mod tests {
    use crate::{Context, IntentClass, classify_shell};

    fn pc(s: &str) -> bool {
        classify_shell(s, &Context::builtin()).has(IntentClass::PermissionChange)
    }

    #[test]
    fn permissions() {
        assert!(pc("chmod -R 777 /"));
        assert!(pc("chown -R nobody:nogroup /etc"));
        assert!(pc("chmod u+s /bin/bash"));
        assert!(pc("chmod 4755 /usr/bin/python3"));
        assert!(pc("chmod 666 /etc/shadow"));
        assert!(pc("chmod o+r /etc/shadow"));
        assert!(!pc("chmod -R 755 ./public"));
        assert!(!pc("chown -R www-data:www-data /var/www/html"));
        assert!(!pc("chmod +x deploy.sh"));
        assert!(!pc("chmod 600 ~/.ssh/id_rsa"));
        assert!(!pc("chmod g+s /srv/shared"));
        assert!(!pc("chown -R mysql:mysql /var/lib/mysql"));
    }
}
