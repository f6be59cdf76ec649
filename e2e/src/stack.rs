//! The local stack: a fresh database cloned from the migrated template, the Stripe fake, the
//! e-mail fake, and the billing service on 127.0.0.1:0 wired to them.
//!
//! Dropping the stack stops the service; the fakes stop with their handles, and the database
//! lives as long as the PostgreSQL server (a throw-away cluster is removed with the process).

use std::sync::Arc;

use billing_fakes::{EmailFake, StripeFake};
use billing_service::app::{Application, connect, migrations_fingerprint, migrator};
use billing_service::clock::{Clock, SystemClock};
use billing_service::{AppState, Config};
use billing_testdb::{PgServer, TestDatabase};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::client::ApiClient;

/// How to start a stack.
pub struct StackOptions {
    /// Changes to the service's configuration before it starts.
    pub configure: Box<dyn FnOnce(&mut Config) + Send>,
    pub clock: Arc<dyn Clock>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions { configure: Box::new(|_| {}), clock: Arc::new(SystemClock) }
    }
}

pub struct Stack {
    pub service_url: String,
    pub stripe: StripeFake,
    pub email: EmailFake,
    pub database: TestDatabase,
    /// A pool on the stack's database, for assertions that need to look at rows.
    pub pool: PgPool,
    pub state: AppState,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    /// The PostgreSQL server, when this stack owns it (`stack up`); tests share one per
    /// process. Last field: it is dropped after everything that uses it.
    owned_server: Option<PgServer>,
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
        (options.configure)(&mut config);
        let listener =
            if config.bind_addr.port() == 0 { listener } else { TcpListener::bind(config.bind_addr).await? };
        let webhook_url = format!("http://{}/api/webhooks/stripe", listener.local_addr()?);
        let endpoint = stripe.add_webhook_endpoint(&webhook_url);
        config.stripe_webhook_secrets = vec![endpoint.secret.clone()];
        let app = Application::build_on(config, options.clock, listener).await?;
        let service_url = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let pool = connect(&database.url, 4).await?;
        Ok(Stack {
            service_url,
            owned_server,
            stripe,
            email,
            database,
            pool,
            state,
            http: reqwest::Client::new(),
            shutdown: Some(shutdown),
        })
    }

    /// A client without an API key.
    pub fn api(&self) -> ApiClient {
        ApiClient::new(&self.service_url, self.http.clone())
    }

    /// Signs a customer up and returns a client authenticated with their key.
    pub async fn signed_up_customer(&self, email: &str) -> anyhow::Result<(crate::Signup, ApiClient)> {
        let signup = self.api().signup(email, "Test Customer", None).await??;
        let client = self.api().with_key(&signup.api_key);
        Ok((signup, client))
    }

    /// Counts rows of a table (for "nothing was left behind" assertions).
    pub async fn count_rows(&self, table: &str) -> anyhow::Result<i64> {
        anyhow::ensure!(table.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "not a table name: {table}");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&self.pool)
            .await?)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
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
