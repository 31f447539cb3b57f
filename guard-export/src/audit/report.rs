//! `audit report`: denials and audit-mode matches by identity, intent and rule, for a
//! compliance reviewer. It reads the events; integrity is [`super::verify`]'s job.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::{AuditError, io_err};

/// Output format of [`report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// A Markdown document with one table.
    Markdown,
    /// A JSON object.
    Json,
}

#[derive(Debug, Default, Serialize)]
struct Row {
    decision: String,
    identity: String,
    intent: String,
    rule: String,
    count: u64,
    first: String,
    last: String,
    example: String,
}

#[derive(Debug, Serialize)]
struct Out {
    log: String,
    since: Option<String>,
    events: u64,
    allowed: u64,
    denied: u64,
    audited: u64,
    held: u64,
    rows: Vec<Row>,
}

fn ms_to_rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

/// Summarises the event records of the log at `path` at or after `since`: counts of
/// denials and audit matches grouped by identity (`uid U` with the login uid), intent
/// class and rule, with first/last time and an example command line.
pub fn report(path: &Path, since: Option<jiff::Timestamp>, format: ReportFormat) -> Result<String, AuditError> {
    let since_ms = since.map(|t| t.as_millisecond());
    let mut groups: BTreeMap<(String, String, String, String), Row> = BTreeMap::new();
    let (mut events, mut allowed, mut denied, mut audited, mut held) = (0, 0, 0, 0, 0);
    let reader = BufReader::new(File::open(path).map_err(io_err(path))?);
    for line in reader.split(b'\n') {
        let line = line.map_err(io_err(path))?;
        let Ok(v) = serde_json::from_slice::<Value>(&line) else { continue };
        let Some(ev) = v.get("event") else { continue };
        let time = ev["time"].as_i64().unwrap_or(0);
        if since_ms.is_some_and(|s| time < s) {
            continue;
        }
        events += 1;
        let u = &ev["unmapped"];
        let decision = u["decision"].as_str().unwrap_or("").to_string();
        match decision.as_str() {
            "deny" => denied += 1,
            "audit" => audited += 1,
            "hold" => held += 1,
            _ => {
                allowed += 1;
                continue;
            }
        }
        let login = u["loginuid"].as_u64().map_or("unset".to_string(), |l| l.to_string());
        let identity = format!("uid {} (login {login})", u["euid"]);
        let intent = u["class"].as_str().unwrap_or("-").to_string();
        let rule = u["rule"].as_str().unwrap_or("-").to_string();
        let row = groups.entry((decision.clone(), identity.clone(), intent.clone(), rule.clone())).or_insert_with(|| Row {
            decision,
            identity,
            intent,
            rule,
            first: ms_to_rfc3339(time),
            example: ev["process"]["cmd_line"].as_str().unwrap_or("").chars().take(120).collect(),
            ..Row::default()
        });
        row.count += 1;
        row.last = ms_to_rfc3339(time);
    }
    let mut rows: Vec<Row> = groups.into_values().collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.decision.cmp(&b.decision)));
    let out = Out { log: path.display().to_string(), since: since.map(|s| s.to_string()), events, allowed, denied, audited, held, rows };
    Ok(match format {
        ReportFormat::Json => serde_json::to_string_pretty(&out)?,
        ReportFormat::Markdown => markdown(&out),
    })
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn markdown(o: &Out) -> String {
    let mut s = format!("# guard audit report\n\nLog: `{}`", o.log);
    if let Some(t) = &o.since {
        s.push_str(&format!(", since {t}"));
    }
    s.push_str(&format!(
        "\n\n{} events: {} allowed, {} denied, {} matched in audit mode, {} held for the agent's verdict.\n\n",
        o.events, o.allowed, o.denied, o.audited, o.held
    ));
    s.push_str("| decision | identity | intent | rule | count | first | last | example |\n|---|---|---|---|---|---|---|---|\n");
    for r in &o.rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | `{}` |\n",
            r.decision,
            cell(&r.identity),
            cell(&r.intent),
            cell(&r.rule),
            r.count,
            r.first,
            r.last,
            cell(&r.example).replace('`', "'")
        ));
    }
    s
}
