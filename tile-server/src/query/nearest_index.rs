//! In-memory nearest-neighbour answers for point layers (bus stops, POIs, service points): an
//! R-tree (rstar) over the points, with the features' properties and GeoJSON kept alongside, so
//! "nearest k" needs no database round trip. Distances are geodesic on WGS84 (Karney, as PostGIS
//! `geography`), in metres; the order is exact: candidates come in planar order of
//! (longitude × cos(reference latitude), latitude), and the walk stops only when a lower bound
//! of the true distance of every further candidate exceeds the k-th distance found.
//! Loaded from PostGIS when a layer is published, replaced whole when it changes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bando_core::layer::Layer;
use geo::{Distance, Geodesic, Point};
use rstar::RTree;
use rstar::primitives::GeomWithData;
use serde_json::Value;
use sqlx::PgPool;

use super::NON_ATTRIBUTE_COLUMNS;

/// Point layers above this many features are answered by PostGIS (memory bound).
pub const MAX_INDEXED_FEATURES: i64 = 200_000;
/// Beyond this distance the local planar bound is not trusted: PostGIS answers.
pub const MAX_INDEXED_DISTANCE_M: f64 = 200_000.0;
/// Metres in a degree of latitude, at least (at the equator).
const METRES_PER_DEGREE_LAT_MIN: f64 = 110_574.0;
/// Metres in a degree of longitude at the equator.
const METRES_PER_DEGREE_LON_EQUATOR: f64 = 111_320.0;
/// Safety margin on the lower bound (the planar bound is a local approximation).
const BOUND_MARGIN: f64 = 0.99;

/// One indexed feature.
#[derive(Debug, Clone)]
pub struct PointFeature {
    /// Feature id.
    pub fid: i64,
    /// WGS84 longitude.
    pub lon: f64,
    /// WGS84 latitude.
    pub lat: f64,
    /// Attributes as GeoJSON properties.
    pub properties: Value,
    /// GeoJSON geometry.
    pub geometry: Value,
}

/// The index of one point layer, as of one revision.
#[derive(Debug)]
pub struct PointLayerIndex {
    /// The layer revision it was built from.
    pub revision: i64,
    tree: RTree<GeomWithData<[f64; 2], usize>>,
    features: Vec<PointFeature>,
    /// cos of the reference latitude scaling longitudes in the tree.
    lon_scale: f64,
    /// Latitude range of the points.
    lat_range: (f64, f64),
}

impl PointLayerIndex {
    /// Reads every point of `layer`.
    pub async fn load(pool: &PgPool, layer: &Layer) -> Result<Self, sqlx::Error> {
        let rows: Vec<(i64, f64, f64, Value, Value)> = sqlx::query_as(&format!(
            "SELECT t.fid, ST_X(t.geom), ST_Y(t.geom), to_jsonb(t) - {NON_ATTRIBUTE_COLUMNS} - 'fid', \
                    ST_AsGeoJSON(t.geom, 7)::jsonb \
             FROM {} t WHERE GeometryType(t.geom) = 'POINT'",
            layer.qualified_table()
        ))
        .fetch_all(pool)
        .await?;
        let features: Vec<PointFeature> = rows
            .into_iter()
            .map(|(fid, lon, lat, properties, geometry)| PointFeature {
                fid,
                lon,
                lat,
                properties,
                geometry,
            })
            .collect();
        Ok(Self::new(layer.revision, features))
    }

    /// An index of `features`.
    pub fn new(revision: i64, features: Vec<PointFeature>) -> Self {
        let (min_lat, max_lat) = features.iter().fold((90.0f64, -90.0f64), |(lo, hi), f| {
            (lo.min(f.lat), hi.max(f.lat))
        });
        let reference = if features.is_empty() {
            0.0
        } else {
            (min_lat + max_lat) / 2.0
        };
        let lon_scale = reference.to_radians().cos();
        let tree = RTree::bulk_load(
            features
                .iter()
                .enumerate()
                .map(|(i, f)| GeomWithData::new([f.lon * lon_scale, f.lat], i))
                .collect(),
        );
        Self {
            revision,
            tree,
            features,
            lon_scale,
            lat_range: (min_lat, max_lat),
        }
    }

    /// The `k` features nearest to (lon, lat), nearest first (ties by id), with their geodesic
    /// distance in metres, none farther than `max_distance`. `None` when the answer would reach
    /// beyond the distance the planar bound is trusted for.
    pub fn nearest(
        &self,
        lon: f64,
        lat: f64,
        k: usize,
        max_distance: Option<f64>,
    ) -> Option<Vec<(&PointFeature, f64)>> {
        // Lower bound of metres per planar unit between the query and any point: the smallest
        // cos(latitude) over the span they cover sets the east-west scale.
        let widest = lat
            .abs()
            .max(self.lat_range.0.abs())
            .max(self.lat_range.1.abs())
            .min(89.0);
        let east_west = METRES_PER_DEGREE_LON_EQUATOR * widest.to_radians().cos() / self.lon_scale;
        let metres_per_unit = METRES_PER_DEGREE_LAT_MIN.min(east_west) * BOUND_MARGIN;
        let origin = Point::new(lon, lat);
        let limit = max_distance.unwrap_or(f64::INFINITY);
        let mut best: Vec<(usize, f64)> = Vec::with_capacity(k + 1);
        for (item, distance_2) in self
            .tree
            .nearest_neighbor_iter_with_distance_2(&[lon * self.lon_scale, lat])
        {
            let bound = distance_2.sqrt() * metres_per_unit;
            if bound > limit || (best.len() == k && bound > best[k - 1].1) {
                break;
            }
            if bound > MAX_INDEXED_DISTANCE_M {
                return None;
            }
            let feature = &self.features[item.data];
            let metres = Geodesic.distance(origin, Point::new(feature.lon, feature.lat));
            if metres > limit {
                continue;
            }
            let fid = feature.fid;
            let at = best.partition_point(|&(i, d)| (d, self.features[i].fid) < (metres, fid));
            if at < k {
                best.insert(at, (item.data, metres));
                best.truncate(k);
            }
        }
        Some(
            best.into_iter()
                .map(|(i, d)| (&self.features[i], d))
                .collect(),
        )
    }
}

/// The indexes of every indexed point layer, by slug.
#[derive(Debug, Default)]
pub struct NearestIndexes {
    layers: RwLock<HashMap<String, Arc<PointLayerIndex>>>,
}

impl NearestIndexes {
    /// The index of `layer` if it is built for its current revision.
    pub fn get(&self, layer: &Layer) -> Option<Arc<PointLayerIndex>> {
        self.layers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&layer.slug)
            .filter(|index| index.revision == layer.revision)
            .cloned()
    }

    /// Brings the indexes in line with the served `layers`: builds missing or stale ones of point
    /// layers, drops those of layers gone.
    pub async fn sync(&self, pool: &PgPool, layers: &[Layer]) {
        let wanted: Vec<&Layer> = layers
            .iter()
            .filter(|l| l.geometry_type == "Point" && l.feature_count <= MAX_INDEXED_FEATURES)
            .collect();
        self.layers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|slug, _| wanted.iter().any(|l| &l.slug == slug));
        for layer in wanted {
            if self.get(layer).is_some() {
                continue;
            }
            match PointLayerIndex::load(pool, layer).await {
                Ok(index) => {
                    tracing::info!(layer = %layer.slug, points = index.features.len(), "nearest index built");
                    self.layers
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(layer.slug.clone(), Arc::new(index));
                }
                Err(e) => {
                    tracing::warn!(layer = %layer.slug, error = %e, "nearest index not built")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(fid: i64, lon: f64, lat: f64) -> PointFeature {
        PointFeature {
            fid,
            lon,
            lat,
            properties: Value::Null,
            geometry: Value::Null,
        }
    }

    #[test]
    fn nearest_order_is_geodesic_and_exact() {
        // A grid of points around HCMC; brute force is the reference.
        let mut features = Vec::new();
        for i in 0..40 {
            for j in 0..40 {
                let fid = i * 40 + j;
                features.push(feature(
                    fid,
                    106.5 + f64::from(i as i32) * 0.013,
                    10.5 + f64::from(j as i32) * 0.017,
                ));
            }
        }
        let index = PointLayerIndex::new(1, features.clone());
        for (lon, lat) in [
            (106.7, 10.77),
            (106.3, 10.2),
            (107.1, 11.4),
            (106.5065, 10.5085),
        ] {
            let got: Vec<(i64, f64)> = index
                .nearest(lon, lat, 7, None)
                .unwrap()
                .into_iter()
                .map(|(f, d)| (f.fid, d))
                .collect();
            let mut all: Vec<(i64, f64)> = features
                .iter()
                .map(|f| {
                    (
                        f.fid,
                        Geodesic.distance(Point::new(lon, lat), Point::new(f.lon, f.lat)),
                    )
                })
                .collect();
            all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            assert_eq!(got, all[..7], "at {lon},{lat}");
        }
        let within = index.nearest(106.7, 10.77, 50, Some(1_000.0)).unwrap();
        assert!(within.iter().all(|(_, d)| *d <= 1_000.0) && !within.is_empty());
        // Far from every point: not trusted to the planar bound.
        assert!(index.nearest(0.0, 0.0, 1, None).is_none());
    }
}
