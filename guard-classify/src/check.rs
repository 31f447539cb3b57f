//! The `guard-agent check` CLI contract over `Read`/`Write`: judge one argv or a batch of
//! shell lines, print one result per input (JSON lines or readable text). The agent parses
//! flags with [`CheckArgs`], loads the policy into a [`Context`] and calls [`run`].

use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Context, Intent, Verdict, classify_argv, classify_shell};

/// Enforcement mode, as in the policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Record only: always allow.
    Audit,
    /// Deny what matches.
    #[default]
    Enforce,
    /// Deny what matches; what needs judgement is held and resolved by this classifier.
    Strict,
}

/// What the mode would do with the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Let it run.
    Allow,
    /// Stop it.
    Deny,
}

/// Flags of `guard-agent check` (flatten into the agent's subcommand).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct CheckArgs {
    /// Policy file to load (the agent turns it into a `Context`); built-in defaults if absent.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Mode whose decision to report.
    #[arg(long, value_enum, default_value_t = Mode::Enforce)]
    pub mode: Mode,
    /// One JSON object per result.
    #[arg(long)]
    pub json: bool,
    /// Judge each non-empty, non-`#` line of FILE (`-` = stdin) as `sh -c LINE`.
    #[arg(long, value_name = "FILE", conflicts_with = "argv")]
    pub batch: Option<PathBuf>,
    /// The argv of one exec, after `--`.
    #[arg(last = true, value_name = "ARGV")]
    pub argv: Vec<OsString>,
}

/// One judged input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    /// `allow` or `deny`.
    pub decision: Decision,
    /// Every intent found.
    pub intents: Vec<Intent>,
    /// `builtin/<class>` of the first intent, or null.
    pub rule: Option<String>,
    /// The mode the decision is for.
    pub mode: Mode,
    /// The input as judged (a batch line, or the argv joined).
    pub input: String,
    /// The input was over a budget or unparseable; the verdict came from a fallback scan.
    pub degraded: bool,
}

impl Judgement {
    /// Applies `mode` to a verdict.
    #[must_use]
    pub fn new(verdict: Verdict, mode: Mode, input: String) -> Self {
        // Strict mode is conservative: input the classifier could not fully analyse is denied.
        let suspicious = !verdict.intents.is_empty() || (mode == Mode::Strict && verdict.degraded);
        let decision = if suspicious && mode != Mode::Audit { Decision::Deny } else { Decision::Allow };
        let rule = verdict.intents.first().map(|i| format!("builtin/{}", i.class));
        Self { decision, intents: verdict.intents, rule, mode, input, degraded: verdict.degraded }
    }

    /// One readable line: decision, classes with reasons, the input.
    #[must_use]
    pub fn to_text(&self) -> String {
        let d = match self.decision {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        };
        let why = if self.intents.is_empty() {
            "no destructive intent".to_owned()
        } else {
            self.intents.iter().map(|i| format!("{}: {}", i.class, i.reason)).collect::<Vec<_>>().join("; ")
        };
        let input: String = self.input.chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect();
        format!("{d}\t{why}\t<- {input}")
    }
}

/// Errors of the check runner (reading input, writing output).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The batch file could not be opened.
    #[error("cannot open batch file {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Reading input or writing results failed.
    #[error("i/o error during check")]
    Io(#[from] io::Error),
    /// Neither `--batch` nor an argv after `--` was given.
    #[error("nothing to check: give --batch FILE or -- ARGV...")]
    NoInput,
}

/// Judges one argv.
#[must_use]
pub fn judge_argv(argv: &[OsString], ctx: &Context, mode: Mode) -> Judgement {
    use std::os::unix::ffi::OsStrExt;
    let bytes: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
    let verdict = classify_argv(&bytes, ctx);
    let input = crate::engine::evidence_of(&argv.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>());
    Judgement::new(verdict, mode, input)
}

/// Judges one batch line as `sh -c LINE`.
#[must_use]
pub fn judge_line(line: &str, ctx: &Context, mode: Mode) -> Judgement {
    Judgement::new(classify_shell(line, ctx), mode, line.to_owned())
}

fn emit(out: &mut impl Write, j: &Judgement, json: bool) -> io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, j).map_err(io::Error::other)?;
        out.write_all(b"\n")
    } else {
        writeln!(out, "{}", j.to_text())
    }
}

/// Judges every non-empty line not starting with `#`, one result per line, in order.
/// Returns how many lines were judged.
///
/// # Errors
/// Reading `input` or writing `out` failed.
pub fn run_batch(mut input: impl BufRead, mut out: impl Write, ctx: &Context, mode: Mode, json: bool) -> Result<usize, CheckError> {
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        if trimmed.trim_end().is_empty() || trimmed.starts_with('#') {
            continue;
        }
        emit(&mut out, &judge_line(line, ctx, mode), json)?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// Runs the whole `check` subcommand: `--batch FILE|-` or `-- ARGV...`. `stdin` is used
/// for `--batch -`. Returns how many inputs were judged; exit status 0 whatever the
/// decisions.
///
/// # Errors
/// No input given, the batch file cannot be opened, or I/O failed.
pub fn run(args: &CheckArgs, ctx: &Context, stdin: impl BufRead, mut out: impl Write) -> Result<usize, CheckError> {
    match &args.batch {
        Some(p) if p.as_os_str() == "-" => run_batch(stdin, out, ctx, args.mode, args.json),
        Some(p) => {
            let f = std::fs::File::open(p).map_err(|source| CheckError::Open { path: p.clone(), source })?;
            run_batch(io::BufReader::new(f), out, ctx, args.mode, args.json)
        }
        None if args.argv.is_empty() => Err(CheckError::NoInput),
        None => {
            emit(&mut out, &judge_argv(&args.argv, ctx, args.mode), args.json)?;
            out.flush()?;
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_one_result_per_line_in_order() {
        let input = "# comment\n\nls -la\n   \nrm -rf /\r\n  # indented comment\necho 'rm -rf /'\n";
        let mut out = Vec::new();
        let n = run_batch(input.as_bytes(), &mut out, &Context::builtin(), Mode::Enforce, true).unwrap();
        assert_eq!(n, 3);
        let lines: Vec<serde_json::Value> = String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["decision"], "allow");
        assert_eq!(lines[0]["rule"], serde_json::Value::Null);
        assert_eq!(lines[1]["decision"], "deny");
        assert_eq!(lines[1]["rule"], "builtin/bulk_delete");
        assert_eq!(lines[1]["intents"][0]["class"], "bulk_delete");
        assert_eq!(lines[1]["input"], "rm -rf /");
        assert_eq!(lines[2]["decision"], "allow");
    }

    #[test]
    fn modes_decide() {
        let ctx = Context::builtin();
        assert_eq!(judge_line("rm -rf /", &ctx, Mode::Audit).decision, Decision::Allow);
        assert_eq!(judge_line("rm -rf /", &ctx, Mode::Strict).decision, Decision::Deny);
        assert_eq!(judge_line("ls", &ctx, Mode::Strict).decision, Decision::Allow);
        let deep = format!("{}ls{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(judge_line(&deep, &ctx, Mode::Strict).decision, Decision::Deny);
        assert_eq!(judge_line(&deep, &ctx, Mode::Enforce).decision, Decision::Allow);
    }

    #[test]
    fn argv_and_text_output() {
        let args = CheckArgs { argv: vec!["mkfs.ext4".into(), "/dev/sda1".into()], ..CheckArgs::default() };
        let mut out = Vec::new();
        assert_eq!(run(&args, &Context::builtin(), &b""[..], &mut out).unwrap(), 1);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("deny\tdisk_wipe: "), "{text}");
        assert!(matches!(run(&CheckArgs::default(), &Context::builtin(), &b""[..], Vec::new()), Err(CheckError::NoInput)));
    }

    #[test]
    fn non_utf8_batch_input_is_judged() {
        let mut out = Vec::new();
        let n = run_batch(&b"ls \xff\xfe\nrm -rf /\n"[..], &mut out, &Context::builtin(), Mode::Enforce, false).unwrap();
        assert_eq!(n, 2);
    }
}
