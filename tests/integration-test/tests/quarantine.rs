//! The quarantine: once a process is quarantined, every exec from it and from its
//! descendants (present and future) is refused, whatever the argv, until it is lifted;
//! other processes are untouched. The "bot" is a shell this test starts, reading
//! commands from a pipe; it only ever runs /bin/true and echo.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    process::{Command, Stdio},
};

use integration_test::{Agent, agent_bin, require_root};

/// A shell reading commands from a pipe; each command prints one answer line.
struct Bot {
    child: std::process::Child,
    to: std::process::ChildStdin,
    from: BufReader<std::process::ChildStdout>,
}

impl Bot {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let to = child.stdin.take().unwrap();
        let from = BufReader::new(child.stdout.take().unwrap());
        Self { child, to, from }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.to, "{cmd}").unwrap();
        self.to.flush().unwrap();
        let mut line = String::new();
        self.from.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    /// Closes its input and waits for it to end.
    fn finish(self) {
        let Self { mut child, to, .. } = self;
        drop(to);
        let _ = child.wait();
    }
}

fn guard(args: &[&str]) -> String {
    let out = Command::new(agent_bin()).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_quarantined_process_tree_can_exec_nothing_until_released() {
    require_root();
    let _ = Command::new(agent_bin()).arg("unload").status();
    let agent = Agent::start(&[]).unwrap();
    let mut sh = Command::new("/bin/sh");
    sh.args(["-c", "while read -r line; do eval \"$line\"; done"]);
    let mut bot = Bot::spawn(sh);
    assert_eq!(bot.ask("/bin/true && echo ran || echo refused"), "ran");
    // A child that exists before the quarantine is part of the tree too.
    let elder = bot.ask("/bin/sleep 30 & echo $!");
    // Wait until the child runs sleep: quarantined while still the forked shell, its
    // exec of sleep would be refused and it would exit (and leave the list) at once.
    let started = std::time::Instant::now();
    while std::fs::read_to_string(format!("/proc/{elder}/comm")).unwrap_or_default().trim() != "sleep" {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the child {elder} never ran sleep");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let bot_pid = bot.pid();
    // The fork and exit programs are attached at the first quarantine, not before.
    let links_before = agent.status().unwrap()["links"].as_u64().unwrap();
    let out = guard(&["quarantine", "add", &bot_pid]);
    assert!(out.contains("quarantined"), "{out}");
    let links_after = agent.status().unwrap()["links"].as_u64().unwrap();
    assert_eq!(links_after, links_before + 2, "quarantine add attached sched_process_fork and sched_process_exit");
    let listed: Vec<String> = guard(&["quarantine", "list"]).lines().map(|l| l.split('\t').next().unwrap().to_owned()).collect();
    assert!(listed.contains(&bot_pid) && listed.contains(&elder), "the bot {bot_pid} and its existing child {elder}: {listed:?}");

    assert_eq!(bot.ask("/bin/true && echo ran || echo refused"), "refused", "the quarantined process execs nothing");
    assert_eq!(bot.ask("( /bin/true ) && echo ran || echo refused"), "refused", "nor does a child forked after the quarantine");
    assert!(Command::new("/bin/true").status().unwrap().success(), "other processes are untouched");

    let out = guard(&["quarantine", "remove", &bot_pid]);
    assert!(out.contains("released"), "{out}");
    assert_eq!(bot.ask("/bin/true && echo ran || echo refused"), "ran", "released: it runs again");

    bot.finish();
    let _ = Command::new("/bin/kill").arg(&elder).status();
    let events = agent.stop().unwrap();
    let refused: Vec<_> = events.events.iter().filter(|e| e["quarantined"] == true && e["decision"] == "deny").collect();
    assert!(refused.len() >= 2, "each refused exec is reported as quarantined: {refused:#?}");
    assert!(refused.iter().all(|e| e["pid"].as_u64() != Some(std::process::id().into())));
}

/// The agent quarantines by itself (policy `quarantine.after_denials`): a strict "bot"
/// (a shell reading commands from a pipe, as test uid 4246) tries to delete a directory
/// this test created and declared protected; after the second denial the agent
/// quarantines the bot, and the bot's next exec, even `/bin/true`, is refused. Denied
/// `sh -c` scripts this test runs directly quarantine nothing: their launcher is this
/// test, the agent's own parent, which is never quarantined.
#[test]
fn the_agent_quarantines_a_strict_bot_after_repeated_denials_but_never_its_own_ancestors() {
    use std::os::unix::{fs::PermissionsExt as _, process::CommandExt as _};
    const BOT: u32 = 4246;
    require_root();
    let _ = Command::new(agent_bin()).arg("unload").status();
    let dir = std::env::temp_dir().join(integration_test::token("autoq"));
    let protected = dir.join("protected");
    std::fs::create_dir_all(protected.join("keep")).unwrap();
    std::fs::write(protected.join("keep/file"), "precious").unwrap();
    for p in [&dir, &protected, &protected.join("keep")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\nname: autoq-test\ndefault_mode: audit\nidentities:\n  - name: bots\n    mode: strict\n    match: {{ uids: [{BOT}] }}\n\
             protected_paths: [{}]\nquarantine: {{ after_denials: 2, within_s: 60 }}\n",
            protected.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&["--policy", policy.to_str().unwrap()]).unwrap();
    let target = protected.to_str().unwrap().to_owned();

    // Launched by this test through `sh -c`: the strict identity's script is held and
    // denied, twice; no quarantine.
    for _ in 0..2 {
        // The second time the kernel answers from the verdict cache: under BPF LSM that
        // is EPERM for the exec itself.
        match Command::new("/bin/sh").args(["-c", &format!("/bin/rm -rf {target}; exit 0")]).uid(BOT).gid(BOT).status() {
            Ok(status) => assert!(!status.success(), "the held script was denied: {status:?}"),
            Err(err) => assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}"),
        }
    }
    assert!(protected.join("keep/file").exists(), "both deletions were stopped");
    assert!(
        agent.wait_log("no tree to quarantine", std::time::Duration::from_secs(10)),
        "the agent saw the denials and refused to quarantine its own ancestry: {}",
        agent.log()
    );
    assert_eq!(guard(&["quarantine", "list"]), "", "nothing is quarantined");
    assert!(Command::new("/bin/true").status().unwrap().success(), "this test still runs commands");

    let mut sh = Command::new("/bin/sh");
    sh.arg("-s").current_dir(&dir).uid(BOT).gid(BOT);
    let mut bot = Bot::spawn(sh);
    let bot_pid = bot.pid();
    assert_eq!(bot.ask("/bin/true && echo ran || echo refused"), "ran");
    assert_eq!(bot.ask(&format!("/bin/rm -rf {target} && echo ran || echo refused")), "refused");
    assert!(protected.join("keep/file").exists());
    assert_eq!(bot.ask("/bin/true && echo ran || echo refused"), "ran", "one denial is not enough");
    assert_eq!(bot.ask(&format!("/bin/rm --recursive --force {target} && echo ran || echo refused")), "refused");
    let started = std::time::Instant::now();
    while !guard(&["quarantine", "list"]).lines().any(|l| l.split('\t').next() == Some(bot_pid.as_str())) {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the bot {bot_pid} was never quarantined: {}", agent.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(bot.ask("/bin/true && echo ran || echo refused"), "refused", "the quarantined bot execs nothing");
    assert!(Command::new("/bin/true").status().unwrap().success(), "other processes are untouched");
    assert!(guard(&["quarantine", "remove", &bot_pid]).contains("released"));
    assert_eq!(bot.ask("/bin/true && echo ran || echo refused"), "ran", "released: it runs again");
    bot.finish();
    assert!(protected.join("keep/file").exists(), "the protected tree survived");

    let events = agent.stop().unwrap();
    let quarantines: Vec<_> = events.events.iter().filter(|e| e["event"] == "quarantine").collect();
    assert_eq!(quarantines.len(), 1, "one quarantine, of the bot only: {quarantines:#?}");
    let q = quarantines[0];
    assert_eq!(q["pid"].to_string(), bot_pid);
    assert_eq!((q["trigger"].as_str(), q["denials"].as_u64(), q["within_s"].as_u64()), (Some("denials"), Some(2), Some(60)));
    assert_eq!(q["offender"]["uid"], BOT);
    assert_eq!(q["offender"]["argv"], serde_json::json!(["/bin/rm", "--recursive", "--force", target]));
    // Every denial says why, in words; the quarantined exec says it was quarantined.
    let denials: Vec<_> = events.events.iter().filter(|e| e["uid"] == BOT && e["decision"] == "deny" && e["class"] == "bulk_delete" && e["argv"][0] == "/bin/rm").collect();
    assert!(denials.len() >= 2, "{denials:#?}");
    for d in &denials {
        let reason = d["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("recursive delete of protected path") && reason.contains(&target), "{d}");
    }
    let refused: Vec<_> = events.events.iter().filter(|e| e["quarantined"] == true).collect();
    assert!(!refused.is_empty() && refused.iter().all(|e| e["reason"].as_str().is_some_and(|r| r.contains("quarantined"))), "{refused:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}
