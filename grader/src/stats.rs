//! Statistics for same-run comparisons.
//!
//! A speedup is the median of pairwise ratios (baseline / target) taken in
//! alternating rounds; its interval is a percentile bootstrap of that median
//! with a fixed resampling seed, so the same samples always give the same
//! interval.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Resamples drawn for a bootstrap interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2_000;

/// A ratio with a 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// An exact value: counts that repeat have no spread.
    pub fn exact(value: f64) -> Interval {
        Interval { estimate: value, low: value, high: value }
    }
}

/// Median of a non-empty sample (mean of the middle two for even sizes).
pub fn median(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "median of an empty sample");
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 }
}

/// The `q` quantile (0..=1) of a sorted sample, by linear interpolation.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of an empty sample");
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let weight = position - below as f64;
    sorted[below] * (1.0 - weight) + sorted[above] * weight
}

/// Ratios of paired samples, `baseline[i] / target[i]`.
pub fn pairwise_ratios(baseline: &[f64], target: &[f64]) -> Vec<f64> {
    baseline.iter().zip(target).map(|(b, t)| b / t.max(f64::MIN_POSITIVE)).collect()
}

/// Median of `ratios` with a 95% percentile-bootstrap interval.
pub fn median_interval(ratios: &[f64]) -> Interval {
    let estimate = median(ratios);
    if ratios.len() < 2 {
        return Interval::exact(estimate);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x9a_d3_2e);
    let mut medians = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    let mut resample = vec![0.0; ratios.len()];
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for slot in resample.iter_mut() {
            *slot = ratios[rng.random_range(0..ratios.len())];
        }
        medians.push(median(&resample));
    }
    medians.sort_by(f64::total_cmp);
    Interval { estimate, low: quantile(&medians, 0.025), high: quantile(&medians, 0.975) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
    }

    #[test]
    fn quantiles_interpolate_between_neighbours() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&sorted, 0.0), 1.0);
        assert_eq!(quantile(&sorted, 1.0), 5.0);
        assert_eq!(quantile(&sorted, 0.5), 3.0);
        assert!((quantile(&sorted, 0.1) - 1.4).abs() < 1e-12);
    }

    #[test]
    fn ratios_are_baseline_over_target() {
        assert_eq!(pairwise_ratios(&[10.0, 9.0], &[2.0, 3.0]), vec![5.0, 3.0]);
    }

    #[test]
    fn identical_ratios_have_no_spread() {
        let interval = median_interval(&[4.0; 7]);
        assert_eq!(interval, Interval::exact(4.0));
    }

    #[test]
    fn the_interval_brackets_the_median_and_stays_inside_the_sample() {
        let ratios = [8.0, 9.5, 10.0, 10.5, 12.0, 30.0, 9.0];
        let interval = median_interval(&ratios);
        assert_eq!(interval.estimate, 10.0);
        assert!(interval.low <= interval.estimate && interval.estimate <= interval.high);
        assert!(interval.low >= 8.0 && interval.high <= 30.0);
        // One wild round (30x) does not drag the conservative bound up.
        assert!(interval.low < 10.0);
    }

    #[test]
    fn the_same_samples_give_the_same_interval() {
        let ratios = [1.2, 1.5, 0.9, 1.1, 1.3];
        assert_eq!(median_interval(&ratios), median_interval(&ratios));
    }

    #[test]
    fn a_single_pair_is_exact() {
        assert_eq!(median_interval(&[2.5]), Interval::exact(2.5));
    }
}
