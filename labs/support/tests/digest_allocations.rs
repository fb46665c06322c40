//! Hashing an answer allocates nothing, so the digests every measured run
//! takes leave dhat's allocation counts as they were. A test binary of its
//! own: dhat counts only under its global allocator, one profiler per process.

use lab_protocol::{Exchange, Req};
use lab_support::digest::Digests;
use serde_json::json;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn digests_allocate_nothing_once_there_is_room() {
    let exchange = Exchange {
        req: Req::get("/reports/top-products?from=2026-01-01&to=2026-12-31"),
        status: 200,
        body: json!({"rows": [{"sku": "A-1", "units": 3, "revenue": "12.50"}], "from": "2026-01-01", "limit": 10}),
    };
    let mut digests = Digests::with_capacity(8);
    let _profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get();
    for _ in 0..8 {
        digests.push(&exchange);
    }
    let after = dhat::HeapStats::get();
    assert_eq!(after.total_blocks, before.total_blocks, "hashing an answer allocated");
    // The counter itself works: serializing to a String allocates, and is seen.
    let text = serde_json::to_string(&exchange.body).expect("serializes");
    assert!(dhat::HeapStats::get().total_blocks > after.total_blocks, "dhat saw no allocation at all");
    assert!(!text.is_empty());
    assert_eq!(digests.hex().len(), 8);
}
