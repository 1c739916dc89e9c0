//! OpenStreetMap objects as the importer keeps them: nodes (a location), ways (a list of node
//! ids), multipolygon relations (member ways with roles), each with its tags and version.

use std::collections::HashMap;

/// Tags of an object, in file order (objects have few: a linear search beats hashing).
pub type Tags = Vec<(String, String)>;

/// The value of `key` in `tags`.
pub fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The three kinds of OSM object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A point.
    Node,
    /// A line of nodes.
    Way,
    /// A group of objects.
    Relation,
}

impl Kind {
    /// One-letter code stored in the `osm_type` column (`n`, `w`, `r`, as osmium writes them).
    pub fn letter(self) -> &'static str {
        match self {
            Self::Node => "n",
            Self::Way => "w",
            Self::Relation => "r",
        }
    }

    /// Parses the type of a relation member (`node`, `way`, `relation`).
    pub fn from_member_type(text: &str) -> Option<Self> {
        match text {
            "node" => Some(Self::Node),
            "way" => Some(Self::Way),
            "relation" => Some(Self::Relation),
            _ => None,
        }
    }
}

/// The feature id of an object in every theme table: node, way and relation ids overlap in OSM, so
/// the kind is folded in (`id * 10 + 1|2|3`). Stable across imports and change files, so a
/// feature keeps its id (and its OGC API URL) while its object lives.
pub fn feature_id(kind: Kind, id: i64) -> i64 {
    let code = match kind {
        Kind::Node => 1,
        Kind::Way => 2,
        Kind::Relation => 3,
    };
    id.saturating_mul(10).saturating_add(code)
}

/// A node that carries tags (untagged nodes are only locations, see [`Locations`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// OSM id.
    pub id: i64,
    /// Object version, when the file has it.
    pub version: Option<i32>,
    /// Longitude, WGS84.
    pub lon: f64,
    /// Latitude, WGS84.
    pub lat: f64,
    /// Its tags.
    pub tags: Tags,
}

/// A way.
#[derive(Debug, Clone, PartialEq)]
pub struct Way {
    /// OSM id.
    pub id: i64,
    /// Object version, when the file has it.
    pub version: Option<i32>,
    /// Its nodes, in order.
    pub refs: Vec<i64>,
    /// Its tags.
    pub tags: Tags,
}

impl Way {
    /// A closed way: its last node is its first (and it has a ring's four nodes).
    pub fn is_closed(&self) -> bool {
        self.refs.len() >= 4 && self.refs.first() == self.refs.last()
    }
}

/// A member of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// What it is.
    pub kind: Kind,
    /// Its id.
    pub id: i64,
    /// Its role (`outer`, `inner`, ...).
    pub role: String,
}

/// A relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    /// OSM id.
    pub id: i64,
    /// Object version, when the file has it.
    pub version: Option<i32>,
    /// Its members, in order.
    pub members: Vec<Member>,
    /// Its tags.
    pub tags: Tags,
}

impl Relation {
    /// A relation whose member ways outline an area (`type=multipolygon`). Boundary relations
    /// are not drawn: the city's own ward and district layers are its boundaries.
    pub fn is_area(&self) -> bool {
        tag(&self.tags, "type") == Some("multipolygon")
    }

    /// Ids of its member ways.
    pub fn way_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.members
            .iter()
            .filter(|m| m.kind == Kind::Way)
            .map(|m| m.id)
    }
}

/// Node locations by id: every node of the extract, tagged or not, as ways need them.
#[derive(Debug, Default, Clone)]
pub struct Locations {
    /// `(id, lon, lat)`, sorted by id once [`Locations::finish`] has run.
    entries: Vec<(i64, f64, f64)>,
    /// Versions, parallel to `entries` (`0` when the file has none).
    versions: Vec<i32>,
    sorted: bool,
}

impl Locations {
    /// Adds a node location.
    pub fn push(&mut self, id: i64, version: Option<i32>, lon: f64, lat: f64) {
        if self.entries.last().is_some_and(|&(last, _, _)| last >= id) {
            self.sorted = false;
        } else if self.entries.is_empty() {
            self.sorted = true;
        }
        self.entries.push((id, lon, lat));
        self.versions.push(version.unwrap_or(0));
    }

    /// Sorts the entries if the file was not sorted by id (PBF files written by osmium and
    /// Osmosis are), keeping the last of repeated ids.
    pub fn finish(&mut self) {
        if self.sorted {
            return;
        }
        let mut paired: Vec<((i64, f64, f64), i32)> = self
            .entries
            .drain(..)
            .zip(self.versions.drain(..))
            .collect();
        paired.sort_by_key(|((id, _, _), _)| *id);
        let mut unique: Vec<((i64, f64, f64), i32)> = Vec::with_capacity(paired.len());
        for entry in paired {
            match unique.last_mut() {
                Some(last) if last.0.0 == entry.0.0 => *last = entry,
                _ => unique.push(entry),
            }
        }
        (self.entries, self.versions) = unique.into_iter().unzip();
        self.sorted = true;
    }

    /// The location of node `id`.
    pub fn get(&self, id: i64) -> Option<(f64, f64)> {
        self.entries
            .binary_search_by_key(&id, |&(i, _, _)| i)
            .ok()
            .map(|i| (self.entries[i].1, self.entries[i].2))
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(id, version, lon, lat)` of every node, by id.
    pub fn iter(&self) -> impl Iterator<Item = (i64, i32, f64, f64)> + '_ {
        self.entries
            .iter()
            .zip(&self.versions)
            .map(|(&(id, lon, lat), &version)| (id, version, lon, lat))
    }
}

impl FromIterator<(i64, f64, f64)> for Locations {
    fn from_iter<T: IntoIterator<Item = (i64, f64, f64)>>(iter: T) -> Self {
        let mut locations = Self::default();
        for (id, lon, lat) in iter {
            locations.push(id, None, lon, lat);
        }
        locations.finish();
        locations
    }
}

/// Everything read from an extract.
#[derive(Debug, Default)]
pub struct Extract {
    /// Every node's location.
    pub locations: Locations,
    /// The nodes with tags.
    pub tagged_nodes: Vec<Node>,
    /// Every way.
    pub ways: Vec<Way>,
    /// The area relations ([`Relation::is_area`]); others (routes, restrictions) are not drawn.
    pub relations: Vec<Relation>,
    /// When the data was current: the file's replication timestamp, else its newest object.
    pub timestamp: Option<chrono::DateTime<chrono::Utc>>,
}

impl Extract {
    /// The ways by id, for assembling relations.
    pub fn ways_by_id(&self) -> HashMap<i64, &Way> {
        self.ways.iter().map(|w| (w.id, w)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_ids_keep_kinds_apart() {
        assert_eq!(feature_id(Kind::Node, 42), 421);
        assert_eq!(feature_id(Kind::Way, 42), 422);
        assert_eq!(feature_id(Kind::Relation, 42), 423);
    }

    #[test]
    fn unsorted_locations_are_sorted_keeping_the_last_repeat() {
        let mut locations = Locations::default();
        locations.push(5, Some(1), 1.0, 1.0);
        locations.push(2, Some(1), 2.0, 2.0);
        locations.push(5, Some(2), 3.0, 3.0);
        locations.finish();
        assert_eq!(locations.get(5), Some((3.0, 3.0)));
        assert_eq!(locations.get(2), Some((2.0, 2.0)));
        assert_eq!(locations.get(7), None);
        assert_eq!(locations.len(), 2);
    }
}
