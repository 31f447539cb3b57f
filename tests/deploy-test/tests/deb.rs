//! The `.deb`: `deploy/debian/build-deb.sh` builds it from `target/release/guard-agent`
//! with `dpkg-deb`, and `dpkg-deb --info/--field/--contents/-x` show it holds what
//! docs/deploy.md says, with the right modes and owners; the extracted tree's unit
//! passes `systemd-analyze verify` with no output; the extracted binary runs and
//! validates the shipped policy; the maintainer scripts parse; the man page renders
//! with no groff warning and documents every verb of `guard-agent --help`.
//! Nothing is installed on this machine (no `dpkg -i`).

use std::path::{Path, PathBuf};

use deploy_test::{agent_binary, read, repo_path, run, run_cmd, systemd_verify};

struct Built {
    _dir: tempfile::TempDir,
    deb: PathBuf,
}

fn build() -> Built {
    let dir = tempfile::tempdir().unwrap();
    let script = repo_path("deploy/debian/build-deb.sh");
    let bin = agent_binary();
    let out = run(script.to_str().unwrap(), &[bin.to_str().unwrap(), dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 0, "build-deb.sh failed:\n{}", out.all());
    let deb = PathBuf::from(out.stdout.lines().last().expect("the .deb path on the last line").trim());
    assert!(deb.is_file(), "{} not built", deb.display());
    Built { _dir: dir, deb }
}

fn field(deb: &Path, name: &str) -> String {
    let out = run("dpkg-deb", &["--field", deb.to_str().unwrap(), name]);
    assert_eq!(out.code, 0, "{}", out.all());
    out.stdout.trim().to_owned()
}

fn workspace_version() -> String {
    let cargo = read("Cargo.toml");
    let section = cargo.split("[workspace.package]").nth(1).expect("[workspace.package]");
    section
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("workspace version")
        .to_owned()
}

#[test]
fn deb_control_fields_and_conffiles() {
    let b = build();
    let info = run("dpkg-deb", &["--info", b.deb.to_str().unwrap()]);
    assert_eq!(info.code, 0, "{}", info.all());
    assert_eq!(field(&b.deb, "Package"), "guard-agent");
    assert_eq!(field(&b.deb, "Version"), format!("{}-1", workspace_version()));
    let arch = run("dpkg", &["--print-architecture"]).stdout.trim().to_owned();
    assert_eq!(field(&b.deb, "Architecture"), arch);
    assert!(field(&b.deb, "Depends").contains("systemd"), "must depend on systemd");
    let installed: u64 = field(&b.deb, "Installed-Size").parse().unwrap();
    assert!(installed > 1000, "Installed-Size {installed} KiB is too small for the agent");
    for script in ["postinst", "prerm", "postrm"] {
        assert!(info.stdout.contains(script), "{script} missing from the control archive:\n{}", info.stdout);
    }
    let ctrl = tempfile::tempdir().unwrap();
    let out = run("dpkg-deb", &["--control", b.deb.to_str().unwrap(), ctrl.path().to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    let conffiles = std::fs::read_to_string(ctrl.path().join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/guard/policy.yaml");
    for script in ["postinst", "prerm", "postrm"] {
        let path = ctrl.path().join(script);
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o755, "{script} mode");
        let syntax = run("sh", &["-n", path.to_str().unwrap()]);
        assert_eq!(syntax.code, 0, "{script}: {}", syntax.all());
    }
}

#[test]
fn deb_contents_modes_and_owners() {
    let b = build();
    let out = run("dpkg-deb", &["--contents", b.deb.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    let want = [
        ("-rwxr-xr-x", "./usr/bin/guard-agent"),
        ("-rw-r--r--", "./usr/lib/systemd/system/guard-agent.service"),
        ("-rw-r--r--", "./etc/guard/policy.yaml"),
        ("-rw-r--r--", "./usr/share/man/man8/guard-agent.8.gz"),
        ("-rw-r--r--", "./usr/share/doc/guard-agent/copyright"),
        ("-rw-r--r--", "./usr/share/doc/guard-agent/deploy.md"),
        ("-rw-r--r--", "./usr/share/doc/guard-agent/policy.md"),
        ("-rw-r--r--", "./usr/share/doc/guard-agent/examples/production-web.yaml"),
    ];
    for (mode, path) in want {
        let line = out.stdout.lines().find(|l| l.ends_with(path)).unwrap_or_else(|| panic!("{path} not in:\n{}", out.stdout));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[0], mode, "{line}");
        assert_eq!(cols[1], "root/root", "{line}");
    }
    for line in out.stdout.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], "root/root", "every file owned by root: {line}");
        if cols[0].starts_with('d') {
            assert_eq!(cols[0], "drwxr-xr-x", "directory mode: {line}");
        }
    }
}

#[test]
fn extracted_package_verifies_runs_and_validates_its_policy() {
    let b = build();
    let root = tempfile::tempdir().unwrap();
    let out = run("dpkg-deb", &["-x", b.deb.to_str().unwrap(), root.path().to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    let r = root.path();
    assert_eq!(
        std::fs::read_to_string(r.join("usr/lib/systemd/system/guard-agent.service")).unwrap(),
        read("deploy/systemd/guard-agent.service")
    );
    let agent = r.join("usr/bin/guard-agent");
    let version = run(agent.to_str().unwrap(), &["--version"]);
    assert_eq!(version.stdout.trim(), format!("guard-agent {}", workspace_version()));
    let policy = r.join("etc/guard/policy.yaml");
    let valid = run(agent.to_str().unwrap(), &["policy", "validate", policy.to_str().unwrap()]);
    assert_eq!(valid.code, 0, "shipped policy does not validate:\n{}", valid.all());
    let verify = systemd_verify(r);
    assert!(verify.trim().is_empty(), "systemd-analyze verify on the extracted package printed:\n{verify}");
}

#[test]
fn man_page_renders_cleanly_and_covers_every_verb() {
    let page = repo_path("deploy/man/guard-agent.8");
    let out = run("groff", &["-man", "-ww", "-z", page.to_str().unwrap()]);
    assert!(out.all().trim().is_empty() && out.code == 0, "groff warnings:\n{}", out.all());
    let text = run_cmd(std::process::Command::new("groff").args(["-man", "-Tutf8", "-P", "-cbou"]).arg(&page));
    assert_eq!(text.code, 0, "{}", text.all());
    let rendered = text.stdout.replace(['\u{2010}', '\u{2212}'], "-");
    let rendered = rendered.split_whitespace().collect::<Vec<_>>().join(" ");
    let help = run(agent_binary().to_str().unwrap(), &["--help"]).stdout;
    let verbs: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .expect("Commands: in --help")
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|v| *v != "help")
        .collect();
    assert!(verbs.len() >= 6, "verbs from --help: {verbs:?}");
    for verb in verbs {
        assert!(rendered.contains(&format!("guard-agent {verb}")), "man page has no synopsis for `{verb}`");
    }
    for sub in ["policy validate", "policy show"] {
        assert!(rendered.contains(&format!("guard-agent {sub}")), "man page has no synopsis for `{sub}`");
    }
}

#[test]
fn maintainer_scripts_do_what_the_docs_say() {
    // Fresh install: daemon-reload only (not started, not enabled); upgrade: prerm does
    // nothing, postinst try-restarts; removal: stop; purge: state directory gone.
    let work = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/maintainer-scripts.sh");
    let debian = repo_path("deploy/debian");
    let out = run(
        "unshare",
        &["--mount", "--propagation", "private", "sh", script, debian.to_str().unwrap(), work.path().to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "maintainer-scripts.sh (needs root):\n{}", out.all());
    let want = "\
postinst configure: systemctl daemon-reload
postinst configure: /var/lib/guard 700
prerm upgrade 0.2.0-1: /var/lib/guard 700
postinst configure 0.1.0-1: systemctl daemon-reload
postinst configure 0.1.0-1: systemctl try-restart guard-agent.service
postinst configure 0.1.0-1: /var/lib/guard 700
prerm remove: systemctl stop guard-agent.service
prerm remove: /var/lib/guard 700
postrm remove: systemctl daemon-reload
postrm remove: /var/lib/guard 700
postrm purge: systemctl daemon-reload
";
    assert_eq!(out.stdout, want, "maintainer scripts called:\n{}", out.stdout);
}
