//! Covering tracks: shell history switched off or cleared, journals vacuumed, the audit
//! system disabled, SELinux/AppArmor turned off, logs edited in place.

use super::{has_flag, operands, words_lower};
use crate::engine::{Cmd, Engine};
use crate::intent::IntentClass::AuditTamper;

pub(crate) const TOOLS: &[&str] = &[
    "history", "journalctl", "auditctl", "setenforce", "aa-teardown", "aa-disable", "aa-complain",
    "apparmor_parser", "unset", "set", "sed", "lastlog", "utmpdump",
    "chattr", "touch", "mdatp", "sysctl",
];

/// Shell variables that control history; `unset`ting or zeroing them stops recording.
const HIST_VARS: &[&str] = &["HISTFILE", "HISTSIZE", "HISTFILESIZE", "SAVEHIST", "HISTCONTROL", "HISTIGNORE"];

/// `HISTFILE=/dev/null`, `HISTSIZE=0`, `HISTIGNORE='*'`, `HISTCONTROL=ignorespace`...
pub(crate) fn on_assignment(eng: &mut Engine<'_>, name: &str, value: &str) {
    let bad = match name {
        "HISTFILE" => value.is_empty() || value == "/dev/null",
        "HISTSIZE" | "HISTFILESIZE" | "SAVEHIST" => value == "0" || value.is_empty(),
        "HISTIGNORE" => value.contains('*'),
        "HISTCONTROL" => value.contains("ignorespace") || value.contains("ignoreboth"),
        _ => false,
    };
    if bad {
        eng.flag(AuditTamper, format!("{name}={value} stops shell history recording"), format!("{name}={value}"));
    }
}

pub(crate) fn check(eng: &mut Engine<'_>, cmd: &Cmd<'_>) {
    let a = cmd.args;
    let n = cmd.name.as_str();
    let w = words_lower(a);
    let w0 = w.first().map_or("", String::as_str);
    let tamper = |eng: &mut Engine<'_>, why: String| eng.flag(AuditTamper, why, cmd.evidence());
    match n {
        "history" => {
            if has_flag(a, 'c', &[]) || has_flag(a, 'd', &[]) || (has_flag(a, 'w', &[]) && w0 == "/dev/null") {
                tamper(eng, "history -c/-d erases shell history".to_owned());
            }
        }
        "unset" => {
            if let Some(v) = a.iter().find(|v| HIST_VARS[..3].contains(&v.as_str())) {
                tamper(eng, format!("unset {v} stops shell history recording"));
            }
        }
        "set" => {
            if a.windows(2).any(|p| p[0] == "+o" && p[1] == "history") {
                tamper(eng, "set +o history stops shell history recording".to_owned());
            }
        }
        "journalctl" => {
            if a.iter().any(|x| x.starts_with("--vacuum") || x == "--flush" && false || x == "--rotate" && a.iter().any(|y| y.starts_with("--vacuum"))) {
                tamper(eng, "journalctl --vacuum deletes journal logs".to_owned());
            }
        }
        "auditctl" => {
            let disable = a.windows(2).any(|p| p[0] == "-e" && p[1] == "0") || a.iter().any(|x| x == "-D") || a.windows(2).any(|p| p[0] == "-a" && p[1].starts_with("never"));
            if disable {
                tamper(eng, "auditctl disables auditing or deletes audit rules".to_owned());
            }
        }
        "setenforce" => {
            if matches!(w0, "0" | "permissive") {
                tamper(eng, "setenforce 0 turns SELinux enforcement off".to_owned());
            }
        }
        "aa-teardown" | "aa-disable" | "aa-complain" => tamper(eng, format!("{n} disables AppArmor confinement")),
        "apparmor_parser" => {
            if has_flag(a, 'R', &["remove"]) {
                tamper(eng, "apparmor_parser -R unloads AppArmor profiles".to_owned());
            }
        }
        "sed" => {
            if has_flag(a, 'i', &["in-place"]) || a.iter().any(|x| x.starts_with("-i")) {
                for t in operands(a, &["-e", "-f", "--expression", "--file"]).into_iter().skip(1) {
                    let p = cmd.path(t);
                    if eng.ctx.is_log(&p) {
                        tamper(eng, format!("sed -i edits log {p} in place"));
                    }
                }
            }
        }
        "lastlog" => {
            if has_flag(a, 'C', &["clear"]) {
                tamper(eng, "lastlog --clear erases login records".to_owned());
            }
        }
        "utmpdump" => {
            if has_flag(a, 'r', &["reverse"]) {
                tamper(eng, "utmpdump -r rewrites login records".to_owned());
            }
        }
        "chattr" => {
            for t in operands(a, &[]).into_iter().filter(|t| !t.starts_with('+') && !t.starts_with('=')) {
                let p = cmd.path(t);
                if a.iter().any(|x| x.starts_with("-a") || x.starts_with("-i")) && eng.ctx.is_log(&p) {
                    tamper(eng, format!("chattr removes append-only/immutable protection from {p}"));
                }
            }
        }
        "mdatp" => {
            if a.iter().any(|x| x == "disabled") || w.iter().any(|x| x == "uninstall") {
                tamper(eng, "mdatp disables Defender protection".to_owned());
            }
        }
        "sysctl" => {
            if a.iter().any(|x| x.replace('/', ".") == "kernel.randomize_va_space=0") {
                tamper(eng, "sysctl disables ASLR".to_owned());
            }
        }
        "touch" => {
            let stomp = a.iter().any(|x| x == "-r" || x == "-t" || x == "-d" || x.starts_with("--reference") || x.starts_with("--date"));
            if stomp {
                for t in operands(a, &["-r", "-t", "-d", "--reference", "--date"]) {
                    let p = cmd.path(t);
                    if eng.ctx.is_log(&p) {
                        tamper(eng, format!("touch backdates timestamps of log {p}"));
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::{Context, IntentClass, classify_shell};

    fn at(s: &str) -> bool {
        classify_shell(s, &Context::builtin()).has(IntentClass::AuditTamper)
    }

    #[test]
    fn tampering() {
        assert!(at("history -c"));
        assert!(at("unset HISTFILE"));
        assert!(at("export HISTFILE=/dev/null"));
        assert!(at("HISTSIZE=0"));
        assert!(at("set +o history"));
        assert!(at("journalctl --vacuum-time=1s"));
        assert!(at("auditctl -e 0"));
        assert!(at("auditctl -D"));
        assert!(at("setenforce 0"));
        assert!(at("sed -i '/10.0.0.5/d' /var/log/auth.log"));
        assert!(at("cat /dev/null > ~/.bash_history"));
        assert!(!at("history | tail -20"));
        assert!(!at("journalctl -u nginx --since today"));
        assert!(!at("auditctl -l"));
        assert!(!at("sed -i 's/a/b/' config.ini"));
    }
}
