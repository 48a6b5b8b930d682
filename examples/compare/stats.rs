//! A fixed-size latency histogram and the median / min–max summary of rounds.

/// Log-linear buckets: values below 32 ns exactly, then 16 buckets per power of two
/// (at most 1/32 relative error at the bucket middle). Fixed size, so recording never
/// allocates.
pub struct Histogram {
    counts: [u64; BUCKETS],
    total: u64,
}

const EXACT: u64 = 32;
const SUB: u32 = 16;
const BUCKETS: usize = EXACT as usize + (64 - 5) * SUB as usize;

impl Histogram {
    pub fn new() -> Box<Histogram> {
        Box::new(Histogram {
            counts: [0; BUCKETS],
            total: 0,
        })
    }

    pub fn reset(&mut self) {
        self.counts = [0; BUCKETS];
        self.total = 0;
    }

    pub fn record(&mut self, ns: u64) {
        self.counts[index(ns)] += 1;
        self.total += 1;
    }

    /// The value at quantile `q` (0..=1), as its bucket's middle; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return middle(i);
            }
        }
        middle(BUCKETS - 1)
    }
}

fn index(ns: u64) -> usize {
    if ns < EXACT {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros(); // >= 5
    let sub = (ns >> (exp - 4)) & u64::from(SUB - 1);
    EXACT as usize + (exp as usize - 5) * SUB as usize + sub as usize
}

fn middle(i: usize) -> u64 {
    if i < EXACT as usize {
        return i as u64;
    }
    let exp = (i - EXACT as usize) as u32 / SUB + 5;
    let sub = (i - EXACT as usize) as u64 % u64::from(SUB);
    let width = 1u64 << (exp - 4);
    (16 + sub) * width + width / 2
}

/// Median and range of a set of rounds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Summary {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Summary {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Summary {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }
}

/// The confidence level of the intervals the report gives.
pub const CI_LEVEL: f64 = 0.95;

/// The fewest rounds whose min–max covers the median at [`CI_LEVEL`]
/// (`1 - 2·½⁶` = 96.9 %; five give 93.75 %).
pub const CI_MIN_ROUNDS: usize = 6;

/// A distribution-free confidence interval for the median of `values`: the order
/// statistics `[x(k), x(n+1-k)]` with the largest `k` whose coverage,
/// `1 - 2·P(Binomial(n, ½) < k)`, is at least `level` (for 10 rounds and 95 %: the 2nd
/// smallest and 2nd largest, 97.9 %). `None` when even min–max covers less (fewer than
/// 6 values at 95 %). No assumption about the shape of the rounds' distribution.
pub fn median_ci(values: &[f64], level: f64) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mut best = None;
    let mut below = 0.0; // P(B < k)
    for k in 1..=n / 2 {
        below += binomial_half(n, k - 1);
        if 1.0 - 2.0 * below < level {
            break;
        }
        best = Some((v[k - 1], v[n - k]));
    }
    best
}

/// P(Binomial(n, ½) = i).
fn binomial_half(n: usize, i: usize) -> f64 {
    let choose = (0..i).fold(1.0, |c, j| c * (n - j) as f64 / (j + 1) as f64);
    choose / 2f64.powi(n as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_a_bucket() {
        let mut h = Histogram::new();
        for ns in 1..=10_000u64 {
            h.record(ns * 1000);
        }
        for (q, exact) in [
            (0.5, 5_000_000.0),
            (0.99, 9_900_000.0),
            (0.999, 9_990_000.0),
        ] {
            let got = h.quantile(q) as f64;
            assert!((got / exact - 1.0).abs() < 0.035, "q{q}: {got} vs {exact}");
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn median_ci_matches_the_binomial_tables() {
        let v: Vec<f64> = (1..=30).rev().map(f64::from).collect();
        // n = 30: the 10th and 21st order statistics (95.7 %).
        assert_eq!(median_ci(&v, 0.95), Some((10.0, 21.0)));
        assert_eq!(median_ci(&v[20..], 0.95), Some((2.0, 9.0)));
        // 6 values: min–max covers 96.9 %; 5 values: 93.75 %, too little.
        assert_eq!(median_ci(&v[24..], 0.95), Some((1.0, 6.0)));
        assert_eq!(median_ci(&v[25..], 0.95), None);
        assert_eq!(median_ci(&[1.0, f64::NAN, 2.0], 0.5), Some((1.0, 2.0)));
        let fewest: Vec<f64> = (0..CI_MIN_ROUNDS).map(|i| i as f64).collect();
        assert!(median_ci(&fewest, CI_LEVEL).is_some());
        assert!(median_ci(&fewest[1..], CI_LEVEL).is_none());
    }

    #[test]
    fn summary_median_and_range() {
        let s = Summary::of(&[3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
    }
}
