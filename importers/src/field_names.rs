//! Turning source attribute names into safe, readable SQL column names.
//!
//! Rule: fold to ASCII (Vietnamese diacritics dropped, `đ` → `d`), lower-case, every run of other
//! characters becomes `_`, a leading digit gets an `f_` prefix, at most 63 bytes; names taken by
//! bando's own columns or by an earlier field get a numeric suffix. The original name is kept in
//! the catalog's `fields`.

use std::collections::HashSet;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Columns every layer table has; attributes never take these names.
pub const RESERVED_COLUMNS: [&str; 6] =
    ["fid", "geom", "geom_3857", "geom_z5", "geom_z8", "geom_z10"];

/// A safe column name for `source_name`, unique among `taken` (which it is added to).
pub fn safe_column_name(source_name: &str, taken: &mut HashSet<String>) -> String {
    let mut base = String::with_capacity(source_name.len());
    for c in source_name.nfd().filter(|c| !is_combining_mark(*c)) {
        let c = match c {
            'đ' | 'Đ' | 'Ð' => 'd',
            c => c.to_ascii_lowercase(),
        };
        if c.is_ascii_alphanumeric() {
            base.push(c);
        } else if !base.ends_with('_') {
            base.push('_');
        }
    }
    let mut base = base.trim_matches('_').to_owned();
    if base.is_empty() {
        base.push_str("field");
    }
    if base.as_bytes()[0].is_ascii_digit() {
        base.insert_str(0, "f_");
    }
    base.truncate(56);
    let mut name = base.clone();
    let mut n = 1;
    while taken.contains(&name) || RESERVED_COLUMNS.contains(&name.as_str()) {
        n += 1;
        name = format!("{base}_{n}");
    }
    taken.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(source: &[&str]) -> Vec<String> {
        let mut taken = HashSet::new();
        source
            .iter()
            .map(|s| safe_column_name(s, &mut taken))
            .collect()
    }

    #[test]
    fn folds_vietnamese_and_punctuation() {
        assert_eq!(
            names(&["Tên Đường", "@osmId", "name:en", "2019_pop", "   "]),
            ["ten_duong", "osmid", "name_en", "f_2019_pop", "field"]
        );
    }

    #[test]
    fn avoids_reserved_and_duplicate_names() {
        assert_eq!(
            names(&["geom", "FID", "Name", "name", "NAME"]),
            ["geom_2", "fid_2", "name", "name_2", "name_3"]
        );
    }
}
