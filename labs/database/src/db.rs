//! Where PostgreSQL is, and the databases the lab makes and drops there.
//!
//! Settings come from `DATABASE_URL` (default [`DEFAULT_URL`], which matches
//! the kit's docker-compose file and a local trust-auth server). Every
//! database the lab creates is named `labdb_*` and lives on that server:
//! [`Prepared`] makes one (base schema, seeded rows, the implementation's
//! migrations, `VACUUM ANALYZE`), and [`Scratch`] drops it again when it goes out
//! of scope, even when a test panics.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lab_support::Size;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::Service;
use crate::data::{Dataset, LoadReport};

/// Used when `DATABASE_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

/// How long to wait for PostgreSQL before saying it is not there.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `application_name` of the connections a service under test opens, so
/// `pg_stat_activity` can tell them from the lab's own.
pub const SERVICE_APPLICATION: &str = "lab-database-service";

/// The one line printed when PostgreSQL cannot be reached.
pub fn unreachable_hint(url: &str) -> String {
    format!(
        "PostgreSQL is not reachable at {} (DATABASE_URL); start it with `cargo xtask services up` \
         (or `docker compose up -d postgres`), or point DATABASE_URL at a running server",
        redact(url)
    )
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &url[..scheme], &url[at..]),
        _ => url.to_string(),
    }
}

/// The server and the maintenance database the lab connects to.
#[derive(Clone, Debug)]
pub struct Server {
    url: String,
    admin: PgConnectOptions,
}

impl Server {
    /// From `DATABASE_URL`, or [`DEFAULT_URL`].
    pub fn from_env() -> anyhow::Result<Server> {
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
        Server::from_url(&url)
    }

    pub fn from_url(url: &str) -> anyhow::Result<Server> {
        let admin = PgConnectOptions::from_str(url)
            .with_context(|| format!("DATABASE_URL {} is not a postgres:// URL", redact(url)))?
            .application_name("lab-database")
            .log_statements(log::LevelFilter::Trace)
            // The lab's own DDL (CREATE/DROP DATABASE, VACUUM) is slow by nature; keep it out of the warnings.
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(60));
        Ok(Server { url: url.to_string(), admin })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's `host:port`, where a proxy forwards to.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.admin.get_host(), self.admin.get_port())
    }

    /// Options for database `name` on this server.
    pub fn options(&self, name: &str) -> PgConnectOptions {
        self.admin.clone().database(name)
    }

    /// Options a service uses for database `name`: through `via` (a proxy's
    /// `host:port`) when given, else straight to the server.
    pub fn service_options(&self, name: &str, via: Option<&str>) -> anyhow::Result<PgConnectOptions> {
        let mut options = self.options(name).application_name(SERVICE_APPLICATION);
        if let Some(via) = via {
            let (host, port) = via.rsplit_once(':').with_context(|| format!("--via {via} is not host:port"))?;
            let port: u16 = port.parse().with_context(|| format!("--via {via}: bad port"))?;
            options = options.host(host).port(port);
        }
        Ok(options.log_statements(log::LevelFilter::Debug))
    }

    /// A connection to the maintenance database, or the one-line hint.
    pub async fn admin(&self) -> anyhow::Result<PgConnection> {
        connect(&self.admin, &self.url).await
    }

    /// A connection to database `name`.
    pub async fn connect(&self, name: &str) -> anyhow::Result<PgConnection> {
        connect(&self.options(name), &self.url).await
    }

    /// Drops database `name` if it exists, ending any session still in it.
    pub async fn drop_database(&self, name: &str) -> anyhow::Result<()> {
        check_name(name)?;
        let mut admin = self.admin().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("dropping database {name}"))?;
        Ok(())
    }

    /// Creates an empty database `name`, dropping any previous one.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<()> {
        self.drop_database(name).await?;
        let mut admin = self.admin().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating database {name}"))?;
        Ok(())
    }

    pub async fn database_exists(&self, name: &str) -> anyhow::Result<bool> {
        let mut admin = self.admin().await?;
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_optional(&mut admin)
            .await?;
        Ok(found.is_some())
    }
}

async fn connect(options: &PgConnectOptions, url: &str) -> anyhow::Result<PgConnection> {
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(sqlx::Error::Database(err))) => {
            Err(anyhow::anyhow!("PostgreSQL refused the connection: {}", err.message()))
        }
        Ok(Err(err)) => Err(anyhow::anyhow!("{}: {err}", unreachable_hint(url))),
        Err(_) => bail!("{} (no answer within {:?})", unreachable_hint(url), CONNECT_TIMEOUT),
    }
}

/// Database names the lab makes: `labdb_` then lower-case letters, digits and `_`.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.starts_with("labdb_")
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        bail!("refusing to touch database {name:?}: lab databases are named labdb_[a-z0-9_]*");
    }
    Ok(())
}

/// A name no other test or run in this machine is using right now.
pub fn unique_name(purpose: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("labdb_{purpose}_{}_{n}_{nanos:x}", std::process::id())
}

/// A seeded database ready for one implementation, and how long each step took.
#[derive(Debug)]
pub struct Prepared {
    pub name: String,
    pub load: LoadReport,
    /// The implementation's own migrations.
    pub migrate: Duration,
    /// `VACUUM ANALYZE` after everything, so plans see real statistics and a settled visibility map.
    pub analyze: Duration,
}

/// Creates database `name` (dropping an old one), loads `data`, runs the
/// service's migrations on top, then `VACUUM ANALYZE`.
pub async fn prepare(server: &Server, service: &Service, name: &str, data: &Dataset) -> anyhow::Result<Prepared> {
    server.create_database(name).await?;
    let mut conn = server.connect(name).await?;
    let load = data.load(&mut conn).await?;
    let started = Instant::now();
    service
        .migrator
        .run(&mut conn)
        .await
        .with_context(|| format!("running the {} migrations (src/migrations)", service.name))?;
    let migrate = started.elapsed();
    let started = Instant::now();
    // VACUUM too: freshly loaded pages are not yet marked all-visible, as a live database's autovacuum would have them.
    sqlx::raw_sql("VACUUM ANALYZE").execute(&mut conn).await.context("VACUUM ANALYZE")?;
    let analyze = started.elapsed();
    Ok(Prepared { name: name.to_string(), load, migrate, analyze })
}

/// A throwaway database, dropped when this value is.
#[derive(Debug)]
pub struct Scratch {
    pub server: Server,
    pub name: String,
    pub data: Dataset,
}

impl Scratch {
    /// A fresh database seeded with `seed`/`size`, migrated for `service`.
    pub async fn new(service: &Service, seed: u64, size: Size) -> anyhow::Result<Scratch> {
        let server = Server::from_env()?;
        let data = Dataset::generate(seed, size);
        let name = unique_name("t");
        let scratch = Scratch { server, name, data };
        prepare(&scratch.server, service, &scratch.name, &scratch.data).await?;
        Ok(scratch)
    }

    /// Options a service under test uses, optionally through a proxy.
    pub fn service_options(&self, via: Option<&str>) -> PgConnectOptions {
        self.server.service_options(&self.name, via).expect("a valid host:port")
    }

    /// A connection of the lab's own, not the service's.
    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        self.server.connect(&self.name).await
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // A thread of its own: this may run inside a runtime, or while a test unwinds.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(server.drop_database(&name))
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("warning: could not drop scratch database {}: {err:#}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lab_databases_can_be_dropped() {
        assert!(check_name("labdb_t_1_2_ff").is_ok());
        for bad in ["postgres", "labdb_x; DROP", "LABDB_X", "test", "labdb_a\"b"] {
            assert!(check_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn the_hint_says_how_to_start_postgres_and_hides_the_password() {
        let hint = unreachable_hint("postgres://postgres:secret@127.0.0.1:5432/postgres");
        assert!(hint.contains("cargo xtask services up"));
        assert!(!hint.contains("secret"));
    }

    #[test]
    fn unique_names_are_valid_and_distinct() {
        let a = unique_name("t");
        let b = unique_name("t");
        assert_ne!(a, b);
        assert!(check_name(&a).is_ok(), "{a}");
    }
}
