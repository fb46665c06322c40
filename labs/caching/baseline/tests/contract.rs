//! The lab's contract tests run against the baseline itself, and every
//! lesson check shown to fail on it, with the message a student will see.

lab_caching::contract_tests!(baseline_caching::SERVICE, baseline_caching::SERVICE);

const BASELINE: lab_caching::Service = baseline_caching::SERVICE;

#[test]
#[should_panic(expected = "200 reads of 8 products cost 200 upstream calls")]
fn every_read_calls_the_upstream() {
    lab_caching::lessons::repeated_reads_cost_one_upstream_call_per_product(BASELINE);
}

#[test]
#[should_panic(expected = "a fresh instance paid 50 upstream calls")]
fn nothing_is_shared_between_instances() {
    lab_caching::lessons::a_second_instance_reads_from_the_shared_cache(BASELINE);
}

#[test]
#[should_panic(expected = "100 concurrent reads of one cold product cost 100 upstream calls")]
fn a_stampede_reaches_the_upstream_whole() {
    lab_caching::lessons::concurrent_cold_reads_cost_one_upstream_call(BASELINE);
}

#[test]
#[should_panic(expected = "no strong ETag")]
fn answers_carry_no_etag() {
    lab_caching::lessons::a_repeated_read_with_its_etag_is_a_304(BASELINE);
}

#[test]
#[should_panic(expected = "no cache layer reports its hits and misses")]
fn no_layer_counts_hits() {
    lab_caching::lessons::the_cache_counts_its_hits_and_misses(BASELINE);
}

#[test]
#[should_panic(expected = "repeated reads still reach the upstream")]
fn without_a_cache_there_is_no_hit_path_to_recover() {
    lab_caching::lessons::the_service_rides_out_a_redis_outage(BASELINE);
}
