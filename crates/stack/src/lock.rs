//! Exclusive file locks (flock), the one helper for everything that must not run twice at once:
//! the commands that change a stack (`up`, `down`, `clean`, and `load-test` through them) on one
//! state directory, and pip into one cached venv. A lock is taken on a file that is still at its
//! path once locked — `clean` removes the state directory, lock file and all, while a waiter holds
//! the file open; the waiter then finds another file (or none) there and locks again.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cli::Signal;

use crate::StackError;

/// The lock file inside a state directory.
pub const LOCK_FILE: &str = "lock";

/// How often a waiter tries the lock again.
const RETRY: Duration = Duration::from_millis(100);

/// An exclusive lock on a file, released when dropped (or when the process ends, however).
#[derive(Debug)]
pub struct FileLock {
    /// Held, not read: the lock lasts as long as this descriptor.
    _file: std::fs::File,
    path: PathBuf,
}

impl FileLock {
    /// Waits (blocking the thread) until the lock on `path` is held.
    pub fn acquire(path: &Path) -> std::io::Result<FileLock> {
        loop {
            if let Some(lock) = Self::lock(path, libc::LOCK_EX)? {
                return Ok(lock);
            }
        }
    }

    /// The lock on `path` if nobody holds it now, else None.
    pub fn try_acquire(path: &Path) -> std::io::Result<Option<FileLock>> {
        loop {
            match Self::lock(path, libc::LOCK_EX | libc::LOCK_NB) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                Ok(None) => continue,
                other => return other,
            }
        }
    }

    /// One attempt: the lock, or None when the file locked is no longer the one at `path`.
    fn lock(path: &Path, operation: libc::c_int) -> std::io::Result<Option<FileLock>> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)?;
        // SAFETY: flock(2) on a descriptor we own; no memory effects.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } != 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let locked = file.metadata()?;
        let still_there = std::fs::metadata(path)
            .is_ok_and(|now| (now.dev(), now.ino()) == (locked.dev(), locked.ino()));
        if !still_there {
            return Ok(None);
        }
        // Who holds it, for whoever waits: this process's id.
        file.set_len(0)?;
        write!(file, "{}", std::process::id())?;
        Ok(Some(FileLock {
            _file: file,
            path: path.to_path_buf(),
        }))
    }

    /// The pid written by the holder of the lock on `path`, if it can be read.
    fn holder(path: &Path) -> Option<u32> {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }
}

/// One command's hold on a stack: the lock on `<state dir>/lock`.
#[derive(Debug)]
pub struct StackLock {
    lock: FileLock,
    /// The state directory did not exist before this hold made it.
    made_dir: bool,
}

impl StackLock {
    /// Holds the stack in `state_dir` (made 0700 if missing), waiting while another command holds
    /// it: `on_wait` is told so once, in one line. Waiting ends early with
    /// [`StackError::Interrupted`] when `stop` resolves.
    pub async fn hold<S>(
        state_dir: &Path,
        mut stop: std::pin::Pin<&mut S>,
        on_wait: impl FnOnce(&str),
    ) -> Result<StackLock, StackError>
    where
        S: std::future::Future<Output = Signal>,
    {
        let made_dir = !state_dir.exists();
        let path = state_dir.join(LOCK_FILE);
        let mut on_wait = Some(on_wait);
        loop {
            crate::state::private_dir(state_dir)
                .map_err(|e| crate::infra(format!("{}: {e}", state_dir.display())))?;
            match FileLock::try_acquire(&path) {
                Ok(Some(lock)) => return Ok(StackLock { lock, made_dir }),
                // Removed between making the directory and opening the file: make it again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(crate::infra(format!("cannot lock {}: {e}", path.display()))),
                Ok(None) => {}
            }
            if let Some(tell) = on_wait.take() {
                let holder =
                    FileLock::holder(&path).map_or_else(String::new, |p| format!(" (pid {p})"));
                tell(&format!(
                    "another mcpbench command{holder} holds the stack in {}: waiting for it",
                    state_dir.display()
                ));
            }
            tokio::select! {
                signal = stop.as_mut() => return Err(StackError::Interrupted(signal)),
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    /// Whether the state directory did not exist before this hold made it.
    pub fn made_dir(&self) -> bool {
        self.made_dir
    }

    /// Releases the hold; when the hold made the state directory and it still holds nothing but
    /// the lock file, removes it too (a `down` with nothing up leaves no trace).
    pub fn release(self) {
        let dir = self.lock.path.parent().map(Path::to_path_buf);
        if let Some(dir) = dir.filter(|_| self.made_dir) {
            let only_the_lock = std::fs::read_dir(&dir).is_ok_and(|entries| {
                entries
                    .flatten()
                    .all(|e| e.file_name() == std::ffi::OsStr::new(LOCK_FILE))
            });
            if only_the_lock {
                // Removed while held: a waiter on this file finds it gone and locks afresh.
                let _ = std::fs::remove_file(&self.lock.path);
                let _ = std::fs::remove_dir(&dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stack-lock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn never() -> std::future::Pending<Signal> {
        std::future::pending()
    }

    #[test]
    fn two_holders_serialise() {
        let dir = temp_dir("serialise");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(LOCK_FILE);
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..4 {
                let (path, inside, most) = (&path, inside.clone(), most.clone());
                s.spawn(move || {
                    for _ in 0..10 {
                        let _lock = FileLock::acquire(path).unwrap();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 1, "never two holders at once");
        assert!(
            FileLock::try_acquire(&path).unwrap().is_some(),
            "free afterwards"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_waiter_says_so_once_and_holds_after_the_directory_was_removed_under_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("removed");
        let first = StackLock::hold(&dir, std::pin::pin!(never()), |_| panic!("free"))
            .await
            .unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let told = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let waiter = {
            let (dir, told) = (dir.clone(), told.clone());
            tokio::spawn(async move {
                let lock = StackLock::hold(&dir, std::pin::pin!(never()), |line| {
                    told.lock().unwrap().push(line.to_string())
                })
                .await
                .unwrap();
                (lock.lock.path.exists(), lock)
            })
        };
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!waiter.is_finished(), "the second holder waits");
        // `clean` removes the directory, lock file and all, while holding it.
        std::fs::remove_dir_all(&dir).unwrap();
        drop(first);
        let (lock_file_exists, second) = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(
            lock_file_exists && dir.is_dir(),
            "it locked a file that is there"
        );
        let told = told.lock().unwrap().clone();
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0].contains(&format!(
                "another mcpbench command (pid {})",
                std::process::id()
            )) && !told[0].contains('\n'),
            "{told:?}"
        );
        drop(second);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn waiting_ends_with_the_stop_signal() {
        let dir = temp_dir("stop");
        let _held = StackLock::hold(&dir, std::pin::pin!(never()), |_| {})
            .await
            .unwrap();
        let stop = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Signal::Terminate
        };
        let waited = StackLock::hold(&dir, std::pin::pin!(stop), |_| {}).await;
        assert!(
            matches!(waited, Err(StackError::Interrupted(Signal::Terminate))),
            "{waited:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_hold_that_made_the_directory_leaves_no_trace() {
        let dir = temp_dir("trace");
        let lock = StackLock::hold(&dir, std::pin::pin!(never()), |_| {})
            .await
            .unwrap();
        lock.release();
        assert!(!dir.exists());
        std::fs::create_dir_all(&dir).unwrap();
        let lock = StackLock::hold(&dir, std::pin::pin!(never()), |_| {})
            .await
            .unwrap();
        lock.release();
        assert!(
            dir.join(LOCK_FILE).exists(),
            "a directory it did not make stays"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
