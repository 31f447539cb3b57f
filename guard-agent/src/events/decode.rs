//! Decoding a ring-buffer record into an owned [`ExecRecord`], checking every length.

use guard_common::event::{
    EVENT_VERSION, EventHeader, ExecEvent, FLAG_ARGC_LOWER_BOUND, FLAG_ARGV_TRUNCATED,
    FLAG_EXE_TRUNCATED, FLAG_EXECVEAT, FLAG_FAILED, FLAG_FILENAME_TRUNCATED, FLAG_READ_ERROR,
    FLAG_CACHED, FLAG_HOLD_OFFLINE, FLAG_QUARANTINED, FLAG_SCAN_INCOMPLETE, FLAG_SCRIPT, FLAG_TAMPERED, FLAG_TTY, KIND_EXEC,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than its {need}-byte header")]
    Short { len: usize, need: usize },
    #[error("record version {found} is not the supported version {EVENT_VERSION}")]
    Version { found: u16 },
    #[error("record kind {found} is unknown")]
    Kind { found: u16 },
    #[error("record declares {declared} data bytes but carries {available}")]
    Lengths { declared: usize, available: usize },
}

/// One exec attempt, as the kernel reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRecord {
    pub event: ExecEvent,
    /// Path the caller passed to execve.
    pub filename: Vec<u8>,
    /// What the kernel ran for it (`#!` interpreter); empty for failed execs.
    pub interp: Vec<u8>,
    /// Resolved absolute path of the executed file; empty for failed execs.
    pub exe: Vec<u8>,
    pub argv: Argv,
}

/// argv as the kernel sent it: NUL-terminated strings in one buffer (the last may lack
/// its NUL when truncated). One allocation per event instead of one per argument; the
/// few consumers that want owned strings (a classifier run, a hold) ask for them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Argv {
    /// The strings without the final NUL; `None` for no argument at all, while
    /// `Some` of an empty buffer is one empty argument.
    joined: Option<Vec<u8>>,
}

impl Argv {
    /// From the kernel's buffer.
    pub fn from_blob(blob: &[u8]) -> Self {
        if blob.is_empty() {
            return Self { joined: None };
        }
        Self { joined: Some(blob.strip_suffix(&[0]).unwrap_or(blob).to_vec()) }
    }

    /// The arguments, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.joined.iter().flat_map(|j| j.split(|&b| b == 0))
    }

    /// The arguments joined by NULs; `None` for no argument at all.
    pub fn joined(&self) -> Option<&[u8]> {
        self.joined.as_deref()
    }

    /// The arguments as owned strings.
    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.iter().map(<[u8]>::to_vec).collect()
    }
}

impl ExecRecord {
    fn flag(&self, bit: u32) -> bool {
        self.event.header.flags & bit != 0
    }
    pub fn failed(&self) -> bool {
        self.flag(FLAG_FAILED)
    }
    pub fn argv_truncated(&self) -> bool {
        self.flag(FLAG_ARGV_TRUNCATED)
    }
    pub fn argc_lower_bound(&self) -> bool {
        self.flag(FLAG_ARGC_LOWER_BOUND)
    }
    pub fn exe_truncated(&self) -> bool {
        self.flag(FLAG_EXE_TRUNCATED)
    }
    pub fn filename_truncated(&self) -> bool {
        self.flag(FLAG_FILENAME_TRUNCATED)
    }
    pub fn read_error(&self) -> bool {
        self.flag(FLAG_READ_ERROR)
    }
    pub fn tty(&self) -> bool {
        self.flag(FLAG_TTY)
    }
    pub fn execveat(&self) -> bool {
        self.flag(FLAG_EXECVEAT)
    }
    pub fn tampered(&self) -> bool {
        self.flag(FLAG_TAMPERED)
    }
    pub fn hold_offline(&self) -> bool {
        self.flag(FLAG_HOLD_OFFLINE)
    }
    pub fn cached(&self) -> bool {
        self.flag(FLAG_CACHED)
    }
    pub fn quarantined(&self) -> bool {
        self.flag(FLAG_QUARANTINED)
    }
    pub fn scan_incomplete(&self) -> bool {
        self.flag(FLAG_SCAN_INCOMPLETE)
    }
}

/// Decodes one record. Never panics: every length is checked against the buffer.
pub fn decode(buf: &[u8]) -> Result<ExecRecord, DecodeError> {
    let header_len = size_of::<EventHeader>();
    if buf.len() < header_len {
        return Err(DecodeError::Short { len: buf.len(), need: header_len });
    }
    // SAFETY: length checked; read_unaligned makes no alignment assumption.
    let header: EventHeader = unsafe { buf.as_ptr().cast::<EventHeader>().read_unaligned() };
    if header.version != EVENT_VERSION {
        return Err(DecodeError::Version { found: header.version });
    }
    if header.kind != KIND_EXEC {
        return Err(DecodeError::Kind { found: header.kind });
    }
    let fixed = size_of::<ExecEvent>();
    if buf.len() < fixed {
        return Err(DecodeError::Short { len: buf.len(), need: fixed });
    }
    // SAFETY: as above; ExecEvent is plain integers and byte arrays.
    let event: ExecEvent = unsafe { buf.as_ptr().cast::<ExecEvent>().read_unaligned() };
    let data = &buf[fixed..];
    let lens = [event.filename_len, event.interp_len, event.exe_len, event.argv_len];
    let declared: usize = lens.iter().map(|&l| l as usize).sum();
    if declared > data.len() {
        return Err(DecodeError::Lengths { declared, available: data.len() });
    }
    let mut parts = lens.iter().scan(0usize, |pos, &len| {
        let start = *pos;
        *pos += len as usize;
        Some(&data[start..*pos])
    });
    let mut next = || parts.next().unwrap_or_default();
    let filename = next().to_vec();
    let interp = next().to_vec();
    // A completed exec that is no script ran its filename: the kernel did not copy it twice.
    let completed = event.header.flags & FLAG_FAILED == 0;
    let interp = if completed && event.header.flags & FLAG_SCRIPT == 0 { filename.clone() } else { interp };
    let exe = join_components(next());
    let argv = Argv::from_blob(next());
    Ok(ExecRecord { event, filename, interp, exe, argv })
}

/// The kernel writes path components leaf first, each NUL-terminated.
fn join_components(blob: &[u8]) -> Vec<u8> {
    if blob.is_empty() {
        return Vec::new();
    }
    let mut path = Vec::with_capacity(blob.len() + 1);
    for component in blob.strip_suffix(&[0]).unwrap_or(blob).split(|&b| b == 0).rev() {
        path.push(b'/');
        path.extend_from_slice(component);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(filename: &[u8], exe_blob: &[u8], argv_blob: &[u8]) -> Vec<u8> {
        let event = ExecEvent {
            header: EventHeader { version: EVENT_VERSION, kind: KIND_EXEC, flags: 0, ts_ns: 7 },
            filename_len: filename.len() as u32,
            exe_len: exe_blob.len() as u32,
            argv_len: argv_blob.len() as u32,
            pid: 42,
            ..ExecEvent::default()
        };
        // SAFETY: ExecEvent is plain old data.
        let fixed = unsafe {
            std::slice::from_raw_parts((&raw const event).cast::<u8>(), size_of::<ExecEvent>())
        };
        [fixed, filename, exe_blob, argv_blob].concat()
    }

    #[test]
    fn decodes_paths_and_argv() {
        let buf = record(b"./x", b"true\0bin\0usr\0", b"true\0\0a b\0\xff\0");
        let r = decode(&buf).unwrap();
        assert_eq!(r.event.pid, 42);
        assert_eq!(r.filename, b"./x");
        assert_eq!(r.exe, b"/usr/bin/true");
        assert_eq!(r.argv.to_vecs(), vec![b"true".to_vec(), vec![], b"a b".to_vec(), vec![0xff]]);
        assert_eq!(r.argv.joined(), Some(&b"true\0\0a b\0\xff"[..]));
    }

    #[test]
    fn empty_argv_and_single_empty_argument_differ() {
        assert!(decode(&record(b"", b"", b"")).unwrap().argv.to_vecs().is_empty());
        assert_eq!(decode(&record(b"", b"", b"\0")).unwrap().argv.to_vecs(), vec![Vec::<u8>::new()]);
        // Cut at the capture limit: the last argument has no NUL.
        assert_eq!(decode(&record(b"", b"", b"ab\0c")).unwrap().argv.to_vecs(), vec![b"ab".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn short_buffers_are_errors() {
        assert_eq!(decode(&[0; 3]), Err(DecodeError::Short { len: 3, need: 16 }));
        let buf = record(b"a", b"", b"");
        assert!(matches!(decode(&buf[..100]), Err(DecodeError::Short { len: 100, .. })));
    }

    #[test]
    fn wrong_version_and_kind_are_errors() {
        let mut buf = record(b"a", b"", b"");
        buf[0] = 99;
        assert_eq!(decode(&buf), Err(DecodeError::Version { found: 99 }));
        let mut buf = record(b"a", b"", b"");
        buf[2] = 9;
        assert_eq!(decode(&buf), Err(DecodeError::Kind { found: 9 }));
    }

    #[test]
    fn declared_lengths_beyond_the_buffer_are_errors() {
        let mut buf = record(b"abc", b"", b"x\0");
        buf.truncate(buf.len() - 1);
        assert_eq!(decode(&buf), Err(DecodeError::Lengths { declared: 5, available: 4 }));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..600 {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let mut valid = record(b"f", b"", b"");
            valid.extend_from_slice(&buf);
            let _ = decode(&buf);
            let _ = decode(&valid);
        }
    }
}

#[cfg(test)]
mod abi_doc {
    /// Changing the kernel/user ABI without documenting it fails here: docs/events.md
    /// records the FNV-1a hash of guard-common/src/event.rs.
    #[test]
    fn docs_events_md_matches_the_abi() {
        let src = include_bytes!("../../../guard-common/src/event.rs");
        let doc = include_str!("../../../docs/events.md");
        let hash = format!("{:016x}", guard_common::matcher::fnv_bytes(guard_common::matcher::FNV_BASIS, src));
        assert!(
            doc.contains(&format!("abi-hash: {hash}")),
            "guard-common/src/event.rs changed (hash {hash}): update docs/events.md and its abi-hash line"
        );
    }
}
