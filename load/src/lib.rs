//! `billing-load`: goose load scenarios for the billing service — onboarding, credential
//! vending and webhooks — with open and closed load, thresholds, baselines, reports, a live
//! dashboard, a Pushgateway push, and many workers.
//!
//! The map:
//! - [`cli`] the command line; [`run`] a run from start to verdict; [`error`] exit codes.
//! - [`scenarios`] the goose scenarios (registered there; [`scenarios::common`] holds the shared
//!   steps, one file per kind of user), on the fast [`transport`].
//! - [`arrival`] the open model's schedule and pacer; [`profile`] k6-like stages.
//! - [`target`] the target and the production guard; [`embedded`] the embedded stack;
//!   [`setup`] fixtures (API keys, Pro customers, the keys file).
//! - [`outcome`] the webhook run's after-run check.
//! - [`summary`], [`report`], [`timeline`], [`progress`]: results, reports, the chart, the
//!   progress line; [`baseline`] comparison with a tolerance; [`thresholds`] the rules.
//! - [`prometheus`] and [`push`]: results for the Pushgateway.

pub mod arrival;
pub mod baseline;
pub mod cli;
pub mod context;
pub mod embedded;
pub mod error;
pub mod keys;
pub mod list;
pub mod outcome;
pub mod profile;
pub mod progress;
pub mod prometheus;
pub mod push;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod setup;
pub mod summary;
pub mod target;
pub mod thresholds;
pub mod timeline;
pub mod transport;
