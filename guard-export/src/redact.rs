//! Secret redaction in argv, applied before any mapping, log or sink sees an event.
//!
//! The only way to obtain a [`Redacted`] event is [`Redactor::apply`], and every mapping
//! takes `&Redacted`, so an unredacted argv cannot reach an output by construction.
//! Built-in rules: `NAME=value` where NAME contains PASSWORD/PASSWD/SECRET/TOKEN/API_KEY
//! (`PGPASSWORD=`, `AWS_SECRET_ACCESS_KEY=`), `--password=X` and `--password X` (also
//! `--passwd`, `--token`, `--secret`, `--api-key`, `--client-secret`), mysql's `-pSECRET`,
//! `Authorization: Bearer|Basic|Token X` and bare `Bearer X`, AWS access key ids
//! (`AKIA…`/`ASIA…`), and passwords in URLs (`scheme://user:pass@`). Extra patterns are
//! regular expressions; a named group `secret` limits the replacement to that group.

use regex::bytes::{Captures, Regex};

use crate::event::ExecEvent;

/// What a secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// A pattern given in the configuration did not compile.
#[derive(Debug, thiserror::Error)]
#[error("redaction pattern {pattern:?}: {source}")]
pub struct RedactError {
    /// The pattern as given.
    pub pattern: String,
    /// Why it failed.
    #[source]
    pub source: regex::Error,
}

/// An event whose argv has been redacted. Only [`Redactor::apply`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct Redacted {
    event: ExecEvent,
    redactions: u32,
}

impl Redacted {
    /// The redacted event.
    pub fn event(&self) -> &ExecEvent {
        &self.event
    }
    /// How many secrets were masked.
    pub fn redactions(&self) -> u32 {
        self.redactions
    }
}

/// Compiled redaction rules.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Patterns whose group `secret` (or whole match) is replaced within one argument.
    inline: Vec<Regex>,
    /// Flags whose *next* argument is the secret (`--password X`).
    flag_next: Regex,
}

const FLAG_WORDS: &str = r"password|passwd|pass|token|secret|api[-_]?key|access[-_]?key|client[-_]?secret|auth[-_]?token";

impl Redactor {
    /// The built-in rules plus `extra` regular expressions.
    pub fn new<S: AsRef<str>>(extra: &[S]) -> Result<Self, RedactError> {
        let builtin = [
            // NAME=value environment-style assignments.
            r"(?i)\b[A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY)[A-Z0-9_]*=(?P<secret>[^\s'\x22;&|]+)".to_string(),
            // --password=X and friends.
            format!(r"(?i)(?:^|\s|['\x22])--?(?:{FLAG_WORDS})=(?P<secret>[^\s'\x22]+)"),
            // --password X inside one argument (a shell script string).
            format!(r"(?i)(?:^|\s)--(?:{FLAG_WORDS})\s+(?P<secret>[^\s'\x22-][^\s'\x22]*)"),
            // mysql family -pSECRET (in a script string or as one argument after mysql).
            r"(?:\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mariadb|mariadb-dump)\b[^|;&\n]*?\s-p)(?P<secret>[^\s'\x22]+)".to_string(),
            // HTTP authorization headers and bare bearer tokens.
            r"(?i)authorization:\s*(?:bearer|basic|token)\s+(?P<secret>[^\s'\x22]+)".to_string(),
            r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)".to_string(),
            // AWS access key ids.
            r"\b(?P<secret>(?:AKIA|ASIA)[A-Z0-9]{16})\b".to_string(),
            // user:password@ in URLs.
            r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]+:(?P<secret>[^\s/@]+)@".to_string(),
        ];
        let mut inline = Vec::new();
        for p in builtin.iter().map(String::as_str).chain(extra.iter().map(AsRef::as_ref)) {
            inline.push(Regex::new(p).map_err(|source| RedactError {
                pattern: p.to_string(),
                source,
            })?);
        }
        let flag_next = Regex::new(&format!(r"(?i)^--?(?:{FLAG_WORDS})$")).expect("static pattern");
        Ok(Self { inline, flag_next })
    }

    /// Masks secrets in `event.argv` and returns the redacted event.
    pub fn apply(&self, mut event: ExecEvent) -> Redacted {
        let mut n = 0;
        let program = event
            .argv
            .first()
            .map(|a| a.rsplit(|&b| b == b'/').next().unwrap_or(a).to_vec())
            .unwrap_or_default();
        let mysql = matches!(
            program.as_slice(),
            b"mysql" | b"mysqldump" | b"mysqladmin" | b"mysqlimport" | b"mysqlcheck" | b"mariadb" | b"mariadb-dump"
        );
        let mut mask_next = false;
        for (i, arg) in event.argv.iter_mut().enumerate() {
            if mask_next {
                mask_next = false;
                *arg = MASK.as_bytes().to_vec();
                n += 1;
                continue;
            }
            if i > 0 && self.flag_next.is_match(arg) {
                mask_next = true;
                continue;
            }
            if mysql && i > 0 && arg.len() > 2 && arg.starts_with(b"-p") {
                *arg = [b"-p", MASK.as_bytes()].concat();
                n += 1;
                continue;
            }
            for re in &self.inline {
                let (out, count) = replace(re, arg);
                if count > 0 {
                    *arg = out;
                    n += count;
                }
            }
        }
        // The reason may quote the command (a classifier's explanation of a script).
        if let Some(reason) = event.reason.take() {
            let mut text = reason.into_bytes();
            for re in &self.inline {
                let (out, count) = replace(re, &text);
                if count > 0 {
                    text = out;
                    n += count;
                }
            }
            event.reason = Some(String::from_utf8_lossy(&text).into_owned());
        }
        Redacted { event, redactions: n }
    }
}

/// Replaces group `secret` (or the whole match) of every match of `re` in `hay`.
fn replace(re: &Regex, hay: &[u8]) -> (Vec<u8>, u32) {
    let mut count = 0;
    let out = re.replace_all(hay, |c: &Captures| {
        count += 1;
        let whole = c.get(0).expect("group 0");
        match c.name("secret") {
            Some(s) => {
                let mut v = hay[whole.start()..s.start()].to_vec();
                v.extend_from_slice(MASK.as_bytes());
                v.extend_from_slice(&hay[s.end()..whole.end()]);
                v
            }
            None => MASK.as_bytes().to_vec(),
        }
    });
    (out.into_owned(), count)
}
