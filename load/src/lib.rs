//! `billing-load`: goose load scenarios for the billing service — onboarding, credential
//! vending and webhooks — with open and closed load, thresholds, A/B comparisons of two builds
//! with statistics, one verdict from many workers, reports, a live dashboard and a Pushgateway
//! push.
//!
//! The map:
//! - [`cli`] the command line; [`error`] exit codes.
//! - [`scenarios`] the registry of scenarios, one file each ([`scenarios::common`] holds the
//!   shared steps), on the fast [`transport`].
//! - [`side`] a target made ready for load (the [`target`]: the [`embedded`] stack or a
//!   deployed service, with [`setup`]'s fixtures) and its rounds of load, each measured by a
//!   [`recorder`] into [`latency`] histograms and [`cpu`] (the server side's CPU time);
//!   [`shape`], [`arrival`] and [`profile`] the
//!   load's shape; [`context`] what a round's users share.
//! - The commands: [`run`] (`load run`), [`compare`] (`load compare`: A/B with statistics),
//!   [`merge`] (`load merge`: many workers, one verdict), [`keys`], [`list`].
//! - Judging: [`thresholds`], [`baseline`]; results: [`summary`], [`report`] (tables, charts,
//!   JUnit), [`progress`]; [`prometheus`] and [`push`] for the Pushgateway.

pub mod arrival;
pub mod baseline;
pub mod cli;
pub mod compare;
pub mod context;
pub mod cpu;
pub mod embedded;
pub mod error;
pub mod keys;
pub mod latency;
pub mod list;
pub mod merge;
pub mod profile;
pub mod progress;
pub mod prometheus;
pub mod push;
pub mod recorder;
pub mod report;
pub mod run;
pub mod scenario;
pub mod scenarios;
pub mod setup;
pub mod shape;
pub mod side;
pub mod summary;
pub mod target;
pub mod thresholds;
pub mod transport;
