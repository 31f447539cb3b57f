//! The quarantine: once a process is quarantined, every exec from it and from its
//! descendants (present and future) is refused, whatever the argv, until it is lifted;
//! other processes are untouched. The "bot" is a shell this test starts, reading
//! commands from a pipe; it only ever runs /bin/true and echo.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    process::{Command, Stdio},
};

use integration_test::{Agent, agent_bin, require_root};

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
    let mut bot = Command::new("/bin/sh")
        .args(["-c", "while read -r line; do eval \"$line\"; done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut to_bot = bot.stdin.take().unwrap();
    let mut from_bot = BufReader::new(bot.stdout.take().unwrap());
    let mut ask = |cmd: &str| -> String {
        writeln!(to_bot, "{cmd}").unwrap();
        to_bot.flush().unwrap();
        let mut line = String::new();
        from_bot.read_line(&mut line).unwrap();
        line.trim().to_owned()
    };
    assert_eq!(ask("/bin/true && echo ran || echo refused"), "ran");
    // A child that exists before the quarantine is part of the tree too.
    let elder = ask("/bin/sleep 30 & echo $!");
    // Wait until the child runs sleep: quarantined while still the forked shell, its
    // exec of sleep would be refused and it would exit (and leave the list) at once.
    let started = std::time::Instant::now();
    while std::fs::read_to_string(format!("/proc/{elder}/comm")).unwrap_or_default().trim() != "sleep" {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the child {elder} never ran sleep");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let bot_pid = bot.id().to_string();
    let out = guard(&["quarantine", "add", &bot_pid]);
    assert!(out.contains("quarantined"), "{out}");
    let listed: Vec<String> = guard(&["quarantine", "list"]).lines().map(|l| l.split('\t').next().unwrap().to_owned()).collect();
    assert!(listed.contains(&bot_pid) && listed.contains(&elder), "the bot {bot_pid} and its existing child {elder}: {listed:?}");

    assert_eq!(ask("/bin/true && echo ran || echo refused"), "refused", "the quarantined process execs nothing");
    assert_eq!(ask("( /bin/true ) && echo ran || echo refused"), "refused", "nor does a child forked after the quarantine");
    assert!(Command::new("/bin/true").status().unwrap().success(), "other processes are untouched");

    let out = guard(&["quarantine", "remove", &bot_pid]);
    assert!(out.contains("released"), "{out}");
    assert_eq!(ask("/bin/true && echo ran || echo refused"), "ran", "released: it runs again");

    drop(to_bot);
    let _ = bot.wait();
    let _ = Command::new("/bin/kill").arg(&elder).status();
    let events = agent.stop().unwrap();
    let refused: Vec<_> = events.events.iter().filter(|e| e["quarantined"] == true && e["decision"] == "deny").collect();
    assert!(refused.len() >= 2, "each refused exec is reported as quarantined: {refused:#?}");
    assert!(refused.iter().all(|e| e["pid"].as_u64() != Some(std::process::id().into())));
}
