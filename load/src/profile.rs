//! Load profiles: k6-like stages (ramp up, sustain, ramp down) read from a TOML file.
//!
//! With `executor = "users"` the stages are numbers of users, and goose's own `--test-plan`
//! steps them; with `executor = "arrival-rate"` they are request rates, and the open model's
//! [`ArrivalSchedule`](crate::arrival::ArrivalSchedule) follows them.

use std::path::Path;
use std::time::Duration;

use crate::arrival::{ArrivalSchedule, RateStage};
use crate::error::LoadError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Executor {
    Users,
    ArrivalRate,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default = "users")]
    pub executor: Executor,
    pub stages: Vec<Stage>,
}

fn users() -> Executor {
    Executor::Users
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// `30s`, `2m`, `1h30m`…
    pub duration: String,
    pub target: u64,
}

impl Profile {
    pub fn read(path: &Path) -> Result<Profile, LoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| LoadError::Usage(format!("cannot read --profile {}: {err}", path.display())))?;
        Profile::parse(&text).map_err(|err| LoadError::Usage(format!("--profile {}: {err}", path.display())))
    }

    pub fn parse(text: &str) -> Result<Profile, String> {
        let profile: Profile = toml::from_str(text).map_err(|err| format!("not a profile: {err}"))?;
        if profile.stages.is_empty() {
            return Err("a profile needs at least one [[stages]] entry with duration and target".into());
        }
        for stage in &profile.stages {
            parse_duration(&stage.duration).map_err(|err| format!("stage duration {:?}: {err}", stage.duration))?;
        }
        Ok(profile)
    }

    /// goose's `--test-plan` for a users profile: `users,time;users,time…`.
    pub fn test_plan(&self) -> String {
        self.stages
            .iter()
            .map(|stage| format!("{},{}s", stage.target, seconds(&stage.duration).max(1)))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// The open model's schedule for an arrival-rate profile, starting from 0 requests/s.
    pub fn schedule(&self) -> ArrivalSchedule {
        let mut from = 0.0;
        let stages = self
            .stages
            .iter()
            .map(|stage| {
                let to = stage.target as f64;
                let rate_stage = RateStage { duration: Duration::from_secs(seconds(&stage.duration)), from, to };
                from = to;
                rate_stage
            })
            .collect();
        ArrivalSchedule::new(stages)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.stages.iter().map(|stage| seconds(&stage.duration)).sum())
    }

    /// The most users (or the highest rate) any stage asks for.
    pub fn peak(&self) -> u64 {
        self.stages.iter().map(|stage| stage.target).max().unwrap_or(0)
    }
}

fn seconds(text: &str) -> u64 {
    parse_duration(text).map(|duration| duration.as_secs()).unwrap_or(0)
}

/// `30s`, `2m`, `1h30m`, `500ms`…
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|err| format!("{err} (write it like 30s, 2m or 1h30m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_profiles_parse() {
        let users = Profile::parse(include_str!("../profiles/k6-like.toml")).unwrap();
        assert_eq!(users.executor, Executor::Users);
        assert_eq!(users.test_plan(), "32,30s;32,120s;0,15s");
        assert_eq!(users.duration(), Duration::from_secs(165));
        let rate = Profile::parse(include_str!("../profiles/arrival-rate.toml")).unwrap();
        assert_eq!(rate.executor, Executor::ArrivalRate);
        let schedule = rate.schedule();
        assert_eq!(schedule.peak_rate(), 1000.0);
        // 5,000 ramping up, 60,000 held, 2,500 ramping down.
        assert_eq!(schedule.total_arrivals(), 67_500);
    }

    #[test]
    fn a_bad_profile_says_what_is_wrong() {
        assert!(Profile::parse("executor = \"users\"\nstages = []").unwrap_err().contains("at least one"));
        let bad = Profile::parse("[[stages]]\nduration = \"soon\"\ntarget = 1").unwrap_err();
        assert!(bad.contains("30s"), "{bad}");
        assert!(Profile::parse("[[stages]]\nduration = \"1s\"\ntarget = 1\nextra = 2").is_err());
    }
}
