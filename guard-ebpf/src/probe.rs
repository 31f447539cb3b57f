//! Programs that are only loaded (never attached to anything that runs them) by
//! `guard-agent doctor`, to learn what this kernel accepts.

use aya_ebpf::{
    helpers::generated::bpf_send_signal,
    macros::{lsm, tracepoint},
    programs::{LsmContext, TracePointContext},
};

/// Set to 1 never; read volatile so the helper call below stays in the program.
#[unsafe(no_mangle)]
static PROBE_ARMED: u32 = 0;

/// Loads only where BPF LSM programs are accepted. Allows everything.
#[lsm(hook = "bprm_check_security")]
pub fn probe_lsm(_ctx: LsmContext) -> i32 {
    0
}

/// Loads only where tracing programs may call `bpf_send_signal`.
#[tracepoint]
pub fn probe_send_signal(_ctx: TracePointContext) -> u32 {
    // SAFETY: reading an immutable global.
    if unsafe { core::ptr::read_volatile(&raw const PROBE_ARMED) } == 1 {
        // SAFETY: plain helper call (signal 0 only checks, and this never runs).
        unsafe { bpf_send_signal(0) };
    }
    0
}
