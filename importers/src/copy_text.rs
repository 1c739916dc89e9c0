//! Encoding rows for `COPY ... FROM STDIN` in PostgreSQL's text format.

/// Appends `value` escaped for a COPY text column (backslash, tab, newline, carriage return).
pub fn push_text(out: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            // NUL cannot be stored in PostgreSQL text; drop it rather than fail the row.
            0 => {}
            b => out.push(b),
        }
    }
}

/// Appends the NULL marker.
pub fn push_null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\\N");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters() {
        let mut out = Vec::new();
        push_text(&mut out, "a\tb\nc\\d\re\0f");
        assert_eq!(
            out,
            b"a\\tb\\nc\\\\d\\re"
                .iter()
                .chain(b"f")
                .copied()
                .collect::<Vec<_>>()
        );
    }
}
