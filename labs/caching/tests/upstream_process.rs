//! The `cache-upstream` binary as the grader will run it: on a Unix socket,
//! announcing itself with one `Listening` line, serving the seeded catalogue
//! through the same client services use, and counting every call.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use lab_caching::Catalog;
use lab_caching::upstream::{Address, Client, ItemPatch, UpstreamCalls};
use lab_protocol::Listening;
use lab_support::Size;

/// Kills the upstream when the test ends, however it ends.
struct Upstream(std::process::Child);

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_upstream_process_serves_and_counts_on_a_unix_socket() {
    let dir = tempfile::tempdir().expect("a scratch folder");
    let socket = dir.path().join("upstream.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cache-upstream"))
        .args(["--seed", "31", "--size", "tiny", "--latency-ms", "1", "--unix"])
        .arg(&socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cache-upstream starts");
    let stdout = child.stdout.take().expect("piped");
    let upstream = Upstream(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("one line");
    let listening: Listening = serde_json::from_str(&line).expect("a Listening message");
    assert_eq!(listening.listening, format!("unix:{}", socket.display()));

    let address: Address = listening.listening.parse().expect("an upstream address");
    assert_eq!(address, Address::Unix(socket.clone()));
    let client = Client::new(&address);
    let catalog = Catalog::generate(31, Size::Tiny);
    assert_eq!(client.item(5).await.unwrap().as_ref(), catalog.get(5));
    let patch = ItemPatch { stock: Some(0), ..ItemPatch::default() };
    assert_eq!(client.update(5, &patch).await.unwrap().map(|item| (item.stock, item.version)), Some((0, 2)));
    assert!(client.category("toys").await.unwrap().is_some());
    assert_eq!(client.calls().await.unwrap(), UpstreamCalls { reads: 1, lists: 1, writes: 1, deletes: 0 });
    drop(upstream);
    assert!(client.item(5).await.is_err(), "a stopped upstream is an error, not an answer");
}
