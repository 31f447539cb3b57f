//! `guard-agent audit verify|report|pubkey`: the audit trail for reviewers.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use guard_export::audit::{ReportFormat, load_or_create_key, public_key_hex, read_public_key, report, verify};

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain and the signed checkpoints; exit 1 naming the first bad
    /// record when a record was altered, removed, reordered or the log truncated.
    Verify {
        path: PathBuf,
        /// Public key (hex file) the checkpoints must be signed with; without it the key
        /// recorded in the log is used (integrity, not authorship).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Denials and audit-mode matches by identity, intent and rule.
    Report {
        path: PathBuf,
        /// Only events at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// md or json.
        #[arg(long, default_value = "md")]
        format: String,
    },
    /// Print the public half of an audit key (creating the key if it does not exist).
    Pubkey { key: PathBuf },
}

pub fn audit(cmd: &AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify { path, key } => {
            let key = key.as_ref().map(|k| read_public_key(k)).transpose()?;
            let r = verify(path, key.as_ref()).with_context(|| format!("reading {}", path.display()))?;
            println!("{r}");
            Ok(if r.problem.is_none() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        AuditCommand::Report { path, since, format } => {
            let since = since.as_ref().map(|s| s.parse::<jiff::Timestamp>()).transpose().context("--since must be an RFC 3339 time")?;
            let format = match format.as_str() {
                "md" => ReportFormat::Markdown,
                "json" => ReportFormat::Json,
                other => anyhow::bail!("--format {other}: expected md or json"),
            };
            print!("{}", report(path, since, format)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Pubkey { key } => {
            println!("{}", public_key_hex(&load_or_create_key(key)?));
            Ok(ExitCode::SUCCESS)
        }
    }
}
