//! Where Redis is, a key prefix of its own per test or run, and what Redis counted.
//!
//! Settings come from `REDIS_URL` (default [`DEFAULT_URL`], which matches
//! the kit's `docker-compose.yml` and `cargo xtask services up`). Tests and
//! driver runs share that server, each under a prefix from
//! [`unique_prefix`], and [`forget`] removes what one left behind.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use redis::aio::MultiplexedConnection;

/// Used when `REDIS_URL` is not set.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";

/// `REDIS_URL`, or [`DEFAULT_URL`].
pub fn url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// A prefix no other test or run of this machine uses: `lab25:<tag>:<pid>:<n>:<nanos>:`.
pub fn unique_prefix(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("lab25:{tag}:{}:{}:{nanos}:", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One connection to the Redis at `url`, or one line saying how to start it.
pub async fn connect(url: &str) -> anyhow::Result<MultiplexedConnection> {
    let hint = || {
        format!(
            "Redis is not reachable at {url} (REDIS_URL); start it with `cargo xtask services up` \
             (or `docker compose up -d redis`), or point REDIS_URL at a running server"
        )
    };
    let client = redis::Client::open(url).with_context(|| format!("REDIS_URL {url:?} is not a redis:// URL"))?;
    let connecting = client.get_multiplexed_async_connection();
    match tokio::time::timeout(std::time::Duration::from_secs(3), connecting).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(err)) => Err(anyhow::anyhow!("{err}")).with_context(hint),
        Err(_) => Err(anyhow::anyhow!("no answer within 3 s")).with_context(hint),
    }
}

/// Removes every key under `prefix` of the Redis at `url`; how many there were.
pub async fn forget(url: &str, prefix: &str) -> anyhow::Result<usize> {
    let (url, prefix) = (url.to_string(), prefix.to_string());
    tokio::task::spawn_blocking(move || forget_blocking(&url, &prefix)).await?
}

/// [`forget`] without a runtime (for `Drop`): removes every key under
/// `prefix` of the Redis at `url`, giving up after a few seconds.
pub fn forget_blocking(url: &str, prefix: &str) -> anyhow::Result<usize> {
    let client = redis::Client::open(url)?;
    let mut connection = client.get_connection_with_timeout(std::time::Duration::from_secs(2))?;
    connection.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let pattern = format!("{}*", escape_glob(prefix));
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query(&mut connection)?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for chunk in keys.chunks(500) {
        let _: () = redis::cmd("UNLINK").arg(chunk).query(&mut connection)?;
    }
    Ok(keys.len())
}

/// `prefix` with Redis glob characters escaped, so `SCAN MATCH` takes it literally.
fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Every command the server has run since its start (or `CONFIG RESETSTAT`),
/// from `INFO commandstats`, leaving out the `INFO` calls that read it.
pub async fn commands_served(connection: &mut MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(connection).await?;
    Ok(parse_commandstats(&info).into_iter().filter(|(name, _)| name != "info").map(|(_, calls)| calls).sum())
}

/// `cmdstat_get:calls=3,usec=...` lines as (command, calls).
pub fn parse_commandstats(info: &str) -> Vec<(String, u64)> {
    info.lines()
        .filter_map(|line| {
            let (name, fields) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = fields.split(',').find_map(|field| field.strip_prefix("calls="))?.parse().ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use redis::AsyncCommands;

    use super::*;

    #[test]
    fn commandstats_lines_are_read_and_globs_escaped() {
        let info = "# Commandstats\r\ncmdstat_get:calls=3,usec=9,usec_per_call=3.00\r\ncmdstat_info:calls=2,usec=1\r\n";
        assert_eq!(parse_commandstats(info), vec![("get".into(), 3), ("info".into(), 2)]);
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_ne!(unique_prefix("t"), unique_prefix("t"));
    }

    #[tokio::test]
    async fn forget_removes_only_the_keys_under_its_prefix() {
        let mut connection = connect(&url()).await.unwrap_or_else(|err| panic!("{err:#}"));
        let (mine, other) = (unique_prefix("forget"), unique_prefix("other"));
        for i in 0..3 {
            let _: () = connection.set(format!("{mine}{i}"), i).await.unwrap();
        }
        let _: () = connection.set(format!("{other}kept"), 1).await.unwrap();
        assert_eq!(forget(&url(), &mine).await.unwrap(), 3);
        assert_eq!(forget(&url(), &mine).await.unwrap(), 0);
        assert_eq!(forget(&url(), &other).await.unwrap(), 1);
    }
}
