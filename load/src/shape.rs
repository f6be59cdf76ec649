//! The shape of the load: closed (users, each waiting for its answer), a k6-like profile of
//! stages, or open (an arrival rate, whatever the latency), from the command line.

use std::time::Duration;

use crate::arrival::ArrivalSchedule;
use crate::cli::RunArgs;
use crate::error::LoadError;
use crate::profile::{Executor, Profile, parse_duration};

/// Users when `--users` is not given.
pub const DEFAULT_USERS: usize = 32;

/// The shape of the load, from `--users/--ramp/--run-time`, `--rate` or `--profile`.
#[derive(Debug, Clone)]
pub enum Shape {
    Closed { users: usize, ramp: Duration, hold: Duration },
    Plan { users: usize, plan: String, length: Duration },
    Open { users: usize, schedule: ArrivalSchedule },
}

impl Shape {
    /// The shape `load run` was asked for.
    pub fn from_args(args: &RunArgs) -> Result<Shape, LoadError> {
        Shape::parse(args.users, args.profile.as_deref(), &args.ramp, &args.run_time, args.rate)
    }

    /// From the flags: `--users`, `--profile`, `--ramp`, `--run-time` and `--rate`.
    pub fn parse(
        users: Option<usize>,
        profile: Option<&std::path::Path>,
        ramp: &str,
        run_time: &str,
        rate: Option<f64>,
    ) -> Result<Shape, LoadError> {
        let duration = |flag: &str, text: &str| {
            parse_duration(text).map_err(|err| LoadError::Usage(format!("--{flag} {text:?}: {err}")))
        };
        if users == Some(0) {
            return Err(LoadError::Usage("--users must be at least 1".into()));
        }
        if let Some(path) = profile {
            let profile = Profile::read(path)?;
            return Ok(match profile.executor {
                Executor::Users => Shape::Plan {
                    users: profile.peak() as usize,
                    plan: profile.test_plan(),
                    length: profile.duration(),
                },
                Executor::ArrivalRate => Shape::Open {
                    users: users.unwrap_or_else(|| open_model_users(profile.peak() as f64)),
                    schedule: profile.schedule(),
                },
            });
        }
        let ramp = duration("ramp", ramp)?;
        let hold = duration("run-time", run_time)?;
        if hold.is_zero() {
            return Err(LoadError::Usage("--run-time must be longer than 0s".into()));
        }
        match rate {
            Some(rate) if !(rate > 0.0 && rate.is_finite()) => {
                Err(LoadError::Usage(format!("--rate {rate}: give a number of requests per second above 0")))
            }
            Some(rate) => Ok(Shape::Open {
                users: users.unwrap_or_else(|| open_model_users(rate)),
                schedule: ArrivalSchedule::constant(rate, ramp, hold),
            }),
            None => Ok(Shape::Closed { users: users.unwrap_or(DEFAULT_USERS), ramp, hold }),
        }
    }

    pub fn users(&self) -> usize {
        match self {
            Shape::Closed { users, .. } | Shape::Plan { users, .. } | Shape::Open { users, .. } => *users,
        }
    }

    pub fn length(&self) -> Duration {
        match self {
            Shape::Closed { ramp, hold, .. } => *ramp + *hold,
            Shape::Plan { length, .. } => *length,
            Shape::Open { schedule, .. } => schedule.duration(),
        }
    }

    /// goose's options for this shape.
    pub fn goose_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        match self {
            Shape::Closed { users, ramp, hold } => {
                args.extend([
                    "--users".into(),
                    users.to_string(),
                    "--run-time".into(),
                    format!("{}s", hold.as_secs().max(1)),
                ]);
                if ramp.is_zero() || *users < 2 {
                    // Every user within 50 ms: goose's rate is users per second.
                    args.extend(["--increase-rate".into(), (users * 20).to_string()]);
                } else {
                    args.extend(["--increase-time".into(), format!("{}s", ramp.as_secs().max(1))]);
                }
                args.push("--no-reset-metrics".into());
            }
            Shape::Plan { plan, .. } => args.extend(["--test-plan".into(), plan.clone()]),
            Shape::Open { users, schedule } => {
                // The users only send; the schedule sets the pace. A second more than the
                // schedule lets the last slots finish.
                let seconds = schedule.duration().as_secs_f64().ceil() as u64 + 1;
                args.extend([
                    "--users".into(),
                    users.to_string(),
                    "--increase-rate".into(),
                    (users * 4).to_string(),
                    "--run-time".into(),
                    format!("{seconds}s"),
                    "--no-reset-metrics".into(),
                ]);
            }
        }
        args
    }
}

/// Senders for an open model at `rate`: enough that each has 50 ms per request.
pub fn open_model_users(rate: f64) -> usize {
    ((rate / 20.0).ceil() as usize).clamp(16, 1024)
}

impl Shape {
    /// Whether it is the open model.
    pub fn is_open(&self) -> bool {
        matches!(self, Shape::Open { .. })
    }

    /// The model, as the reports name it.
    pub fn model(&self) -> &'static str {
        if self.is_open() { "open" } else { "closed" }
    }

    /// The same shape held for `hold` instead (a comparison's warm-up round).
    pub fn held_for(&self, hold: Duration) -> Shape {
        match self {
            Shape::Closed { users, ramp, .. } => Shape::Closed { users: *users, ramp: *ramp, hold },
            Shape::Open { users, schedule } => Shape::Open {
                users: *users,
                schedule: ArrivalSchedule::constant(schedule.peak_rate(), Duration::ZERO, hold),
            },
            Shape::Plan { .. } => self.clone(),
        }
    }
}
