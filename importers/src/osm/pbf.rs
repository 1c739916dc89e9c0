//! Reading an `.osm.pbf` extract (the `osmpbf` crate) in one pass: node locations, tagged nodes,
//! ways and area relations. PBF files list nodes, then ways, then relations, so one pass has every
//! location before the first way needs it.

use std::path::Path;

use osmpbf::{BlobDecode, BlobReader, Element, RelMemberType};

use super::elements::{Extract, Kind, Member, Node, Relation, Tags, Way};
use crate::error::{ImportError, ImportResult};

/// Reads the whole extract.
pub fn read_pbf(path: &Path) -> ImportResult<Extract> {
    let unreadable = |e: osmpbf::Error| ImportError::Unreadable {
        path: path.to_path_buf(),
        message: format!("not a complete OSM PBF file ({e})"),
    };
    let reader = BlobReader::from_path(path).map_err(unreadable)?;
    let mut extract = Extract::default();
    let mut replication_timestamp = None;
    let mut newest_millis: Option<i64> = None;
    let mut saw_data = false;
    for blob in reader {
        let blob = blob.map_err(unreadable)?;
        match blob.decode().map_err(unreadable)? {
            BlobDecode::OsmHeader(header) => {
                replication_timestamp = header.osmosis_replication_timestamp();
            }
            BlobDecode::OsmData(block) => {
                saw_data = true;
                block.for_each_element(|element| {
                    if let Some(millis) = take(&mut extract, element) {
                        newest_millis = Some(newest_millis.map_or(millis, |n| n.max(millis)));
                    }
                });
            }
            BlobDecode::Unknown(_) => {}
        }
    }
    if !saw_data {
        return Err(ImportError::Unreadable {
            path: path.to_path_buf(),
            message: "holds no OSM data block".to_owned(),
        });
    }
    extract.locations.finish();
    extract.timestamp = replication_timestamp
        .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
        .or_else(|| newest_millis.and_then(chrono::DateTime::from_timestamp_millis));
    Ok(extract)
}

/// Keeps what the importer needs of one element; returns its timestamp (ms) when the file has it.
fn take(extract: &mut Extract, element: Element<'_>) -> Option<i64> {
    match element {
        Element::DenseNode(node) => {
            let info = node.info();
            let version = info.map(|i| i.version());
            add_node(
                extract,
                node.id(),
                version,
                degrees(node.decimicro_lon()),
                degrees(node.decimicro_lat()),
                node.tags(),
            );
            info.map(|i| i.milli_timestamp())
        }
        Element::Node(node) => {
            let info = node.info();
            add_node(
                extract,
                node.id(),
                info.version(),
                degrees(node.decimicro_lon()),
                degrees(node.decimicro_lat()),
                node.tags(),
            );
            info.milli_timestamp()
        }
        Element::Way(way) => {
            let info = way.info();
            extract.ways.push(Way {
                id: way.id(),
                version: info.version(),
                refs: way.refs().collect(),
                tags: owned_tags(way.tags()),
            });
            info.milli_timestamp()
        }
        Element::Relation(relation) => {
            let info = relation.info();
            let kept = Relation {
                id: relation.id(),
                version: info.version(),
                members: relation
                    .members()
                    .map(|m| Member {
                        kind: match m.member_type {
                            RelMemberType::Node => Kind::Node,
                            RelMemberType::Way => Kind::Way,
                            RelMemberType::Relation => Kind::Relation,
                        },
                        id: m.member_id,
                        role: m.role().unwrap_or_default().to_owned(),
                    })
                    .collect(),
                tags: owned_tags(relation.tags()),
            };
            if kept.is_area() {
                extract.relations.push(kept);
            }
            info.milli_timestamp()
        }
    }
}

/// Degrees from OSM's unit of 10⁻⁷ degree, as the nearest double to the decimal value (what
/// the XML files write, and what GDAL and osm2pgsql compute): `lon()` of the PBF reader goes
/// through nanodegrees and lands a unit in the last place away (106.60179880000001).
fn degrees(decimicro: i32) -> f64 {
    f64::from(decimicro) / 1e7
}

fn add_node<'a>(
    extract: &mut Extract,
    id: i64,
    version: Option<i32>,
    lon: f64,
    lat: f64,
    tags: impl Iterator<Item = (&'a str, &'a str)>,
) {
    extract.locations.push(id, version, lon, lat);
    let tags = owned_tags(tags);
    if !tags.is_empty() {
        extract.tagged_nodes.push(Node {
            id,
            version,
            lon,
            lat,
            tags,
        });
    }
}

fn owned_tags<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> Tags {
    tags.map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}
