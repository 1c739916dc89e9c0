//! Reading OSM XML (the `quick-xml` crate): an `.osm` extract, or an `.osc` change file (as OSM's
//! replication publishes them, gzipped or not) — the same elements, grouped under `create`,
//! `modify` and `delete`.

use std::io::{BufRead, BufReader};
use std::path::Path;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::elements::{Extract, Kind, Member, Node, Relation, Way};
use crate::error::{ImportError, ImportResult};

/// What a change file does to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new object.
    Create,
    /// A new version of an object.
    Modify,
    /// The object is gone.
    Delete,
}

/// One object of an OSM XML file.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A node (its location is absent in some deletions).
    Node(Node),
    /// A way.
    Way(Way),
    /// A relation.
    Relation(Relation),
}

impl Object {
    /// Kind and id.
    pub fn key(&self) -> (Kind, i64) {
        match self {
            Self::Node(n) => (Kind::Node, n.id),
            Self::Way(w) => (Kind::Way, w.id),
            Self::Relation(r) => (Kind::Relation, r.id),
        }
    }

    /// Object version, when given.
    pub fn version(&self) -> Option<i32> {
        match self {
            Self::Node(n) => n.version,
            Self::Way(w) => w.version,
            Self::Relation(r) => r.version,
        }
    }
}

/// One entry of a change file.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What happens.
    pub action: Action,
    /// To what (its new version; for a deletion, the last one).
    pub object: Object,
}

/// A parsed change file.
#[derive(Debug, Default)]
pub struct ChangeFile {
    /// The changes in file order (later entries of an object win).
    pub changes: Vec<Change>,
    /// The newest object timestamp in the file.
    pub newest: Option<chrono::DateTime<chrono::Utc>>,
}

/// Reads an `.osm` XML extract.
pub fn read_osm_xml(path: &Path) -> ImportResult<Extract> {
    let mut extract = Extract::default();
    let mut newest = None;
    parse(path, &mut |action, object, timestamp| {
        if action.is_some() {
            return Err("an .osm file holds no create/modify/delete (is it a change file?)".into());
        }
        newest = newest.max(timestamp);
        match object {
            Object::Node(node) => {
                extract
                    .locations
                    .push(node.id, node.version, node.lon, node.lat);
                if !node.tags.is_empty() {
                    extract.tagged_nodes.push(node);
                }
            }
            Object::Way(way) => extract.ways.push(way),
            Object::Relation(relation) if relation.is_area() => extract.relations.push(relation),
            Object::Relation(_) => {}
        }
        Ok(())
    })?;
    extract.locations.finish();
    extract.timestamp = newest;
    Ok(extract)
}

/// Reads an `.osc` or `.osc.gz` change file.
pub fn read_change_file(path: &Path) -> ImportResult<ChangeFile> {
    let mut file = ChangeFile::default();
    parse(path, &mut |action, object, timestamp| {
        let Some(action) = action else {
            return Err(format!(
                "{} {} is outside create/modify/delete: not a change file",
                kind_name(object.key().0),
                object.key().1
            ));
        };
        file.newest = file.newest.max(timestamp);
        file.changes.push(Change { action, object });
        Ok(())
    })?;
    Ok(file)
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Node => "node",
        Kind::Way => "way",
        Kind::Relation => "relation",
    }
}

type Sink<'a> = dyn FnMut(Option<Action>, Object, Option<chrono::DateTime<chrono::Utc>>) -> Result<(), String>
    + 'a;

/// Streams the objects of an OSM XML file (gzip detected by its magic bytes) to `sink`.
fn parse(path: &Path, sink: &mut Sink<'_>) -> ImportResult<()> {
    let fail = |message: String| ImportError::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut buffered = BufReader::new(file);
    let gzipped = buffered
        .fill_buf()
        .map_err(|e| fail(e.to_string()))?
        .starts_with(&[0x1f, 0x8b]);
    let input: Box<dyn BufRead> = if gzipped {
        Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(
            buffered,
        )))
    } else {
        Box::new(buffered)
    };
    let mut parser = Parser {
        reader: quick_xml::Reader::from_reader(input),
        buf: Vec::new(),
    };
    parser.run(sink).map_err(fail)
}

struct Parser<R: BufRead> {
    reader: quick_xml::Reader<R>,
    buf: Vec<u8>,
}

/// An object being read, until its end tag.
enum Open {
    Node(Node),
    Way(Way),
    Relation(Relation),
}

impl<R: BufRead> Parser<R> {
    fn run(&mut self, sink: &mut Sink<'_>) -> Result<(), String> {
        let mut action = None;
        let mut open: Option<(Open, Option<chrono::DateTime<chrono::Utc>>)> = None;
        let mut saw_root = false;
        loop {
            self.buf.clear();
            let position = self.reader.buffer_position();
            let event = self
                .reader
                .read_event_into(&mut self.buf)
                .map_err(|e| format!("not well-formed XML at byte {position}: {e}"))?;
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let empty = matches!(event, Event::Empty(_));
                    let name = e.local_name();
                    match name.as_ref() {
                        "osm" | "osmChange" => saw_root = true,
                        "create" => action = Some(Action::Create),
                        "modify" => action = Some(Action::Modify),
                        "delete" => action = Some(Action::Delete),
                        "node" | "way" | "relation" => {
                            if open.is_some() {
                                return Err("an object inside another object".to_owned());
                            }
                            let started = start_object(e)?;
                            if empty {
                                sink(action, close(started.0), started.1)?;
                            } else {
                                open = Some(started);
                            }
                        }
                        "tag" => {
                            let (k, v) = (attribute(e, "k")?, attribute(e, "v")?);
                            match open.as_mut() {
                                Some((Open::Node(n), _)) => n.tags.push((k, v)),
                                Some((Open::Way(w), _)) => w.tags.push((k, v)),
                                Some((Open::Relation(r), _)) => r.tags.push((k, v)),
                                None => {}
                            }
                        }
                        "nd" => {
                            if let Some((Open::Way(w), _)) = open.as_mut() {
                                w.refs.push(number(e, "ref")?);
                            }
                        }
                        "member" => {
                            if let Some((Open::Relation(r), _)) = open.as_mut() {
                                let kind_text = attribute(e, "type")?;
                                let kind = Kind::from_member_type(&kind_text).ok_or_else(|| {
                                    format!("relation {}: member type {kind_text:?}", r.id)
                                })?;
                                r.members.push(Member {
                                    kind,
                                    id: number(e, "ref")?,
                                    role: optional(e, "role")?.unwrap_or_default(),
                                });
                            }
                        }
                        _ => {}
                    }
                }
                Event::End(ref e) => match e.local_name().as_ref() {
                    "node" | "way" | "relation" => {
                        if let Some((object, timestamp)) = open.take() {
                            sink(action, close(object), timestamp)?;
                        }
                    }
                    "create" | "modify" | "delete" => action = None,
                    _ => {}
                },
                Event::Eof => {
                    if open.is_some() {
                        return Err("the file ends inside an object (truncated?)".to_owned());
                    }
                    if !saw_root {
                        return Err("no <osm> or <osmChange> element: not OSM XML".to_owned());
                    }
                    return Ok(());
                }
                _ => {}
            }
        }
    }
}

fn close(open: Open) -> Object {
    match open {
        Open::Node(n) => Object::Node(n),
        Open::Way(w) => Object::Way(w),
        Open::Relation(r) => Object::Relation(r),
    }
}

fn start_object(
    e: &BytesStart<'_>,
) -> Result<(Open, Option<chrono::DateTime<chrono::Utc>>), String> {
    let id = number(e, "id")?;
    let version = optional(e, "version")?
        .map(|v| v.parse::<i32>())
        .transpose()
        .map_err(|_| format!("object {id}: version is not a number"))?;
    let timestamp = optional(e, "timestamp")?.and_then(|t| {
        chrono::DateTime::parse_from_rfc3339(&t)
            .ok()
            .map(|t| t.to_utc())
    });
    let open = match e.local_name().as_ref() {
        "node" => {
            let coordinate = |name: &str| -> Result<f64, String> {
                match optional(e, name)? {
                    Some(text) => text
                        .parse()
                        .map_err(|_| format!("node {id}: {name} {text:?} is not a number")),
                    // A deleted node may be written without a location.
                    None => Ok(f64::NAN),
                }
            };
            Open::Node(Node {
                id,
                version,
                lon: coordinate("lon")?,
                lat: coordinate("lat")?,
                tags: Vec::new(),
            })
        }
        "way" => Open::Way(Way {
            id,
            version,
            refs: Vec::new(),
            tags: Vec::new(),
        }),
        _ => Open::Relation(Relation {
            id,
            version,
            members: Vec::new(),
            tags: Vec::new(),
        }),
    };
    Ok((open, timestamp))
}

fn optional(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    match e.try_get_attribute(name) {
        Ok(Some(a)) => a
            .normalized_value(XmlVersion::Implicit1_0)
            .map(|v| Some(v.into_owned()))
            .map_err(|err| format!("attribute {name}: {err}")),
        Ok(None) => Ok(None),
        Err(err) => Err(format!("attribute {name}: {err}")),
    }
}

fn attribute(e: &BytesStart<'_>, name: &str) -> Result<String, String> {
    optional(e, name)?
        .ok_or_else(|| format!("<{}> without its {name} attribute", e.local_name().as_ref()))
}

fn number(e: &BytesStart<'_>, name: &str) -> Result<i64, String> {
    let text = attribute(e, name)?;
    text.parse()
        .map_err(|_| format!("{name} {text:?} is not a number"))
}

/// Reads everything of `input` (for tests that parse in memory).
#[cfg(test)]
fn parse_str(text: &str) -> Result<Vec<(Option<Action>, Object)>, String> {
    let mut out = Vec::new();
    let mut parser = Parser {
        reader: quick_xml::Reader::from_reader(BufReader::new(text.as_bytes())),
        buf: Vec::new(),
    };
    parser.run(&mut |action, object, _| {
        out.push((action, object));
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_file_groups_objects_by_action() {
        let parsed = parse_str(
            r#"<?xml version="1.0"?><osmChange version="0.6">
              <modify><node id="1" version="2" lat="10.5" lon="106.5"><tag k="name" v="A &amp; B"/></node></modify>
              <delete><way id="7" version="3"/></delete>
              <create><relation id="9" version="1"><member type="way" ref="7" role="outer"/>
                <tag k="type" v="multipolygon"/></relation></create>
            </osmChange>"#,
        )
        .unwrap_or_default();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].0, Some(Action::Modify));
        let Object::Node(node) = &parsed[0].1 else {
            panic!("not a node: {:?}", parsed[0].1);
        };
        assert_eq!(
            (node.lon, node.lat, node.tags[0].1.as_str()),
            (106.5, 10.5, "A & B")
        );
        assert_eq!(
            parsed[1],
            (
                Some(Action::Delete),
                Object::Way(Way {
                    id: 7,
                    version: Some(3),
                    refs: vec![],
                    tags: vec![]
                })
            )
        );
        let Object::Relation(relation) = &parsed[2].1 else {
            panic!("not a relation");
        };
        assert!(relation.is_area());
        assert_eq!(relation.way_ids().collect::<Vec<_>>(), [7]);
    }

    #[test]
    fn truncated_xml_is_an_error() {
        let error = parse_str(r#"<osm><node id="1" lat="1" lon="2"><tag k="a" v="b"/>"#)
            .err()
            .unwrap_or_default();
        assert!(error.contains("truncated"), "{error}");
    }
}
