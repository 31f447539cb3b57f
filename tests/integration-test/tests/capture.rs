//! Capture suite: every exec attempt is one event with byte-exact argv and the right
//! identity, on the real kernel (host, or the Debian kernels under qemu).

use std::{
    ffi::{CString, OsStr},
    os::unix::{ffi::OsStrExt as _, process::CommandExt as _},
    process::Command,
};

use integration_test::{Agent, Events, argv_of, cgroup2_root, exec_in_cgroup, real_path, require_root, thread_comm, token};
use serde_json::Value;

const TRUE: &str = "/bin/true";

/// Runs `/bin/true` with `args` (argv[0] is "/bin/true") and returns the child's pid.
fn run_true(args: &[Vec<u8>]) -> u32 {
    let mut child = Command::new(TRUE)
        .args(args.iter().map(|a| OsStr::from_bytes(a)))
        .spawn()
        .expect("spawn /bin/true");
    let pid = child.id();
    assert!(child.wait().expect("wait").success());
    pid
}

fn full_argv(args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    std::iter::once(TRUE.as_bytes().to_vec())
        .chain(args.iter().cloned())
        .collect()
}

fn args_size(argv: &[Vec<u8>]) -> u64 {
    argv.iter().map(|a| a.len() as u64 + 1).sum()
}

/// The argument shapes of the storm: each returns args after argv[0], token first.
fn shape(i: usize, tok: &str) -> Vec<Vec<u8>> {
    let t = tok.as_bytes().to_vec();
    let v = |s: &str| s.as_bytes().to_vec();
    match i % 9 {
        0 => vec![t],
        1 => vec![t, v(""), v(""), v("x"), v("")],
        2 => vec![
            t,
            v("a b"),
            v("'single'"),
            v("\"double\""),
            v("back\\slash"),
            v("$HOME *"),
        ],
        3 => vec![
            t,
            b"\xff\xfe".to_vec(),
            b"ok\x80tail".to_vec(),
            b"\xc3".to_vec(),
        ],
        4 => vec![t, v("héllo"), v("日本語"), v("🙂")],
        5 => vec![t, v("line\nbreak"), v("tab\there"), vec![1, 2, 0x7f]],
        6 if i % 90 == 6 => std::iter::once(t)
            .chain((0..300).map(|n| format!("arg{n}").into_bytes()))
            .collect(),
        7 if i % 90 == 7 => vec![t, vec![b'z'; 20 * 1024]],
        _ => vec![t, v("--flag=value"), v("-rf"), v("/tmp/some path/")],
    }
}

fn check_identity(e: &Value, pid: u32) {
    assert_eq!(e["pid"], pid, "{e}");
    assert_eq!(e["tid"], pid, "{e}");
    assert_eq!(e["ppid"], std::process::id(), "{e}");
    // SAFETY: plain syscalls.
    let (uid, euid, gid) = unsafe { (libc::getuid(), libc::geteuid(), libc::getgid()) };
    assert_eq!(
        (e["uid"].as_u64(), e["euid"].as_u64(), e["gid"].as_u64()),
        (Some(uid.into()), Some(euid.into()), Some(gid.into()))
    );
    // SAFETY: plain syscall.
    assert_eq!(e["sid"], unsafe { libc::getsid(0) } as u32, "{e}");
    assert_eq!(e["result"], "ok");
    assert_eq!(e["comm"], "true");
    assert_eq!(e["exe"], real_path(TRUE));
    assert_eq!(e["filename"], TRUE);
    let loginuid: u64 = std::fs::read_to_string("/proc/self/loginuid")
        .map_or(u64::from(u32::MAX), |s| s.trim().parse().unwrap());
    if loginuid == u64::from(u32::MAX) {
        assert!(e["loginuid"].is_null(), "{e}");
    } else {
        assert_eq!(e["loginuid"], loginuid, "{e}");
    }
}

#[test]
fn storm_of_varied_execs_is_reported_once_each_byte_exact() {
    require_root();
    let agent = Agent::start(&[]).unwrap();
    let parent_comm = thread_comm();
    let mut expected = Vec::new();
    for i in 0..2000 {
        let tok = token("storm");
        let args = shape(i, &tok);
        let pid = run_true(&args);
        expected.push((tok, pid, full_argv(&args)));
    }
    let status = agent.status().unwrap();
    let events = agent.stop().unwrap();
    for (tok, pid, argv) in &expected {
        let e = events.one(tok).unwrap();
        assert_eq!(&argv_of(e), argv, "argv of {tok}");
        assert_eq!(e["argc"], argv.len(), "{e}");
        assert_eq!(e["args_size"], args_size(argv), "{e}");
        assert_eq!(e["argv_truncated"], false);
        assert_eq!(e["parent_comm"], parent_comm.as_str());
        check_identity(e, *pid);
    }
    assert_eq!(
        status["dropped"], 0,
        "ring buffer drops at this load: {status}"
    );
    assert!(events.log.contains("dropped=0"), "{}", events.log);
}

#[test]
fn argv_beyond_the_capture_limit_is_flagged_with_true_sizes() {
    require_root();
    let agent = Agent::start(&[]).unwrap();
    let tok = token("big");
    let args: Vec<Vec<u8>> = std::iter::once(tok.clone().into_bytes())
        .chain((0..100).map(|n| format!("{n:04}{}", "y".repeat(996)).into_bytes()))
        .collect();
    let pid = run_true(&args);
    let events = agent.stop().unwrap();
    let e = events.one(&tok).unwrap();
    let argv = full_argv(&args);
    assert_eq!(e["pid"], pid);
    assert_eq!(e["argv_truncated"], true, "{e}");
    assert_eq!(e["argc"], argv.len(), "true argc");
    assert_eq!(e["args_size"], args_size(&argv), "true byte length");
    let got = argv_of(e);
    let captured: usize = got.iter().map(|a| a.len() + 1).sum::<usize>() - 1;
    assert!(
        (32 * 1024 - 1..=32 * 1024).contains(&captured),
        "captured {captured} bytes"
    );
    for (i, a) in got.iter().enumerate() {
        assert!(
            argv[i].starts_with(a),
            "argument {i} is a prefix of the real one"
        );
    }
    assert_eq!(
        got[..got.len() - 1],
        argv[..got.len() - 1],
        "all but the cut argument are whole"
    );
}

#[test]
fn failed_exec_reports_errno_and_the_callers_argv() {
    require_root();
    failed_exec_with(&[]);
}

/// The stash of threads past the tid-indexed array (here every thread: one slot) is a
/// hash map; what goes through it must come out the same: execveat's syscall name,
/// stashed at its entry, and on the LSM path (the VM runs of this suite) the hook's
/// decision. A failed exec's argv comes from the syscall's own arguments either way.
#[test]
fn threads_past_the_stash_array_are_served_by_its_hash_map() {
    require_root();
    failed_exec_with(&["--stash-slots", "1"]);
    execveat_with(&["--stash-slots", "1"]);
}

fn failed_exec_with(agent_args: &[&str]) {
    let agent = Agent::start(agent_args).unwrap();
    if agent_args.contains(&"--stash-slots") {
        let log = agent.log();
        assert!(log.lines().any(|l| l.ends_with("stash slots indexed by tid slots=1")), "the flag reached the loader: {log}");
    }
    let tok = token("enoent");
    let missing = format!("/nonexistent-guard-test/{tok}");
    let err = Command::new(&missing)
        .arg(&tok)
        .arg("")
        .spawn()
        .expect_err("no such program");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    let events = agent.stop().unwrap();
    let e = events.one(&tok).unwrap();
    assert_eq!(e["result"], "failed");
    assert_eq!(e["errno"], libc::ENOENT);
    assert_eq!(e["filename"], missing.as_str());
    assert_eq!(
        argv_of(e),
        vec![missing.clone().into_bytes(), tok.into_bytes(), vec![]]
    );
    assert_eq!(e["ppid"], std::process::id());
}

#[test]
fn shebang_script_reports_what_the_caller_ran_and_what_the_kernel_ran() {
    require_root();
    let dir = std::env::temp_dir().join(token("script"));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let agent = Agent::start(&[]).unwrap();
    let tok = token("sh");
    let status = Command::new(&script).arg(&tok).status().unwrap();
    assert!(status.success());
    let events = agent.stop().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let e = events.one(&tok).unwrap();
    let script = script.display().to_string();
    assert_eq!(e["filename"], script.as_str(), "what the caller executed");
    assert_eq!(e["interp"], "/bin/sh", "the #! interpreter");
    assert_eq!(e["exe"], real_path("/bin/sh"), "what the kernel ran");
    assert_eq!(
        argv_of(e),
        vec![b"/bin/sh".to_vec(), script.into_bytes(), tok.into_bytes()]
    );
}

fn cstrings(args: &[&str]) -> (Vec<CString>, Vec<*const libc::c_char>) {
    let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut ptrs: Vec<*const libc::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    (owned, ptrs)
}

fn wait_exit(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    status
}

#[test]
fn execveat_with_empty_path_reports_the_fd_and_the_resolved_exe() {
    require_root();
    execveat_with(&[]);
}

fn execveat_with(agent_args: &[&str]) {
    let agent = Agent::start(agent_args).unwrap();
    let tok = token("fexec");
    let (_owned, argv) = cstrings(&["true-by-fd", &tok]);
    let envp = [std::ptr::null::<libc::c_char>()];
    let path = CString::new(TRUE).unwrap();
    let empty = CString::new("").unwrap();
    // SAFETY: fork; the child only calls async-signal-safe functions before _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            libc::syscall(
                libc::SYS_execveat,
                fd,
                empty.as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
            libc::_exit(127);
        }
    }
    assert_eq!(wait_exit(pid), 0);
    let events = agent.stop().unwrap();
    let e = events.one(&tok).unwrap();
    assert_eq!(e["syscall"], "execveat");
    assert_eq!(e["pid"], pid);
    assert!(
        e["filename"].as_str().unwrap().starts_with("/dev/fd/"),
        "{e}"
    );
    assert_eq!(e["exe"], real_path(TRUE));
    assert_eq!(argv_of(e), vec![b"true-by-fd".to_vec(), tok.into_bytes()]);
}

#[test]
fn exec_from_a_non_leader_thread_of_a_multithreaded_process() {
    require_root();
    let agent = Agent::start(&[]).unwrap();
    let tok = token("thread");
    let (r, w) = pipe();
    // SAFETY: fork; glibc keeps malloc usable in the child, which starts a thread that
    // execs while the main thread sleeps.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let tok = tok.clone();
        let handle = std::thread::spawn(move || {
            // SAFETY: plain syscall.
            let tid = unsafe { libc::gettid() };
            // SAFETY: writing to our pipe.
            unsafe { libc::write(w, (&raw const tid).cast(), 4) };
            let err = Command::new(TRUE).arg(&tok).exec();
            panic!("exec failed: {err}");
        });
        let _ = handle.join();
        // SAFETY: leaving the child.
        unsafe { libc::_exit(127) };
    }
    let mut tid = 0i32;
    // SAFETY: reading 4 bytes into an i32.
    unsafe { libc::read(r, (&raw mut tid).cast(), 4) };
    assert_eq!(wait_exit(pid), 0);
    let events = agent.stop().unwrap();
    let e = events.one(&tok).unwrap();
    assert_ne!(tid, pid, "the exec came from a second thread");
    assert_eq!(e["pid"], pid, "after exec the process keeps its pid");
    assert_eq!(e["tid"], tid, "the thread that called exec");
}

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: valid array of two fds.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

#[test]
fn execs_from_many_threads_at_once_are_each_reported() {
    require_root();
    let agent = Agent::start(&[]).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                (0..100)
                    .map(|_| {
                        let tok = token(&format!("mt{t}"));
                        let pid = run_true(&[tok.clone().into_bytes()]);
                        (tok, pid)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let runs: Vec<(String, u32)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let events = agent.stop().unwrap();
    for (tok, pid) in runs {
        assert_eq!(events.one(&tok).unwrap()["pid"], pid);
    }
}

#[test]
fn exec_in_a_fresh_cgroup_reports_that_cgroups_id() {
    require_root();
    let dir = format!("{}/{}", cgroup2_root(), token("cg"));
    std::fs::create_dir(&dir).unwrap();
    let id = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dir).unwrap());
    let agent = Agent::start(&[]).unwrap();
    let tok = token("cgroup");
    let (pid, status) = exec_in_cgroup(&dir, &[TRUE, &tok]);
    assert_eq!(status, 0);
    let events = agent.stop().unwrap();
    std::fs::remove_dir(&dir).unwrap();
    let e = events.one(&tok).unwrap();
    assert_eq!(e["cgroup_id"], id, "{e}");
    let other = events
        .events
        .iter()
        .find(|e| e["ppid"] == std::process::id() && e["pid"] != pid);
    assert!(
        other.is_none_or(|o| o["cgroup_id"] != id),
        "only the moved process is in the new cgroup"
    );
}

#[test]
fn identity_of_a_test_uid_is_reported() {
    require_root();
    let agent = Agent::start(&[]).unwrap();
    let tok = token("uid");
    let status = Command::new(TRUE)
        .arg(&tok)
        .uid(4242)
        .gid(4343)
        .status()
        .unwrap();
    assert!(status.success());
    let events = agent.stop().unwrap();
    let e = events.one(&tok).unwrap();
    assert_eq!(
        (e["uid"].as_u64(), e["euid"].as_u64()),
        (Some(4242), Some(4242))
    );
    assert_eq!(
        (e["gid"].as_u64(), e["egid"].as_u64()),
        (Some(4343), Some(4343))
    );
    assert_eq!(e["tty"], false, "tests run without a controlling terminal");
}

#[test]
fn a_controlling_terminal_is_reported() {
    require_root();
    let agent = Agent::start(&[]).unwrap();
    let tok = token("tty");
    let (_owned, argv) = cstrings(&[TRUE, &tok]);
    let envp = [std::ptr::null::<libc::c_char>()];
    let mut master = 0;
    // SAFETY: forkpty gives the child a new session with the pty as controlling tty.
    let pid = unsafe {
        libc::forkpty(
            &mut master,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert!(pid >= 0, "forkpty");
    if pid == 0 {
        unsafe {
            libc::execve(argv[0], argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    assert_eq!(wait_exit(pid), 0);
    // SAFETY: closing our end of the pty.
    unsafe { libc::close(master) };
    let events: Events = agent.stop().unwrap();
    let e = events.one(&tok).unwrap();
    assert_eq!(e["tty"], true, "{e}");
    assert_eq!(e["sid"], pid, "forkpty made the child a session leader");
}

/// The executable's path is walked up in the kernel from its dentry: names kept in the
/// dentry's inline buffer (one read a step) and names too long for it (a second read),
/// on either side of the inline buffer's size (32 bytes on 6.1, 40 later), across a
/// mount point, and through a symlink (what the caller named is `filename`, what ran is
/// `exe`).
#[test]
fn the_executable_path_is_walked_across_mounts_and_names_of_every_length() {
    require_root();
    let tok = token("exepath");
    let base = std::env::temp_dir().join(format!("guard-{tok}"));
    let mnt = base.join("m");
    std::fs::create_dir_all(&mnt).unwrap();
    let c_mnt = std::ffi::CString::new(mnt.to_str().unwrap()).unwrap();
    // SAFETY: valid C strings; a tmpfs on a directory this test created.
    let rc = unsafe { libc::mount(c"tmpfs".as_ptr(), c_mnt.as_ptr(), c"tmpfs".as_ptr(), 0, std::ptr::null()) };
    assert_eq!(rc, 0, "mounting a tmpfs at {}: {}", mnt.display(), std::io::Error::last_os_error());
    let names = ["x".to_owned(), "n".repeat(31), "n".repeat(32), "l".repeat(39), "l".repeat(40), "w".repeat(100)];
    let dir = names.iter().fold(mnt.clone(), |d, n| d.join(n));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("t");
    std::fs::copy(real_path(TRUE), &exe).unwrap();
    let link = base.join("link-to-true");
    std::os::unix::fs::symlink(&exe, &link).unwrap();

    let agent = Agent::start(&[]).unwrap();
    for path in [&exe, &link] {
        assert!(Command::new(path).arg(&tok).arg(path).status().unwrap().success());
    }
    let events = agent.stop().unwrap();
    // SAFETY: valid C string; the mount this test made.
    unsafe { libc::umount2(c_mnt.as_ptr(), libc::MNT_DETACH) };
    std::fs::remove_dir_all(&base).unwrap();

    let real = std::fs::canonicalize(base.parent().unwrap()).unwrap().join(format!("guard-{tok}")).join("m");
    let want = names.iter().fold(real, |d, n| d.join(n)).join("t");
    for path in [&exe, &link] {
        let e = events
            .with_token(&tok)
            .into_iter()
            .find(|e| argv_of(e).get(2).map(Vec::as_slice) == Some(path.as_os_str().as_encoded_bytes()))
            .unwrap_or_else(|| panic!("no event for {}", path.display()));
        assert_eq!(e["filename"], path.to_str().unwrap(), "{e}");
        assert_eq!(e["exe"], want.to_str().unwrap(), "{e}");
        assert_eq!(e["exe_truncated"], false, "{e}");
    }
}
