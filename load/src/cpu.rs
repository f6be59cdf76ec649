//! The CPU time the server side of an embedded stack spends: the service process and its own
//! PostgreSQL cluster (the postmaster, its live backends, and what its finished backends used),
//! read from `/proc/PID/stat` before and after a round.
//!
//! Divided by the requests of the round it is the **CPU cost per request**, the figure of a
//! comparison that the rest of a busy machine disturbs least: another process on the same cores
//! steals wall-clock time from a round (its throughput and latency move with it) but not the
//! CPU time the service spends per request, so a change that makes each request cost more shows
//! even when throughput's interval is too wide to tell. It is not everything: a change that makes
//! requests wait (a lock, a slower remote call) costs no CPU, which throughput and latency catch.
//! The Stripe and e-mail fakes run inside the load tool and are not counted.
//!
//! Linux only (the embedded stack's local cluster is too); elsewhere there is no figure.

use std::path::Path;

/// The server side of an embedded stack.
#[derive(Debug, Clone)]
pub struct ServerCpu {
    service: u32,
    postmaster: Option<u32>,
    ticks_per_second: f64,
}

/// One process's `utime + stime + cutime + cstime`, in clock ticks, and its parent.
fn ticks_and_parent(pid: u32) -> Option<(u64, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: fields are counted after its `)`.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    // After the name: state (0), ppid (1), …, utime (11), stime (12), cutime (13), cstime (14).
    let number = |index: usize| fields.get(index)?.parse::<u64>().ok();
    let ticks = number(11)? + number(12)? + number(13)? + number(14)?;
    Some((ticks, number(1)? as u32))
}

impl ServerCpu {
    /// The service process `service_pid` and the cluster in `cluster_dir`, if it has one.
    pub fn new(service_pid: u32, cluster_dir: Option<&Path>) -> Option<ServerCpu> {
        ticks_and_parent(service_pid)?;
        let postmaster = cluster_dir
            .and_then(|dir| std::fs::read_to_string(dir.join("data/postmaster.pid")).ok())
            .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok());
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Some(ServerCpu {
            service: service_pid,
            postmaster,
            ticks_per_second: if ticks > 0 { ticks as f64 } else { 100.0 },
        })
    }

    /// CPU seconds the server side has used so far.
    pub fn seconds(&self) -> Option<f64> {
        let mut ticks = ticks_and_parent(self.service)?.0;
        if let Some(postmaster) = self.postmaster {
            ticks += ticks_and_parent(postmaster)?.0;
            // Its live children (backends, background workers); finished ones are in its cutime.
            for entry in std::fs::read_dir("/proc").ok()?.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
                    continue;
                };
                if let Some((child, parent)) = ticks_and_parent(pid)
                    && parent == postmaster
                {
                    ticks += child;
                }
            }
        }
        Some(ticks as f64 / self.ticks_per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_process_is_seen_spending_cpu() {
        let cpu = ServerCpu::new(std::process::id(), None).expect("this process has a /proc entry");
        let before = cpu.seconds().unwrap();
        // Spin until the spinning shows, however busy the machine (a deadline, not a fixed time).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut x = 0u64;
        loop {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            if cpu.seconds().unwrap() - before >= 0.05 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "a minute of spinning never showed as CPU time");
        }
        assert!(ServerCpu::new(u32::MAX, None).is_none());
    }
}
