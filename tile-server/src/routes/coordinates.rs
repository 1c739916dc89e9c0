//! WGS84 longitudes and latitudes from query parameters, in degrees.

use crate::error::{ApiError, ApiResult};

/// Degrees closer to 0 than this (about 0.1 µm on the ground) are taken as 0. PostgreSQL
/// refuses float8 arithmetic whose result underflows to zero (`value out of range: underflow`),
/// which a coordinate such as `5e-324` would cause in the distance queries (`radians(lat)`).
const NEGLIGIBLE_DEGREES: f64 = 1e-12;

/// A degree value as the queries take it: negligible magnitudes become 0.
pub fn degrees(value: f64) -> f64 {
    if value.abs() < NEGLIGIBLE_DEGREES {
        0.0
    } else {
        value
    }
}

/// The query parameter `name` as a coordinate within `-limit..=limit` degrees (180 for a
/// longitude, 90 for a latitude).
pub fn coordinate(name: &str, text: &str, limit: f64) -> ApiResult<f64> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| ApiError::param(name, format!("{text:?} is not a number")))?;
    if !value.is_finite() || value.abs() > limit {
        return Err(ApiError::param(
            name,
            format!("{text} is outside -{limit}..{limit}"),
        ));
    }
    Ok(degrees(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_checked_and_negligible_ones_are_zero() {
        assert_eq!(coordinate("lon", "106.7", 180.0).unwrap(), 106.7);
        assert_eq!(coordinate("lat", "5e-324", 90.0).unwrap(), 0.0);
        assert_eq!(coordinate("lat", "-1e-200", 90.0).unwrap(), 0.0);
        for bad in ["181", "NaN", "inf", "x", ""] {
            assert!(coordinate("lon", bad, 180.0).is_err(), "{bad}");
        }
    }
}
