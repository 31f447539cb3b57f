//! Fuzz the SQL path: arbitrary SQL handed to each client (argv, -c/-e, stdin).
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: common::quiet_panics(), |data: &[u8]| {
    common::run(|| {
        let ctx = guard_classify::Context::builtin();
        let sql = String::from_utf8_lossy(data);
        for argv in [
            vec!["psql", "-c", sql.as_ref()],
            vec!["mysql", "-e", sql.as_ref()],
            vec!["sqlite3", "db", sql.as_ref()],
            vec!["clickhouse-client", "--query", sql.as_ref()],
        ] {
            let _ = guard_classify::classify_argv(&argv, &ctx);
        }
        let _ = guard_classify::classify_shell(&format!("psql <<'EOF'\n{sql}\nEOF"), &ctx);
    });
});
