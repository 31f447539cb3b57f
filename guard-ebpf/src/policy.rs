//! The compiled policy: maps the agent fills, and the decision taken from them.

use aya_ebpf::{
    helpers::generated::bpf_loop,
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray},
};
use guard_common::{
    enforce::{AgentState, CachedVerdict, EnforceConfig, Held, VerdictKey, decide, decision, intent, mode, rule_kind, table_used},
    event::{ExecEvent, FLAG_TTY},
    matcher::{FNV_BASIS, HASH_BUSYBOX, RuleFilter, RuleSet, Scanner, Tables, fnv, rule_key},
};

/// Rules per binary name hash.
#[map]
pub static RULES: HashMap<u64, RuleSet> = HashMap::with_max_entries(1024, 0);
/// Which keys `RULES` may hold; entry 0 (see `RuleFilter`).
#[map]
pub static RULE_FILTER: Array<RuleFilter> = Array::with_max_entries(1, 0);
/// Keyword bits per lower-case word hash.
#[map]
pub static KEYWORDS: HashMap<u64, u64> = HashMap::with_max_entries(1024, 0);
/// Path bits per normalised path hash.
#[map]
pub static PATHS: HashMap<u64, u32> = HashMap::with_max_entries(8192, 0);
/// Mode per uid.
#[map]
pub static MODES_UID: HashMap<u32, u8> = HashMap::with_max_entries(4096, 0);
/// Mode per cgroup id (pods, systemd units): the most specific selector.
#[map]
pub static MODES_CGROUP: HashMap<u64, u8> = HashMap::with_max_entries(4096, 0);
/// Whether `MODES_UID` (entry `table_used::UID`), `MODES_CGROUP` (`table_used::CGROUP`)
/// and `QUARANTINE` (`table_used::QUARANTINE`) may hold entries: an empty table is not
/// looked up (a hash lookup costs a hash of the key and a bucket walk; this is an
/// inlined array read, and the three entries share a cache line). The agent sets an
/// entry before it fills the table and clears a mode table's after emptying it; the
/// quarantine's stays set (fork and exit skip the map until the first quarantine).
#[map]
pub static TABLES_USED: Array<u32> = Array::with_max_entries(table_used::COUNT, 0);
/// The scanner's state while it runs. It lives in map memory on purpose: the verifier
/// re-checks a `bpf_loop` callback until its state converges, and state kept on the
/// stack is tracked value by value (path depth, flags), which never converges; map
/// memory is opaque to it, so one pass suffices.
#[map]
static SCANNER: PerCpuArray<Scanner> = PerCpuArray::with_max_entries(1, 0);
/// Global settings; entry 0.
#[map]
pub static CONFIG: Array<EnforceConfig> = Array::with_max_entries(1, 0);
/// The agent's heartbeat and hold settings; entry 0.
#[map]
pub static AGENT: Array<AgentState> = Array::with_max_entries(1, 0);
/// Processes parked for the agent's verdict, by tgid.
#[map]
pub static HELD: HashMap<u32, Held> = HashMap::with_max_entries(4096, 0);
/// The agent's verdicts on commands it held, so the same command is decided here next
/// time (least recently used entries go first).
#[map]
pub static VERDICTS: LruHashMap<VerdictKey, CachedVerdict> = LruHashMap::with_max_entries(8192, 0);
/// Quarantined processes (tgid → CLOCK_MONOTONIC when flagged): every exec refused.
/// Children inherit the entry at fork; it goes when the process exits.
#[map]
pub static QUARANTINE: HashMap<u32, u64> = HashMap::with_max_entries(4096, 0);
/// Whether the agent has ever quarantined anything since load.
#[inline(always)]
pub fn quarantine_in_use() -> bool {
    may_hold(table_used::QUARANTINE)
}

/// Whether the process `tgid` is quarantined.
#[inline(always)]
pub fn quarantined(tgid: u32) -> bool {
    // SAFETY: only tested for presence.
    quarantine_in_use() && unsafe { QUARANTINE.get(&tgid) }.is_some()
}

/// The maps, seen by the shared matcher.
pub struct KernelTables;

impl Tables for KernelTables {
    #[inline(always)]
    fn keyword(&self, hash: u64) -> u64 {
        // SAFETY: the value is copied out at once.
        unsafe { KEYWORDS.get(&hash) }.copied().unwrap_or(0)
    }
    #[inline(always)]
    fn path(&self, hash: u64) -> u32 {
        // SAFETY: as above.
        unsafe { PATHS.get(&hash) }.copied().unwrap_or(0)
    }
}

/// The config, when a policy is loaded.
#[inline(always)]
pub fn config() -> Option<&'static EnforceConfig> {
    CONFIG.get(0).filter(|c| c.enabled != 0)
}

/// The identity's mode: cgroup, then uid, then the non-interactive selector, then the
/// default.
#[inline(always)]
pub fn mode_of(ev: &ExecEvent, cfg: &EnforceConfig) -> u8 {
    mode::of(identity_of(ev, cfg))
}

/// Whether the identity's holds fail open (looked up again: only a hold needs it).
#[inline(always)]
pub fn fails_open(ev: &ExecEvent, cfg: &EnforceConfig) -> bool {
    identity_of(ev, cfg) & mode::FAIL_OPEN != 0
}

#[inline(always)]
fn may_hold(table: u32) -> bool {
    TABLES_USED.get(table).is_none_or(|n| *n != 0)
}

/// The identity's mode value as the maps and the config hold it ([`mode::FAIL_OPEN`]
/// included).
#[inline(always)]
fn identity_of(ev: &ExecEvent, cfg: &EnforceConfig) -> u8 {
    if may_hold(table_used::CGROUP) {
        // SAFETY: values copied out at once.
        if let Some(m) = unsafe { MODES_CGROUP.get(&ev.cgroup_id) } {
            return *m;
        }
    }
    if may_hold(table_used::UID) {
        // SAFETY: as above.
        if let Some(m) = unsafe { MODES_UID.get(&ev.uid) } {
            return *m;
        }
    }
    let interactive = ev.header.flags & FLAG_TTY != 0 || ev.loginuid != u32::MAX;
    if cfg.non_interactive_mode != mode::UNSET && !interactive {
        return cfg.non_interactive_mode;
    }
    cfg.default_mode
}

/// A decision with what it rests on.
#[derive(Clone, Copy)]
pub struct Verdict {
    pub decision: u8,
    pub class: u8,
    pub rule_id: u16,
    /// From the agent's verdict cache.
    pub cached: bool,
    /// A confirm rule asked for the agent: without one, the exec is denied whatever
    /// the fail mode (the signature matched).
    pub confirm: bool,
}

impl Verdict {
    pub const ALLOW: Self = Self { decision: decision::ALLOW, class: intent::NONE, rule_id: 0, cached: false, confirm: false };
}

/// Mask for byte offsets into the scratch data.
const DATA_MASK: usize = 0x1ffff;

/// Where the bytes are and how far the scan got (the `bpf_loop` context).
#[repr(C)]
struct LoopCtx {
    data: *const u8,
    start: usize,
    /// Bytes to hash (`name_hashes` only).
    len: usize,
    basename: u64,
    exact: u64,
    scanner: *mut Scanner,
}

/// Hashes of a name in `data[start..start+len]`: (basename, whole string).
#[inline(always)]
pub fn name_hashes(data: *const u8, start: usize, len: usize) -> (u64, u64) {
    let len = len & 0xfff;
    let mut ctx = LoopCtx { data, start, len, basename: FNV_BASIS, exact: FNV_BASIS, scanner: core::ptr::null_mut() };
    // SAFETY: the callback reads masked offsets of the scratch data only.
    unsafe { bpf_loop(len.div_ceil(NAME_STEP) as u32, name_step as *mut _, (&raw mut ctx).cast(), 0) };
    (ctx.basename, ctx.exact)
}

/// Bytes hashed per `name_step`: a loop turn costs a callback call, more than a byte.
const NAME_STEP: usize = 8;

extern "C" fn name_step(index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: `ctx` is the LoopCtx on the caller's stack.
    let ctx = unsafe { &mut *ctx.cast::<LoopCtx>() };
    let first = index as usize * NAME_STEP;
    let mut j = 0;
    while j < NAME_STEP {
        let i = first + j;
        if i >= ctx.len {
            return 1;
        }
        // SAFETY: masked offset inside the scratch data.
        let b = unsafe { *ctx.data.add((ctx.start + i) & DATA_MASK) };
        ctx.exact = fnv(ctx.exact, b);
        ctx.basename = if b == b'/' { FNV_BASIS } else { fnv(ctx.basename, b) };
        j += 1;
    }
    0
}

extern "C" fn scan_step(index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: `ctx` is the LoopCtx on the caller's stack.
    let ctx = unsafe { &mut *ctx.cast::<LoopCtx>() };
    // SAFETY: masked offset inside the scratch data.
    let b = unsafe { *ctx.data.add((ctx.start + index as usize) & DATA_MASK) };
    if ctx.scanner.is_null() {
        return 1;
    }
    // SAFETY: this CPU's scanner slot, set by `judge`.
    unsafe { (*ctx.scanner).step(b, &KernelTables) };
    // The argv hash of the verdict cache.
    ctx.exact = fnv(ctx.exact, b);
    0
}

/// Judges the argv blob at `data[argv_at..argv_at+argv_len]` for the binary whose
/// basename hash is `binary`. `skip_through` as in [`Scanner::new`].
#[inline(always)]
pub fn judge(data: *const u8, binary: u64, argv_at: usize, argv_len: usize, skip_through: u64, mode: u8, cfg: &EnforceConfig) -> Verdict {
    // SAFETY: only tested for presence (busybox has no rules of its own).
    if binary != HASH_BUSYBOX && (!may_have_rules(binary) || unsafe { RULES.get(&binary) }.is_none()) {
        return Verdict::ALLOW;
    }
    let Some(scanner) = SCANNER.get_ptr_mut(0) else {
        return Verdict::ALLOW;
    };
    // SAFETY: this CPU's slot; programs on one CPU do not interleave on it.
    unsafe { (*scanner).reset(skip_through) };
    let mut ctx = LoopCtx { data, start: argv_at, len: 0, basename: 0, exact: FNV_BASIS, scanner };
    // SAFETY: as in name_hashes.
    unsafe { bpf_loop((argv_len & 0xffff) as u32, scan_step as *mut _, (&raw mut ctx).cast(), 0) };
    // SAFETY: as above.
    let scan = unsafe { (*scanner).finish(&KernelTables) };
    // SAFETY: the rule set is only read.
    let Some(rules) = (unsafe { RULES.get(&rule_key(binary, &scan)) }) else {
        return Verdict::ALLOW;
    };
    match rules.first_match(&scan) {
        Some(rule) if rule.kind == rule_kind::HOLD => {
            if mode != mode::STRICT {
                return Verdict::ALLOW;
            }
            ask_agent(binary, ctx.exact, mode, cfg, intent::NONE, rule.rule_id, false)
        }
        Some(rule) => {
            let decided = decide(mode, cfg.action[rule.class as usize & 7]);
            if rule.kind == rule_kind::CONFIRM && decided != decision::AUDIT {
                return ask_agent(binary, ctx.exact, mode, cfg, rule.class, rule.rule_id, true);
            }
            Verdict { decision: decided, class: rule.class, rule_id: rule.rule_id, cached: false, confirm: false }
        }
        None => Verdict::ALLOW,
    }
}

/// Whether `RULES` may hold `key`: one inlined array read, where the hash map's
/// lookup costs a hash of the key, a call and a bucket line, cold at every exec.
#[inline(always)]
fn may_have_rules(key: u64) -> bool {
    RULE_FILTER.get(0).is_none_or(|f| f.may_hold(key))
}

/// The agent's cached verdict on this exact command, else a hold for it.
#[inline(always)]
fn ask_agent(binary: u64, argv_hash: u64, mode: u8, cfg: &EnforceConfig, class: u8, rule_id: u16, confirm: bool) -> Verdict {
    let key = VerdictKey { binary, argv_hash, policy_version: cfg.policy_version, mode, _pad: [0; 3] };
    // SAFETY: the value is copied out at once.
    match unsafe { VERDICTS.get(&key) } {
        Some(c) => Verdict { decision: c.decision, class: c.class, rule_id: c.rule_id, cached: true, confirm },
        None => Verdict { decision: decision::HOLD, class, rule_id, cached: false, confirm },
    }
}
