//! Small statistics helpers for the benchmarks.

/// Mean, median and 99th percentile of a latency sample, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

impl Latency {
    /// Summarizes `samples_ns` (sorted in place); all zero when empty.
    pub fn of(samples_ns: &mut [u64]) -> Self {
        if samples_ns.is_empty() {
            return Self::default();
        }
        samples_ns.sort_unstable();
        let sum: u128 = samples_ns.iter().map(|&v| u128::from(v)).sum();
        let mean_ns = sum as f64 / samples_ns.len() as f64;
        Self {
            mean_us: mean_ns / 1e3,
            p50_us: percentile(samples_ns, 50.0) as f64 / 1e3,
            p99_us: percentile(samples_ns, 99.0) as f64 / 1e3,
        }
    }
}

/// The nearest-rank percentile of sorted, non-empty `sorted`.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `values` (mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The smallest of `values`; NaN when empty.
pub fn min(values: &[f64]) -> f64 {
    values
        .iter()
        .copied()
        .filter(|x| !x.is_nan())
        .reduce(f64::min)
        .unwrap_or(f64::NAN)
}

/// The largest of `values`; NaN when empty.
pub fn max(values: &[f64]) -> f64 {
    values
        .iter()
        .copied()
        .filter(|x| !x.is_nan())
        .reduce(f64::max)
        .unwrap_or(f64::NAN)
}

/// The share of `samples_ns` above the 99th percentile of `baseline_ns`, in percent:
/// about 1 when both come from the same distribution, more when `samples_ns` has a
/// heavier tail. NaN when either is empty.
pub fn share_over_p99(baseline_ns: &[u64], samples_ns: &[u64]) -> f64 {
    if baseline_ns.is_empty() || samples_ns.is_empty() {
        return f64::NAN;
    }
    let mut sorted = baseline_ns.to_vec();
    sorted.sort_unstable();
    let p99 = percentile(&sorted, 99.0);
    let over = samples_ns.iter().filter(|&&v| v > p99).count();
    over as f64 * 100.0 / samples_ns.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        let mut s: Vec<u64> = (1..=100).map(|v| v * 1000).collect();
        let l = Latency::of(&mut s);
        assert_eq!((l.p50_us, l.p99_us), (50.0, 99.0));
        assert!((l.mean_us - 50.5).abs() < 1e-9);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(min(&[0.9, 0.8, f64::NAN]), 0.8);
        assert_eq!(max(&[1.02, f64::NAN, 1.24, 0.97]), 1.24);
        assert!(max(&[]).is_nan());
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn share_over_the_baselines_p99() {
        let base: Vec<u64> = (1..=1000).collect();
        // The same distribution: 1 % above its own p99 (990).
        assert!((share_over_p99(&base, &base) - 1.0).abs() < 1e-9);
        // 49 samples (4.9 %) delayed past the baseline's tail, beside the 1 % there.
        let delayed: Vec<u64> = base
            .iter()
            .map(|&v| if v % 20 == 0 && v <= 980 { v + 5000 } else { v })
            .collect();
        assert!((share_over_p99(&base, &delayed) - 5.9).abs() < 1e-9);
        assert!(share_over_p99(&[], &base).is_nan());
    }
}
