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
    /// `host:port`, or the folder of its Unix socket) when given, else as
    /// `DATABASE_URL` says.
    pub fn service_options(&self, name: &str, via: Option<&str>) -> anyhow::Result<PgConnectOptions> {
        let mut options = self.options(name).application_name(SERVICE_APPLICATION);
        match via {
            Some(dir) if dir.starts_with('/') => options = options.socket(dir).port(5432),
            Some(via) => {
                let (host, port) =
                    via.rsplit_once(':').with_context(|| format!("--via {via} is not host:port or a folder"))?;
                let port: u16 = port.parse().with_context(|| format!("--via {via}: bad port"))?;
                options = options.host(host).port(port);
            }
            None => {}
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

    /// Creates an empty database `name`, dropping any previous one. It is
    /// copied from `template0`, which nobody can change, and only its owner
    /// (the role that made it) and superusers may connect to it.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<()> {
        self.make_database(name, "template0", "", &format!("creating database {name}")).await
    }

    /// Makes `to` a copy of database `from` as it stands (schema, rows,
    /// indexes and planner statistics), dropping any previous `to`; only
    /// its owner may connect to it, as with [`Server::create_database`].
    /// Nobody may be connected to `from`. A non-superuser may copy only a
    /// database it owns.
    pub async fn copy_database(&self, from: &str, to: &str) -> anyhow::Result<()> {
        check_name(from)?;
        // A file copy: much faster than the default block-by-block copy for a seeded database.
        self.make_database(to, from, " STRATEGY FILE_COPY", &format!("copying database {from} to {to}")).await
    }

    /// `CREATE DATABASE name TEMPLATE template<how>`, that only its owner may connect to.
    async fn make_database(&self, name: &str, template: &str, how: &str, what: &str) -> anyhow::Result<()> {
        self.drop_database(name).await?;
        let mut admin = self.admin().await?;
        for sql in [
            format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"{how}"),
            format!("REVOKE CONNECT, TEMPORARY ON DATABASE \"{name}\" FROM PUBLIC"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.with_context(|| what.to_string())?;
        }
        Ok(())
    }

    /// Makes login role `name` (no superuser, may create databases, at most
    /// 64 connections) with a fresh random password, which it returns.
    pub async fn create_role(&self, name: &str) -> anyhow::Result<String> {
        check_name(name)?;
        let password: String = {
            use rand::Rng;
            let mut rng = rand::rng();
            (0..32).map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)])).collect()
        };
        self.drop_role(name).await?;
        let mut admin = self.admin().await?;
        let sql = format!(
            "CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}' NOSUPERUSER CREATEDB NOCREATEROLE \
             NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 64"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating role {name}"))?;
        Ok(password)
    }

    /// Drops every database role `name` owns, then the role, if it exists.
    pub async fn drop_role(&self, name: &str) -> anyhow::Result<()> {
        check_name(name)?;
        let mut admin = self.admin().await?;
        let owned: Vec<String> = sqlx::query_scalar(
            "SELECT d.datname::text FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = $1",
        )
        .bind(name)
        .fetch_all(&mut admin)
        .await
        .with_context(|| format!("listing the databases of role {name}"))?;
        drop(admin);
        for database in owned {
            self.drop_database(&database).await?;
        }
        let mut admin = self.admin().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS \"{name}\"")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("dropping role {name}"))?;
        Ok(())
    }

    /// What decides how database `name` behaves beyond its data: the
    /// settings that apply to its owner's sessions there (`ALTER DATABASE`,
    /// `ALTER ROLE`, `ALTER ROLE ALL` and their `IN DATABASE` forms), and its
    /// indexes (`pg_indexes`), each sorted.
    pub async fn describe(&self, name: &str) -> anyhow::Result<lab_protocol::DatabaseState> {
        check_name(name)?;
        let mut admin = self.admin().await?;
        let settings: Vec<String> = sqlx::query_scalar(
            "SELECT coalesce(d.datname::text, 'every database') || ', ' || coalesce(r.rolname::text, 'every role') \
                    || ': ' || array_to_string(s.setconfig, ', ') \
             FROM pg_db_role_setting s \
             LEFT JOIN pg_database d ON d.oid = s.setdatabase \
             LEFT JOIN pg_roles r ON r.oid = s.setrole \
             CROSS JOIN (SELECT oid, datdba FROM pg_database WHERE datname = $1) t \
             WHERE s.setdatabase IN (0, t.oid) AND s.setrole IN (0, t.datdba) \
             ORDER BY 1",
        )
        .bind(name)
        .fetch_all(&mut admin)
        .await
        .with_context(|| format!("reading the settings of database {name}"))?;
        drop(admin);
        let mut conn = self.connect(name).await?;
        let indexes: Vec<String> =
            sqlx::query_scalar("SELECT indexdef::text FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
                .fetch_all(&mut conn)
                .await
                .with_context(|| format!("listing the indexes of database {name}"))?;
        Ok(lab_protocol::DatabaseState { database: name.to_string(), settings, indexes })
    }

    /// Transactions PostgreSQL counted in database `name` (commits and
    /// rollbacks, `pg_stat_database`), read once no session is left in it (a
    /// session's counts reach the statistics when it ends), or after 10 s.
    pub async fn transactions(&self, name: &str) -> anyhow::Result<i64> {
        check_name(name)?;
        let mut admin = self.admin().await?;
        let started = Instant::now();
        loop {
            let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                .bind(name)
                .fetch_one(&mut admin)
                .await?;
            if sessions == 0 || started.elapsed() > Duration::from_secs(10) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A session leaves pg_stat_activity a moment before its last counts are flushed.
        tokio::time::sleep(Duration::from_millis(100)).await;
        sqlx::raw_sql("SELECT pg_stat_clear_snapshot()").execute(&mut admin).await?;
        let n: Option<i64> =
            sqlx::query_scalar("SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = $1")
                .bind(name)
                .fetch_optional(&mut admin)
                .await?;
        n.with_context(|| format!("no database {name}"))
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
    // Run by the database's owner, it warns of each shared catalog only a superuser may vacuum: not news.
    sqlx::raw_sql("SET client_min_messages = error").execute(&mut conn).await?;
    sqlx::raw_sql("VACUUM ANALYZE").execute(&mut conn).await.context("VACUUM ANALYZE")?;
    sqlx::raw_sql("RESET client_min_messages").execute(&mut conn).await?;
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
