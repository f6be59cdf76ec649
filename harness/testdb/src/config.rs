//! What the provider chain looks at, read from the environment once into one typed value. Tests build their own
//! [`ProviderConfig`] instead of mutating the process environment, which other tests share.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::TestDbError;

/// Forces one provider: `url`, `docker` or `local`.
pub const PROVIDER_ENV: &str = "BILLING_TESTDB_PROVIDER";
/// The image the Docker provider runs.
pub const IMAGE_ENV: &str = "BILLING_TESTDB_IMAGE";
/// A directory holding `initdb` and `postgres`; when set, only it is searched.
pub const PG_BIN_ENV: &str = "BILLING_TESTDB_PG_BIN";
/// A server the test processes of one run share (an admin URL): [`crate::PgServer::shared`] uses it instead of
/// running the chain. `with-shared-postgres` sets it for the command it runs; a runner that starts a process per
/// test (cargo-nextest) would otherwise `initdb` a cluster and migrate a template in every one of them.
pub const SHARED_URL_ENV: &str = "BILLING_TESTDB_SHARED_URL";
/// The image used when [`IMAGE_ENV`] is unset.
pub const DEFAULT_IMAGE: &str = "postgres:16-alpine";

/// A provider named by [`PROVIDER_ENV`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderChoice {
    /// `url`: the server in `DATABASE_URL`.
    Url,
    /// `docker`: a container.
    Docker,
    /// `local`: a throw-away cluster from installed binaries.
    Local,
}

impl FromStr for ProviderChoice {
    type Err = TestDbError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "url" => Ok(Self::Url),
            "docker" => Ok(Self::Docker),
            "local" => Ok(Self::Local),
            _ => Err(TestDbError::UnknownProvider { value: value.to_owned() }),
        }
    }
}

/// Everything the chain decides on. [`ProviderConfig::from_env`] is what [`crate::server::PgServer::start`] uses.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// A forced provider ([`PROVIDER_ENV`]); `None` runs the chain.
    pub provider: Option<ProviderChoice>,
    /// `DATABASE_URL`; an empty value counts as unset.
    pub database_url: Option<String>,
    /// `DOCKER_HOST` (`unix://…`, `tcp://…`, `http://…`).
    pub docker_host: Option<String>,
    /// The local Docker socket, looked at when `docker_host` is unset.
    pub docker_socket: PathBuf,
    /// The PostgreSQL image ([`IMAGE_ENV`]).
    pub docker_image: String,
    /// A directory with `initdb` and `postgres` ([`PG_BIN_ENV`]); when set, `PATH` and `pg_versions_root` are not searched.
    pub pg_bin_dir: Option<PathBuf>,
    /// The `PATH` searched for `initdb` and `postgres`.
    pub search_path: Option<OsString>,
    /// Where distributions install server versions side by side (`/usr/lib/postgresql/<version>/bin`); the newest wins.
    pub pg_versions_root: PathBuf,
    /// The folder holding throw-away clusters (`$TMPDIR/billing-testdb`, else `/dev/shm/billing-testdb` when roomy,
    /// else `/tmp/billing-testdb`); stale ones in it are swept.
    pub tmp_root: PathBuf,
}

impl ProviderConfig {
    /// Reads the environment. Fails only on an unknown `BILLING_TESTDB_PROVIDER`.
    pub fn from_env() -> Result<Self, TestDbError> {
        let non_empty = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
        Ok(Self {
            provider: non_empty(PROVIDER_ENV).map(|value| value.parse()).transpose()?,
            database_url: non_empty("DATABASE_URL"),
            docker_host: non_empty("DOCKER_HOST"),
            docker_socket: PathBuf::from("/var/run/docker.sock"),
            docker_image: non_empty(IMAGE_ENV).unwrap_or_else(|| DEFAULT_IMAGE.to_owned()),
            pg_bin_dir: std::env::var_os(PG_BIN_ENV).filter(|dir| !dir.is_empty()).map(PathBuf::from),
            search_path: std::env::var_os("PATH"),
            pg_versions_root: PathBuf::from("/usr/lib/postgresql"),
            tmp_root: default_tmp_root(),
        })
    }
}

/// `$TMPDIR/billing-testdb` when `TMPDIR` is set; otherwise `/dev/shm/billing-testdb` when that is a roomy tmpfs,
/// because `initdb` on this VM's ext4 takes 1.1 s and on tmpfs 0.4 s; otherwise `/tmp/billing-testdb`.
fn default_tmp_root() -> PathBuf {
    let base = match std::env::var_os("TMPDIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None if is_roomy_tmpfs(Path::new("/dev/shm")) => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    };
    base.join("billing-testdb")
}

/// A RAM-backed file system with at least 1 GiB free (containers often mount a 64 MiB /dev/shm).
fn is_roomy_tmpfs(dir: &Path) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const ENOUGH: u64 = 1 << 30;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: all-zero is a valid `statfs`, which the call fills in; `path` is a valid C string.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut stats) } != 0 {
        return false;
    }
    // The field types differ between architectures, hence the casts.
    #[allow(clippy::unnecessary_cast)]
    let (kind, free) = (stats.f_type as i64, stats.f_bavail as u64 * stats.f_bsize as u64);
    kind == TMPFS_MAGIC && free >= ENOUGH
}
