//! Marker library so guard-agent can name guard-ebpf as a build dependency (the
//! programs themselves are the binary target, built for bpfel by aya-build).
#![no_std]
