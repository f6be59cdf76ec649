//! Databases for tests: a template per fingerprint (migrated once, by whichever caller gets there first, in any
//! process), and cheap `CREATE DATABASE … TEMPLATE` clones of it, one per test, so tests run in parallel without
//! seeing each other's rows.
//!
//! A template is made under a `pg_advisory_lock` keyed by its name, and only marked `IS_TEMPLATE` once `prepare`
//! succeeded; a database with the template's name that is not marked is the leftover of a failed or interrupted
//! attempt and is made again.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::error::TestDbError;
use crate::postgres_url::{quote_ident, with_database};
use crate::ready::connect;
use crate::server::PgServer;

/// How long a clone keeps retrying while something is still connected to its template.
const TEMPLATE_BUSY_DEADLINE: Duration = Duration::from_secs(10);
/// SQLSTATE `object_in_use`: "source database … is being accessed by other users".
const OBJECT_IN_USE: &str = "55006";

/// A database made for one test. Databases are named `test_…` so leftovers on a shared server are easy to find.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// The database name.
    pub name: String,
    /// A URL connecting to it.
    pub url: String,
    admin_url: String,
}

impl TestDatabase {
    /// Ends its sessions and drops it.
    pub async fn drop_database(self) -> Result<(), TestDbError> {
        let mut admin = admin_connection(&self.admin_url).await?;
        let result = drop_database(&mut admin, &self.name).await;
        let _ = admin.close().await;
        result
    }
}

impl PgServer {
    /// Creates (once per process, and race-free across processes) the template database for `fingerprint` — e.g. a
    /// hash of the migrations — and lets `prepare` fill it, given the template's URL. Returns the template's name.
    ///
    /// `prepare` must close what it opened on the template before returning; sessions still open afterwards are
    /// terminated, because nobody may be connected to a template while it is cloned.
    pub async fn template<F, Fut>(&self, fingerprint: &str, prepare: F) -> Result<String, TestDbError>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>,
    {
        let name = template_name(fingerprint);
        let cell = {
            let mut templates = self.templates.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(templates.entry(name.clone()).or_default())
        };
        let made = cell.get_or_try_init(|| make_template(self.admin_url.clone(), name, prepare)).await?;
        Ok(made.clone())
    }

    /// A fresh database cloned from `template` (a name returned by [`PgServer::template`]).
    pub async fn database_from_template(&self, template: &str) -> Result<TestDatabase, TestDbError> {
        self.create_database(Some(template)).await
    }

    /// A fresh, empty database.
    pub async fn empty_database(&self) -> Result<TestDatabase, TestDbError> {
        self.create_database(None).await
    }

    async fn create_database(&self, template: Option<&str>) -> Result<TestDatabase, TestDbError> {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut sql = format!("CREATE DATABASE {}", quote_ident(&name));
        if let Some(template) = template {
            sql.push_str(&format!(" TEMPLATE {}", quote_ident(template)));
        }
        let mut admin = admin_connection(&self.admin_url).await?;
        let result = create_retrying_while_template_busy(&mut admin, &sql, template.unwrap_or("template1")).await;
        let _ = admin.close().await;
        result?;
        if self.drop_databases_at_exit {
            LEFT_AT_EXIT.lock().unwrap_or_else(PoisonError::into_inner).push((self.admin_url.clone(), name.clone()));
        }
        Ok(TestDatabase { url: with_database(&self.admin_url, &name), name, admin_url: self.admin_url.clone() })
    }
}

/// Databases made on a server other processes share, `(admin URL, name)`, to drop when this process exits.
static LEFT_AT_EXIT: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
/// How long dropping them may hold up the exit.
const DROP_AT_EXIT_DEADLINE: Duration = Duration::from_secs(10);

/// Drops the databases this process made on a shared server (called by the `atexit` hook of
/// [`PgServer::shared`]). Every runtime of the process is gone by then: the drops run on one of their own, on a
/// thread of their own. A database a test dropped already is skipped (`IF EXISTS`); one that cannot be dropped
/// stays until the server goes away at the end of the run.
pub(crate) fn drop_databases_left_at_exit() {
    let left = std::mem::take(&mut *LEFT_AT_EXIT.lock().unwrap_or_else(PoisonError::into_inner));
    if left.is_empty() {
        return;
    }
    let dropping = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async {
            let _ = tokio::time::timeout(DROP_AT_EXIT_DEADLINE, async {
                for (admin_url, name) in left {
                    if let Ok(mut admin) = admin_connection(&admin_url).await {
                        let _ = drop_database(&mut admin, &name).await;
                        let _ = admin.close().await;
                    }
                }
            })
            .await;
        });
    });
    let _ = dropping.join();
}

async fn create_retrying_while_template_busy(
    admin: &mut PgConnection,
    sql: &str,
    template: &str,
) -> Result<(), TestDbError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match sqlx::raw_sql(AssertSqlSafe(sql.to_owned())).execute(&mut *admin).await {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(OBJECT_IN_USE) => {
                if started.elapsed() >= TEMPLATE_BUSY_DEADLINE {
                    return Err(TestDbError::TemplateBusy { template: template.to_owned(), waited: started.elapsed() });
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(error) => return Err(TestDbError::sql(format!("{sql} failed"), error)),
        }
    }
}

async fn make_template<F, Fut>(admin_url: String, name: String, prepare: F) -> Result<String, TestDbError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>,
{
    let mut admin = admin_connection(&admin_url).await?;
    let lock_key = stable_hash(&name) as i64;
    // Session-level: released by the unlock below, or by the server if this future is dropped with the connection.
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock_key)
        .execute(&mut admin)
        .await
        .map_err(|e| TestDbError::sql(format!("cannot take the advisory lock for template {name}"), e))?;
    let result = make_template_locked(&mut admin, &admin_url, &name, prepare).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(lock_key).execute(&mut admin).await;
    let _ = admin.close().await;
    result.map(|()| name)
}

async fn make_template_locked<F, Fut>(
    admin: &mut PgConnection,
    admin_url: &str,
    name: &str,
    prepare: F,
) -> Result<(), TestDbError>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>,
{
    let marked: Option<bool> = sqlx::query_scalar("SELECT datistemplate FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut *admin)
        .await
        .map_err(|e| TestDbError::sql(format!("cannot look for template {name}"), e))?;
    match marked {
        Some(true) => return Ok(()),
        Some(false) => drop_database(admin, name).await?,
        None => {}
    }
    execute(admin, format!("CREATE DATABASE {}", quote_ident(name))).await?;
    if let Err(source) = prepare(with_database(admin_url, name)).await {
        let _ = drop_database(admin, name).await;
        return Err(TestDbError::Prepare { template: name.to_owned(), source });
    }
    let quoted = quote_ident(name);
    // Refuse new sessions first, so a pool `prepare` forgot to close cannot reconnect after we end its sessions.
    execute(admin, format!("ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false")).await?;
    terminate_sessions(admin, name).await?;
    execute(admin, format!("ALTER DATABASE {quoted} WITH IS_TEMPLATE true")).await
}

async fn drop_database(admin: &mut PgConnection, name: &str) -> Result<(), TestDbError> {
    // WITH (FORCE) ends other sessions first (PostgreSQL 13+).
    execute(admin, format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name))).await
}

async fn terminate_sessions(admin: &mut PgConnection, name: &str) -> Result<(), TestDbError> {
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(name)
        .execute(admin)
        .await
        .map(drop)
        .map_err(|e| TestDbError::sql(format!("cannot end the sessions on {name}"), e))
}

async fn execute(admin: &mut PgConnection, sql: String) -> Result<(), TestDbError> {
    match sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(admin).await {
        Ok(_) => Ok(()),
        Err(error) => Err(TestDbError::sql(format!("{sql} failed"), error)),
    }
}

async fn admin_connection(admin_url: &str) -> Result<PgConnection, TestDbError> {
    connect(admin_url)
        .await
        .map_err(|e| TestDbError::sql(format!("cannot connect to {}", crate::postgres_url::redacted(admin_url)), e))
}

/// `test_tpl_<readable part of the fingerprint>_<hash>`: stable across processes, within PostgreSQL's 63 bytes.
fn template_name(fingerprint: &str) -> String {
    let readable: String = fingerprint
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .take(24)
        .collect();
    format!("test_tpl_{readable}_{:016x}", stable_hash(fingerprint))
}

/// FNV-1a: the same in every process and Rust version, unlike `DefaultHasher`.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_are_stable_valid_identifiers() {
        let name = template_name("migrations: 0001..0042 / sha 9f8e");
        assert_eq!(name, template_name("migrations: 0001..0042 / sha 9f8e"));
        assert_ne!(name, template_name("migrations: 0001..0043 / sha 9f8e"));
        assert!(name.len() <= 63, "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{name}");
    }
}
