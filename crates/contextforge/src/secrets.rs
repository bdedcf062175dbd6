//! Secrets the gateway requires (`JWT_SECRET_KEY`, `AUTH_ENCRYPTION_SECRET`): made with the
//! operating system's CSPRNG, written only to files readable by their owner, never printed.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::RngCore;

/// Random bytes per secret: 48 bytes make 64 URL-safe characters, above the gateway's minimum
/// of 32 and nowhere near its list of weak values.
const SECRET_BYTES: usize = 48;

pub fn generate() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Writes `contents` to `path` with mode 0600, replacing the file atomically: through a temporary
/// file of a name no other writer uses (created 0600, never opened if it exists), in the same
/// directory so the rename cannot cross file systems, synced before it is renamed into place.
/// Two writers at once each replace the file whole; the last rename wins.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = unique_temp_path(path);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // The rename itself is durable only once the directory is synced.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// `.<name>.<pid>-<random>.tmp` beside `path`: unique per process and per call.
fn unique_temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let random = rand::rngs::OsRng.next_u64();
    path.with_file_name(format!(".{name}.{}-{random:016x}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_long_random_and_url_safe() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn private_files_are_owner_only() {
        let dir = std::env::temp_dir().join(format!("cf-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        write_private(&path, b"{}").unwrap();
        write_private(&path, b"{\"again\":1}").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"again\":1}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writers_at_once_never_clash_and_leave_one_whole_file() {
        let dir = std::env::temp_dir().join(format!("cf-secret-race-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let contents: Vec<Vec<u8>> = (0..8).map(|i| vec![b'a' + i; 4096]).collect();
        std::thread::scope(|s| {
            for body in &contents {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..20 {
                        write_private(path, body).unwrap();
                    }
                });
            }
        });
        assert!(contents.contains(&std::fs::read(&path).unwrap()));
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
