//! Enforcement: the signatures the kernel decides alone, compiled from the policy into
//! the kernel's maps, and the same tables evaluated in user space.
pub mod apply;
pub mod compile;
pub mod facts;
pub mod reason;
pub mod signatures;
