//! The shop's database: a fresh `labdb_*` database per test or run on the
//! PostgreSQL of `DATABASE_URL`, seeded, and dropped again when the value
//! that made it goes (even when a test panics).

use anyhow::Context;
use lab_database::db::{Server, unique_name};
use lab_support::Size;
use sqlx::postgres::PgConnectOptions;

use crate::data::Shop;

/// The tables every implementation reads and writes.
pub const SCHEMA: &str = include_str!("schema.sql");

/// Creates database `name` (dropping an old one) and loads `shop` into it.
pub async fn seed(server: &Server, name: &str, shop: &Shop) -> anyhow::Result<()> {
    server.create_database(name).await?;
    let mut conn = server.connect(name).await?;
    sqlx::raw_sql(SCHEMA).execute(&mut conn).await.context("creating the shop's tables")?;
    let column = |f: fn(&crate::data::Seeded) -> String| shop.products.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO products (sku, name, category, price_cents, stock) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::int[])",
    )
    .bind(column(|p| p.sku.clone()))
    .bind(column(|p| p.name.clone()))
    .bind(column(|p| p.category.clone()))
    .bind(shop.products.iter().map(|p| p.price_cents).collect::<Vec<_>>())
    .bind(shop.products.iter().map(|p| p.stock).collect::<Vec<_>>())
    .execute(&mut conn)
    .await
    .context("loading the seeded products")?;
    sqlx::raw_sql("ANALYZE").execute(&mut conn).await.context("ANALYZE")?;
    Ok(())
}

/// A seeded database, dropped when this value is (unless [`ShopDb::keep`]).
#[derive(Debug)]
pub struct ShopDb {
    pub server: Server,
    pub name: String,
    drop_on_exit: bool,
}

impl ShopDb {
    /// A fresh database seeded with `seed`/`size`.
    pub async fn fresh(seed: u64, size: Size) -> anyhow::Result<ShopDb> {
        let server = Server::from_env()?;
        let name = unique_name("mon");
        let db = ShopDb { server, name, drop_on_exit: true };
        seed_shop(&db, &Shop::generate(seed, size)).await?;
        Ok(db)
    }

    /// Options a service uses: through `via` (a proxy's `host:port`, or the
    /// folder of its Unix socket) when given.
    pub fn service_options(&self, via: Option<&str>) -> anyhow::Result<PgConnectOptions> {
        self.server.service_options(&self.name, via)
    }

    /// Leaves the database in place when this value goes (`serve`).
    pub fn keep(&mut self) {
        self.drop_on_exit = false;
    }
}

async fn seed_shop(db: &ShopDb, shop: &Shop) -> anyhow::Result<()> {
    seed(&db.server, &db.name, shop).await
}

impl Drop for ShopDb {
    fn drop(&mut self) {
        if !self.drop_on_exit {
            return;
        }
        let server = self.server.clone();
        let name = self.name.clone();
        // A thread of its own: this may run inside a runtime, or while a test unwinds.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(server.drop_database(&name))
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("warning: could not drop database {}: {err:#}", self.name);
        }
    }
}
