//! Output redirections: `> /dev/sda`, `> /proc/sysrq-trigger`, `> /dev/tcp/host/port`,
//! truncating logs with `> /var/log/x`, overwriting data files.

use brush_parser::ast::IoFileRedirectKind;

use crate::engine::{Engine, Stdout};
use crate::intent::IntentClass::{AuditTamper, DataExfiltration, DiskWipe, ServiceDisruption};

/// The command prints nothing, so the redirection only empties the file.
fn writes_nothing(out: &Stdout, what: &str) -> bool {
    out.text.as_deref().is_some_and(|t| t.trim().is_empty() || t.trim() == "\"\"")
        || matches!(what.trim(), "" | ":" | "true" | "false" | "cat /dev/null" | "compound command")
        || what.starts_with("cat /dev/null")
}

/// Judges a write redirection of `what`'s output to the normalised path `p`.
pub(crate) fn on_write(eng: &mut Engine<'_>, kind: &IoFileRedirectKind, p: &str, out: &Stdout, what: &str) {
    let truncates = matches!(kind, IoFileRedirectKind::Write | IoFileRedirectKind::Clobber | IoFileRedirectKind::ReadAndWrite);
    let appends = matches!(kind, IoFileRedirectKind::Append);
    if !truncates && !appends {
        return;
    }
    let evidence = format!("{what} > {p}");
    if super::disk::is_block_device(p) {
        eng.flag(DiskWipe, format!("output redirected onto block device {p}"), evidence);
    } else if p == "/proc/sysrq-trigger" {
        eng.flag(ServiceDisruption, "writes to /proc/sysrq-trigger (crash, reboot or kill-all)", evidence);
    } else if let Some(rest) = p.strip_prefix("/dev/tcp/").or_else(|| p.strip_prefix("/dev/udp/")) {
        let host = rest.split('/').next().unwrap_or(rest);
        if let Some(s) = &out.sensitive
            && !eng.ctx.is_trusted(host)
        {
            eng.flag(DataExfiltration, format!("sends sensitive data ({s}) to {host} via /dev/tcp"), evidence);
        }
    } else if truncates && eng.ctx.is_log(p) && writes_nothing(out, what) {
        eng.flag(AuditTamper, format!("truncates or overwrites log/history {p}"), evidence);
    }
}
