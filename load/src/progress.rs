//! The progress display while a run goes: elapsed time against the planned length, requests
//! so far, the last second's throughput and p95, and failures — on one line rewritten each
//! second on a terminal, or a line every five seconds in a log (CI).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::context::RoundContext;

/// Prints progress until dropped.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    terminal: bool,
}

impl Progress {
    pub fn start(context: Arc<RoundContext>, planned: Duration) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let every = if terminal { Duration::from_secs(1) } else { Duration::from_secs(5) };
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let line = line(&context, planned);
                let mut err = std::io::stderr().lock();
                let _ = if terminal { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
                let _ = err.flush();
            }
        });
        Progress { task, terminal }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        if self.terminal {
            eprintln!();
        }
    }
}

/// One progress line.
pub fn line(context: &RoundContext, planned: Duration) -> String {
    let elapsed = context.recorder.elapsed().as_secs();
    let (requests, failures) = context.recorder.totals();
    let (rps, p95) = context.recorder.last_second().unwrap_or((0, 0.0));
    format!(
        "[{elapsed:>4}s / {:>4}s] {requests} requests, {rps} req/s, p95 {p95:.1} ms, {failures} failed",
        planned.as_secs()
    )
}
