//! The latest vital signs of a patient turned into a NEWS2 early-warning score and its clinical risk (Royal College of Physicians, 2017, SpO2 scale 1).

/// LOINC 9279-1, respiratory rate (/min).
pub const RESPIRATORY_RATE: &str = "9279-1";
/// LOINC 59408-5, oxygen saturation by pulse oximetry (%).
pub const SPO2: &str = "59408-5";
/// LOINC 2708-6, oxygen saturation in arterial blood (%), accepted when 59408-5 is absent.
pub const SPO2_ARTERIAL: &str = "2708-6";
/// LOINC 8480-6, systolic blood pressure (mm[Hg]).
pub const SYSTOLIC_BP: &str = "8480-6";
/// LOINC 8867-4, heart rate (/min).
pub const PULSE: &str = "8867-4";
/// LOINC 8310-5, body temperature (Cel; [degF] is converted).
pub const TEMPERATURE: &str = "8310-5";

/// The vital signs NEWS2 scores. Consciousness and supplemental oxygen are not carried by
/// `VitalSignsRecorded`: the score assumes an alert patient breathing air unless told
/// otherwise (both `false` here add 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vitals {
    /// Breaths per minute.
    pub respiratory_rate: f64,
    /// SpO2 in percent.
    pub spo2: f64,
    /// Systolic blood pressure in mm Hg.
    pub systolic_bp: f64,
    /// Pulse in beats per minute.
    pub pulse: f64,
    /// Body temperature in °C.
    pub temperature: f64,
    /// On supplemental oxygen (adds 2).
    pub on_oxygen: bool,
    /// New confusion, or responds only to voice or pain, or unresponsive (CVPU; adds 3).
    pub not_alert: bool,
}

/// The clinical risk NEWS2 assigns to a total and its parameter scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Risk {
    /// Total 0–4 and no single parameter scoring 3.
    Low,
    /// Total 0–4 with one parameter scoring 3 (urgent ward-based response).
    LowMedium,
    /// Total 5–6 (urgent response).
    Medium,
    /// Total 7 or more (emergency response).
    High,
}

impl Risk {
    /// The risk as written in results: low, low-medium, medium, high.
    pub fn label(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::LowMedium => "low-medium",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

/// A NEWS2 score: the total, each parameter's points and the risk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Score {
    /// Sum of the parameter scores (0–20).
    pub total: u32,
    /// Points of respiration rate, SpO2, air/oxygen, systolic BP, pulse, consciousness,
    /// temperature, in that order.
    pub parameters: [u32; 7],
    /// The clinical risk.
    pub risk: Risk,
}

/// Respiration rate: ≤8 → 3, 9–11 → 1, 12–20 → 0, 21–24 → 2, ≥25 → 3.
pub fn respiratory_rate_points(rate: f64) -> u32 {
    match rate {
        r if r <= 8.0 => 3,
        r if r <= 11.0 => 1,
        r if r <= 20.0 => 0,
        r if r <= 24.0 => 2,
        _ => 3,
    }
}

/// SpO2 scale 1: ≤91 → 3, 92–93 → 2, 94–95 → 1, ≥96 → 0.
pub fn spo2_points(spo2: f64) -> u32 {
    match spo2 {
        s if s <= 91.0 => 3,
        s if s <= 93.0 => 2,
        s if s <= 95.0 => 1,
        _ => 0,
    }
}

/// Systolic blood pressure: ≤90 → 3, 91–100 → 2, 101–110 → 1, 111–219 → 0, ≥220 → 3.
pub fn systolic_bp_points(systolic: f64) -> u32 {
    match systolic {
        s if s <= 90.0 => 3,
        s if s <= 100.0 => 2,
        s if s <= 110.0 => 1,
        s if s <= 219.0 => 0,
        _ => 3,
    }
}

/// Pulse: ≤40 → 3, 41–50 → 1, 51–90 → 0, 91–110 → 1, 111–130 → 2, ≥131 → 3.
pub fn pulse_points(pulse: f64) -> u32 {
    match pulse {
        p if p <= 40.0 => 3,
        p if p <= 50.0 => 1,
        p if p <= 90.0 => 0,
        p if p <= 110.0 => 1,
        p if p <= 130.0 => 2,
        _ => 3,
    }
}

/// Temperature: ≤35.0 → 3, 35.1–36.0 → 1, 36.1–38.0 → 0, 38.1–39.0 → 1, ≥39.1 → 2.
pub fn temperature_points(celsius: f64) -> u32 {
    match celsius {
        t if t <= 35.0 => 3,
        t if t <= 36.0 => 1,
        t if t <= 38.0 => 0,
        t if t <= 39.0 => 1,
        _ => 2,
    }
}

/// The NEWS2 score of `v`.
pub fn score(v: &Vitals) -> Score {
    let parameters = [
        respiratory_rate_points(v.respiratory_rate),
        spo2_points(v.spo2),
        if v.on_oxygen { 2 } else { 0 },
        systolic_bp_points(v.systolic_bp),
        pulse_points(v.pulse),
        if v.not_alert { 3 } else { 0 },
        temperature_points(v.temperature),
    ];
    let total = parameters.iter().sum();
    let risk = match total {
        t if t >= 7 => Risk::High,
        t if t >= 5 => Risk::Medium,
        _ if parameters.contains(&3) => Risk::LowMedium,
        _ => Risk::Low,
    };
    Score {
        total,
        parameters,
        risk,
    }
}

/// A temperature in °C from its UCUM unit (`Cel`, or `[degF]`); `None` for another unit.
pub fn celsius(value: f64, unit: &str) -> Option<f64> {
    match unit {
        "Cel" | "°C" => Some(value),
        "[degF]" | "°F" => Some((value - 32.0) * 5.0 / 9.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_changes_points_exactly_at_the_published_edges() {
        let rr = [
            (8.0, 3),
            (9.0, 1),
            (11.0, 1),
            (12.0, 0),
            (20.0, 0),
            (21.0, 2),
            (24.0, 2),
            (25.0, 3),
        ];
        for (v, p) in rr {
            assert_eq!(respiratory_rate_points(v), p, "respiration rate {v}");
        }
        let spo2 = [
            (91.0, 3),
            (92.0, 2),
            (93.0, 2),
            (94.0, 1),
            (95.0, 1),
            (96.0, 0),
            (100.0, 0),
        ];
        for (v, p) in spo2 {
            assert_eq!(spo2_points(v), p, "SpO2 {v}");
        }
        let sbp = [
            (90.0, 3),
            (91.0, 2),
            (100.0, 2),
            (101.0, 1),
            (110.0, 1),
            (111.0, 0),
            (219.0, 0),
            (220.0, 3),
        ];
        for (v, p) in sbp {
            assert_eq!(systolic_bp_points(v), p, "systolic BP {v}");
        }
        let pulse = [
            (40.0, 3),
            (41.0, 1),
            (50.0, 1),
            (51.0, 0),
            (90.0, 0),
            (91.0, 1),
            (110.0, 1),
            (111.0, 2),
            (130.0, 2),
            (131.0, 3),
        ];
        for (v, p) in pulse {
            assert_eq!(pulse_points(v), p, "pulse {v}");
        }
        let temp = [
            (35.0, 3),
            (35.1, 1),
            (36.0, 1),
            (36.1, 0),
            (38.0, 0),
            (38.1, 1),
            (39.0, 1),
            (39.1, 2),
        ];
        for (v, p) in temp {
            assert_eq!(temperature_points(v), p, "temperature {v}");
        }
    }

    fn normal() -> Vitals {
        Vitals {
            respiratory_rate: 16.0,
            spo2: 97.0,
            systolic_bp: 120.0,
            pulse: 72.0,
            temperature: 36.8,
            on_oxygen: false,
            not_alert: false,
        }
    }

    #[test]
    fn totals_map_to_the_four_risk_bands() {
        assert_eq!(score(&normal()).total, 0);
        assert_eq!(score(&normal()).risk, Risk::Low);
        // One parameter at 3, total 3: low-medium.
        let one_red = Vitals {
            respiratory_rate: 26.0,
            ..normal()
        };
        assert_eq!(
            (score(&one_red).total, score(&one_red).risk),
            (3, Risk::LowMedium)
        );
        // 2 + 2 + 1 = 5: medium.
        let medium = Vitals {
            respiratory_rate: 22.0,
            spo2: 93.0,
            pulse: 95.0,
            ..normal()
        };
        assert_eq!(
            (score(&medium).total, score(&medium).risk),
            (5, Risk::Medium)
        );
        // 3 + 3 + 2 + 2 + 2 = 12: high.
        let high = Vitals {
            respiratory_rate: 28.0,
            spo2: 90.0,
            systolic_bp: 95.0,
            pulse: 120.0,
            temperature: 39.5,
            ..normal()
        };
        assert_eq!(score(&high).parameters, [3, 3, 0, 2, 2, 0, 2]);
        assert_eq!((score(&high).total, score(&high).risk), (12, Risk::High));
        let oxygen_confused = Vitals {
            on_oxygen: true,
            not_alert: true,
            ..normal()
        };
        assert_eq!(
            (score(&oxygen_confused).total, score(&oxygen_confused).risk),
            (5, Risk::Medium)
        );
    }

    #[test]
    fn fahrenheit_is_converted_and_other_units_are_refused() {
        assert!((celsius(98.6, "[degF]").unwrap() - 37.0).abs() < 1e-9);
        assert_eq!(celsius(36.6, "Cel"), Some(36.6));
        assert_eq!(celsius(300.0, "K"), None);
    }
}
