//! The local stack: a fresh database cloned from the migrated template, the Stripe fake, the
//! e-mail fake, and the billing service on a loopback port wired to them.
//!
//! The service runs in this process by default ([`ServiceRun::InProcess`]: quick, and a test can
//! reach its [`AppState`]), or as a child process of the real binary ([`ServiceRun::Process`]),
//! which a chaos journey can kill (`kill -9`) and start again on the same database and port.
//!
//! Dropping the stack stops the service; the fakes stop with their handles, and the database
//! lives as long as the PostgreSQL server (a throw-away cluster is removed with the process).

use std::sync::Arc;

use billing_fakes::stripe::stripe_signature;
use billing_fakes::{EmailFake, StripeFake};
use billing_service::app::{Application, connect, migrations_fingerprint, migrator};
use billing_service::clock::{Clock, SystemClock};
use billing_service::{AppState, Config};
use billing_testdb::{PgServer, TestDatabase};
use sqlx::PgPool;
use std::time::Duration;

use billing_service::billing::pro_price::PRO_LOOKUP_KEY;
use billing_service::pricing::PRO_MONTHLY_PRICE;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::client::ApiClient;
use crate::service_process::{ServiceBinary, ServiceProcess};

/// How the stack runs the billing service.
#[derive(Debug, Clone, Default)]
pub enum ServiceRun {
    /// On a task of this process (the default).
    #[default]
    InProcess,
    /// As a child process of this binary, configured through its environment variables.
    Process(ServiceBinary),
}

/// How to start a stack.
pub struct StackOptions {
    /// Changes to the service's configuration before it starts.
    pub configure: Box<dyn FnOnce(&mut Config) + Send>,
    pub clock: Arc<dyn Clock>,
    /// Register the service's webhook endpoint in the Stripe fake (default). Without it no
    /// event reaches the service unless the test delivers it ([`Stack::deliver_event`]).
    pub deliver_webhooks: bool,
    /// In this process (default) or as a child process. A child process runs on the wall
    /// clock: `clock` applies only in process.
    pub service: ServiceRun,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            configure: Box::new(|_| {}),
            clock: Arc::new(SystemClock),
            deliver_webhooks: true,
            service: ServiceRun::InProcess,
        }
    }
}

/// The service of a stack, as it runs.
enum RunningService {
    InProcess { state: Box<AppState>, shutdown: Option<oneshot::Sender<()>> },
    Process(Box<ServiceProcess>),
}

pub struct Stack {
    pub service_url: String,
    pub stripe: StripeFake,
    pub email: EmailFake,
    pub database: TestDatabase,
    /// A pool on the stack's database, for assertions that need to look at rows.
    pub pool: PgPool,
    /// The configuration the service runs with.
    pub config: Config,
    /// The Stripe test clock every customer of this stack lives on.
    pub stripe_clock: String,
    /// The signing secret of the service's webhook endpoint.
    pub webhook_secret: String,
    http: reqwest::Client,
    service: RunningService,
    /// The PostgreSQL server, when this stack owns it (`stack up`); tests share one per
    /// process. Last field: it is dropped after everything that uses it.
    _owned_server: Option<PgServer>,
}

impl Stack {
    pub async fn start() -> anyhow::Result<Stack> {
        Stack::start_with(StackOptions::default()).await
    }

    pub async fn start_with(options: StackOptions) -> anyhow::Result<Stack> {
        let database = fresh_database(PgServer::shared().await?).await?;
        Stack::start_on_database(database, None, options).await
    }

    /// A stack on a PostgreSQL server of its own, stopped and removed when the stack drops.
    pub async fn start_owned(options: StackOptions) -> anyhow::Result<Stack> {
        let server = PgServer::start().await?;
        let database = fresh_database(&server).await?;
        Stack::start_on_database(database, Some(server), options).await
    }

    async fn start_on_database(
        database: TestDatabase,
        owned_server: Option<PgServer>,
        options: StackOptions,
    ) -> anyhow::Result<Stack> {
        let stripe = StripeFake::start().await?;
        let email = EmailFake::start().await?;
        // The service's port is needed before it starts: its webhook URL goes to Stripe, and
        // the endpoint's signing secret comes back into its configuration.
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let mut config = Config::for_tests(&database.url, &stripe.base_url());
        config.email.api_base = Some(email.base_url());
        // Short, so a test that moves the clock sees the next e-mails soon.
        config.outbox.poll_ms = 25;
        (options.configure)(&mut config);
        let listener = if config.server.bind_addr.port() == 0 {
            listener
        } else {
            TcpListener::bind(config.server.bind_addr).await?
        };
        let http = billing_service::tls::client();
        let stripe_clock = create_test_clock(&http, &stripe).await?;
        config.stripe.test_clock = Some(stripe_clock.clone());
        seed_pro_price(&http, &stripe).await?;
        let webhook_secret = if options.deliver_webhooks {
            let webhook_url = format!("http://{}/api/webhooks/stripe", listener.local_addr()?);
            stripe.add_webhook_endpoint(&webhook_url).secret
        } else {
            // No endpoint in the fake: the test delivers events itself, signed with this.
            "whsec_stack_manual_delivery".to_string()
        };
        // Added to any secrets the options configured (a test of secret rotation sets some).
        config.webhooks.secrets.push(webhook_secret.clone());
        config.server.bind_addr = listener.local_addr()?;
        let service = match options.service {
            ServiceRun::InProcess => {
                let app = Application::build_on(config.clone(), options.clock, listener).await?;
                let state = app.state().clone();
                let (shutdown, stopped) = oneshot::channel::<()>();
                tokio::spawn(app.run_until(async move {
                    let _ = stopped.await;
                }));
                RunningService::InProcess { state: Box::new(state), shutdown: Some(shutdown) }
            }
            ServiceRun::Process(binary) => {
                // The child binds the port itself: free it, keeping the address the webhook
                // endpoint was registered with.
                drop(listener);
                RunningService::Process(Box::new(ServiceProcess::start(binary, config.clone()).await?))
            }
        };
        let service_url = format!("http://{}", config.server.bind_addr);
        let pool = connect(&database.url, 4).await?;
        Ok(Stack {
            service_url,
            _owned_server: owned_server,
            stripe,
            email,
            database,
            pool,
            config,
            stripe_clock,
            webhook_secret,
            http,
            service,
        })
    }

    /// The in-process service's state (its pool, metrics, dispatcher…).
    ///
    /// # Panics
    /// When the service runs as a child process: its state is in another process.
    pub fn state(&self) -> &AppState {
        match &self.service {
            RunningService::InProcess { state, .. } => state,
            RunningService::Process(_) => {
                panic!("this stack runs the service as a child process: it has no AppState here")
            }
        }
    }

    /// Kills the service process at once (SIGKILL): requests in flight die mid-way, as in a
    /// crash. Only for a stack started with [`ServiceRun::Process`].
    pub fn kill_service(&self) -> anyhow::Result<()> {
        match &self.service {
            RunningService::Process(process) => {
                process.kill();
                Ok(())
            }
            RunningService::InProcess { .. } => anyhow::bail!("kill_service needs a stack with ServiceRun::Process"),
        }
    }

    /// Starts the killed service again on the same database and port, and waits until it answers.
    pub async fn start_service(&self) -> anyhow::Result<()> {
        match &self.service {
            RunningService::Process(process) => process.spawn().await,
            RunningService::InProcess { .. } => anyhow::bail!("start_service needs a stack with ServiceRun::Process"),
        }
    }

    /// Stops the stack's PostgreSQL server (a fast shutdown, keeping the data). Only for a stack
    /// on a server of its own ([`Stack::start_owned`]) from the local binaries.
    pub fn stop_postgres(&self) -> anyhow::Result<()> {
        let server =
            self._owned_server.as_ref().ok_or_else(|| anyhow::anyhow!("stop_postgres needs Stack::start_owned"))?;
        Ok(server.stop_server()?)
    }

    /// Starts the stack's PostgreSQL server again after [`Stack::stop_postgres`].
    pub async fn start_postgres(&self) -> anyhow::Result<()> {
        let server =
            self._owned_server.as_ref().ok_or_else(|| anyhow::anyhow!("start_postgres needs Stack::start_owned"))?;
        Ok(server.start_server().await?)
    }

    /// The service process's id, while it runs as a child process.
    /// The directory of the PostgreSQL cluster this stack owns (`data/postmaster.pid` names its server
    /// process), when it owns a local one.
    pub fn postgres_cluster_dir(&self) -> Option<&std::path::Path> {
        self._owned_server.as_ref().and_then(PgServer::cluster_dir)
    }

    pub fn service_pid(&self) -> Option<u32> {
        match &self.service {
            RunningService::Process(process) => process.pid(),
            RunningService::InProcess { .. } => None,
        }
    }

    /// The last lines the service process logged (empty in process: its logs go to tracing).
    pub fn service_log_tail(&self, lines: usize) -> String {
        match &self.service {
            RunningService::Process(process) => process.log_tail(lines),
            RunningService::InProcess { .. } => String::new(),
        }
    }

    /// A client without an API key.
    pub fn api(&self) -> ApiClient {
        ApiClient::new(&self.service_url, self.http.clone())
    }

    /// Moves the Stripe test clock forward (renewals, cancellations at period end…) and waits
    /// until the events it caused have been delivered.
    pub async fn advance_stripe_clock(&self, by: Duration) -> anyhow::Result<()> {
        let clock = self.stripe.object(&self.stripe_clock).ok_or_else(|| anyhow::anyhow!("the test clock is gone"))?;
        let now = clock["frozen_time"].as_i64().ok_or_else(|| anyhow::anyhow!("test clock without frozen_time"))?;
        self.stripe.advance_clock(&self.stripe_clock, now + by.as_secs() as i64).await?;
        crate::wait::wait_until("the test clock to be ready", WAIT, || async {
            Ok((self.stripe.object(&self.stripe_clock).is_some_and(|c| c["status"] == "ready")).then_some(()))
        })
        .await?;
        self.wait_for_webhooks().await
    }

    /// Waits until the Stripe fake has no webhook delivery in flight.
    pub async fn wait_for_webhooks(&self) -> anyhow::Result<()> {
        self.stripe.wait_for_deliveries_idle(WAIT).await?;
        Ok(())
    }

    /// POSTs an event to the service's webhook endpoint, signed as Stripe signs it.
    pub async fn deliver_event(&self, event: &Value) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let payload = serde_json::to_vec(event)?;
        let signature = stripe_signature(&payload, &self.webhook_secret, chrono::Utc::now().timestamp());
        self.deliver_raw(payload, Some(&signature)).await
    }

    /// POSTs bytes to the webhook endpoint with the given `Stripe-Signature`.
    pub async fn deliver_raw(
        &self,
        payload: Vec<u8>,
        signature: Option<&str>,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let mut request = self.api().request(reqwest::Method::POST, "/api/webhooks/stripe").body(payload);
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        crate::client::status_and_body(request.header("content-type", "application/json").send().await?).await
    }

    /// The service's `/metrics` page (the Prometheus text format).
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let response = self.http.get(format!("{}/metrics", self.service_url)).send().await?.error_for_status()?;
        Ok(response.text().await?)
    }

    /// A `GET` of the Stripe fake's API (e.g. a list Stripe offers, such as `/v1/customers?email=…`).
    pub async fn stripe_get(&self, path: &str) -> anyhow::Result<Value> {
        stripe_call(self.http.get(format!("{}{path}", self.stripe.base_url())), "GET", path).await
    }

    /// The events the Stripe fake emitted, of one type, oldest first.
    pub fn stripe_events(&self, kind: &str) -> Vec<Value> {
        self.stripe.events().into_iter().filter(|event| event["type"] == kind).collect()
    }

    /// Where the stack's Stripe is, for checks that read it.
    pub fn stripe_access(&self) -> crate::reconcile::StripeAccess {
        crate::reconcile::StripeAccess { api_base: self.stripe.base_url(), secret_key: STACK_STRIPE_KEY.into() }
    }

    /// Stripe's own API on the stack's fake, as a journey uses it against real Stripe in test mode.
    pub fn stripe_api(&self) -> crate::stripe_api::StripeApi {
        let key = crate::stripe_api::TestModeKey::parse(STACK_STRIPE_KEY).expect("the stack's key is a test-mode key");
        crate::stripe_api::StripeApi::new(&self.stripe.base_url(), key, self.http.clone())
    }

    /// The reconciliation check ([`crate::reconcile`]) on this stack: fails listing every problem.
    pub async fn reconcile(&self) -> anyhow::Result<crate::reconcile::Reconciliation> {
        let report =
            crate::reconcile::reconcile(&self.pool, &self.stripe_access(), crate::reconcile::DEFAULT_SETTLE_DEADLINE)
                .await?;
        report.ensure_clean()?;
        Ok(report)
    }

    /// Counts rows of a table (for "nothing was left behind" assertions).
    pub async fn count_rows(&self, table: &str) -> anyhow::Result<i64> {
        anyhow::ensure!(table.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "not a table name: {table}");
        // The name was checked above: only lowercase letters and underscores reach the SQL.
        let sql = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"));
        Ok(sqlx::query_scalar(sql).fetch_one(&self.pool).await?)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // A child process is killed by its own drop.
        if let RunningService::InProcess { shutdown, .. } = &mut self.service
            && let Some(shutdown) = shutdown.take()
        {
            let _ = shutdown.send(());
        }
    }
}

/// The test-mode key the stack's own calls to its Stripe fake use (the fake takes any).
const STACK_STRIPE_KEY: &str = "sk_test_stack";

/// How long helpers wait for an effect before failing.
const WAIT: Duration = Duration::from_secs(15);

/// A Stripe test clock frozen at the current time.
async fn create_test_clock(http: &reqwest::Client, stripe: &StripeFake) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp().to_string();
    let clock =
        stripe_post(http, stripe, "/v1/test_helpers/test_clocks", &[("frozen_time", &now), ("name", "stack")]).await?;
    clock["id"].as_str().map(str::to_string).ok_or_else(|| anyhow::anyhow!("the fake made a clock without id: {clock}"))
}

/// The Pro price, as an operator would have set it up: found by its lookup key.
async fn seed_pro_price(http: &reqwest::Client, stripe: &StripeFake) -> anyhow::Result<()> {
    let amount = PRO_MONTHLY_PRICE.0.to_string();
    stripe_post(
        http,
        stripe,
        "/v1/prices",
        &[
            ("currency", "usd"),
            ("unit_amount", &amount),
            ("recurring[interval]", "month"),
            ("lookup_key", PRO_LOOKUP_KEY),
            ("product_data[name]", "Pro"),
        ],
    )
    .await?;
    Ok(())
}

async fn stripe_post(
    http: &reqwest::Client,
    stripe: &StripeFake,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<Value> {
    stripe_call(http.post(format!("{}{path}", stripe.base_url())).form(form), "POST", path).await
}

async fn stripe_call(request: reqwest::RequestBuilder, method: &str, path: &str) -> anyhow::Result<Value> {
    let response = request.bearer_auth(STACK_STRIPE_KEY).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "the Stripe fake answered {status} to {method} {path}: {body}");
    Ok(body)
}

/// A database of its own for one stack, cloned from the template migrated once per process.
pub async fn fresh_database(server: &PgServer) -> anyhow::Result<TestDatabase> {
    let template = server
        .template(&format!("billing-{}", migrations_fingerprint()), |url| async move {
            let pool = connect(&url, 2).await?;
            migrator().run(&pool).await?;
            pool.close().await;
            Ok(())
        })
        .await?;
    Ok(server.database_from_template(&template).await?)
}
