//! Web Mercator (EPSG:3857) tile maths in the XYZ scheme used by MapLibre and TileJSON:
//! `x` grows eastwards, `y` grows southwards, zoom `z` has `2^z × 2^z` tiles.

use crate::{CoreError, CoreResult};

/// The deepest zoom bando serves. PostGIS' `ST_TileEnvelope` and the `u32` tile indices allow more,
/// but below z24 a tile is under 3 mm wide on the ground.
pub const MAX_ZOOM: u8 = 24;

/// Half the side of the Web Mercator square, in metres.
pub const MERCATOR_HALF_SIZE: f64 = 20_037_508.342_789_244;

/// Latitude limit of Web Mercator, in degrees.
pub const MAX_MERCATOR_LATITUDE: f64 = 85.051_128_779_806_59;

/// Address of one tile, checked to lie inside the tile matrix of its zoom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileCoord {
    /// Zoom level, `0..=MAX_ZOOM`.
    pub z: u8,
    /// Column, `0..2^z`.
    pub x: u32,
    /// Row from the north, `0..2^z`.
    pub y: u32,
}

impl TileCoord {
    /// Checks `z`, `x` and `y` against the tile matrix.
    pub fn new(z: u32, x: u32, y: u32) -> CoreResult<Self> {
        if z > u32::from(MAX_ZOOM) {
            return Err(CoreError::InvalidTile {
                field: "z",
                reason: format!("zoom {z} is above the maximum {MAX_ZOOM}"),
            });
        }
        let side = 1u64 << z;
        for (field, value) in [("x", x), ("y", y)] {
            if u64::from(value) >= side {
                return Err(CoreError::InvalidTile {
                    field,
                    reason: format!("{field}={value} is outside 0..{side} at zoom {z}"),
                });
            }
        }
        // z ≤ MAX_ZOOM was checked above, so it fits in u8.
        Ok(Self { z: z as u8, x, y })
    }

    /// The tile containing a WGS84 point at zoom `z` (latitude clamped to the Mercator limit).
    pub fn containing(lon: f64, lat: f64, z: u8) -> CoreResult<Self> {
        let (fx, fy) = lonlat_to_tile_fraction(lon, lat, z);
        let side = f64::from(1u32 << z.min(MAX_ZOOM));
        let clamp = |v: f64| v.floor().clamp(0.0, side - 1.0) as u32;
        Self::new(u32::from(z), clamp(fx), clamp(fy))
    }

    /// Bounds of the tile in EPSG:3857 metres: `[min_x, min_y, max_x, max_y]`.
    pub fn mercator_bounds(&self) -> [f64; 4] {
        let size = 2.0 * MERCATOR_HALF_SIZE / f64::from(1u32 << self.z);
        let min_x = -MERCATOR_HALF_SIZE + f64::from(self.x) * size;
        let max_y = MERCATOR_HALF_SIZE - f64::from(self.y) * size;
        [min_x, max_y - size, min_x + size, max_y]
    }

    /// Bounds of the tile in WGS84 degrees: `[west, south, east, north]`.
    pub fn lonlat_bounds(&self) -> [f64; 4] {
        let [min_x, min_y, max_x, max_y] = self.mercator_bounds();
        let (west, south) = mercator_to_lonlat(min_x, min_y);
        let (east, north) = mercator_to_lonlat(max_x, max_y);
        [west, south, east, north]
    }
}

impl std::fmt::Display for TileCoord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// Fractional tile coordinates of a WGS84 point at zoom `z`: the integer part is the tile, the
/// fraction the position inside it (0 at the west/north edge).
pub fn lonlat_to_tile_fraction(lon: f64, lat: f64, z: u8) -> (f64, f64) {
    let side = f64::from(1u32 << z.min(MAX_ZOOM));
    let lat = lat
        .clamp(-MAX_MERCATOR_LATITUDE, MAX_MERCATOR_LATITUDE)
        .to_radians();
    let x = (lon + 180.0) / 360.0 * side;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * side;
    (x, y)
}

/// EPSG:3857 metres to WGS84 degrees.
pub fn mercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = x / MERCATOR_HALF_SIZE * 180.0;
    let lat = (2.0 * (y / MERCATOR_HALF_SIZE * std::f64::consts::PI).exp().atan()
        - std::f64::consts::FRAC_PI_2)
        .to_degrees();
    (lon, lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_coordinates_outside_the_matrix() {
        assert!(TileCoord::new(0, 0, 0).is_ok());
        assert!(TileCoord::new(1, 2, 0).is_err());
        assert!(TileCoord::new(1, 0, 2).is_err());
        assert!(TileCoord::new(25, 0, 0).is_err());
        assert!(TileCoord::new(24, (1 << 24) - 1, (1 << 24) - 1).is_ok());
    }

    #[test]
    fn ben_thanh_market_is_in_the_known_z14_tile() {
        // Tile computed independently with PostGIS: ST_TileEnvelope(14, 13047, 7698) contains it.
        let tile = TileCoord::containing(106.6981, 10.7725, 14).unwrap();
        assert_eq!((tile.x, tile.y), (13047, 7698));
        let [w, s, e, n] = tile.lonlat_bounds();
        assert!(w <= 106.6981 && 106.6981 <= e && s <= 10.7725 && 10.7725 <= n);
    }

    #[test]
    fn mercator_round_trip() {
        let (lon, lat) = mercator_to_lonlat(MERCATOR_HALF_SIZE, 0.0);
        assert!((lon - 180.0).abs() < 1e-9 && lat.abs() < 1e-9);
        let [_, _, _, north] = TileCoord::new(0, 0, 0).unwrap().lonlat_bounds();
        assert!((north - MAX_MERCATOR_LATITUDE).abs() < 1e-9);
    }
}
