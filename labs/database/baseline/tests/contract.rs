//! The lab's contract tests run against the baseline itself, and the faults the lessons fix, measured.

use lab_database::lessons::{explain_filter, explain_keyset, measure, pool_check};
use lab_database::workload::Workload;
use lab_support::Size;

lab_database::contract_tests!(baseline_database::SERVICE, baseline_database::SERVICE);

const BASELINE: lab_database::Service = baseline_database::SERVICE;

#[test]
fn a_page_of_50_orders_costs_one_query_plus_two_per_order() {
    lab_database::contract::runtime().block_on(async {
        for cost in measure(&BASELINE, Workload::List, 1, 0, 3).await {
            assert_eq!(cost.status, 200);
            assert_eq!(cost.counts.queries, 1 + 2 * 50, "{}", cost.request);
        }
    });
}

#[test]
fn every_request_opens_a_connection_of_its_own() {
    lab_database::contract::runtime().block_on(async {
        for cost in measure(&BASELINE, Workload::Detail, 4, 0, 6).await {
            assert_eq!(cost.counts.connections, 1, "{}", cost.request);
        }
    });
}

#[test]
fn the_report_reads_whole_tables_into_the_service() {
    lab_database::contract::runtime().block_on(async {
        for cost in measure(&BASELINE, Workload::Report, 3, 0, 2).await {
            assert_eq!(cost.status, 200);
            assert!(
                cost.counts.bytes_to_client > 100 * 1024,
                "{} moved only {} bytes",
                cost.request,
                cost.counts.bytes_to_client
            );
        }
    });
}

#[test]
fn a_review_commits_its_writes_one_statement_at_a_time() {
    lab_database::contract::runtime().block_on(async {
        for cost in measure(&BASELINE, Workload::Write, 5, 0, 2).await {
            assert_eq!(cost.status, 201);
            assert_eq!(cost.counts.write_units, 2, "{}", cost.request);
        }
    });
}

#[test]
fn no_index_serves_the_customer_filter_or_the_keyset_page() {
    lab_database::contract::runtime().block_on(async {
        let db = lab_database::contract::scratch(&BASELINE, 6, Size::Tiny).await;
        let mut conn = db.connect().await.expect("connect");
        let filter = explain_filter(&mut conn, 1, true).await.expect("EXPLAIN");
        assert!(!filter.passed && filter.seq_scan_on_orders, "{filter:?}");
        let last = &db.data.orders[db.data.newest_first()[99]];
        let at = time::OffsetDateTime::from_unix_timestamp(last.placed_at).expect("valid");
        let keyset = explain_keyset(&mut conn, at, last.id, true).await.expect("EXPLAIN");
        assert!(!keyset.passed, "{keyset:?}");
    });
}

#[test]
fn under_a_locked_table_every_request_waits_on_a_connection_of_its_own() {
    lab_database::contract::runtime().block_on(async {
        let db = lab_database::contract::scratch(&BASELINE, 8, Size::Tiny).await;
        let router = lab_database::contract::app(&BASELINE, &db, None);
        let report = pool_check(&router, &db.server, &db.name, 12, std::time::Duration::from_millis(1_500))
            .await
            .expect("pool check");
        assert!(!report.passed, "{report:?}");
        assert_eq!((report.fast_503, report.hung), (0, 0), "{report:?}");
        assert_eq!(report.statuses.get(&200), Some(&12), "every caller waited, then got its answer: {report:?}");
        // Sampled every 50 ms while locked; a pool would hold this at its size.
        assert!(report.peak_connections > 8, "{report:?}");
    });
}
