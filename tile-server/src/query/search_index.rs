//! In-memory name search over `bando.search_names` (what every publish indexes): the same folding
//! (diacritics, tone marks, đ/Đ/Ð, case removed) and the same trigram similarity as PostgreSQL's
//! `bando.fold` + pg_trgm, with the same score (similarity, + 0.6 for a prefix of the name, + 0.4
//! for a prefix of one of its words, − a kilometre × 0.02 from the bias point, at most 0.5),
//! answered from an inverted trigram index instead of a database round trip. Unlike the SQL
//! path it ranks every match, not the 200 most similar. Rebuilt when the served layers change.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

use bando_core::layer::Layer;
use geo::{Distance, Geodesic, Haversine, Point};
use sqlx::PgPool;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// One result.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct SearchHit {
    /// Layer slug.
    pub layer: String,
    /// Feature id in the layer.
    pub fid: i64,
    /// The name as written.
    pub name: String,
    /// A point on the feature, WGS84.
    pub lon: f64,
    /// A point on the feature, WGS84.
    pub lat: f64,
    /// Relevance (higher is better).
    pub score: f64,
}

/// pg_trgm's default `similarity_threshold`, the `%` operator.
const SIMILARITY_THRESHOLD: f64 = 0.3;

/// A trigram: three characters packed in one integer.
type Trigram = u64;

/// Folds text the way `bando.fold` does: decomposed, combining marks dropped, đ/Đ/Ð → d, lower case.
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(|c| match c {
            'đ' | 'Đ' | 'Ð' => 'd'.to_lowercase(),
            other => other.to_lowercase(),
        })
        .collect()
}

/// The distinct trigrams pg_trgm extracts: per word of alphanumeric characters, padded with two
/// blanks before and one after.
fn trigrams(folded: &str) -> Vec<Trigram> {
    let mut out = Vec::new();
    for word in folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let padded: Vec<char> = [' ', ' ']
            .into_iter()
            .chain(word.chars())
            .chain([' '])
            .collect();
        out.extend(
            padded
                .windows(3)
                .map(|w| (u64::from(w[0]) << 42) | (u64::from(w[1]) << 21) | u64::from(w[2])),
        );
    }
    out.sort_unstable();
    out.dedup();
    out
}

struct Entry {
    /// Position of the layer's slug in [`SearchIndex::layers`] (also in `SearchIndex::shape`).
    layer: usize,
    fid: i64,
    name: String,
    folded: String,
    lon: f64,
    lat: f64,
}

/// What the scoring loop reads of every candidate, packed apart from the names so the loop
/// walks a small array: (layer position, trigram count).
type Shape = (u16, u16);

/// The names of the served layers, as of one set of layer revisions.
#[derive(Default)]
pub struct SearchIndex {
    /// Slugs of the indexed layers; entries point into it.
    layers: Vec<String>,
    entries: Vec<Entry>,
    /// Per entry, same order.
    shape: Vec<Shape>,
    postings: HashMap<Trigram, Vec<u32>>,
    /// Revision of every served layer at build time.
    pub revisions: BTreeMap<String, i64>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("names", &self.entries.len())
            .finish()
    }
}

/// A query, checked.
#[derive(Clone)]
#[allow(
    missing_debug_implementations,
    reason = "holds the caller's layer filter, a closure"
)]
pub struct SearchQuery<'a> {
    /// Text as typed.
    pub text: &'a str,
    /// Most hits.
    pub limit: usize,
    /// Bias point.
    pub near: Option<(f64, f64)>,
    /// Only the layers this accepts (by slug): those asked for that the caller may see.
    pub accept: &'a (dyn Fn(&str) -> bool + Sync),
}

impl SearchIndex {
    /// The revisions an index over `layers` would record.
    pub fn revisions_of(layers: &[Layer]) -> BTreeMap<String, i64> {
        layers
            .iter()
            .map(|l| (l.slug.clone(), l.revision))
            .collect()
    }

    /// Reads the names of the served `layers`.
    pub async fn load(pool: &PgPool, layers: &[Layer]) -> Result<Self, sqlx::Error> {
        let positions: HashMap<i64, usize> =
            layers.iter().enumerate().map(|(i, l)| (l.id, i)).collect();
        let ids: Vec<i64> = positions.keys().copied().collect();
        let rows: Vec<(i64, i64, String, String, f64, f64)> = sqlx::query_as(
            "SELECT layer_id, fid, name, folded, lon, lat FROM bando.search_names \
             WHERE layer_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?;
        let mut index = Self {
            revisions: Self::revisions_of(layers),
            layers: layers.iter().map(|l| l.slug.clone()).collect(),
            ..Self::default()
        };
        for (layer_id, fid, name, folded, lon, lat) in rows {
            if let Some(&layer) = positions.get(&layer_id) {
                index.push(layer, fid, name, folded, lon, lat);
            }
        }
        Ok(index)
    }

    /// Adds one name of the layer at position `layer` in `self.layers`.
    fn push(&mut self, layer: usize, fid: i64, name: String, folded: String, lon: f64, lat: f64) {
        let grams = trigrams(&folded);
        let position = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        for gram in &grams {
            self.postings.entry(*gram).or_default().push(position);
        }
        self.shape.push((
            u16::try_from(layer).unwrap_or(u16::MAX),
            u16::try_from(grams.len()).unwrap_or(u16::MAX),
        ));
        self.entries.push(Entry {
            layer,
            fid,
            name,
            folded,
            lon,
            lat,
        });
    }

    /// The best `limit` hits for the query.
    pub fn search(&self, query: &SearchQuery<'_>) -> Vec<SearchHit> {
        let folded = fold(query.text.trim());
        let grams = trigrams(&folded);
        // A name containing the query contains every trigram inside the query's words.
        let mut inner: Vec<Trigram> = folded
            .split(|c: char| !c.is_alphanumeric())
            .flat_map(|w| {
                let chars: Vec<char> = w.chars().collect();
                chars
                    .windows(3)
                    .map(|t| (u64::from(t[0]) << 42) | (u64::from(t[1]) << 21) | u64::from(t[2]))
                    .collect::<Vec<_>>()
            })
            .collect();
        inner.sort_unstable();
        inner.dedup();
        let mut shared = vec![0u16; self.entries.len()];
        // How many of the `inner` trigrams each name has: only a name with all of them can
        // contain the query, so only those are searched for it.
        let mut shared_inner = vec![0u16; self.entries.len()];
        // Names sharing at least one trigram, in first-seen order.
        let mut touched: Vec<usize> = Vec::new();
        for gram in &grams {
            let is_inner = inner.binary_search(gram).is_ok();
            for &i in self.postings.get(gram).map_or(&[][..], Vec::as_slice) {
                let count = &mut shared[i as usize];
                if *count == 0 {
                    touched.push(i as usize);
                }
                *count = count.saturating_add(1);
                if is_inner {
                    shared_inner[i as usize] = shared_inner[i as usize].saturating_add(1);
                }
            }
        }
        // A substring match needs no shared trigram when the query has no run of three letters.
        let has_run = folded
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w.chars().count() >= 3);
        // With a run, only names sharing a trigram can match; without one, any name can.
        let candidates: Box<dyn Iterator<Item = usize>> = if has_run {
            Box::new(touched.into_iter())
        } else {
            Box::new(0..self.entries.len())
        };
        let word_prefix = format!(" {folded}");
        // Asked once per layer, not once per name.
        let accepted: Vec<bool> = self
            .layers
            .iter()
            .map(|slug| (query.accept)(slug))
            .collect();
        let mut hits: Vec<(f64, &Entry)> = Vec::new();
        for i in candidates {
            let (layer, trigram_count) = self.shape[i];
            let common = usize::from(shared[i]);
            if !accepted.get(usize::from(layer)).copied().unwrap_or(false) {
                continue;
            }
            let entry = &self.entries[i];
            let union = grams.len() + usize::from(trigram_count) - common;
            let similarity = if union == 0 {
                0.0
            } else {
                common as f64 / union as f64
            };
            if similarity < SIMILARITY_THRESHOLD
                && (usize::from(shared_inner[i]) < inner.len() || !entry.folded.contains(&folded))
            {
                continue;
            }
            let boost = if entry.folded.starts_with(&folded) {
                0.6
            } else if entry.folded.contains(&word_prefix) {
                0.4
            } else {
                0.0
            };
            hits.push((similarity + boost, entry));
        }
        // Highest score first, ties by name then id.
        let order = |a: &(f64, &Entry), b: &(f64, &Entry)| {
            b.0.total_cmp(&a.0)
                .then_with(|| a.1.name.cmp(&b.1.name))
                .then(a.1.fid.cmp(&b.1.fid))
        };
        if let Some((lon, lat)) = query.near {
            // The distance penalty only lowers a score: walk the matches best first and stop
            // once no further one can reach the current `limit`-th final score.
            // (Ties need no order here: `best` is kept in full order.)
            hits.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
            let mut best: Vec<(f64, &Entry)> = Vec::with_capacity(query.limit + 1);
            let here = Point::new(lon, lat);
            for (base, entry) in hits {
                let full = best.len() == query.limit;
                if full && base < best[query.limit - 1].0 {
                    break;
                }
                let there = Point::new(entry.lon, entry.lat);
                // The sphere is within 0.6% of the ellipsoid: a match that cannot make the list
                // even 1% nearer than the sphere says is passed without the exact distance.
                let optimistic =
                    base - (Haversine.distance(there, here) * 0.99 / 50_000.0).min(0.5);
                if full && optimistic < best[query.limit - 1].0 {
                    continue;
                }
                let metres = Geodesic.distance(there, here);
                let scored = (base - (metres / 50_000.0).min(0.5), entry);
                let at = best.partition_point(|b| order(b, &scored).is_lt());
                best.insert(at, scored);
                best.truncate(query.limit);
            }
            hits = best;
        } else if hits.len() > query.limit {
            hits.select_nth_unstable_by(query.limit, order);
            hits.truncate(query.limit);
            hits.sort_by(order);
        } else {
            hits.sort_by(order);
        }
        hits.into_iter()
            .take(query.limit)
            .map(|(score, e)| SearchHit {
                layer: self.layers[e.layer].clone(),
                fid: e.fid,
                name: e.name.clone(),
                lon: e.lon,
                lat: e.lat,
                score,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_marks_tone_placement_and_d_variants() {
        assert_eq!(fold("Bến Nghé"), "ben nghe");
        assert_eq!(fold("Hoà"), fold("Hòa"));
        assert_eq!(fold("Thủ Ðức"), "thu duc");
        assert_eq!(fold("ĐƯỜNG Đồng Khởi"), "duong dong khoi");
    }

    #[test]
    fn a_point_bias_ranks_the_short_list_like_the_full_one() {
        // Many similar names spread over the city: the pruned walk for a top 5 must pick the
        // same five, in the same order, as the full ranking (which never prunes).
        let mut index = SearchIndex {
            layers: vec!["stops".into()],
            ..SearchIndex::default()
        };
        for i in 0..2000_i32 {
            let name = format!("Bệnh viện {}", i % 37);
            let lon = 106.55 + f64::from((i * 7919) % 2000) / 10_000.0;
            let lat = 10.65 + f64::from((i * 104_729) % 2000) / 10_000.0;
            index.push(0, i64::from(i), name.clone(), fold(&name), lon, lat);
        }
        for (text, near) in [("benh vien", (106.70, 10.77)), ("vien 1", (106.60, 10.80))] {
            let query = |limit| SearchQuery {
                text,
                limit,
                near: Some(near),
                accept: &|_| true,
            };
            let full: Vec<i64> = index.search(&query(5000)).iter().map(|h| h.fid).collect();
            let short: Vec<i64> = index.search(&query(5)).iter().map(|h| h.fid).collect();
            assert!(full.len() > 100);
            assert_eq!(short, full[..5], "{text}");
        }
    }

    #[test]
    fn trigrams_are_pg_trgm_s() {
        // pg_trgm: show_trgm('ben') = {"  b"," be","ben","en "}.
        assert_eq!(trigrams("ben").len(), 4);
        // Words are padded separately; repeated trigrams count once.
        assert_eq!(trigrams("ben ben").len(), 4);
        assert_eq!(trigrams("a").len(), 2);
    }
}
