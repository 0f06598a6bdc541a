//! The one error a hyper-parameter check gives, and helpers that build it.
//!
//! Every model's params type validates itself before `fit` and reports the first bad
//! value as a [`ParamError`]: the parameter's name (the shared vocabulary: `factors`,
//! `epochs`, `learning_rate`, `reg`, `batch_size`, `threads`, `seed`, or the model's own),
//! the value it got and the range it allows.

use std::fmt::Display;

/// A hyper-parameter outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter `{param}` = {value} is out of range: allowed {allowed}")]
pub struct ParamError {
    /// The parameter's name.
    pub param: String,
    /// The value given, as text.
    pub value: String,
    /// The allowed range, as text (`">= 1"`, `"(0, 1]"`, `"finite and > 0"`, …).
    pub allowed: String,
}

impl ParamError {
    /// A parameter `param` whose `value` is not `allowed`.
    pub fn new(param: impl Into<String>, value: impl Display, allowed: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }
}

/// `Ok` when `value >= min` (integers: counts, sizes).
pub fn at_least(param: &str, value: usize, min: usize) -> Result<(), ParamError> {
    if value >= min {
        Ok(())
    } else {
        Err(ParamError::new(param, value, format!(">= {min}")))
    }
}

/// `Ok` when `value` is finite and `> 0` (rates, scales).
pub fn positive(param: &str, value: f64) -> Result<(), ParamError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ParamError::new(param, value, "finite and > 0"))
    }
}

/// `Ok` when `value` is finite and `>= 0` (regularisation weights).
pub fn non_negative(param: &str, value: f64) -> Result<(), ParamError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(ParamError::new(param, value, "finite and >= 0"))
    }
}

/// `Ok` when `lo <= value <= hi` (fractions, probabilities).
pub fn in_range(param: &str, value: f64, lo: f64, hi: f64) -> Result<(), ParamError> {
    if value >= lo && value <= hi {
        Ok(())
    } else {
        Err(ParamError::new(param, value, format!("[{lo}, {hi}]")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_parameter_value_and_range() {
        assert!(at_least("epochs", 1, 1).is_ok());
        let e = at_least("epochs", 0, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "parameter `epochs` = 0 is out of range: allowed >= 1"
        );
        assert!(positive("learning_rate", 0.0).is_err());
        assert!(positive("learning_rate", f64::NAN).is_err());
        assert!(positive("learning_rate", 1e-3).is_ok());
        assert!(non_negative("reg", 0.0).is_ok());
        assert!(non_negative("reg", -1.0).is_err());
        assert!(
            in_range("dropout", 1.5, 0.0, 1.0)
                .unwrap_err()
                .to_string()
                .contains("[0, 1]")
        );
    }
}
