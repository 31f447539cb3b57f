//! Policy context: which paths matter on this host, which files are sensitive, which
//! destinations are trusted. Embeddable in the policy file (`deny_unknown_fields`); a field
//! left out keeps its built-in default, a field given replaces it.
//!
//! The lists are compiled once per `Context`, on first use, into `Matchers` (home
//! patterns expanded, the literal head and tail of every glob and the directory above
//! every path pattern precomputed), so judging a path or a destination costs a few string
//! comparisons per pattern and, in the common case, no allocation.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::path::{glob_match, glob_split, glob_split_cow, has_glob, normalize_cow};

/// What the classifier knows about the host it protects.
///
/// Set the fields before classifying with a context: its patterns are compiled on
/// first use and not rebuilt if a field changes afterwards (a clone starts afresh; debug
/// builds assert that the lists did not change).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Context {
    /// Deleting one of these, a directory above one, or all of its contents is `bulk_delete`;
    /// a recursive chmod/chown of them is `permission_change`. Globs allowed.
    pub protected_paths: Vec<String>,
    /// Any deletion or overwrite inside these (database files, volumes) is destructive.
    pub data_dirs: Vec<String>,
    /// Files whose content must not leave the host (globs; `~/` means any home; a leading
    /// `!` excludes, e.g. `!**/*.pub`). A directory above one of them counts as sensitive.
    pub sensitive_files: Vec<String>,
    /// Logs, history and audit trails; truncating or deleting them is `audit_tamper`.
    pub log_paths: Vec<String>,
    /// Hosts (or URL prefixes, globs ok) where sending data is expected: `*.corp.example`,
    /// `s3://artifacts-bucket/*`.
    pub trusted_destinations: Vec<String>,
    /// Known paste, file-drop and webhook services: any upload to them is exfiltration.
    pub exfil_destinations: Vec<String>,
    /// Services whose stop/disable is `service_disruption` (audit/security ones are
    /// `audit_tamper` regardless).
    pub critical_services: Vec<String>,
    /// The path lists compiled, built on first use.
    #[serde(skip)]
    matcher: Lazy,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("protected_paths", &self.protected_paths)
            .field("data_dirs", &self.data_dirs)
            .field("sensitive_files", &self.sensitive_files)
            .field("log_paths", &self.log_paths)
            .field("trusted_destinations", &self.trusted_destinations)
            .field("exfil_destinations", &self.exfil_destinations)
            .field("critical_services", &self.critical_services)
            .finish()
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for Context {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Context {
    /// Sensible defaults for a production Linux host.
    #[must_use]
    pub fn builtin() -> Self {
        Self {
            protected_paths: strings(&[
                "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/opt",
                "/proc", "/root", "/sbin", "/srv", "/sys", "/usr", "/usr/*", "/var", "/var/lib",
                "/var/log", "/var/www", "/var/backups", "/var/spool", "/var/mail", "/mnt", "/media",
                "/data", "/home/*", "/etc/*", "~",
            ]),
            data_dirs: strings(&[
                "/var/lib/postgresql", "/var/lib/pgsql", "/var/lib/mysql", "/var/lib/mariadb",
                "/var/lib/mongodb", "/var/lib/redis", "/var/lib/docker", "/var/lib/containerd",
                "/var/lib/etcd", "/var/lib/kubelet", "/var/lib/elasticsearch",
                "/var/lib/cassandra", "/var/lib/clickhouse", "/var/lib/rabbitmq",
                "/var/lib/kafka", "/var/lib/zookeeper", "/var/lib/influxdb", "/var/lib/ceph",
                "/var/lib/libvirt", "/var/opt/mssql", "/var/backups", "/srv/data", "/data",
                "/backup", "/backups",
            ]),
            sensitive_files: strings(&[
                "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/passwd",
                "/etc/sudoers", "/etc/sudoers.d/*", "/etc/ssh/ssh_host_*_key", "/etc/ssl/private/**",
                "/etc/kubernetes/*.conf", "/etc/kubernetes/pki/**", "/etc/letsencrypt/live/**",
                "/etc/letsencrypt/archive/**", "/etc/krb5.keytab", "/etc/pki/**/private/**",
                "/var/lib/etcd/**", "/etc/mysql/debian.cnf", "/etc/postgresql/*/main/pg_hba.conf",
                "~/.ssh/id_*", "~/.ssh/authorized_keys", "~/.ssh/known_hosts", "~/.ssh/config",
                "~/.aws/credentials", "~/.aws/config", "~/.azure/**", "~/.config/gcloud/**",
                "~/.kube/config", "~/.docker/config.json", "~/.netrc", "~/.pgpass", "~/.my.cnf",
                "~/.git-credentials", "~/.gnupg/**", "~/.vault-token", "~/.npmrc", "~/.pypirc",
                "~/.bash_history", "~/.zsh_history", "~/.history", "~/.sh_history",
                "~/.mysql_history", "~/.psql_history", "~/.python_history",
                "~/.config/rclone/rclone.conf", "**/*.pem", "**/*.key", "**/*.p12", "**/*.pfx",
                "**/*.kdbx", "**/.env", "**/id_rsa", "**/id_ed25519", "**/id_ecdsa",
                "**/kubeconfig", "**/credentials.json", "**/secrets.yaml", "**/secrets.yml",
                "!**/*.pub", "/proc/*/environ", "/proc/kcore", "/dev/mem",
            ]),
            log_paths: strings(&[
                "/var/log", "/var/log/**", "/var/account/**", "/var/audit/**", "/var/run/utmp",
                "/run/utmp", "/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog",
                "/var/log/audit/**", "/var/log/journal/**", "/run/log/journal/**", "/etc/audit/**",
                "/etc/rsyslog.conf", "/etc/rsyslog.d/**", "/etc/syslog-ng/**", "/etc/systemd/journald.conf",
                "/etc/systemd/journald.conf.d/**", "~/.bash_history",
                "~/.zsh_history", "~/.history", "~/.sh_history", "~/.ash_history",
                "~/.mysql_history", "~/.psql_history", "~/.python_history", "~/.lesshst",
                "~/.viminfo", "~/.local/share/fish/fish_history",
            ]),
            trusted_destinations: strings(&["localhost", "127.0.0.1", "::1", "*.localhost"]),
            exfil_destinations: strings(&[
                "file.io", "transfer.sh", "paste.rs", "pastebin.com", "0x0.st", "termbin.com",
                "hooks.slack.com", "discord.com", "discordapp.com", "webhook.site", "*.ngrok.io",
                "*.ngrok-free.app", "requestbin.net", "*.requestcatcher.com", "gofile.io", "temp.sh",
                "bashupload.com", "oshi.at", "api.telegram.org", "pipedream.net", "*.m.pipedream.net",
                "ix.io", "sprunge.us", "dpaste.com", "hastebin.com",
            ]),
            critical_services: strings(&[
                "sshd", "ssh", "systemd-journald", "rsyslog", "syslog-ng", "postgresql*", "mysql*",
                "mariadb*", "mongod*", "redis*", "docker", "containerd", "kubelet", "etcd",
                "crio", "nginx", "apache2", "httpd", "haproxy", "networking", "NetworkManager",
                "systemd-networkd", "systemd-resolved", "cron", "crond", "chronyd", "ntp*",
                "elasticsearch", "kafka", "zookeeper", "rabbitmq*", "cassandra", "clickhouse*",
                "dbus", "systemd-logind", "sssd", "nfs*", "libvirtd", "haveged",
            ]),
            matcher: Lazy::default(),
        }
    }

    /// An empty context: no path, file or service is special. Useful in tests.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            protected_paths: Vec::new(),
            data_dirs: Vec::new(),
            sensitive_files: Vec::new(),
            log_paths: Vec::new(),
            trusted_destinations: Vec::new(),
            exfil_destinations: Vec::new(),
            critical_services: Vec::new(),
            matcher: Lazy::default(),
        }
    }

    /// The compiled path lists (built on first use).
    fn matchers(&self) -> &Matchers {
        let m = self.matcher.0.get_or_init(|| Matchers::new(self));
        debug_assert_eq!(m.source, fingerprint(self), "a Context's path lists changed after it was first used");
        m
    }

    /// Deleting `p` (normalised, maybe a glob) removes a protected path or all its contents.
    #[must_use]
    pub fn deletes_protected(&self, p: &str) -> bool {
        let (base, everything) = glob_split_cow(p);
        let x = if everything {
            normalize_cow(&base).into_owned()
        } else if has_glob(p) {
            return false;
        } else {
            return self.matchers().protected.hits(p);
        };
        self.matchers().protected.hits(&x)
    }

    /// `p` is inside (or is, or contains) a data directory.
    #[must_use]
    pub fn touches_data_dir(&self, p: &str) -> bool {
        let (base, _) = glob_split_cow(p);
        let base = normalize_cow(&base);
        let base = base.as_ref();
        let m = self.matchers();
        // A data directory at or above `base`, or one below it.
        base == "/" || ancestors_or_self(base).any(|d| m.data_dirs.literal.contains(d)) || m.data_dirs.covers(base)
    }

    /// `p` is a sensitive file, or a directory holding one.
    #[must_use]
    pub fn is_sensitive(&self, p: &str) -> bool {
        let m = self.matchers();
        if m.sensitive_excluded.iter().any(|g| g.matches(p)) {
            return false;
        }
        m.sensitive.hits(p)
    }

    /// `p` is a log, history or audit path (or a directory holding them).
    #[must_use]
    pub fn is_log(&self, p: &str) -> bool {
        let (base, _) = glob_split_cow(p);
        let base = base.as_ref();
        let strict = || p.len() > 1 && base != "/" && base != "~" && base.bytes().filter(|b| *b == b'/').count() >= 2;
        let logs = &self.matchers().logs;
        logs.matches(base) || (strict() && logs.covers(base))
    }

    /// The destination (host, `host:port`, URL or bucket URL) is trusted.
    #[must_use]
    pub fn is_trusted(&self, dest: &str) -> bool {
        let host = crate::tools::net::host_of(dest);
        self.matchers().trusted.iter().any(|t| {
            t.matches(&host) || t.matches(dest) || dest.starts_with(t.pat.trim_end_matches('*'))
                && t.pat.contains("://")
        })
    }

    /// The destination is a known paste/file-drop/webhook service.
    #[must_use]
    pub fn is_exfil_destination(&self, dest: &str) -> bool {
        let host = crate::tools::net::host_of(dest);
        self.matchers().exfil.iter().any(|t| t.matches(&host))
    }

    /// The service unit name is critical.
    #[must_use]
    pub fn is_critical_service(&self, unit: &str) -> bool {
        let u = unit.strip_suffix(".service").unwrap_or(unit);
        let u = u.split('@').next().unwrap_or(u);
        self.matchers().services.iter().any(|s| s.matches(u))
    }
}

/// A `OnceLock` that a clone does not copy and equality ignores: a cache of the fields.
#[derive(Default)]
struct Lazy(OnceLock<Matchers>);

impl Clone for Lazy {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for Lazy {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Lazy {}

/// The lists of a [`Context`], compiled: `~` patterns expanded, the literal parts of every
/// glob and the directory each path pattern lies under computed once.
struct Matchers {
    protected: PathList,
    /// Data directories are matched literally (the `literal` set) and by ancestry.
    data_dirs: PathList,
    sensitive: PathList,
    /// `!pattern` entries of `sensitive_files`, without the `!`.
    sensitive_excluded: Vec<Glob>,
    logs: PathList,
    trusted: Vec<Glob>,
    exfil: Vec<Glob>,
    services: Vec<Glob>,
    /// What the lists were when compiled (checked in debug builds).
    source: u64,
}

impl Matchers {
    fn new(c: &Context) -> Self {
        let globs = |list: &[String]| list.iter().cloned().map(Glob::new).collect::<Vec<_>>();
        Self {
            protected: PathList::new(c.protected_paths.iter().flat_map(|p| expand_home(p))),
            data_dirs: PathList::literal(c.data_dirs.iter().flat_map(|d| expand_home(d))),
            sensitive: PathList::new(c.sensitive_files.iter().filter(|p| !p.starts_with('!')).flat_map(|p| expand_home(p))),
            sensitive_excluded: c
                .sensitive_files
                .iter()
                .filter_map(|p| p.strip_prefix('!'))
                .flat_map(expand_home)
                .map(Glob::new)
                .collect(),
            logs: PathList::new(c.log_paths.iter().flat_map(|p| expand_home(p))),
            trusted: globs(&c.trusted_destinations),
            exfil: globs(&c.exfil_destinations),
            services: globs(&c.critical_services),
            source: fingerprint(c),
        }
    }
}

/// A cheap summary of the lists (count and bytes of each), to catch in debug builds a
/// context changed after its lists were compiled.
fn fingerprint(c: &Context) -> u64 {
    let lists = [&c.protected_paths, &c.data_dirs, &c.sensitive_files, &c.log_paths, &c.trusted_destinations, &c.exfil_destinations, &c.critical_services];
    lists.iter().fold(0u64, |h, l| {
        let bytes: usize = l.iter().map(String::len).sum();
        h.wrapping_mul(1_000_003).wrapping_add((l.len() as u64) << 32 | bytes as u64)
    })
}

/// A list of path patterns (already `~`-expanded), split for quick answers: the literal
/// ones in a set, the globs in a list, and every directory at or above a pattern's literal
/// prefix in a second set.
#[derive(Default)]
struct PathList {
    literal: HashSet<String, Fx>,
    /// Globs whose literal head starts with `/dir/`, by that `/dir/`.
    wild_under: HashMap<String, Vec<Glob>, Fx>,
    /// The other globs.
    wild: Vec<Glob>,
    /// Every `d` with `is_ancestor_or_self(d, base)` for the literal directory part
    /// (`base`) of some pattern: `d` itself, `/` and the prefixes of `base` that end
    /// before a `/` (`""` included for an absolute `base`).
    covered: HashSet<String, Fx>,
}

/// The sets hold the policy's own strings and are only looked up with what a command
/// names, so a fast non-keyed hash will do (FxHash: a multiply and a rotate per word).
pub(crate) type Fx = std::hash::BuildHasherDefault<FxHasher>;

#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        for b in chunks.remainder() {
            self.add(u64::from(*b));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl PathList {
    fn new(pats: impl IntoIterator<Item = String>) -> Self {
        let mut l = Self::default();
        for pat in pats {
            let (base, _) = glob_split(&pat);
            if !base.is_empty() && !has_glob(&base) {
                l.cover(&base);
            }
            if has_glob(&pat) {
                let g = Glob::new(pat);
                match top_dir(&g.pat[..g.head]) {
                    Some(d) => l.wild_under.entry(d.to_owned()).or_default().push(g),
                    None => l.wild.push(g),
                }
            } else {
                l.literal.insert(pat);
            }
        }
        l
    }

    /// Every entry taken literally (globs too), with the directories above it.
    fn literal(entries: impl IntoIterator<Item = String>) -> Self {
        let mut l = Self::default();
        for e in entries {
            l.cover(&e);
            l.literal.insert(e);
        }
        l
    }

    /// Records every directory `d` with `is_ancestor_or_self(d, base)`.
    fn cover(&mut self, base: &str) {
        self.covered.extend(ancestors_or_self(base).map(str::to_owned));
    }

    /// Some pattern matches `p`.
    fn matches(&self, p: &str) -> bool {
        self.literal.contains(p)
            || self.wild.iter().any(|g| g.matches(p))
            // A glob under `/dir/` matches only text that starts with its head, so with `/dir/`.
            || top_dir(p).and_then(|d| self.wild_under.get(d)).is_some_and(|gs| gs.iter().any(|g| g.matches(p)))
    }

    /// `dir` is a directory at or above what some pattern names (its literal prefix), so
    /// sending or deleting `dir` includes it.
    fn covers(&self, dir: &str) -> bool {
        self.covered.contains(dir)
    }

    /// Some pattern names `p`, or `p` holds what one names.
    fn hits(&self, p: &str) -> bool {
        self.covers(p) || self.matches(p)
    }
}

/// `/dir/`, the first component of an absolute path with the slashes around it.
fn top_dir(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('/')?;
    rest.find('/').map(|i| &s[..i + 2])
}

/// Every `d` with `is_ancestor_or_self(d, p)`: `p`, `/` for an absolute `p`, and each
/// prefix of `p` that ends before a `/` (`""` for an absolute `p`).
fn ancestors_or_self(p: &str) -> impl Iterator<Item = &str> {
    let root = (p.starts_with('/') && p != "/").then_some("/");
    std::iter::once(p).chain(root).chain(p.match_indices('/').map(|(i, _)| &p[..i]))
}

/// A glob with its literal head and tail: [`glob_match`], with the cheap necessary
/// conditions (the text starts with the head and ends with the tail) checked first.
struct Glob {
    pat: String,
    /// Bytes before the first metacharacter.
    head: usize,
    /// Start of the literal tail after the last metacharacter or bracket.
    tail: usize,
    /// The pattern is a literal head then `**` (and short enough for the matcher).
    any_below: bool,
}

impl Glob {
    fn new(pat: String) -> Self {
        let head = pat.find(['*', '?', '[']).unwrap_or(pat.len());
        let tail = pat.rfind(['*', '?', '[', ']']).map_or(0, |i| i + 1).max(head);
        let any_below = &pat[head..] == "**" && pat.chars().count() <= 512;
        Self { pat, head, tail, any_below }
    }

    fn matches(&self, text: &str) -> bool {
        if self.head == self.pat.len() {
            return self.pat == text;
        }
        // Every match starts with the literal head and ends with the literal tail (the
        // matcher compares those characters one by one), so a text without them fails.
        if !(text.starts_with(&self.pat[..self.head]) && text.ends_with(&self.pat[self.tail..])) {
            return false;
        }
        // `dir/**`: `**` matches anything, within the matcher's bounds on sizes.
        if self.any_below && text.len() <= 4096 {
            return true;
        }
        glob_match(&self.pat, text)
    }
}

/// `~/x` patterns also mean `/root/x` and `/home/*/x`.
fn expand_home(pat: &str) -> Vec<String> {
    if pat == "~" {
        return vec!["~".into(), "/root".into(), "/home/*".into()];
    }
    match pat.strip_prefix("~/") {
        Some(rest) => vec![pat.to_owned(), format!("/root/{rest}"), format!("/home/*/{rest}")],
        None => vec![pat.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_paths() {
        let c = Context::builtin();
        assert!(c.deletes_protected("/"));
        assert!(c.deletes_protected("/*"));
        assert!(c.deletes_protected("/etc"));
        assert!(c.deletes_protected("/etc/*"));
        assert!(c.deletes_protected("/usr/lib"));
        assert!(c.deletes_protected("~"));
        assert!(c.deletes_protected("/home/alice"));
        assert!(!c.deletes_protected("/etc/nginx/sites-enabled/default"));
        assert!(!c.deletes_protected("/srv/app/build"));
        assert!(!c.deletes_protected("/etc/*.bak"));
        assert!(!c.deletes_protected("build"));
    }

    #[test]
    fn sensitive_files() {
        let c = Context::builtin();
        assert!(c.is_sensitive("/etc/shadow"));
        assert!(c.is_sensitive("/root/.ssh/id_rsa"));
        assert!(c.is_sensitive("/home/bob/.aws/credentials"));
        assert!(c.is_sensitive("~/.ssh"));
        assert!(c.is_sensitive("/etc"));
        assert!(!c.is_sensitive("~/.ssh/id_rsa.pub"));
        assert!(!c.is_sensitive("dist/app.tar.gz"));
        assert!(!c.is_sensitive("/var/log/nginx/access.log"));
    }

    #[test]
    fn data_dirs_logs_services() {
        let c = Context::builtin();
        assert!(c.touches_data_dir("/var/lib/mysql/ibdata1"));
        assert!(!c.touches_data_dir("/var/lib/apt/lists"));
        assert!(c.is_log("/var/log/auth.log"));
        assert!(c.is_log("/root/.bash_history"));
        assert!(!c.is_log("/srv/app/logs/app.log"));
        assert!(c.is_critical_service("postgresql@14-main.service"));
        assert!(!c.is_critical_service("myapp-worker"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 8192, .. Default::default() })]
        /// The compiled glob (head and tail checked first) answers like `glob_match`.
        #[test]
        fn compiled_glob_matches_like_glob_match(pat in "[ab/*?.\\[\\]!-]{0,8}", text in "[ab/.\\]*-]{0,8}") {
            proptest::prop_assert_eq!(Glob::new(pat.clone()).matches(&text), glob_match(&pat, &text));
        }
    }

    #[test]
    fn compiled_lists_answer_like_the_lists() {
        // Every pattern of the built-in lists against paths made from every pattern.
        let c = Context::builtin();
        let lists = [&c.protected_paths, &c.data_dirs, &c.sensitive_files, &c.log_paths, &c.trusted_destinations, &c.exfil_destinations, &c.critical_services];
        let mut texts: Vec<String> = Vec::new();
        for l in lists {
            for p in l {
                let p = p.trim_start_matches('!');
                for t in [p.to_owned(), p.replace('*', "x"), p.replace("**", "a/b").replace('*', ""), format!("{p}/y"), p.replace('~', "/root")] {
                    texts.push(t);
                }
            }
        }
        for l in lists {
            for p in l {
                let g = Glob::new(p.clone());
                for t in &texts {
                    assert_eq!(g.matches(t), glob_match(p, t), "{p:?} {t:?}");
                }
            }
        }
    }

    /// The context's questions answered the direct way, pattern by pattern (what the
    /// compiled lists replace).
    mod direct {
        use super::super::expand_home;
        use crate::Context;
        use crate::path::{glob_match, glob_split, has_glob, is_ancestor_or_self, normalize};

        fn pat_match(pat: &str, p: &str) -> bool {
            expand_home(pat).iter().any(|x| glob_match(x, p))
        }

        fn covers(dir: &str, pat: &str) -> bool {
            expand_home(pat).iter().any(|x| {
                let (base, _) = glob_split(x);
                !base.is_empty() && !has_glob(&base) && is_ancestor_or_self(dir, &base)
            })
        }

        pub fn deletes_protected(c: &Context, p: &str) -> bool {
            let (base, everything) = glob_split(p);
            let base = normalize(&base, None);
            c.protected_paths.iter().any(|pat| {
                let hit_self = |x: &str| pat_match(pat, x) || covers(x, pat);
                if everything { hit_self(&base) } else { !has_glob(p) && hit_self(p) }
            })
        }

        pub fn touches_data_dir(c: &Context, p: &str) -> bool {
            let (base, _) = glob_split(p);
            let base = normalize(&base, None);
            c.data_dirs.iter().any(|d| {
                expand_home(d).iter().any(|d| is_ancestor_or_self(d, &base) || (is_ancestor_or_self(&base, d) && base != "/"))
            }) || (base == "/")
        }

        pub fn is_sensitive(c: &Context, p: &str) -> bool {
            if c.sensitive_files.iter().any(|pat| pat.strip_prefix('!').is_some_and(|x| pat_match(x, p))) {
                return false;
            }
            c.sensitive_files.iter().filter(|pat| !pat.starts_with('!')).any(|pat| pat_match(pat, p) || covers(p, pat))
        }

        pub fn is_log(c: &Context, p: &str) -> bool {
            let (base, _) = glob_split(p);
            let strict = |dir: &str, pat: &str| dir != "/" && dir != "~" && covers(dir, pat) && dir.matches('/').count() >= 2;
            c.log_paths.iter().any(|pat| pat_match(pat, &base) || (p.len() > 1 && strict(&base, pat)))
        }

        pub fn is_trusted(c: &Context, dest: &str) -> bool {
            let host = crate::tools::net::host_of(dest);
            c.trusted_destinations.iter().any(|t| {
                glob_match(t, &host) || glob_match(t, dest) || dest.starts_with(t.trim_end_matches('*')) && t.contains("://")
            })
        }
    }

    #[test]
    fn compiled_context_answers_like_the_direct_way() {
        let mut c = Context::builtin();
        c.trusted_destinations.extend(["s3://bucket/*".to_owned(), "*.corp.example".to_owned()]);
        let mut paths: Vec<String> = ["", "/", "~", ".", "..", "x", "/x", "//", "/etc/", "~/", "/home", "/home/a", "/root", "*", "/*", "~/*", "/etc/*", "/var/log/**", "/etc/*.bak", "build/*"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let all = [&c.protected_paths, &c.data_dirs, &c.sensitive_files, &c.log_paths];
        for l in all {
            for p in l {
                let p = p.trim_start_matches('!');
                for q in [p.to_owned(), p.replace('*', "x"), p.replace("**", "a/b").replace('*', "z"), format!("{p}/y"), format!("{p}/*"), format!("{p}x"), p.replace('~', "/root"), p.replace('~', "/home/u"), p.rsplit_once('/').map_or_else(String::new, |(d, _)| d.to_owned())] {
                    paths.push(q);
                }
            }
        }
        for p in &paths {
            assert_eq!(c.deletes_protected(p), direct::deletes_protected(&c, p), "deletes_protected({p:?})");
            assert_eq!(c.touches_data_dir(p), direct::touches_data_dir(&c, p), "touches_data_dir({p:?})");
            assert_eq!(c.is_sensitive(p), direct::is_sensitive(&c, p), "is_sensitive({p:?})");
            assert_eq!(c.is_log(p), direct::is_log(&c, p), "is_log({p:?})");
        }
        for d in ["localhost", "127.0.0.1:80", "http://localhost/x", "a.localhost", "s3://bucket/k", "s3://other/k", "x.corp.example", "corp.example", "evil.example", "[::1]:22", "::1"] {
            assert_eq!(c.is_trusted(d), direct::is_trusted(&c, d), "is_trusted({d:?})");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, .. Default::default() })]
        #[test]
        fn compiled_context_answers_like_the_direct_way_on_generated_paths(parts in proptest::collection::vec(proptest::sample::select(vec![
            "/", "~", "etc", "home", "root", "u", ".ssh", "id_rsa", "id_rsa.pub", "var", "log", "lib", "mysql", "*", "**", "?", ".", "..", "shadow", "x.pem", ".env", "audit", "wtmp",
        ]), 0..6)) {
            static C: std::sync::LazyLock<Context> = std::sync::LazyLock::new(Context::builtin);
            let c = &*C;
            let p: String = parts.concat();
            let q = parts.join("/");
            for p in [p, q] {
                proptest::prop_assert_eq!(c.deletes_protected(&p), direct::deletes_protected(c, &p), "{:?}", p);
                proptest::prop_assert_eq!(c.touches_data_dir(&p), direct::touches_data_dir(c, &p), "{:?}", p);
                proptest::prop_assert_eq!(c.is_sensitive(&p), direct::is_sensitive(c, &p), "{:?}", p);
                proptest::prop_assert_eq!(c.is_log(&p), direct::is_log(c, &p), "{:?}", p);
            }
        }
    }

    #[test]
    fn a_clone_compiles_its_own_lists() {
        let c = Context::builtin();
        assert!(!c.is_sensitive("/srv/app/token"));
        let mut d = c.clone();
        d.sensitive_files.push("/srv/app/token".to_owned());
        assert!(d.is_sensitive("/srv/app/token"));
        assert!(!c.is_sensitive("/srv/app/token"));
        assert_eq!(c, Context::builtin(), "equality ignores the compiled lists");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "changed after it was first used")]
    fn changing_a_used_context_is_caught_in_debug_builds() {
        let mut c = Context::builtin();
        assert!(!c.is_sensitive("/srv/app/token"));
        c.sensitive_files.push("/srv/app/token".to_owned());
        let _ = c.is_sensitive("/srv/app/token");
    }

    #[test]
    fn deserializes_with_defaults_and_rejects_unknown() {
        let c: Context = serde_json::from_str(r#"{"trusted_destinations":["*.corp"]}"#).unwrap();
        assert_eq!(c.trusted_destinations, vec!["*.corp"]);
        assert_eq!(c.protected_paths, Context::builtin().protected_paths);
        assert!(serde_json::from_str::<Context>(r#"{"bogus":1}"#).is_err());
    }
}
