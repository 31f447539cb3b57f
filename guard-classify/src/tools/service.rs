//! Availability: shutdown/reboot, systemctl/service stop of critical units, mass kill,
//! network interfaces down, firewall lock-out. Stopping security and logging agents is
//! `audit_tamper` instead.

use super::{has_flag, operands, words_lower};
use crate::engine::{Cmd, Engine};
use crate::intent::IntentClass::{AuditTamper, ServiceDisruption};

pub(crate) const TOOLS: &[&str] = &[
    "shutdown", "reboot", "halt", "poweroff", "init", "telinit", "systemctl", "service", "kill",
    "killall", "killall5", "pkill", "ip", "ifdown", "ifconfig", "nmcli", "iptables", "ip6tables",
    "nft", "ufw", "firewall-cmd", "rc-service", "update-rc.d", "chkconfig", "sv", "supervisorctl",
    "kexec", "passwd", "usermod", "chage",
];

/// Units and processes whose stop blinds security monitoring.
pub(crate) const SECURITY: &[&str] = &[
    "auditd", "audit", "falco", "falcon-sensor", "osqueryd", "osquery", "wazuh-agent", "ossec",
    "sysmon", "aide", "clamav-daemon", "clamd", "apparmor", "selinux", "crowdstrike", "sentinelone",
    "cbagentd", "elastic-agent", "auditbeat", "filebeat", "fluentd", "fluent-bit", "td-agent",
    "rsyslog", "rsyslogd", "syslog", "syslog-ng", "systemd-journald", "journald", "firewalld",
    "ufw", "iptables", "nftables", "netfilter-persistent", "tetragon", "tracee", "guard-agent",
    "splunkd", "splunk", "datadog-agent", "nessusd", "qualys-cloud-agent", "mdatp", "fail2ban",
    "cbdaemon", "cb-psc-sensor", "cbagent", "xagt", "sav-protect", "sophos-spl", "ds_agent",
    "cylancesvc", "wdavdaemon", "auoms", "omsagent", "cron", "crond",
];

fn is_security(unit: &str) -> bool {
    let u = unit.strip_suffix(".service").unwrap_or(unit);
    SECURITY.contains(&u) || u.starts_with("falcon") || u.starts_with("wazuh")
}

pub(crate) fn check(eng: &mut Engine<'_>, cmd: &Cmd<'_>) {
    let a = cmd.args;
    let w = words_lower(a);
    let w0 = w.first().map_or("", String::as_str);
    let n = cmd.name.as_str();
    let down = |eng: &mut Engine<'_>, why: String| eng.flag(ServiceDisruption, why, cmd.evidence());
    match n {
        "shutdown" | "reboot" | "halt" | "poweroff" | "kexec" => {
            if !has_flag(a, 'c', &["help", "cancel"]) && !has_flag(a, 'k', &[]) {
                down(eng, format!("{n} takes the host down"));
            }
        }
        "init" | "telinit" => {
            if matches!(w0, "0" | "6" | "1" | "s" | "single") {
                down(eng, format!("{n} {w0} changes runlevel to halt/reboot/single-user"));
            }
        }
        "systemctl" => {
            let stop = matches!(w0, "stop" | "disable" | "mask" | "kill" | "isolate" | "freeze");
            if matches!(w0, "poweroff" | "reboot" | "halt" | "kexec" | "rescue" | "emergency" | "soft-reboot" | "suspend" | "hibernate") {
                down(eng, format!("systemctl {w0} takes the host down"));
            } else if w0 == "isolate" && w.get(1).is_some_and(|t| ["rescue", "emergency", "poweroff", "reboot", "halt", "runlevel0", "runlevel6"].iter().any(|x| t.starts_with(x))) {
                down(eng, "systemctl isolate to a shutdown/rescue target".to_owned());
            } else if stop {
                for unit in w.iter().skip(1) {
                    units(eng, cmd, unit, w0);
                }
            }
        }
        "service" | "rc-service" | "sv" | "supervisorctl" => {
            let (unit, verb) = if n == "sv" || n == "supervisorctl" {
                (w.get(1).map_or("", String::as_str), w0)
            } else {
                (w0, w.get(1).map_or("", String::as_str))
            };
            if matches!(verb, "stop" | "disable" | "down" | "kill") {
                units(eng, cmd, unit, verb);
            }
        }
        "update-rc.d" | "chkconfig" => {
            if w.iter().any(|x| x == "disable" || x == "remove" || x == "off") {
                if let Some(unit) = w.iter().find(|x| !matches!(x.as_str(), "disable" | "remove" | "off" | "-f" | "--level")) {
                    units(eng, cmd, unit, "disable");
                }
            }
        }
        "kill" => {
            let mut sig_taken = false;
            let mut pids: Vec<&str> = Vec::new();
            let mut it = a.iter();
            while let Some(x) = it.next() {
                if x == "--" {
                    pids.extend(it.by_ref().map(String::as_str));
                } else if x.starts_with('-') && !sig_taken {
                    sig_taken = true;
                    if x == "-s" || x == "-n" {
                        it.next();
                    }
                } else {
                    pids.push(x);
                }
            }
            let probe = a.first().is_some_and(|s| s == "-0" || s == "-s" && a.get(1).is_some_and(|x| x == "0"));
            if !probe && pids.iter().any(|p| *p == "-1" || *p == "1") {
                down(eng, "kill targets every process (-1) or init (1)".to_owned());
            }
            for name in pids.iter().filter_map(|p| p.strip_prefix(crate::words::PID_OF)) {
                if is_security(name) {
                    eng.flag(AuditTamper, format!("kill of security/logging agent {name}"), cmd.evidence());
                } else if eng.ctx.is_critical_service(name) {
                    down(eng, format!("kill of critical process {name}"));
                }
            }
        }
        "killall5" => down(eng, "killall5 signals every process".to_owned()),
        "killall" | "pkill" => {
            let reload = a.iter().any(|x| {
                let s = x.trim_start_matches('-').trim_start_matches("SIG").to_ascii_uppercase();
                x.starts_with('-') && matches!(s.as_str(), "HUP" | "USR1" | "USR2" | "WINCH" | "CONT" | "0" | "1" | "10" | "12")
            });
            if reload {
                return;
            }
            let targets = operands(a, &["-s", "--signal", "-u", "--user", "-g", "-t", "-P", "-U", "-G", "-o", "-n"]);
            for t in targets {
                let t = t.trim_start_matches('^').trim_end_matches('$');
                if is_security(t) {
                    eng.flag(AuditTamper, format!("{n} kills security/logging agent {t}"), cmd.evidence());
                } else if eng.ctx.is_critical_service(t) || matches!(t, "postgres" | "mysqld" | "mariadbd" | "sshd" | "init" | "systemd" | "dockerd" | "kubelet" | "java" | "nginx" | "redis-server" | "mongod") {
                    eng.flag(ServiceDisruption, format!("{n} kills critical process {t}"), cmd.evidence());
                }
            }
            if n == "pkill" && has_flag(a, 'u', &["euid", "uid"]) && has_flag(a, '9', &[]) {
                down(eng, "pkill -9 -u kills every process of a user".to_owned());
            }
        }
        "ip" => {
            if w0 == "link" && w.iter().any(|x| x == "down") && !w.iter().any(|x| x == "lo") {
                down(eng, "ip link set ... down cuts the host off the network".to_owned());
            }
        }
        "ifdown" => {
            if !w.iter().any(|x| x == "lo") && !w.is_empty() || has_flag(a, 'a', &["all"]) {
                down(eng, "ifdown takes a network interface down".to_owned());
            }
        }
        "ifconfig" => {
            if w.iter().any(|x| x == "down") && !w.iter().any(|x| x == "lo") {
                down(eng, "ifconfig ... down takes a network interface down".to_owned());
            }
        }
        "nmcli" => {
            if (w0 == "networking" || w0 == "n") && w.get(1).is_some_and(|x| x == "off") {
                down(eng, "nmcli networking off".to_owned());
            }
        }
        "iptables" | "ip6tables" => {
            let policy_drop = opt_pair(a, &["-P", "--policy"]).is_some_and(|(c, t)| c.eq_ignore_ascii_case("input") && matches!(t.to_ascii_uppercase().as_str(), "DROP" | "REJECT"));
            if policy_drop {
                down(eng, "iptables -P INPUT DROP can lock everyone out".to_owned());
            } else if a.iter().any(|x| x == "-F" || x == "--flush") && !a.iter().any(|x| x == "-t" || x.starts_with("--table")) || a.iter().any(|x| x == "-X") && a.len() == 1 {
                eng.flag(AuditTamper, format!("{n} -F flushes firewall rules"), cmd.evidence());
            }
        }
        "nft" => {
            if w0 == "flush" && w.get(1).is_some_and(|x| x == "ruleset") || w0 == "delete" && w.get(1).is_some_and(|x| x == "table") {
                eng.flag(AuditTamper, "nft flush ruleset removes the firewall", cmd.evidence());
            }
        }
        "ufw" => {
            if w0 == "disable" || w0 == "reset" || (w0 == "logging" && w.get(1).is_some_and(|x| x == "off")) {
                eng.flag(AuditTamper, format!("ufw {w0} turns the firewall off"), cmd.evidence());
            }
        }
        "firewall-cmd" => {
            if a.iter().any(|x| x == "--panic-on") {
                down(eng, "firewall-cmd --panic-on drops all traffic".to_owned());
            }
        }
        "passwd" | "usermod" | "chage" => {
            let user = operands(a, &["-s", "--shell", "-e", "--expiredate", "-E", "-g", "-G", "-d", "-c", "-u", "-x", "-n", "-w", "-i", "-l", "-p"]).last().map(|s| (*s).to_owned());
            let lock = (n == "passwd" && has_flag(a, 'l', &["lock"])) || (n == "usermod" && has_flag(a, 'L', &["lock"])) || (n == "chage" && opt_pair_single(a, &["-E", "--expiredate"]).is_some_and(|v| v == "0" || v == "1970-01-01"))
                || (n == "usermod" && opt_pair_single(a, &["-s", "--shell"]).is_some_and(|s| s.ends_with("nologin") || s.ends_with("false")));
            if lock {
                down(eng, format!("{n} locks account {}", user.unwrap_or_default()));
            } else if n == "passwd" && a.iter().all(|x| !x.starts_with('-')) && a.len() == 1 && a[0] == "root" {
                down(eng, "passwd root changes the root password".to_owned());
            }
        }
        _ => {}
    }
}

fn opt_pair<'a>(a: &'a [String], names: &[&str]) -> Option<(&'a str, &'a str)> {
    let i = a.iter().position(|x| names.contains(&x.as_str()))?;
    Some((a.get(i + 1)?.as_str(), a.get(i + 2)?.as_str()))
}

fn opt_pair_single<'a>(a: &'a [String], names: &[&str]) -> Option<&'a str> {
    super::opt_value(a, names)
}

fn units(eng: &mut Engine<'_>, cmd: &Cmd<'_>, unit: &str, verb: &str) {
    if unit.is_empty() {
        return;
    }
    if is_security(unit) {
        eng.flag(AuditTamper, format!("{verb} of security/logging service {unit}"), cmd.evidence());
    } else if eng.ctx.is_critical_service(unit) {
        eng.flag(ServiceDisruption, format!("{verb} of critical service {unit}"), cmd.evidence());
    }
}

#[cfg(test)]
mod tests {
    use crate::{Context, IntentClass, classify_shell};

    fn c(s: &str) -> Vec<IntentClass> {
        classify_shell(s, &Context::builtin()).classes()
    }

    #[test]
    fn availability() {
        assert_eq!(c("shutdown -h now"), [IntentClass::ServiceDisruption]);
        assert!(c("shutdown -c").is_empty());
        assert_eq!(c("kill -9 -1"), [IntentClass::ServiceDisruption]);
        assert!(c("kill -1 4242").is_empty());
        assert!(c("kill -HUP 4242").is_empty());
        assert_eq!(c("systemctl stop postgresql"), [IntentClass::ServiceDisruption]);
        assert!(c("systemctl restart nginx").is_empty());
        assert!(c("systemctl stop myapp-worker").is_empty());
        assert_eq!(c("systemctl stop auditd"), [IntentClass::AuditTamper]);
        assert_eq!(c("iptables -P INPUT DROP"), [IntentClass::ServiceDisruption]);
        assert_eq!(c("echo c > /proc/sysrq-trigger"), [IntentClass::ServiceDisruption]);
        assert_eq!(c("ufw disable"), [IntentClass::AuditTamper]);
        assert!(c("ufw allow 443/tcp").is_empty());
    }
}
