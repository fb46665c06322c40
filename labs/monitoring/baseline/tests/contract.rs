//! The lab's contract tests run against the baseline itself, and every
//! lesson check shown to fail on it, with the message a student will see.

lab_monitoring::contract_tests!(baseline_monitoring::SERVICE, baseline_monitoring::SERVICE);

const BASELINE: &str = env!("CARGO_BIN_EXE_baseline-monitoring");

#[test]
#[should_panic(expected = "the service exposes no metrics")]
fn nothing_is_counted() {
    lab_monitoring::lessons::metrics_count_the_traffic_sent(BASELINE);
}

#[test]
#[should_panic(expected = "the service wrote no log line")]
fn prints_are_not_logs() {
    lab_monitoring::lessons::every_request_logs_one_json_line_with_its_context(BASELINE);
}

#[test]
#[should_panic(expected = "answered with no x-request-id header")]
fn no_request_can_be_told_from_another() {
    lab_monitoring::lessons::request_ids_and_traces_go_through(BASELINE);
}

#[test]
#[should_panic(expected = "GET /health/live with every dependency up answered 404")]
fn there_is_one_health_route_for_two_questions() {
    lab_monitoring::lessons::readiness_fails_fast_and_is_cached_briefly(BASELINE);
}

#[test]
#[should_panic(expected = "GET /dashboard answered 404")]
fn there_is_nothing_to_watch() {
    lab_monitoring::lessons::the_dashboard_streams_live_numbers(BASELINE);
}
