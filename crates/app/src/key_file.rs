//! The embedded default's server key file, `<data-dir>/server.key` (mode 0600).

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use pinbridge_domain::ServerKey;

use crate::{AppError, Result};

/// Reads `<dir>/server.key`, creating the directory and the key on first use.
///
/// A new key is written to a private temporary file and then hard-linked into place,
/// which fails if the name exists: two processes starting at once agree on one key, and
/// nobody ever reads a half-written file.
pub fn load_or_create_key(dir: &Path) -> Result<ServerKey> {
    let err =
        |what: &str, e: std::io::Error| AppError::Key(format!("{what} {}: {e}", dir.display()));
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| err("cannot create the data directory", e))?;
    }
    let path = dir.join("server.key");
    if !path.exists() {
        let key = ServerKey::generate(&mut rand_core::OsRng);
        let tmp = dir.join(format!(".server.key.{}", std::process::id()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err("cannot write the server key in", e))?;
        file.write_all(format!("{}\n", key.to_hex()).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| err("cannot write the server key in", e))?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => return Ok(key),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err("cannot create the server key in", e)),
        }
    }
    let text = fs::read_to_string(&path)
        .map_err(|e| AppError::Key(format!("cannot read {}: {e}", path.display())))?;
    let mode = fs::metadata(&path)
        .map(|m| m.permissions().mode() & 0o077)
        .unwrap_or(0);
    if mode != 0 {
        tracing::warn!(path = %path.display(), "the server key file is readable by others; chmod 600 it");
    }
    ServerKey::parse_hex(&text).map_err(|e| AppError::Key(format!("{}: {e}", path.display())))
}
