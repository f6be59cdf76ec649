//! Starts long-lived helper processes (the postmaster, and for other crates' tests the Pushgateway)
//! so that they die with this process even when no destructor runs — a server held in a `static` is never dropped.
//!
//! Linux delivers `PR_SET_PDEATHSIG` when the *thread* that forked the child exits, not the process. A tokio worker or
//! a test's thread may exit long before the process does, so every such child is forked from one dedicated thread
//! that lives until the process ends.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc;

struct SpawnRequest {
    command: Command,
    reply: mpsc::SyncSender<io::Result<Child>>,
}

static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();

/// Spawns `command` so that it receives `death_signal` when this process exits.
///
/// Any `uid`/`gid` set on `command` is applied by std before the `pre_exec` hook, which matters: a credential change
/// clears the parent-death signal, so it is set afterwards.
pub fn spawn_tied_to_process(mut command: Command, death_signal: libc::c_int) -> io::Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the hook only makes async-signal-safe system calls (prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal as libc::c_ulong, 0, 0, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; then no signal will ever come.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, inbox) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("billing-testdb-spawner".to_owned())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with the process.
                for mut request in inbox {
                    let _ = request.reply.send(request.command.spawn());
                }
            })
            .expect("cannot start the billing-testdb spawner thread");
        requests
    });
    let (reply, answer) = mpsc::sync_channel(1);
    spawner
        .send(SpawnRequest { command, reply })
        .map_err(|_| io::Error::other("the billing-testdb spawner thread is gone"))?;
    answer.recv().map_err(|_| io::Error::other("the billing-testdb spawner thread dropped a request"))?
}
