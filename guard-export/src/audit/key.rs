//! The checkpoint signing key: generated on first use (0600), public half exportable.
//!
//! The private key file holds the 32-byte Ed25519 seed as 64 hex digits and a newline;
//! the public key is 64 hex digits (also what checkpoints carry in `key`).

use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};

use super::{AuditError, hex, io_err, unhex};

/// Loads the private key at `path`, or generates one there (mode 0600, created
/// exclusively) when the file does not exist. A key file readable by group or others is
/// refused.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, AuditError> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(AuditError::KeyPermissions(path.display().to_string()));
            }
            let text = std::fs::read_to_string(path).map_err(io_err(path))?;
            let seed = unhex::<32>(&text).ok_or_else(|| AuditError::BadKey(path.display().to_string()))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut seed))
                .map_err(io_err(Path::new("/dev/urandom")))?;
            let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io_err(path))?;
            f.write_all(format!("{}\n", hex(&seed)).as_bytes()).map_err(io_err(path))?;
            f.sync_all().map_err(io_err(path))?;
            Ok(SigningKey::from_bytes(&seed))
        }
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The public half as 64 hex digits (what `audit verify --key` takes).
pub fn public_key_hex(key: &SigningKey) -> String {
    hex(key.verifying_key().as_bytes())
}

/// Parses a public key from 64 hex digits.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, AuditError> {
    unhex::<32>(text)
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| AuditError::BadKey(text.trim().chars().take(80).collect()))
}

/// Reads a public key file (64 hex digits).
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, AuditError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    parse_public_key(&text).map_err(|_| AuditError::BadKey(path.display().to_string()))
}
