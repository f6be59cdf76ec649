//! Removes the directories of throw-away clusters whose processes are gone. A process-wide cluster lives in a
//! `static` that is never dropped: its postmaster dies with the process (see `spawner`), but its directory stays
//! until the next cluster start sweeps it.

use std::path::Path;
use std::time::Duration;

/// The file, in each cluster directory, naming the process that made it.
pub(crate) const OWNER_FILE: &str = "owner.pid";
/// Cluster directories are named `cluster-…`; nothing else under the root is touched.
pub(crate) const CLUSTER_PREFIX: &str = "cluster-";
/// A directory without any pid file is left alone this long: it may be one being created right now.
const UNCLAIMED_GRACE: Duration = Duration::from_secs(10 * 60);

/// Removes every `cluster-*` directory under `root` whose owning process and postmaster (`data/postmaster.pid`) are
/// both dead. Returns how many were removed. Directories it cannot read or remove are left alone.
pub fn sweep_stale_clusters(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_cluster = entry.file_name().to_string_lossy().starts_with(CLUSTER_PREFIX);
        if !is_cluster || !path.is_dir() || !is_stale(&path) {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::debug!(dir = %path.display(), "removed a stale PostgreSQL test cluster");
                removed += 1;
            }
            Err(error) => {
                tracing::debug!(dir = %path.display(), %error, "cannot remove a stale test cluster")
            }
        }
    }
    removed
}

fn is_stale(dir: &Path) -> bool {
    let mut pids = Vec::new();
    for file in [dir.join(OWNER_FILE), dir.join("data").join("postmaster.pid")] {
        match std::fs::read_to_string(&file) {
            Ok(text) => pids.push(text.lines().next().and_then(|line| line.trim().parse::<i32>().ok())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            // Unreadable (someone else's cluster): not ours to judge.
            Err(_) => return false,
        }
    }
    if pids.is_empty() {
        return std::fs::metadata(dir)
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > UNCLAIMED_GRACE);
    }
    // A pid file with garbage in it counts as dead.
    !pids.into_iter().flatten().any(process_is_alive)
}

/// Whether a process with this pid is running (`EPERM` means it is, owned by someone else). A zombie is not: an
/// orphaned postmaster may stay unreaped where PID 1 does not reap.
pub fn process_is_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let result = unsafe { libc::kill(pid, 0) };
    let exists = result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    // The state follows the parenthesised command name, which may itself contain spaces or parentheses.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}
