//! Legacy Vietnamese text encodings in DBF files: detecting them and decoding to Unicode (NFC).
//!
//! Shapefiles made with Vietnamese fonts of the 1990s–2000s store text in TCVN3 (ABC: one byte
//! per letter, in the Latin-1 range) or VNI-Windows (an ASCII base letter followed by a byte for
//! the diacritic), often with no `.cpg`. Read as Latin-1 they come out as mojibake
//! ("Ph­êng BÕn Thµnh"). The importer reads such files byte for byte, scores each candidate
//! encoding by how much real Vietnamese it yields, and decodes with the best.

use unicode_normalization::UnicodeNormalization;

/// Encodings the importer can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextEncoding {
    /// UTF-8.
    Utf8,
    /// TCVN 5712:1993 VN3 ("ABC").
    Tcvn3,
    /// VNI-Windows.
    Vni,
    /// Windows-1258 (Vietnamese code page, combining tone marks).
    Cp1258,
    /// Windows-1252 / ISO-8859-1.
    Latin1,
}

impl std::str::FromStr for TextEncoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "utf8" => Ok(Self::Utf8),
            "tcvn3" | "abc" | "tcvn" => Ok(Self::Tcvn3),
            "vni" | "vniwin" | "vniwindows" => Ok(Self::Vni),
            "cp1258" | "windows1258" => Ok(Self::Cp1258),
            "latin1" | "iso88591" | "cp1252" | "windows1252" => Ok(Self::Latin1),
            other => Err(format!(
                "unknown encoding {other:?} (utf-8, tcvn3, vni, cp1258, latin1)"
            )),
        }
    }
}

/// TCVN3 (ABC) bytes 0xA1–0xFE and the letters they stand for. Capitals with tone marks do not
/// exist in TCVN3 (ABC fonts draw them from the lower-case codes), so they decode lower-case.
const TCVN3: [(u8, char); 74] = [
    (0xB5, 'à'),
    (0xB8, 'á'),
    (0xB6, 'ả'),
    (0xB7, 'ã'),
    (0xB9, 'ạ'),
    (0xA8, 'ă'),
    (0xBB, 'ằ'),
    (0xBE, 'ắ'),
    (0xBC, 'ẳ'),
    (0xBD, 'ẵ'),
    (0xC6, 'ặ'),
    (0xA9, 'â'),
    (0xC7, 'ầ'),
    (0xCA, 'ấ'),
    (0xC8, 'ẩ'),
    (0xC9, 'ẫ'),
    (0xCB, 'ậ'),
    (0xAE, 'đ'),
    (0xCC, 'è'),
    (0xD0, 'é'),
    (0xCE, 'ẻ'),
    (0xCF, 'ẽ'),
    (0xD1, 'ẹ'),
    (0xAA, 'ê'),
    (0xD2, 'ề'),
    (0xD5, 'ế'),
    (0xD3, 'ể'),
    (0xD4, 'ễ'),
    (0xD6, 'ệ'),
    (0xD7, 'ì'),
    (0xDD, 'í'),
    (0xD8, 'ỉ'),
    (0xDC, 'ĩ'),
    (0xDE, 'ị'),
    (0xDF, 'ò'),
    (0xE3, 'ó'),
    (0xE1, 'ỏ'),
    (0xE2, 'õ'),
    (0xE4, 'ọ'),
    (0xAB, 'ô'),
    (0xE5, 'ồ'),
    (0xE8, 'ố'),
    (0xE6, 'ổ'),
    (0xE7, 'ỗ'),
    (0xE9, 'ộ'),
    (0xAC, 'ơ'),
    (0xEA, 'ờ'),
    (0xED, 'ớ'),
    (0xEB, 'ở'),
    (0xEC, 'ỡ'),
    (0xEE, 'ợ'),
    (0xEF, 'ù'),
    (0xF3, 'ú'),
    (0xF1, 'ủ'),
    (0xF2, 'ũ'),
    (0xF4, 'ụ'),
    (0xAD, 'ư'),
    (0xF5, 'ừ'),
    (0xF8, 'ứ'),
    (0xF6, 'ử'),
    (0xF7, 'ữ'),
    (0xF9, 'ự'),
    (0xFA, 'ỳ'),
    (0xFD, 'ý'),
    (0xFB, 'ỷ'),
    (0xFC, 'ỹ'),
    (0xFE, 'ỵ'),
    (0xA1, 'Ă'),
    (0xA2, 'Â'),
    (0xA7, 'Đ'),
    (0xA3, 'Ê'),
    (0xA4, 'Ô'),
    (0xA5, 'Ơ'),
    (0xA6, 'Ư'),
];

/// VNI-Windows: bytes that follow a base vowel, and the combining marks they add (lower-case
/// forms; the upper-case byte is the lower-case one minus 0x20).
const VNI_MARKS: [(u8, &str); 17] = [
    (0xF8, "\u{300}"),
    (0xF9, "\u{301}"),
    (0xFB, "\u{309}"),
    (0xF5, "\u{303}"),
    (0xEF, "\u{323}"),
    (0xEA, "\u{306}"),
    (0xE8, "\u{306}\u{300}"),
    (0xE9, "\u{306}\u{301}"),
    (0xFA, "\u{306}\u{309}"),
    (0xFC, "\u{306}\u{303}"),
    (0xEB, "\u{306}\u{323}"),
    (0xE2, "\u{302}"),
    (0xE0, "\u{302}\u{300}"),
    (0xE1, "\u{302}\u{301}"),
    (0xE5, "\u{302}\u{309}"),
    (0xE3, "\u{302}\u{303}"),
    (0xE4, "\u{302}\u{323}"),
];

/// VNI-Windows bytes that are letters on their own.
const VNI_LETTERS: [(u8, char); 14] = [
    (0xF1, 'đ'),
    (0xD1, 'Đ'),
    (0xF4, 'ơ'),
    (0xD4, 'Ơ'),
    (0xF6, 'ư'),
    (0xD6, 'Ư'),
    (0xEC, 'ì'),
    (0xCC, 'Ì'),
    (0xED, 'í'),
    (0xCD, 'Í'),
    (0xE6, 'ỉ'),
    (0xC6, 'Ỉ'),
    (0xF3, 'ĩ'),
    (0xD3, 'Ĩ'),
];

/// VNI-Windows: ị and Ị, and ỵ / Ỵ, which have bytes of their own.
const VNI_MORE_LETTERS: [(u8, char); 4] = [(0xF2, 'ị'), (0xD2, 'Ị'), (0xEE, 'ỵ'), (0xCE, 'Ỵ')];

/// Decodes `bytes` to NFC text.
pub fn decode(bytes: &[u8], encoding: TextEncoding) -> String {
    let text = match encoding {
        TextEncoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        TextEncoding::Latin1 => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
        TextEncoding::Cp1258 => encoding_rs::WINDOWS_1258.decode(bytes).0.into_owned(),
        TextEncoding::Tcvn3 => bytes
            .iter()
            .map(|&b| {
                TCVN3
                    .iter()
                    .find(|(code, _)| *code == b)
                    .map_or_else(|| latin1_char(b), |(_, c)| *c)
            })
            .collect(),
        TextEncoding::Vni => decode_vni(bytes),
    };
    text.nfc().collect()
}

fn latin1_char(b: u8) -> char {
    char::from(b)
}

fn decode_vni(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut previous_is_vowel = false;
    for &b in bytes {
        if previous_is_vowel {
            let lower = if (0xC0..=0xDF).contains(&b) {
                b + 0x20
            } else {
                b
            };
            if let Some((_, marks)) = VNI_MARKS.iter().find(|(code, _)| *code == lower) {
                out.push_str(marks);
                previous_is_vowel = false;
                continue;
            }
        }
        let letter = VNI_LETTERS
            .iter()
            .chain(VNI_MORE_LETTERS.iter())
            .find(|(code, _)| *code == b)
            .map(|(_, c)| *c);
        let c = letter.unwrap_or_else(|| latin1_char(b));
        // ơ and ư take tone marks too.
        previous_is_vowel = matches!(c.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
            || matches!(c, 'ơ' | 'Ơ' | 'ư' | 'Ư');
        out.push(c);
    }
    out
}

/// Every Vietnamese letter with a diacritic, lower and upper case.
fn is_vietnamese_letter(c: char) -> bool {
    const LOWER: &str = "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ";
    LOWER.contains(c) || c.to_lowercase().any(|l| LOWER.contains(l))
}

/// How Vietnamese-like decoded text is: letters with diacritics count for; stray symbols and
/// Latin-1 letters that Vietnamese does not use count against, and so does a word with more
/// than one tone mark (a Vietnamese syllable has at most one).
fn score(text: &str) -> i64 {
    let letters = text.chars().fold(0, |acc, c| {
        if c.is_ascii() {
            acc
        } else if is_vietnamese_letter(c) {
            acc + 1
        } else {
            acc - 3
        }
    });
    let impossible_words = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| {
            word.nfd()
                .filter(|c| matches!(c, '\u{300}' | '\u{301}' | '\u{303}' | '\u{309}' | '\u{323}'))
                .count()
                > 1
        })
        .count();
    letters - 5 * i64::try_from(impossible_words).unwrap_or(i64::MAX / 8)
}

/// The encoding that reads `samples` (raw text values) as the most plausible Vietnamese:
/// UTF-8 when the bytes are valid UTF-8, else the best-scoring legacy encoding.
pub fn detect<'a>(samples: impl IntoIterator<Item = &'a [u8]>) -> TextEncoding {
    let mut all = Vec::new();
    for s in samples {
        all.extend_from_slice(s);
        all.push(b' ');
    }
    if all.is_ascii() || std::str::from_utf8(&all).is_ok() {
        return TextEncoding::Utf8;
    }
    [
        TextEncoding::Tcvn3,
        TextEncoding::Vni,
        TextEncoding::Cp1258,
        TextEncoding::Latin1,
    ]
    .into_iter()
    .max_by_key(|e| score(&decode(&all, *e)))
    .unwrap_or(TextEncoding::Latin1)
}

/// Whether text looks mis-decoded: UTF-8 read as Latin-1 (`PhÆ°á»ng`), a legacy Vietnamese
/// encoding read as Latin-1 (`Ph­êng BÕn Thµnh`), or replacement characters.
pub fn looks_mis_decoded(text: &str) -> bool {
    if text.contains('\u{FFFD}') {
        return true;
    }
    let chars: Vec<char> = text.chars().collect();
    let utf8_as_latin1 = chars.windows(2).any(|w| {
        matches!(w[0], 'Ã' | 'Ä' | 'Å' | 'Æ' | 'á' | 'â') && ('\u{80}'..='\u{BF}').contains(&w[1])
    });
    // A Latin-1 symbol inside a word ("Thµnh", "Ph\u{AD}êng") is a legacy encoding read as
    // Latin-1; one next to a word ("Shop®") is just a symbol.
    let legacy_inside_word = chars.windows(3).any(|w| {
        matches!(w[1], '\u{A1}'..='\u{BF}' | '\u{D7}' | '\u{F7}')
            && w[0].is_alphabetic()
            && w[2].is_alphabetic()
    });
    utf8_as_latin1 || legacy_inside_word && score(text) < 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes Unicode text to TCVN3, from the same table, to build fixtures.
    fn to_tcvn3(text: &str) -> Vec<u8> {
        text.chars()
            .map(|c| {
                TCVN3
                    .iter()
                    .find(|(_, t)| *t == c)
                    .map_or_else(|| u8::try_from(c).unwrap(), |(b, _)| *b)
            })
            .collect()
    }

    #[test]
    fn decodes_tcvn3() {
        let tcvn = to_tcvn3("Phường Bến Thành, Quận 1");
        assert!(
            tcvn.contains(&0xAD) && tcvn.contains(&0xB5),
            "legacy bytes: {tcvn:x?}"
        );
        assert_eq!(
            decode(&tcvn, TextEncoding::Tcvn3),
            "Phường Bến Thành, Quận 1"
        );
        assert_eq!(detect([tcvn.as_slice()]), TextEncoding::Tcvn3);
    }

    #[test]
    fn decodes_vni() {
        // ư = ö, ơ = ô, then ø = grave; e + á = ế; a + ø = à; a + ä = ậ.
        let vni = b"Ph\xF6\xF4\xF8ng Be\xE1n Tha\xF8nh, Qua\xE4n 1";
        assert_eq!(decode(vni, TextEncoding::Vni), "Phường Bến Thành, Quận 1");
        assert_eq!(detect([vni.as_slice()]), TextEncoding::Vni);
        let xin_chao = b"Xin cha\xF8o ca\xF9c ba\xEFn";
        assert_eq!(decode(xin_chao, TextEncoding::Vni), "Xin chào các bạn");
        assert_eq!(
            decode(b"QUA\xC4N \xD1O\xC2I", TextEncoding::Vni),
            "QUẬN ĐÔI"
        );
    }

    #[test]
    fn utf8_is_preferred_when_valid() {
        assert_eq!(detect(["Phường Bến Nghé".as_bytes()]), TextEncoding::Utf8);
        assert_eq!(detect([b"Ben Nghe".as_slice()]), TextEncoding::Utf8);
    }

    #[test]
    fn spots_mojibake() {
        assert!(looks_mis_decoded("PhÆ°á»ng Báº¿n ThÃ nh"));
        assert!(looks_mis_decoded("Ph\u{AD}êng BÕn Thµnh"));
        assert!(!looks_mis_decoded("Phường Bến Thành"));
        assert!(!looks_mis_decoded("Ward 3, District 1"));
        assert!(!looks_mis_decoded("Saigon Bike Shop®"));
    }
}
