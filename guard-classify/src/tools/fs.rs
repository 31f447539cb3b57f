//! File deletion and overwrite: rm, unlink, find -delete/-exec, shred, rsync --delete, mv,
//! truncate, ln/cp over logs.

use super::{has_flag, operands};
use crate::engine::{Cmd, Engine, ShellState, Stdin};
use crate::intent::IntentClass::{AuditTamper, BulkDelete, DiskWipe};
use crate::path::{has_glob, is_anchored};

pub(crate) fn check(eng: &mut Engine<'_>, cmd: &Cmd<'_>, st: &mut ShellState) {
    match cmd.name.as_str() {
        "rm" | "unlink" | "srm" | "wipe" => {
            let recursive = has_flag(cmd.args, 'r', &["recursive"]) || has_flag(cmd.args, 'R', &[]);
            if has_flag(cmd.args, '\0', &["no-preserve-root"]) {
                eng.flag(BulkDelete, "rm with --no-preserve-root", cmd.evidence());
            }
            for t in operands(cmd.args, &[]) {
                deletion(eng, cmd, &cmd.path(t), recursive);
            }
        }
        "rmdir" => {}
        "shred" => {
            for t in operands(cmd.args, &["-n", "-s", "--iterations", "--size", "--random-source"]) {
                let p = cmd.path(t);
                if super::disk::is_block_device(&p) {
                    eng.flag(DiskWipe, format!("shred overwrites block device {p}"), cmd.evidence());
                } else if eng.ctx.is_log(&p) {
                    eng.flag(AuditTamper, format!("shred destroys log/history {p}"), cmd.evidence());
                } else if is_anchored(&p) && (eng.ctx.touches_data_dir(&p) || eng.ctx.deletes_protected(&p)) {
                    eng.flag(BulkDelete, format!("shred destroys {p}"), cmd.evidence());
                }
            }
        }
        "find" => find(eng, cmd, st),
        "mv" => {
            let ops = operands(cmd.args, &["-t", "-S", "--suffix", "--target-directory"]);
            if let Some((dest, srcs)) = ops.split_last() {
                let to_null = *dest == "/dev/null";
                for s in srcs {
                    let p = cmd.path(s);
                    if to_null {
                        deletion(eng, cmd, &p, true);
                    } else if is_anchored(&p) && eng.ctx.deletes_protected(&p) && !has_glob(&p) && p.matches('/').count() <= 1 {
                        eng.flag(BulkDelete, format!("moves system directory {p} away"), cmd.evidence());
                    }
                }
            }
        }
        "truncate" => {
            for t in operands(cmd.args, &["-s", "--size", "-r", "--reference"]) {
                overwrite(eng, cmd, &cmd.path(t), "truncates");
            }
        }
        "cp" => {
            let ops = operands(cmd.args, &["-t", "-S", "--target-directory"]);
            if ops.first() == Some(&"/dev/null") || ops.first() == Some(&"/dev/zero") {
                if let Some(d) = ops.last() {
                    overwrite(eng, cmd, &cmd.path(d), "overwrites with /dev/null");
                }
            }
        }
        "ln" => {
            let ops = operands(cmd.args, &["-t", "-S", "--target-directory"]);
            if ops.first() == Some(&"/dev/null") && has_flag(cmd.args, 'f', &["force"]) {
                if let Some(d) = ops.last() {
                    overwrite(eng, cmd, &cmd.path(d), "replaces with a link to /dev/null");
                }
            }
        }
        "rsync" => rsync(eng, cmd),
        _ => {}
    }
}

/// Judges deleting `p`.
pub(crate) fn deletion(eng: &mut Engine<'_>, cmd: &Cmd<'_>, p: &str, recursive: bool) {
    if !is_anchored(p) {
        return;
    }
    if eng.ctx.is_log(p) {
        eng.flag(AuditTamper, format!("deletes logs or shell history ({p})"), cmd.evidence());
        return;
    }
    if (recursive || has_glob(p)) && eng.ctx.deletes_protected(p) {
        eng.flag(BulkDelete, format!("recursive delete of protected path {p}"), cmd.evidence());
    } else if eng.ctx.touches_data_dir(p)
        && (recursive || has_glob(p) || !crate::path::is_ancestor_or_self(p, "/var/lib"))
        && ![".lock", ".pid", ".sock", ".tmp"].iter().any(|x| p.ends_with(x))
    {
        eng.flag(BulkDelete, format!("deletes data directory contents ({p})"), cmd.evidence());
    }
}

/// Judges truncating or overwriting the file `p` in place.
pub(crate) fn overwrite(eng: &mut Engine<'_>, cmd: &Cmd<'_>, p: &str, how: &str) {
    if eng.ctx.is_log(p) {
        eng.flag(AuditTamper, format!("{how} log or history {p}"), cmd.evidence());
    } else if is_anchored(p) && eng.ctx.touches_data_dir(p) && p != "/" {
        eng.flag(BulkDelete, format!("{how} data file {p}"), cmd.evidence());
    }
}

/// Tests that narrow what `find` matches (without them, it matches everything).
const NARROWING: &[&str] = &[
    "-nouser", "-nogroup", "-used", "-anewer", "-cnewer", "-name", "-iname", "-path", "-ipath", "-wholename", "-regex", "-iregex", "-mtime", "-mmin",
    "-atime", "-amin", "-ctime", "-cmin", "-newer", "-size", "-user", "-uid", "-group", "-empty",
    "-links", "-inum", "-samefile", "-perm", "-lname", "-newermt",
];

fn find(eng: &mut Engine<'_>, cmd: &Cmd<'_>, st: &mut ShellState) {
    let args = cmd.args;
    let first_expr = args.iter().position(|a| a.starts_with('-') || a == "(" || a == "!").unwrap_or(args.len());
    let roots: Vec<String> = args[..first_expr]
        .iter()
        .filter(|a| !matches!(a.as_str(), "-H" | "-L" | "-P"))
        .map(|r| cmd.path(r))
        .collect();
    let roots = if roots.is_empty() { vec![cmd.path(".")] } else { roots };
    let expr = &args[first_expr..];
    // `-newerXY` in every spelling (`-newermt`, `-newerct`, ...) narrows like `-newer`.
    let narrowed = expr.iter().any(|a| NARROWING.contains(&a.as_str()) || a.starts_with("-newer"));
    let name_pat: Vec<&str> = expr
        .windows(2)
        .filter(|w| matches!(w[0].as_str(), "-name" | "-iname" | "-path" | "-ipath" | "-regex"))
        .map(|w| w[1].as_str())
        .collect();
    let logish = !name_pat.is_empty() && name_pat.iter().all(|p| p.contains("log") || p.contains("hist"));
    let deletes = expr.iter().any(|a| a == "-delete");
    for root in &roots {
        // A narrowed match is some file below root: a relative placeholder that no
        // protected-path rule can match. Unnarrowed, it is everything below root.
        let target = if narrowed { "__find_match__".to_owned() } else { format!("{root}/*") };
        let log_root = eng.ctx.is_log(root) || root == "/" || root == "~";
        if deletes {
            if logish && log_root {
                eng.flag(AuditTamper, format!("find -delete of logs under {root}"), cmd.evidence());
            }
            if narrowed && eng.ctx.touches_data_dir(root) && root != "/" && !crate::path::is_ancestor_or_self(root, "/var/lib") {
                eng.flag(BulkDelete, format!("find -delete inside data directory {root}"), cmd.evidence());
            }
            deletion(eng, cmd, &target, true);
        }
        // -exec/-execdir/-ok CMD ... {} ; runs CMD on each match: judge it on the match.
        let mut i = 0;
        while i < expr.len() {
            if matches!(expr[i].as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                let end = expr[i + 1..].iter().position(|a| a == ";" || a == "+").map_or(expr.len(), |e| i + 1 + e);
                let sub: Vec<String> = expr[i + 1..end].iter().map(|a| a.replace("{}", &target)).collect();
                if logish && log_root && sub.first().is_some_and(|c| matches!(crate::engine::tool_name(c).as_str(), "rm" | "shred" | "truncate")) {
                    eng.flag(AuditTamper, format!("find -exec deleting logs under {root}"), cmd.evidence());
                }
                eng.run_argv(&sub, st, &Stdin::default());
                i = end;
            }
            i += 1;
        }
    }
}

fn rsync(eng: &mut Engine<'_>, cmd: &Cmd<'_>) {
    let ops = operands(cmd.args, &["-e", "--rsh", "-f", "--filter", "--exclude", "--include", "-B", "--port"]);
    let Some((dest, srcs)) = ops.split_last() else { return };
    let deletes = cmd.args.iter().any(|a| a.starts_with("--delete") || a == "--remove-source-files");
    if deletes && !dest.contains(':') {
        let p = cmd.path(dest);
        if is_anchored(&p) && (eng.ctx.deletes_protected(&p) || eng.ctx.touches_data_dir(&p) && p.matches('/').count() <= 3) {
            eng.flag(BulkDelete, format!("rsync --delete onto {p}"), cmd.evidence());
        }
    }
    if dest.contains(':') && !dest.starts_with('/') {
        for s in srcs {
            let p = cmd.path(s);
            if is_anchored(&p) && eng.ctx.is_sensitive(&p) && !eng.ctx.is_trusted(dest) {
                eng.flag(crate::IntentClass::DataExfiltration, format!("rsync sends sensitive {p} to {dest}"), cmd.evidence());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Context, IntentClass, classify_shell};

    fn c(s: &str) -> Vec<IntentClass> {
        classify_shell(s, &Context::builtin()).classes()
    }

    #[test]
    fn rm_semantics() {
        assert_eq!(c("rm -rf /"), [IntentClass::BulkDelete]);
        assert_eq!(c("rm -fr /etc/"), [IntentClass::BulkDelete]);
        assert_eq!(c("rm -rf ~"), [IntentClass::BulkDelete]);
        assert_eq!(c("rm -rf /var/lib/postgresql/14/main"), [IntentClass::BulkDelete]);
        assert!(c("rm -rf ./build target/debug").is_empty());
        assert!(c("rm -rf /tmp/cache-123").is_empty());
        assert!(c("rm /etc/nginx/sites-enabled/default").is_empty());
        assert_eq!(c("rm -f ~/.bash_history"), [IntentClass::AuditTamper]);
    }

    #[test]
    fn find_semantics() {
        assert_eq!(c("find / -delete"), [IntentClass::BulkDelete]);
        assert_eq!(c("find /etc -exec rm -rf {} +"), [IntentClass::BulkDelete]);
        assert!(c("find /tmp -name '*.tmp' -mtime +7 -delete").is_empty());
        assert!(c("find . -name '*.pyc' -delete").is_empty());
        assert_eq!(c("find /var/log -type f -delete"), [IntentClass::AuditTamper]);
    }

    /// `find R TESTS | xargs CMD` runs CMD on find's matches: the same verdict as
    /// `find R TESTS -exec CMD {} +`, whatever the printing and xargs options.
    #[test]
    fn find_piped_into_xargs_is_find_exec() {
        for (piped, exec) in [
            ("find / -type f | xargs rm -f", "find / -type f -exec rm -f {} +"),
            ("find / -print0 | xargs -0 rm -rf", "find / -exec rm -rf {} +"),
            ("find /data -type f -print | xargs -n 100 rm", "find /data -type f -exec rm {} +"),
            ("find /var/log -type f | xargs -r rm -f", "find /var/log -type f -exec rm -f {} +"),
            ("find /etc -maxdepth 1 | xargs -I{} rm -rf {}", "find /etc -maxdepth 1 -exec rm -rf {} +"),
            ("find /etc -maxdepth 1 | xargs -IX rm -rf X", "find /etc -maxdepth 1 -exec rm -rf {} +"),
            ("find /tmp -name '*.tmp' -mtime +7 | xargs rm -f", "find /tmp -name '*.tmp' -mtime +7 -delete"),
            ("find . -name '*.pyc' -print0 | xargs -0 rm -f", "find . -name '*.pyc' -delete"),
            ("find /var/log -name '*.gz' -mtime +30 | xargs rm -f", "find /var/log -name '*.gz' -mtime +30 -delete"),
        ] {
            assert_eq!(c(piped), c(exec), "{piped} vs {exec}");
        }
        assert_eq!(c("find / -type f | xargs rm -f"), [IntentClass::BulkDelete]);
        assert_eq!(c("find /var/log -type f | xargs -r rm -f"), [IntentClass::AuditTamper]);
        assert!(c("find . -name '*.pyc' -print0 | xargs -0 rm -f").is_empty());
        // xargs reading something other than find: known text is the items themselves.
        assert_eq!(c("echo /etc | xargs rm -rf"), [IntentClass::BulkDelete]);
        assert!(c("find / -name '*.conf' | xargs grep -l listen").is_empty());
        // A filter in the producer narrows what xargs gets (NL2Bash lines).
        assert!(c("find /home/ -exec grep -l mp3 {} \\; | xargs rm").is_empty());
        assert!(c("find / -newerct '1 minute ago' -print | xargs rm").is_empty());
        assert_eq!(c("find /home -print | xargs rm -rf"), [IntentClass::BulkDelete]);
    }

    #[test]
    fn rsync_and_truncate() {
        assert_eq!(c("rsync -a --delete /tmp/empty/ /etc/"), [IntentClass::BulkDelete]);
        assert!(c("rsync -a --delete dist/ /var/www/html/").is_empty());
        assert_eq!(c("truncate -s 0 /var/log/syslog"), [IntentClass::AuditTamper]);
        assert_eq!(c("ln -sf /dev/null ~/.bash_history"), [IntentClass::AuditTamper]);
    }
}
