//! Per-tool semantics. `dispatch` routes an unwrapped command to its tool family and
//! computes what it writes to stdout (literal text, sensitive-data taint) for pipelines.

pub(crate) mod audit;
pub(crate) mod cloud;
pub(crate) mod container;
pub(crate) mod disk;
pub(crate) mod fs;
pub(crate) mod interp;
pub(crate) mod net;
pub(crate) mod perms;
pub(crate) mod redirect;
pub(crate) mod service;
pub(crate) mod sql;

use crate::engine::{Cmd, Engine, ShellState, Stdout};

/// The tool families, in the order `dispatch` tries them: a tool listed by two goes to the
/// first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Fs,
    Disk,
    Sql,
    Cloud,
    Service,
    Audit,
    Perms,
    Interp,
}

const FS: &[&str] = &["rm", "unlink", "rmdir", "srm", "find", "shred", "mv", "truncate", "ln", "cp", "rsync", "wipe"];
const PERMS: &[&str] = &["chmod", "chown", "chgrp", "setfacl", "chattr"];

/// Every listed tool name: its family (the first that lists it) and whether it sends
/// data over the network. One lookup instead of a scan of every family's list.
static KNOWN: std::sync::LazyLock<std::collections::HashMap<&'static str, (Option<Family>, bool), crate::context::Fx>> =
    std::sync::LazyLock::new(|| {
        let mut m = std::collections::HashMap::default();
        let lists: [(Family, &[&str]); 8] = [
            (Family::Fs, FS),
            (Family::Disk, disk::TOOLS),
            (Family::Sql, sql::TOOLS),
            (Family::Cloud, cloud::TOOLS),
            (Family::Service, service::TOOLS),
            (Family::Audit, audit::TOOLS),
            (Family::Perms, PERMS),
            (Family::Interp, interp::TOOLS),
        ];
        for (family, names) in lists {
            for n in names {
                m.entry(*n).or_insert((Some(family), false));
            }
        }
        for n in net::TOOLS {
            m.entry(*n).or_insert((None, false)).1 = true;
        }
        m
    });

/// Which family judges the tool, and whether it is a network sender.
fn family(n: &str) -> (Option<Family>, bool) {
    let (family, net) = KNOWN.get(n).copied().unwrap_or((None, false));
    // `mkfs.*` and `mke2fs*` are disk tools by prefix, after the file tools.
    let family = if family != Some(Family::Fs) && disk::handles(n) { Some(Family::Disk) } else { family };
    (family, net)
}

/// Judges one command and returns its stdout model.
pub(crate) fn dispatch(eng: &mut Engine<'_>, cmd: &Cmd<'_>, st: &mut ShellState) -> Stdout {
    let n = cmd.name.as_str();
    let (family, sends) = family(n);
    match family {
        Some(Family::Fs) => fs::check(eng, cmd, st),
        Some(Family::Disk) => disk::check(eng, cmd),
        Some(Family::Sql) => sql::check(eng, cmd),
        Some(Family::Cloud) => cloud::check(eng, cmd, st),
        Some(Family::Service) => service::check(eng, cmd),
        Some(Family::Audit) => audit::check(eng, cmd),
        Some(Family::Perms) => perms::check(eng, cmd),
        Some(Family::Interp) => interp::check(eng, cmd, st),
        None => {}
    }
    if sends {
        net::check(eng, cmd);
    }
    if n == "ssh" {
        if let Some(remote) = net::ssh_remote_command(cmd.args) {
            let mut inner = ShellState::default();
            eng.nested_script(&remote, &mut inner);
        }
    }
    if n == "tee" {
        let kind = if has_flag(cmd.args, 'a', &["append"]) {
            brush_parser::ast::IoFileRedirectKind::Append
        } else {
            brush_parser::ast::IoFileRedirectKind::Write
        };
        let passed = Stdout { text: cmd.stdin.text.clone(), sensitive: cmd.stdin.sensitive.clone() };
        for t in operands(cmd.args, &[]) {
            redirect::on_write(eng, &kind, &cmd.path(t), &passed, cmd.evidence());
        }
        return passed;
    }
    stdout_of(eng, cmd)
}

/// Tools whose output carries the content of the files they are given.
const READERS: &[&str] = &[
    "cat", "tac", "head", "tail", "base64", "base32", "xxd", "od", "hexdump", "strings", "gzip",
    "bzip2", "xz", "zstd", "lz4", "tar", "zip", "7z", "gpg", "openssl", "dd", "cpio", "sed", "awk",
    "grep", "sort", "uniq", "cut", "tr", "less", "more", "nl", "zcat", "pax", "uuencode", "split",
];

/// Tools that dump a database to stdout.
const DUMPERS: &[&str] = &["pg_dump", "pg_dumpall", "mysqldump", "mariadb-dump", "mongodump", "etcdctl"];

/// Whether the tool prints the content of files it reads (or dumps a database).
pub(crate) fn is_reader(n: &str) -> bool {
    READERS.contains(&n) || DUMPERS.contains(&n)
}

fn stdout_of(eng: &mut Engine<'_>, cmd: &Cmd<'_>) -> Stdout {
    let n = cmd.name.as_str();
    let mut out = Stdout::default();
    if n == "echo" || n == "printf" {
        let args: Vec<&str> = cmd.args.iter().map(String::as_str).filter(|a| !matches!(*a, "-e" | "-n" | "-E")).collect();
        let mut text = args.join(" ");
        if n == "printf" || cmd.args.iter().any(|a| a == "-e") {
            text = text.replace("\\n", "\n");
        }
        out.text = Some(text);
        return out;
    }
    if n == "cat" && cmd.args.is_empty() {
        out.text.clone_from(&cmd.stdin.text);
    }
    if DUMPERS.contains(&n) {
        out.sensitive = Some(format!("database dump: {}", cmd.evidence()));
        return out;
    }
    if READERS.contains(&n) {
        if cmd.stdin.sensitive.is_some() {
            out.sensitive.clone_from(&cmd.stdin.sensitive);
        }
        for a in cmd.args {
            let a = a.split_once('=').map_or(a.as_str(), |(k, v)| if k.starts_with('-') || k == "if" { v } else { a });
            if a.starts_with('-') && a.len() > 1 {
                continue;
            }
            let p = cmd.path(a);
            if crate::path::is_anchored(&p) && eng.ctx.is_sensitive(&p) {
                out.sensitive = Some(p);
                break;
            }
        }
    }
    out
}

/// Short-flag bundles and long flags of an argv, up to `--`.
pub(crate) fn has_flag(args: &[String], short: char, long: &[&str]) -> bool {
    for a in args {
        if a == "--" {
            break;
        }
        if let Some(l) = a.strip_prefix("--") {
            let name = l.split('=').next().unwrap_or(l);
            if long.contains(&name) {
                return true;
            }
        } else if let Some(s) = a.strip_prefix('-')
            && s.chars().all(|c| c.is_ascii_alphanumeric())
            && s.contains(short)
        {
            return true;
        }
    }
    false
}

/// Arguments that are not options (everything after `--` included). `with_value` lists
/// options whose value is the next word.
pub(crate) fn operands<'a>(args: &'a [String], with_value: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut after = false;
    while i < args.len() {
        let a = args[i].as_str();
        if after || a == "-" || !a.starts_with('-') {
            out.push(a);
        } else if a == "--" {
            after = true;
        } else if with_value.contains(&a) {
            i += 1;
        }
        i += 1;
    }
    out
}

/// The value of an option given as `-o v`, `-ov`, `--opt v` or `--opt=v`.
pub(crate) fn opt_value<'a>(args: &'a [String], names: &[&str]) -> Option<&'a str> {
    for (i, a) in args.iter().enumerate() {
        for n in names {
            if a == n {
                return args.get(i + 1).map(String::as_str);
            }
            if let Some(v) = a.strip_prefix(n) {
                if n.starts_with("--") {
                    if let Some(v) = v.strip_prefix('=') {
                        return Some(v);
                    }
                } else if !v.is_empty() && n.len() == 2 {
                    return Some(v);
                }
            }
        }
    }
    None
}

/// Lower-cased non-option words, for subcommand matching (`aws s3 rb`).
/// Values of these options are skipped so `kubectl -n prod delete ns x` finds `delete`.
const VALUE_OPTS: &[&str] = &[
    "-n", "--namespace", "--context", "--kubeconfig", "-l", "--selector", "-o", "--output", "-c",
    "--container", "--cluster", "--user", "-s", "--server", "--profile", "--region",
    "--endpoint-url", "--query", "--project", "--zone", "--format", "-H", "--host", "--config",
    "--subscription", "-g", "--resource-group", "--chdir", "--stack", "-C", "--log-level",
    "--account", "--configuration", "--log-driver", "--env-file", "--as", "--token",
];

pub(crate) fn words_lower(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        if a.starts_with('-') {
            skip = VALUE_OPTS.contains(&a.as_str());
            continue;
        }
        out.push(a.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {

    /// The lookup answers like the chain of lists it replaces.
    #[test]
    fn family_lookup_follows_the_lists_in_order() {
        let chain = |n: &str| -> Option<Family> {
            if FS.contains(&n) {
                Some(Family::Fs)
            } else if disk::handles(n) {
                Some(Family::Disk)
            } else if sql::TOOLS.contains(&n) {
                Some(Family::Sql)
            } else if cloud::TOOLS.contains(&n) {
                Some(Family::Cloud)
            } else if service::TOOLS.contains(&n) {
                Some(Family::Service)
            } else if audit::TOOLS.contains(&n) {
                Some(Family::Audit)
            } else if PERMS.contains(&n) {
                Some(Family::Perms)
            } else if interp::TOOLS.contains(&n) {
                Some(Family::Interp)
            } else {
                None
            }
        };
        let lists = [FS, disk::TOOLS, sql::TOOLS, cloud::TOOLS, service::TOOLS, audit::TOOLS, PERMS, interp::TOOLS, net::TOOLS];
        let extra = ["ls", "", "mkfs.ext4", "mke2fs", "mkfs", "mkfs.", "rm2", "ssh", "tee", "cat"];
        for n in lists.iter().flat_map(|l| l.iter().copied()).chain(extra) {
            assert_eq!(family(n), (chain(n), net::TOOLS.contains(&n)), "{n}");
        }
    }

    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn flags_and_operands() {
        let a = v(&["-rf", "--one-file-system", "x", "--", "-y"]);
        assert!(has_flag(&a, 'r', &["recursive"]));
        assert!(!has_flag(&v(&["--", "-r"]), 'r', &[]));
        assert_eq!(operands(&a, &[]), ["x", "-y"]);
        assert_eq!(opt_value(&v(&["-c", "SELECT 1"]), &["-c", "--command"]), Some("SELECT 1"));
        assert_eq!(opt_value(&v(&["--command=X"]), &["-c", "--command"]), Some("X"));
        assert_eq!(opt_value(&v(&["-eX"]), &["-e"]), Some("X"));
    }
}
