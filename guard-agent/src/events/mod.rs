//! Exec events: decoding the kernel's records and writing them as JSON lines.
pub mod decode;
pub mod json;
pub mod reader;
