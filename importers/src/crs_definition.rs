//! What a person may give where the importer reads a name or a CRS (`--source-crs`, an upload's
//! `source_crs`, `source_layer`, `lon_column`, …): a CRS only as an authority code, a PROJ string
//! or WKT; a layer or column name only as a name. GDAL's `SetFromUserInput` would also read a
//! file or fetch a URL named there, PROJ strings may name files (`+init=file:key`,
//! `+nadgrids=/path`), and a name like `/vsicurl/…` or `CSV:…` is how GDAL is told to open
//! something else. Each rule is exactly a regular expression ([`CRS_PATTERN`], [`NAME_PATTERN`]),
//! which the API's OpenAPI document states, so a client can know before it asks.

/// An accepted CRS definition: `AUTH:CODE`, an OGC URN, a PROJ string whose values name no path
/// (no `/`, `\` or `:`: grids are found by name in PROJ's own folders, `+init=file:key` cannot be
/// written), or WKT 1/2 by its root keyword.
pub const CRS_PATTERN: &str = r"^(?:[A-Za-z][A-Za-z0-9_]{0,15}:[A-Za-z0-9_.\-]{1,32}|urn:ogc:def:crs:[A-Za-z0-9:._\-]{1,64}|\+proj=[A-Za-z0-9_]+(?:[ \t]+\+[A-Za-z0-9_]+(?:=[A-Za-z0-9.,_+@\-]*)?)*|(?:PROJCS|GEOGCS|GEOCCS|COMPD_CS|VERT_CS|LOCAL_CS|FITTED_CS|PROJCRS|PROJECTEDCRS|GEOGCRS|GEOGRAPHICCRS|GEODCRS|GEODETICCRS|BOUNDCRS|COMPOUNDCRS|VERTCRS|VERTICALCRS|ENGCRS)[ \t]*[\[(][^\u0000]*)$";

/// An accepted layer or column name: 1 to 255 characters, no control character, no `:` (GDAL's
/// `DRIVER:` prefixes, URLs) and not starting with `/` (paths, `/vsi…`).
pub const NAME_PATTERN: &str = r"^[^/:\u0000-\u001f\u007f][^:\u0000-\u001f\u007f]{0,254}$";

/// Longest definition taken (a WKT 2 CRS with its bound transformation is a few kB).
pub const MAX_LENGTH: usize = 16 * 1024;

const WKT_ROOTS: [&str; 18] = [
    "PROJCS",
    "GEOGCS",
    "GEOCCS",
    "COMPD_CS",
    "VERT_CS",
    "LOCAL_CS",
    "FITTED_CS",
    "PROJCRS",
    "PROJECTEDCRS",
    "GEOGCRS",
    "GEOGRAPHICCRS",
    "GEODCRS",
    "GEODETICCRS",
    "BOUNDCRS",
    "COMPOUNDCRS",
    "VERTCRS",
    "VERTICALCRS",
    "ENGCRS",
];

const FORMS: &str = "give an authority code (EPSG:9210), a PROJ string (+proj=…) or WKT";

/// `Ok` if `text` matches [`CRS_PATTERN`] (and is at most [`MAX_LENGTH`] bytes); else why not.
pub fn check(text: &str) -> Result<(), String> {
    if text.len() > MAX_LENGTH {
        return Err(format!("is longer than {MAX_LENGTH} bytes"));
    }
    if is_authority_code(text) || is_urn(text) || is_wkt(text) {
        return Ok(());
    }
    if text.starts_with('+') {
        return proj_string(text);
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("://") || lower.starts_with("file:") || text.starts_with(['/', '.', '~']) {
        return Err(format!("is a URL or a path; {FORMS}"));
    }
    Err(format!("is neither of the forms accepted; {FORMS}"))
}

/// `Ok` if `text` matches [`NAME_PATTERN`]; else why not.
pub fn check_name(text: &str) -> Result<(), String> {
    let chars = text.chars().count();
    if chars == 0 || chars > 255 {
        return Err("must be 1 to 255 characters".to_owned());
    }
    if text.chars().any(|c| c.is_ascii_control()) {
        return Err("holds control characters".to_owned());
    }
    if text.contains(':') || text.starts_with('/') {
        return Err(
            "is a path, a URL or a GDAL dataset name (`/…`, `DRIVER:…`), not a layer or column name"
                .to_owned(),
        );
    }
    Ok(())
}

fn all(text: &str, allowed: impl Fn(char) -> bool) -> bool {
    text.chars().all(allowed)
}

fn is_authority_code(text: &str) -> bool {
    let Some((authority, code)) = text.split_once(':') else {
        return false;
    };
    let mut first = authority.chars();
    first.next().is_some_and(|c| c.is_ascii_alphabetic())
        && authority.len() <= 16
        && all(authority, |c| c.is_ascii_alphanumeric() || c == '_')
        && (1..=32).contains(&code.len())
        && all(code, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
        })
}

fn is_urn(text: &str) -> bool {
    text.strip_prefix("urn:ogc:def:crs:").is_some_and(|rest| {
        (1..=64).contains(&rest.len())
            && all(rest, |c| {
                c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-')
            })
    })
}

fn is_wkt(text: &str) -> bool {
    WKT_ROOTS.iter().any(|root| {
        text.strip_prefix(root).is_some_and(|rest| {
            rest.trim_start_matches([' ', '\t']).starts_with(['[', '(']) && !rest.contains('\0')
        })
    })
}

/// `+proj=NAME` then `+key[=value]` tokens separated by spaces or tabs.
fn proj_string(text: &str) -> Result<(), String> {
    let word = |s: &str| !s.is_empty() && all(s, |c| c.is_ascii_alphanumeric() || c == '_');
    let value = |s: &str| {
        all(s, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | ',' | '_' | '+' | '@' | '-')
        })
    };
    let bad = |why: String| Err(format!("{why}; {FORMS}"));
    if text.ends_with([' ', '\t']) {
        return bad("is a PROJ string ending in a space".to_owned());
    }
    for (i, token) in text
        .split([' ', '\t'])
        .filter(|t| !t.is_empty())
        .enumerate()
    {
        let Some(token) = token.strip_prefix('+') else {
            return bad(format!("is a PROJ string with {token:?}, not a +key=value"));
        };
        let (key, val) = token
            .split_once('=')
            .map_or((token, None), |(k, v)| (k, Some(v)));
        let first_ok = i > 0 || (key == "proj" && val.is_some_and(word));
        if !first_ok {
            return bad("is a PROJ string not starting with +proj=NAME".to_owned());
        }
        if !word(key) {
            return bad(format!("is a PROJ string with an unusual key {key:?}"));
        }
        if let Some(val) = val
            && !value(val)
        {
            return bad(format!(
                "is a PROJ string whose +{key} names a path or a file (+init=, a grid by path); \
                 grids are found by name in PROJ's own folders"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn codes_proj_strings_and_wkt_are_taken() {
        for ok in [
            "EPSG:9210",
            "epsg:4326",
            "ESRI:102100",
            "urn:ogc:def:crs:EPSG::9210",
            "+proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +towgs84=-191.904,-39.303,-111.450,-0.00928836,0.01975479,-0.00427372,0.252906278 +units=m +no_defs",
            "+proj=longlat +datum=WGS84 +nadgrids=@null",
            "PROJCS[\"VN-2000 / TM-3 105-45\",GEOGCS[\"VN-2000\"]]",
            "GEOGCRS[\"WGS 84\",DATUM[\"World Geodetic System 1984\"]]",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn paths_urls_and_file_references_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "./x.prj",
            "x.prj",
            "/vsicurl/http://127.0.0.1:9/x.prj",
            "http://127.0.0.1:9/epsg.wkt",
            "file:///etc/passwd",
            "CSV:/etc/passwd",
            "+init=/etc/passwd:x",
            "+init=epsg:4326",
            "+proj=longlat +nadgrids=/etc/passwd",
            "+proj=longlat +geoidgrids=../x.gtx",
            "{\"type\":\"GeographicCRS\"}",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
        for bad in [
            "",
            "/vsicurl/http://x/y.csv",
            "CSV:/etc/passwd",
            "http://x",
            "a\u{1}b",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for ok in ["lon", "Kinh độ", "x y", "a..b", "wards_2019"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
    }

    fn regex(pattern: &str) -> regex::Regex {
        regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Strings the pattern matches whole (proptest generates from an unanchored pattern).
    fn matching(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
        let inner = pattern.trim_start_matches('^').trim_end_matches('$');
        proptest::string::string_regex(inner).unwrap_or_else(|e| panic!("{e}"))
    }

    proptest! {
        /// What the OpenAPI document states is what the server does: every value the pattern
        /// generates is accepted, and any value is accepted exactly when it matches.
        #[test]
        fn the_crs_rule_is_its_pattern(generated in matching(CRS_PATTERN), any in "\\PC{0,40}") {
            let pattern = regex(CRS_PATTERN);
            prop_assume!(generated.len() <= MAX_LENGTH);
            prop_assert_eq!(check(&generated), Ok(()), "{:?}", generated);
            prop_assert_eq!(check(&any).is_ok(), pattern.is_match(&any), "{:?}", any);
        }

        #[test]
        fn the_name_rule_is_its_pattern(generated in matching(NAME_PATTERN), any in "\\PC{0,12}|[/:a-z]{0,4}") {
            let pattern = regex(NAME_PATTERN);
            prop_assert_eq!(check_name(&generated), Ok(()), "{:?}", generated);
            prop_assert_eq!(check_name(&any).is_ok(), pattern.is_match(&any), "{:?}", any);
        }
    }
}
