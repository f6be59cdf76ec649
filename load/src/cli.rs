//! The `load` command line: `load list`, `load run SCENARIO [flags]`, `load compare SCENARIO`
//! (two builds or configurations A/B on one machine), `load merge DIR…` (one verdict from many
//! workers), and `load keys` (what `scripts/create-load-test-keys` runs).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::embedded::ServiceMode;
use crate::scenarios::{Selection, selection_parser};

#[derive(Debug, Parser)]
#[command(
    name = "load",
    version,
    about = "Load scenarios for the billing service (goose): onboarding, credential vending, webhooks",
    after_help = "Exit codes: 0 passed; 1 a threshold, a regression or an after-run check failed (a table says what); 2 a usage or set-up error (the message says how to fix it); 3 (load compare) inconclusive: nothing regressed, but the noise hid whether something did."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The scenarios, what each does, and their default thresholds.
    List,
    /// Runs a scenario against the embedded stack (default) or a target.
    Run(Box<RunArgs>),
    /// Did this change make it slower? Runs a scenario against two builds (or two configurations,
    /// or two deployed services) on this machine, in interleaved rounds, and judges each figure
    /// by the confidence interval of the candidate/base ratio.
    #[command(after_help = COMPARE_HELP)]
    Compare(Box<CompareArgs>),
    /// Combines the report folders of one run's workers into one summary: requests summed,
    /// latency from merged histograms, thresholds judged once over all workers.
    Merge(MergeArgs),
    /// Makes API keys and Pro customers on a target for later runs against it.
    Keys(KeysArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The scenario (`load list` shows them), or `all`.
    #[arg(value_parser = selection_parser())]
    pub scenario: Selection,

    /// Base URL of a deployed service. Without it the embedded stack is started (PostgreSQL, the
    /// Stripe and e-mail fakes, the service) and stopped afterwards.
    #[arg(long, env = "LOAD_TARGET")]
    pub target: Option<String>,

    /// Concurrent users (closed model), or senders (open model, with --rate).
    #[arg(long)]
    pub users: Option<usize>,

    /// Time to start all users (closed model) or to reach --rate (open model), e.g. 10s.
    #[arg(long, default_value = "0s")]
    pub ramp: String,

    /// How long to hold the load once ramped, e.g. 30s, 2m.
    #[arg(long, default_value = "30s")]
    pub run_time: String,

    /// Open model: N requests per second whatever the latency (all users share one schedule).
    #[arg(long)]
    pub rate: Option<f64>,

    /// k6-like stages (ramp up, sustain, ramp down) from a TOML file; see load/profiles/.
    #[arg(long, conflicts_with_all = ["rate", "ramp", "run_time"])]
    pub profile: Option<PathBuf>,

    /// A pass/fail rule, repeatable: p95<50ms, error-rate<1%, rps>=1000, "p99<5ms for POST /api/v1/credentials/exchange".
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,

    /// A TOML file of `[SCENARIO] rules = [...]` that replaces the scenarios' own default thresholds.
    #[arg(long)]
    pub thresholds_file: Option<PathBuf>,

    /// Use only the --threshold rules given.
    #[arg(long)]
    pub no_default_thresholds: bool,

    /// Compare with a saved baseline folder (report.json + summary.json), e.g. load/baselines/credential-vending.
    #[arg(long)]
    pub baseline: Option<PathBuf>,

    /// Save this run as a baseline folder.
    #[arg(long)]
    pub save_baseline: Option<PathBuf>,

    /// How far a figure may move from the baseline before it is a regression, in percent.
    #[arg(long, default_value_t = 10.0)]
    pub tolerance: f64,

    /// Where the reports go (default: target/load-reports/SCENARIO-TIME).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,

    /// Also write JUnit XML here: one test case per threshold, per baseline figure, per after-run check.
    #[arg(long)]
    pub junit: Option<PathBuf>,

    /// Push the results to this Prometheus Pushgateway (basic auth from PUSHGATEWAY_USER/PUSHGATEWAY_PASSWORD).
    #[arg(long, env = "PUSHGATEWAY_URL")]
    pub pushgateway: Option<String>,

    /// The environment the results are pushed under (local, ci, staging…).
    #[arg(long, default_value = "local")]
    pub environment: String,

    /// This worker's index, from 0, when several workers share the load (a Kubernetes Indexed
    /// Job passes its completion index).
    #[arg(long, default_value_t = 0)]
    pub worker_index: usize,

    /// How many workers share the load.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,

    /// The run's id, the same for every worker of one run (default: random). Names made by the
    /// run (e-mails, event ids) contain it.
    #[arg(long, env = "LOAD_RUN_ID")]
    pub run_id: Option<String>,

    /// Serve goose's live web dashboard while the run goes.
    #[arg(long)]
    pub dashboard: bool,

    /// The dashboard's port on 127.0.0.1.
    #[arg(long, default_value_t = 5118)]
    pub dashboard_port: u16,

    /// Needed for a target that is not local and not listed in LOAD_ALLOWED_TARGETS.
    #[arg(long)]
    pub i_know_this_is_production: bool,

    /// The file of API keys and Pro customers made by scripts/create-load-test-keys (remote targets).
    #[arg(long, env = "LOAD_API_KEYS_FILE")]
    pub keys_file: Option<PathBuf>,

    /// Credential vending: verify the per-key rate limit holds at PER_MINUTE/BURST (on the
    /// embedded stack the service is configured so; a target must already be).
    #[arg(long, value_name = "PER_MINUTE/BURST")]
    pub verify_rate_limit: Option<String>,

    /// Webhooks: percent of deliveries that repeat an earlier event.
    #[arg(long, default_value_t = 10)]
    pub duplicates: u32,

    /// API keys (credential vending) or Pro customers (webhooks) to make on the embedded stack.
    #[arg(long)]
    pub fixtures: Option<usize>,

    /// Where the embedded stack's service runs.
    #[arg(long, value_enum, default_value = "release")]
    pub service: ServiceMode,

    /// goose's coordinated-omission mitigation for the closed model: average, maximum, minimum.
    #[arg(long)]
    pub co_mitigation: Option<String>,

    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    /// Base URL of the service to make them on.
    #[arg(long, env = "LOAD_TARGET")]
    pub target: String,
    /// API keys for credential vending.
    #[arg(long, default_value_t = 32)]
    pub count: usize,
    /// Pro customers (card on file, Pro subscription) for webhooks.
    #[arg(long, default_value_t = 8)]
    pub pro_customers: usize,
    /// The file to write (mode 0600; it holds API keys).
    #[arg(long)]
    pub output: PathBuf,
    /// Needed for a target that is not local and not listed in LOAD_ALLOWED_TARGETS.
    #[arg(long)]
    pub i_know_this_is_production: bool,
}

const COMPARE_HELP: &str = "\
How it works: both sides are set up once, each on an embedded stack of its own (PostgreSQL, the fakes, \
the service binary) with the same fixtures; one warm-up round each is discarded; then --rounds pairs, \
each a base round and a candidate round in a random order, with the same load. Each figure (throughput; \
p50, p95, p99 from the merged histograms; the error rate) is pooled over the rounds, and its \
candidate/base ratio gets a confidence interval from a paired bootstrap over the pairs. A figure is \
REGRESSED when its whole interval lies beyond --min-effect in the bad direction, improved beyond it in \
the good one, no change when it lies within it, INCONCLUSIVE otherwise (the report says how many rounds \
would settle it). A verdict needs at least 6 pairs at 95 % confidence (8 at 99 %): fewer pairs all leaning \
one way by chance are too common to call anything; and a regression (or improvement) must also be where the \
pairs lean, by an exact signed-rank test of each pair's own ratio, or it is INCONCLUSIVE.

Exit codes: 0 nothing regressed and nothing inconclusive; 1 something regressed, or an after-run check \
failed on either side; 3 inconclusive (nothing regressed); 2 a usage or set-up error.

Examples:
  load compare credential-vending --base old/billing-service --candidate target/release/billing-service
  load compare credential-vending --candidate-env API_KEY_CACHE_TTL_MS=0     (one setting, same binary)
  scripts/load-compare origin/main credential-vending                       (a git ref against the working tree)";

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The scenario (`load list` shows them), or `all`.
    #[arg(value_parser = selection_parser())]
    pub scenario: Selection,

    /// The base's billing-service binary (default: this checkout's release build).
    #[arg(long, value_name = "BIN")]
    pub base: Option<PathBuf>,

    /// The candidate's billing-service binary (default: this checkout's release build).
    #[arg(long, value_name = "BIN")]
    pub candidate: Option<PathBuf>,

    /// An environment variable for the base's service, NAME=VALUE; repeatable.
    #[arg(long, value_name = "NAME=VALUE", value_parser = crate::embedded::parse_env)]
    pub base_env: Vec<(String, String)>,

    /// An environment variable for the candidate's service, NAME=VALUE; repeatable.
    #[arg(long, value_name = "NAME=VALUE", value_parser = crate::embedded::parse_env)]
    pub candidate_env: Vec<(String, String)>,

    /// A deployed base service instead of a binary (with --candidate-target).
    #[arg(long, value_name = "URL", conflicts_with_all = ["base", "candidate", "base_env", "candidate_env"])]
    pub base_target: Option<String>,

    /// A deployed candidate service instead of a binary (with --base-target).
    #[arg(long, value_name = "URL", conflicts_with_all = ["base", "candidate", "base_env", "candidate_env"])]
    pub candidate_target: Option<String>,

    /// The keys file for --base-target (scripts/create-load-test-keys); webhooks read the
    /// endpoint secret from LOAD_BASE_WEBHOOK_SECRET, else STRIPE_WEBHOOK_SECRET.
    #[arg(long)]
    pub base_keys_file: Option<PathBuf>,

    /// The keys file for --candidate-target; webhooks read LOAD_CANDIDATE_WEBHOOK_SECRET, else
    /// STRIPE_WEBHOOK_SECRET.
    #[arg(long)]
    pub candidate_keys_file: Option<PathBuf>,

    /// Needed for targets that are not local and not listed in LOAD_ALLOWED_TARGETS.
    #[arg(long)]
    pub i_know_this_is_production: bool,

    /// Pairs of rounds (each pair: one base round, one candidate round, in a random order); at
    /// least 6 at 95 % confidence (8 at 99 %): with fewer, every verdict would be inconclusive.
    #[arg(long, default_value_t = 8)]
    pub rounds: usize,

    /// How long each round holds the load.
    #[arg(long, default_value = "8s")]
    pub round_time: String,

    /// A discarded round on each side before the first pair (0s: none).
    #[arg(long, default_value = "5s")]
    pub warm_up: String,

    /// Users per round (closed model), or senders with --rate.
    #[arg(long)]
    pub users: Option<usize>,

    /// Open model: this many requests per second in every round, whatever the latency.
    #[arg(long)]
    pub rate: Option<f64>,

    /// The smallest change that matters, in percent: a figure regressed only when its whole
    /// interval lies beyond it.
    #[arg(long, default_value_t = 5.0)]
    pub min_effect: f64,

    /// The confidence of the intervals, in percent.
    #[arg(long, default_value_t = 95.0)]
    pub confidence: f64,

    /// The seed of the round order and the bootstrap (default: random; the report says it).
    #[arg(long)]
    pub seed: Option<u64>,

    /// API keys (credential vending) or Pro customers (webhooks) to make on each embedded stack.
    #[arg(long)]
    pub fixtures: Option<usize>,

    /// Webhooks: percent of deliveries that repeat an earlier event.
    #[arg(long, default_value_t = 10)]
    pub duplicates: u32,

    /// Where the reports go (default: target/load-reports/compare-SCENARIO-TIME).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,

    /// Also write JUnit XML here: one test case per compared figure and per after-run check.
    #[arg(long)]
    pub junit: Option<PathBuf>,

    /// No progress lines.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The workers' report folders (each holding the summary.json of one worker of one run).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// Where the merged reports go (default: target/load-reports/merged-SCENARIO-TIME).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,

    /// Also write JUnit XML here: one test case per threshold and per after-run check.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}
