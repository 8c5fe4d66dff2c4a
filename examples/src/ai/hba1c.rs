//! A patient's HbA1c results turned into a trend (latest value, least-squares slope per year) and a glycaemic risk by the ADA thresholds (5.7 % prediabetes, 6.5 % diabetes).

/// LOINC 4548-4, hemoglobin A1c/hemoglobin.total in blood (%).
pub const HBA1C: &str = "4548-4";
/// LOINC 17856-6, hemoglobin A1c/hemoglobin.total in blood by HPLC (%), the same measure.
pub const HBA1C_HPLC: &str = "17856-6";
/// Results a trend needs: a slope takes two points.
pub const MIN_RESULTS: usize = 2;

const MICROS_PER_YEAR: f64 = 365.25 * 24.0 * 3600.0 * 1e6;

/// One HbA1c result: when the specimen was collected (µs since the epoch) and its value in %.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Result {
    /// Specimen collection time, microseconds since the Unix epoch.
    pub collected_at: i64,
    /// HbA1c in percent (NGSP).
    pub percent: f64,
}

/// The glycaemic range of an HbA1c value by the ADA criteria.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Risk {
    /// Below 5.7 %.
    Normal,
    /// 5.7 % to 6.4 %.
    Prediabetes,
    /// 6.5 % or more.
    Diabetes,
}

impl Risk {
    /// The range of `percent`.
    pub fn of(percent: f64) -> Risk {
        if percent >= 6.5 {
            Risk::Diabetes
        } else if percent >= 5.7 {
            Risk::Prediabetes
        } else {
            Risk::Normal
        }
    }

    /// The range as written in results: normal, prediabetes, diabetes.
    pub fn label(self) -> &'static str {
        match self {
            Risk::Normal => "normal",
            Risk::Prediabetes => "prediabetes",
            Risk::Diabetes => "diabetes",
        }
    }
}

/// The trend of a series of results.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trend {
    /// The most recent value (%).
    pub latest: f64,
    /// The first value (%).
    pub first: f64,
    /// Least-squares slope in percentage points per year.
    pub slope_per_year: f64,
    /// How many results it is computed from.
    pub results: usize,
    /// The range of the latest value.
    pub risk: Risk,
}

impl Trend {
    /// Rising, falling or stable: the slope beyond ±0.1 percentage points per year.
    pub fn direction(&self) -> &'static str {
        if self.slope_per_year > 0.1 {
            "rising"
        } else if self.slope_per_year < -0.1 {
            "falling"
        } else {
            "stable"
        }
    }
}

/// The trend of `results` (any order), or `None` with fewer than [`MIN_RESULTS`] or when all
/// were collected at the same time.
pub fn trend(results: &[Result]) -> Option<Trend> {
    if results.len() < MIN_RESULTS {
        return None;
    }
    let mut sorted = results.to_vec();
    sorted.sort_by_key(|r| r.collected_at);
    let t0 = sorted[0].collected_at;
    let xs: Vec<f64> = sorted
        .iter()
        .map(|r| (r.collected_at - t0) as f64 / MICROS_PER_YEAR)
        .collect();
    let n = sorted.len() as f64;
    let mean_x = xs.iter().sum::<f64>() / n;
    let mean_y = sorted.iter().map(|r| r.percent).sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = xs
        .iter()
        .zip(&sorted)
        .map(|(x, r)| (x - mean_x) * (r.percent - mean_y))
        .sum();
    let latest = sorted[sorted.len() - 1].percent;
    Some(Trend {
        latest,
        first: sorted[0].percent,
        slope_per_year: sxy / sxx,
        results: sorted.len(),
        risk: Risk::of(latest),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    #[test]
    fn ada_thresholds_are_inclusive_lower_bounds() {
        assert_eq!(Risk::of(5.6), Risk::Normal);
        assert_eq!(Risk::of(5.7), Risk::Prediabetes);
        assert_eq!(Risk::of(6.4), Risk::Prediabetes);
        assert_eq!(Risk::of(6.5), Risk::Diabetes);
    }

    #[test]
    fn the_slope_is_percentage_points_per_year() {
        // 7.0 → 7.5 → 8.0 over a year, half a year apart: +1.0 per year.
        let half = (MICROS_PER_YEAR / 2.0) as i64;
        let t = trend(&[
            Result {
                collected_at: 2 * half,
                percent: 8.0,
            },
            Result {
                collected_at: 0,
                percent: 7.0,
            },
            Result {
                collected_at: half,
                percent: 7.5,
            },
        ])
        .unwrap();
        assert!((t.slope_per_year - 1.0).abs() < 1e-6, "{t:?}");
        assert_eq!((t.latest, t.first, t.results), (8.0, 7.0, 3));
        assert_eq!((t.risk, t.direction()), (Risk::Diabetes, "rising"));
    }

    #[test]
    fn one_result_or_one_instant_has_no_trend() {
        assert_eq!(
            trend(&[Result {
                collected_at: 0,
                percent: 6.0
            }]),
            None
        );
        let same = [Result {
            collected_at: DAY,
            percent: 6.0,
        }; 2];
        assert_eq!(trend(&same), None);
    }
}
