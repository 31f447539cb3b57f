//! Types shared by guard's eBPF programs (no_std) and its user-space agent.
//!
//! Every type here is `#[repr(C)]`, has no implicit padding (padding is spelled out as
//! `_pad` fields) and no `bool` or enum fields, so the kernel and user space agree on its
//! bytes. Sizes are pinned by `const` assertions; the agent checks offsets against the
//! BTF of the built eBPF object in its tests.
#![no_std]

pub mod config;
pub mod enforce;
pub mod event;
pub mod matcher;

/// Where the agent pins its programs, links and maps in bpffs.
pub const PIN_ROOT: &str = "/sys/fs/bpf/guard";
