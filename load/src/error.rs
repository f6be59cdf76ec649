//! The errors of a load run that stop it before it gives a verdict, and the exit codes.
//!
//! A run that happened and failed a rule is not an error: it is a [`crate::verdict::Verdict`]
//! with the table of what broke (exit code 1). What is here ends the process with exit code 2
//! and a message that says how to fix it.

/// Exit code of a run whose thresholds held and which did not regress.
pub const EXIT_PASSED: u8 = 0;
/// Exit code of a run where a threshold, the baseline, or an after-run check failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a usage or set-up error.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The command line or a file it names is wrong.
    #[error("{0}")]
    Usage(String),
    /// The world the run needs could not be set up (the embedded stack, the fixtures…).
    #[error("set-up failed: {0:#}")]
    Setup(anyhow::Error),
}

impl LoadError {
    pub fn setup(context: &str, err: impl Into<anyhow::Error>) -> LoadError {
        LoadError::Setup(err.into().context(context.to_string()))
    }
}
