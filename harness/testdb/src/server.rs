//! [`PgServer`]: a PostgreSQL server tests can create databases on, and the provider chain that finds one —
//! `DATABASE_URL`, then Docker, then installed binaries — unless `BILLING_TESTDB_PROVIDER` forces one.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, Once};

use sqlx::Connection;
use tokio::sync::OnceCell;

use crate::config::{ProviderChoice, ProviderConfig, SHARED_URL_ENV};
use crate::docker::{self, DockerContainer};
use crate::error::TestDbError;
use crate::local::{self, LocalCluster};
use crate::postgres_url::redacted;
use crate::ready::connect;

/// Where a [`PgServer`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// The server in `DATABASE_URL`; owned by someone else, never stopped by us.
    DatabaseUrl,
    /// A container we started; removed on drop.
    Docker,
    /// A throw-away cluster from the installed binaries; stopped and deleted on drop.
    LocalBinaries,
}

/// A running PostgreSQL server. If this value started it, dropping it stops it and removes its data.
///
/// It holds no connection pool: every operation opens and closes its own connection, so one server (see
/// [`PgServer::shared`]) can serve tests that each run on their own tokio runtime.
#[derive(Debug)]
pub struct PgServer {
    kind: ProviderKind,
    pub(crate) admin_url: String,
    /// One cell per template name, so concurrent callers in this process run `prepare` once.
    pub(crate) templates: Mutex<HashMap<String, Arc<OnceCell<String>>>>,
    /// What we started, if anything; dropping it stops the server and removes its data.
    owned: Owned,
    /// Whether the databases made on it are dropped when the process exits: other processes go on using the
    /// server, so nothing else removes them until the run ends.
    pub(crate) drop_databases_at_exit: bool,
}

#[derive(Debug)]
enum Owned {
    Nothing,
    /// Dropping it removes the container (boxed: a container handle is large and rare).
    Container(Box<DockerContainer>),
    Cluster(LocalCluster),
}

static SHARED: OnceCell<PgServer> = OnceCell::const_new();

impl PgServer {
    /// Finds or starts a server with the chain, configured from the environment. The caller owns it.
    pub async fn start() -> Result<PgServer, TestDbError> {
        Self::start_with(&ProviderConfig::from_env()?).await
    }

    /// The process-wide server, started on first use. Safe to call from many `#[tokio::test]`s at once, each on its
    /// own runtime. It is never dropped, so an `atexit` hook stops and removes it when the process exits normally; after
    /// an abort or a kill, a local cluster dies with the process and its directory is swept by the next cluster
    /// start, and a container is removed by the next container start on the same host.
    ///
    /// With `BILLING_TESTDB_SHARED_URL` set ([`crate::SHARED_URL_ENV`]), it is that server, which the other test
    /// processes of the run share, and the databases this process makes on it are dropped when it exits normally.
    pub async fn shared() -> Result<&'static PgServer, TestDbError> {
        let server = SHARED
            .get_or_try_init(|| async {
                match std::env::var(SHARED_URL_ENV).ok().filter(|url| !url.trim().is_empty()) {
                    Some(url) => Self::use_shared_url(&url).await,
                    None => Self::start().await,
                }
            })
            .await?;
        static CLEAN_UP_AT_EXIT: Once = Once::new();
        CLEAN_UP_AT_EXIT.call_once(|| {
            // SAFETY: registers a plain function; it only touches the static.
            unsafe { libc::atexit(clean_up_shared_at_exit) };
        });
        Ok(server)
    }

    /// Runs the chain with an explicit configuration instead of the environment.
    pub async fn start_with(config: &ProviderConfig) -> Result<PgServer, TestDbError> {
        match config.provider {
            Some(ProviderChoice::Url) => match &config.database_url {
                Some(url) => Self::use_database_url(url).await,
                None => Err(forced("url", "DATABASE_URL is not set")),
            },
            Some(ProviderChoice::Docker) => {
                docker::engine_reachable(config).await.map_err(|reason| forced("docker", reason))?;
                Self::start_container(config).await
            }
            Some(ProviderChoice::Local) => {
                let binaries = local::find_binaries(config).map_err(|reason| forced("local", reason))?;
                Self::start_cluster(&binaries, config).await
            }
            None => Self::run_chain(config).await,
        }
    }

    async fn run_chain(config: &ProviderConfig) -> Result<PgServer, TestDbError> {
        if let Some(url) = &config.database_url {
            return Self::use_database_url(url).await;
        }
        // An engine that answers but cannot give us a container (no image and no registry, a full disk, an API this
        // client does not speak) is passed over, as a missing one is: installed binaries may still serve.
        let docker_missing = match docker::engine_reachable(config).await {
            Ok(()) => match Self::start_container(config).await {
                Ok(server) => return Ok(server),
                Err(error) => {
                    tracing::warn!(%error, "the Docker engine answers but gave no PostgreSQL container; trying the next provider");
                    error.to_string()
                }
            },
            Err(reason) => reason,
        };
        let binaries_missing = match local::find_binaries(config) {
            Ok(binaries) => return Self::start_cluster(&binaries, config).await,
            Err(reason) => reason,
        };
        Err(TestDbError::NoPostgres {
            checked: format!("DATABASE_URL is unset; Docker: {docker_missing}; local: {binaries_missing}"),
        })
    }

    async fn use_database_url(url: &str) -> Result<PgServer, TestDbError> {
        let unreachable = |source| TestDbError::DatabaseUrlUnreachable { url: redacted(url), source };
        connect(url).await.map_err(unreachable)?.close().await.map_err(unreachable)?;
        Ok(Self::new(ProviderKind::DatabaseUrl, url.to_owned(), Owned::Nothing))
    }

    async fn use_shared_url(url: &str) -> Result<PgServer, TestDbError> {
        let unreachable = |source| TestDbError::SharedUrlUnreachable { url: redacted(url), source };
        connect(url).await.map_err(unreachable)?.close().await.map_err(unreachable)?;
        let mut server = Self::new(ProviderKind::DatabaseUrl, url.to_owned(), Owned::Nothing);
        server.drop_databases_at_exit = true;
        Ok(server)
    }

    async fn start_container(config: &ProviderConfig) -> Result<PgServer, TestDbError> {
        let (container, url) = DockerContainer::start(config).await?;
        Ok(Self::new(ProviderKind::Docker, url, Owned::Container(Box::new(container))))
    }

    async fn start_cluster(binaries: &local::PgBinaries, config: &ProviderConfig) -> Result<PgServer, TestDbError> {
        let (cluster, url) = LocalCluster::start(binaries, &config.tmp_root).await?;
        Ok(Self::new(ProviderKind::LocalBinaries, url, Owned::Cluster(cluster)))
    }

    fn new(kind: ProviderKind, admin_url: String, owned: Owned) -> Self {
        Self { kind, admin_url, templates: Mutex::default(), owned, drop_databases_at_exit: false }
    }

    /// Where this server came from.
    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// A URL with rights to create databases: the `postgres` database as superuser for servers we started,
    /// `DATABASE_URL` as given otherwise.
    pub fn admin_url(&self) -> String {
        self.admin_url.clone()
    }

    /// Stops a local cluster's server, keeping its data (a fast shutdown: open transactions are
    /// aborted and clients disconnected), for tests of what a restart of PostgreSQL does. Only
    /// a server this value started from the local binaries can be stopped.
    pub fn stop_server(&self) -> Result<(), TestDbError> {
        match &self.owned {
            Owned::Cluster(cluster) => {
                cluster.stop_server();
                Ok(())
            }
            _ => Err(forced("local", "only a local cluster this process started can be stopped and started")),
        }
    }

    /// Starts a server stopped by [`PgServer::stop_server`] again, on the same data and port.
    pub async fn start_server(&self) -> Result<(), TestDbError> {
        match &self.owned {
            Owned::Cluster(cluster) => cluster.start_again().await,
            _ => Err(forced("local", "only a local cluster this process started can be stopped and started")),
        }
    }

    /// For a local cluster, the directory holding it (`data/`, `postgres.log`, the socket); removed on drop.
    pub fn cluster_dir(&self) -> Option<&Path> {
        match &self.owned {
            Owned::Cluster(cluster) => Some(cluster.dir()),
            Owned::Nothing | Owned::Container(_) => None,
        }
    }
}

extern "C" fn clean_up_shared_at_exit() {
    crate::databases::drop_databases_left_at_exit();
    match SHARED.get().map(|server| &server.owned) {
        Some(Owned::Cluster(cluster)) => cluster.stop_and_remove(),
        Some(Owned::Container(container)) => container.remove_at_exit(),
        Some(Owned::Nothing) | None => {}
    }
}

fn forced(provider: &'static str, reason: impl Into<String>) -> TestDbError {
    TestDbError::ForcedProviderUnavailable { provider, reason: reason.into() }
}
