//! Policy context: which paths matter on this host, which files are sensitive, which
//! destinations are trusted. Embeddable in the policy file (`deny_unknown_fields`); a field
//! left out keeps its built-in default, a field given replaces it.

use serde::Deserialize;

use crate::path::{glob_match, glob_split, is_ancestor_or_self, normalize};

/// What the classifier knows about the host it protects.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
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
        }
    }

    /// Deleting `p` (normalised, maybe a glob) removes a protected path or all its contents.
    #[must_use]
    pub fn deletes_protected(&self, p: &str) -> bool {
        let (base, everything) = glob_split(p);
        let base = normalize(&base, None);
        self.protected_paths.iter().any(|pat| {
            let hit_self = |x: &str| pat_match(pat, x) || covers(x, pat);
            if everything { hit_self(&base) } else { !crate::path::has_glob(p) && hit_self(p) }
        })
    }

    /// `p` is inside (or is, or contains) a data directory.
    #[must_use]
    pub fn touches_data_dir(&self, p: &str) -> bool {
        let (base, _) = glob_split(p);
        let base = normalize(&base, None);
        self.data_dirs.iter().any(|d| {
            expand_home(d).iter().any(|d| {
                is_ancestor_or_self(d, &base) || (is_ancestor_or_self(&base, d) && base != "/")
            })
        }) || (base == "/")
    }

    /// `p` is a sensitive file, or a directory holding one.
    #[must_use]
    pub fn is_sensitive(&self, p: &str) -> bool {
        if self.sensitive_files.iter().any(|pat| pat.strip_prefix('!').is_some_and(|x| pat_match(x, p))) {
            return false;
        }
        self.sensitive_files
            .iter()
            .filter(|pat| !pat.starts_with('!'))
            .any(|pat| pat_match(pat, p) || covers(p, pat))
    }

    /// `p` is a log, history or audit path (or a directory holding them).
    #[must_use]
    pub fn is_log(&self, p: &str) -> bool {
        let (base, _) = glob_split(p);
        self.log_paths.iter().any(|pat| pat_match(pat, &base) || (p.len() > 1 && covers_strict(&base, pat)))
    }

    /// The destination (host, `host:port`, URL or bucket URL) is trusted.
    #[must_use]
    pub fn is_trusted(&self, dest: &str) -> bool {
        let host = crate::tools::net::host_of(dest);
        self.trusted_destinations.iter().any(|t| {
            glob_match(t, &host) || glob_match(t, dest) || dest.starts_with(t.trim_end_matches('*'))
                && t.contains("://")
        })
    }

    /// The destination is a known paste/file-drop/webhook service.
    #[must_use]
    pub fn is_exfil_destination(&self, dest: &str) -> bool {
        let host = crate::tools::net::host_of(dest);
        self.exfil_destinations.iter().any(|t| glob_match(t, &host))
    }

    /// The service unit name is critical.
    #[must_use]
    pub fn is_critical_service(&self, unit: &str) -> bool {
        let u = unit.strip_suffix(".service").unwrap_or(unit);
        let u = u.split('@').next().unwrap_or(u);
        self.critical_services.iter().any(|s| glob_match(s, u))
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

fn pat_match(pat: &str, p: &str) -> bool {
    expand_home(pat).iter().any(|x| glob_match(x, p))
}

/// `dir` is a directory above what `pat` names (its literal prefix), so sending or deleting
/// `dir` includes it. `**/x` patterns are covered by any directory.
fn covers(dir: &str, pat: &str) -> bool {
    expand_home(pat).iter().any(|x| {
        let (base, _) = glob_split(x);
        if base.is_empty() {
            return false;
        }
        if has_wild_component(&base) {
            return false;
        }
        is_ancestor_or_self(dir, &base)
    })
}

fn covers_strict(dir: &str, pat: &str) -> bool {
    dir != "/" && dir != "~" && covers(dir, pat) && dir.matches('/').count() >= 2
}

fn has_wild_component(s: &str) -> bool {
    crate::path::has_glob(s)
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

    #[test]
    fn deserializes_with_defaults_and_rejects_unknown() {
        let c: Context = serde_json::from_str(r#"{"trusted_destinations":["*.corp"]}"#).unwrap();
        assert_eq!(c.trusted_destinations, vec!["*.corp"]);
        assert_eq!(c.protected_paths, Context::builtin().protected_paths);
        assert!(serde_json::from_str::<Context>(r#"{"bogus":1}"#).is_err());
    }
}
