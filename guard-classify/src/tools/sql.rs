//! SQL and NoSQL clients: psql, mysql/mariadb, sqlite3, clickhouse-client, cqlsh, dropdb,
//! mysqladmin, redis-cli, mongo/mongosh. SQL is parsed with sqlparser (PostgreSQL, MySQL,
//! SQLite, generic); statements it cannot parse get a literal-blind keyword check.

use sqlparser::ast::{AlterTableOperation, ObjectType, Statement};
use sqlparser::dialect::{Dialect, GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use super::opt_value;
use crate::engine::{Cmd, Engine};
use crate::intent::IntentClass::SchemaDestroy;

pub(crate) const TOOLS: &[&str] = &[
    "psql", "mysql", "mariadb", "sqlite3", "sqlite", "clickhouse-client", "clickhouse", "cqlsh",
    "dropdb", "mysqladmin", "mariadb-admin", "redis-cli", "valkey-cli", "keydb-cli", "mongo",
    "mongosh", "sqlcmd", "duckdb", "cockroach", "snowsql", "bq", "trino", "presto",
];

/// Longest SQL text parsed; longer text is keyword-scanned only.
const MAX_SQL: usize = 64 * 1024;

pub(crate) fn check(eng: &mut Engine<'_>, cmd: &Cmd<'_>) {
    let args = cmd.args;
    let n = cmd.name.as_str();
    match n {
        "dropdb" => eng.flag(SchemaDestroy, "dropdb drops a database", cmd.evidence()),
        "mysqladmin" | "mariadb-admin" => {
            if args.iter().any(|a| a.eq_ignore_ascii_case("drop")) {
                eng.flag(SchemaDestroy, "mysqladmin drop drops a database", cmd.evidence());
            }
        }
        "redis-cli" | "valkey-cli" | "keydb-cli" => redis(eng, cmd),
        "mongo" | "mongosh" => {
            let code = opt_value(args, &["--eval"]).map(str::to_owned).or_else(|| cmd.stdin.text.clone());
            if let Some(code) = code {
                mongo_code(eng, &code, cmd);
            }
        }
        _ => {
            let mut texts: Vec<String> = Vec::new();
            let opts: &[&str] = match n {
                "psql" => &["-c", "--command"],
                "mysql" | "mariadb" => &["-e", "--execute"],
                "clickhouse-client" | "clickhouse" => &["-q", "--query"],
                "cqlsh" => &["-e", "--execute"],
                "sqlcmd" => &["-Q", "-q"],
                _ => &["-c", "-e", "--query", "--execute"],
            };
            // psql allows -c several times.
            let mut i = 0;
            while i < args.len() {
                if let Some(v) = opt_value(&args[i..=i.min(args.len() - 1)], opts).filter(|v| !v.is_empty()) {
                    texts.push(v.to_owned());
                } else if opts.contains(&args[i].as_str()) {
                    if let Some(v) = args.get(i + 1) {
                        texts.push(v.clone());
                        i += 1;
                    }
                }
                i += 1;
            }
            if matches!(n, "sqlite3" | "sqlite" | "duckdb") {
                let pos = super::operands(args, &["-cmd", "-separator", "-nullvalue", "-init"]);
                texts.extend(pos.iter().skip(1).map(|s| (*s).to_owned()));
            }
            if texts.is_empty() {
                if let Some(t) = &cmd.stdin.text {
                    texts.push(t.clone());
                }
            }
            for t in texts {
                sql_text(eng, &t, dialect_for(n), cmd);
            }
        }
    }
}

fn dialect_for(tool: &str) -> &'static dyn Dialect {
    match tool {
        "psql" | "cockroach" => &PostgreSqlDialect {},
        "mysql" | "mariadb" => &MySqlDialect {},
        "sqlite3" | "sqlite" => &SQLiteDialect {},
        _ => &GenericDialect {},
    }
}

/// Judges a SQL text (possibly several statements).
pub(crate) fn sql_text(eng: &mut Engine<'_>, sql: &str, dialect: &dyn Dialect, cmd: &Cmd<'_>) {
    if !eng.charge(1 + sql.len() / 64) || !may_destroy(sql) {
        return;
    }
    let parsed = if sql.len() <= MAX_SQL {
        Parser::new(dialect).with_recursion_limit(32).try_with_sql(sql).and_then(|mut p| p.parse_statements()).ok()
    } else {
        None
    };
    match parsed {
        Some(stmts) => {
            for s in &stmts {
                if let Some(r) = statement(s) {
                    eng.flag(SchemaDestroy, r, format!("{}: {}", cmd.evidence(), short(&s.to_string())));
                }
            }
        }
        None => {
            for stmt in split_statements(sql) {
                let parsed = (stmt.len() <= MAX_SQL)
                    .then(|| Parser::new(dialect).with_recursion_limit(32).try_with_sql(&stmt).and_then(|mut p| p.parse_statements()).ok())
                    .flatten();
                let reason = match parsed {
                    Some(s) => s.iter().find_map(statement),
                    None => keyword_scan(&stmt),
                };
                if let Some(r) = reason {
                    eng.flag(SchemaDestroy, r, format!("{}: {}", cmd.evidence(), short(&stmt)));
                }
            }
        }
    }
}

/// Keywords one of which every destructive statement starts with (`statement`,
/// `keyword_scan`).
const DESTRUCTIVE_KEYWORDS: &[&[u8]] = &[b"drop", b"truncate", b"delete", b"update", b"alter"];

/// Whether the text holds a keyword a destructive statement needs; without one, neither
/// the parser's statements nor the keyword scan can find anything, so neither runs.
fn may_destroy(sql: &str) -> bool {
    sql.as_bytes().windows(4).enumerate().any(|(i, w)| {
        let w4 = [w[0].to_ascii_lowercase(), w[1].to_ascii_lowercase(), w[2].to_ascii_lowercase(), w[3].to_ascii_lowercase()];
        DESTRUCTIVE_KEYWORDS.iter().any(|k| {
            k[..4] == w4 && sql.as_bytes().get(i..i + k.len()).is_some_and(|x| x.eq_ignore_ascii_case(k))
        })
    })
}

fn short(s: &str) -> String {
    s.chars().take(120).collect()
}

/// Why a parsed statement is destructive.
fn statement(s: &Statement) -> Option<String> {
    match s {
        Statement::Drop { object_type, names, temporary, .. } => {
            let destructive = matches!(
                object_type,
                ObjectType::Table | ObjectType::Schema | ObjectType::Database | ObjectType::MaterializedView | ObjectType::ForeignTable
            );
            (destructive && !temporary).then(|| format!("DROP {object_type} {}", names.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")))
        }
        Statement::Truncate(t) => Some(format!("TRUNCATE {}", t.table_names.iter().map(|n| n.name.to_string()).collect::<Vec<_>>().join(", "))),
        Statement::Delete(d) => d.selection.is_none().then(|| "DELETE without WHERE".to_owned()),
        Statement::Update(u) => u.selection.is_none().then(|| "UPDATE without WHERE".to_owned()),
        Statement::AlterTable(a) => a.operations.iter().find_map(|op| match op {
            AlterTableOperation::DropColumn { .. } => Some(format!("ALTER TABLE {} DROP COLUMN", a.name)),
            AlterTableOperation::DropPartitions { .. } => Some(format!("ALTER TABLE {} DROP PARTITION", a.name)),
            _ => None,
        }),
        _ => None,
    }
}

/// Splits on `;` outside quotes and comments.
fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut q: Option<char> = None;
    for c in sql.chars() {
        match q {
            Some(x) if c == x => q = None,
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => q = Some(c),
            None if c == ';' => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            None => {}
        }
        if cur.len() < MAX_SQL {
            cur.push(c);
        }
    }
    out.push(cur);
    out.retain(|s| !s.trim().is_empty());
    out
}

/// Keyword check for statements the parser rejects: string literals and comments are
/// blanked first, so `SELECT 'DROP TABLE x'` stays harmless.
pub(crate) fn keyword_scan(stmt: &str) -> Option<String> {
    let mut clean = String::new();
    let mut q: Option<char> = None;
    for c in stmt.chars() {
        match q {
            Some(x) if c == x => q = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => q = Some(c),
            None => clean.push(c.to_ascii_uppercase()),
        }
    }
    let toks: Vec<&str> = clean.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|t| !t.is_empty()).collect();
    let first = *toks.first()?;
    let has = |w: &str| toks.contains(&w);
    match first {
        "DROP" if toks.get(1).is_some_and(|t| matches!(*t, "TABLE" | "DATABASE" | "SCHEMA" | "KEYSPACE" | "COLLECTION")) => {
            Some(format!("DROP {}", toks[1]))
        }
        "TRUNCATE" => Some("TRUNCATE".to_owned()),
        "DELETE" if !has("WHERE") => Some("DELETE without WHERE".to_owned()),
        "UPDATE" if has("SET") && !has("WHERE") => Some("UPDATE without WHERE".to_owned()),
        "ALTER" if has("DROP") && (has("COLUMN") || has("PARTITION")) => Some("ALTER ... DROP".to_owned()),
        _ => None,
    }
}

fn redis(eng: &mut Engine<'_>, cmd: &Cmd<'_>) {
    let words = super::operands(cmd.args, &["-h", "-p", "-a", "-n", "-u", "--user", "--pass", "-s", "-r", "-i", "--tls", "--cacert", "--cert", "--key"]);
    let mut lines: Vec<String> = vec![words.join(" ")];
    if let Some(t) = &cmd.stdin.text {
        lines.extend(t.lines().map(str::to_owned));
    }
    for l in lines {
        let up = l.trim().to_ascii_uppercase();
        let first = up.split_whitespace().next().unwrap_or("");
        let destructive = match first {
            "FLUSHALL" | "FLUSHDB" => true,
            "CONFIG" => up.contains("SET") && (up.contains(" DIR ") || up.contains("DBFILENAME")),
            "SHUTDOWN" | "DEBUG" => true,
            _ => false,
        };
        if destructive {
            eng.flag(SchemaDestroy, format!("redis {first} destroys or takes down the dataset"), cmd.evidence());
        }
    }
}

/// Mongo shell code: dropDatabase(), db.c.drop(), deleteMany({}), remove({}).
pub(crate) fn mongo_code(eng: &mut Engine<'_>, code: &str, cmd: &Cmd<'_>) {
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let hits = [
        ("dropDatabase(", "dropDatabase() drops the database"),
        (".drop()", "collection drop()"),
        ("deleteMany({})", "deleteMany({}) deletes every document"),
        ("remove({})", "remove({}) deletes every document"),
        ("dropAllUsers(", "dropAllUsers()"),
        ("updateMany({},", "updateMany({}) rewrites every document"),
    ];
    for (needle, why) in hits {
        if compact.contains(needle) {
            eng.flag(SchemaDestroy, why, cmd.evidence());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Context, IntentClass, classify_shell};

    fn sd(s: &str) -> bool {
        classify_shell(s, &Context::builtin()).has(IntentClass::SchemaDestroy)
    }

    #[test]
    fn sql_statements() {
        assert!(sd("psql -c 'DROP TABLE users'"));
        assert!(sd("psql -U app -c 'select 1' -c 'truncate audit_log'"));
        assert!(sd("mysql -e 'SELECT 1; DELETE FROM orders'"));
        assert!(sd("mysql --execute='UPDATE users SET admin=1'"));
        assert!(sd("sqlite3 app.db 'drop table sessions'"));
        assert!(sd("echo 'DROP DATABASE prod;' | mysql -uroot"));
        assert!(sd("psql <<< 'ALTER TABLE users DROP COLUMN email'"));
        assert!(sd("clickhouse-client --query 'TRUNCATE TABLE events'"));
        assert!(!sd("psql -c \"SELECT 'DROP TABLE x'\""));
        assert!(!sd("psql -c 'DELETE FROM sessions WHERE expires < now()'"));
        assert!(!sd("mysql -e 'DROP TEMPORARY TABLE tmp_x'"));
        assert!(!sd("sqlite3 app.db .tables"));
    }

    #[test]
    fn nosql() {
        assert!(sd("redis-cli -h cache FLUSHALL"));
        assert!(sd("mongosh prod --eval 'db.dropDatabase()'"));
        assert!(sd("mongo app --eval 'db.users.deleteMany({})'"));
        assert!(!sd("redis-cli GET session:1"));
        assert!(!sd("mongosh --eval 'db.users.deleteMany({active:false})'"));
    }

    #[test]
    fn text_without_a_destructive_keyword_is_not_parsed() {
        assert!(!super::may_destroy("SELECT * FROM users WHERE id = 1"));
        assert!(!super::may_destroy("INSERT INTO t VALUES (1); \\dt"));
        for s in ["DROP TABLE x", "drop table x", "TrUnCaTe t", "x; delete from t", "UPDATE t SET a=1", "alter table t drop column c"] {
            assert!(super::may_destroy(s), "{s}");
        }
    }

    #[test]
    fn keyword_fallback_blanks_literals() {
        assert!(super::keyword_scan("DROP TABLE `x` ???").is_some());
        assert!(super::keyword_scan("INSERT INTO t VALUES ('DROP TABLE x') ???").is_none());
    }
}
