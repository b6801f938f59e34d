//! What a measurement states beside its figures: the machine it ran on, when, and the median
//! of repeated runs.

pub(crate) mod machine;
pub(crate) mod time;

/// The middle value (the upper one of an even count), sorting `values` on the way; 0 for none.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
