//! The reader process's output on its standard output: frames of `[kind: u8][length: u32 LE]
//! [payload]`. First a hello (its confinement), then the plan, rows (raw COPY text, in pieces of
//! at most [`MAX_ROWS_FRAME`] bytes: the importer's memory never depends on the file) and
//! progress, then one end frame (done with the statistics, or failed with the reason). Anything
//! else — a frame too long, an unknown kind, output before the hello — is a broken reader.

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::limits::Confinement;
use crate::reader::{Problem, ReadStats, skip_reason};

/// Frame kinds.
pub const HELLO: u8 = b'H';
/// The source summary (JSON).
pub const PLANNED: u8 = b'P';
/// COPY text rows.
pub const ROWS: u8 = b'R';
/// Features read so far (u64 LE).
pub const PROGRESS: u8 = b'G';
/// The end: done or failed (JSON [`End`]).
pub const END: u8 = b'E';

/// Largest piece of rows per frame.
pub const MAX_ROWS_FRAME: usize = 1 << 20;
/// Largest frame of any other kind (a plan with thousands of fields, an end with 50 examples).
const MAX_JSON_FRAME: usize = 16 << 20;

/// The first frame: who is speaking, and how it is confined.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    /// Always [`PROTOCOL`].
    pub protocol: String,
    /// What the kernel granted.
    pub confinement: Confinement,
}

/// The protocol a reader speaks.
pub const PROTOCOL: &str = "bando-reader/1";

/// The last frame.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct End {
    /// The statistics of a read that finished.
    pub stats: Option<WireStats>,
    /// Why the read failed (the importer's own message).
    pub error: Option<String>,
    /// The failure was an allocation GDAL could not make.
    pub out_of_memory: bool,
    /// Peak resident memory, from the reader itself.
    pub peak_memory_bytes: u64,
    /// CPU seconds, from the reader itself.
    pub cpu_seconds: f64,
}

/// [`ReadStats`] as sent (its reasons by name).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WireStats {
    read: u64,
    written: u64,
    skipped: BTreeMap<String, u64>,
    examples: Vec<(String, String)>,
    fids_unique: bool,
    duplicate_ids: u64,
    warnings: Vec<String>,
    mis_decoded_text: u64,
}

impl From<&ReadStats> for WireStats {
    fn from(s: &ReadStats) -> Self {
        Self {
            read: s.read,
            written: s.written,
            skipped: s
                .skipped
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            examples: s
                .examples
                .iter()
                .map(|p| (p.feature.clone(), p.reason.to_owned()))
                .collect(),
            fids_unique: s.fids_unique,
            duplicate_ids: s.duplicate_ids,
            warnings: s.warnings.clone(),
            mis_decoded_text: s.mis_decoded_text,
        }
    }
}

impl WireStats {
    /// Back to [`ReadStats`]; `None` if a reason is not one the reader uses.
    pub fn into_stats(self) -> Option<ReadStats> {
        let mut skipped = BTreeMap::new();
        for (reason, n) in self.skipped {
            skipped.insert(skip_reason(&reason)?, n);
        }
        let examples = self
            .examples
            .into_iter()
            .map(|(feature, reason)| skip_reason(&reason).map(|reason| Problem { feature, reason }))
            .collect::<Option<Vec<_>>>()?;
        Some(ReadStats {
            read: self.read,
            written: self.written,
            skipped,
            examples,
            fids_unique: self.fids_unique,
            duplicate_ids: self.duplicate_ids,
            warnings: self.warnings,
            mis_decoded_text: self.mis_decoded_text,
            fail_fast: false,
        })
    }
}

/// Writes one frame.
pub fn write_frame(out: &mut dyn Write, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| std::io::Error::other("frame longer than 4 GiB"))?;
    out.write_all(&[kind])?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(payload)
}

/// Reads one frame; `None` at the end of the stream (between frames).
pub async fn read_frame(
    input: &mut (impl AsyncRead + Unpin),
) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut kind = [0u8; 1];
    if input.read(&mut kind).await? == 0 {
        return Ok(None);
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    let max = match kind[0] {
        ROWS => MAX_ROWS_FRAME,
        PROGRESS => 8,
        HELLO | PLANNED | END => MAX_JSON_FRAME,
        other => {
            return Err(std::io::Error::other(format!(
                "unknown frame kind {other:#04x}"
            )));
        }
    };
    if len > max {
        return Err(std::io::Error::other(format!(
            "a frame of {len} bytes (at most {max})"
        )));
    }
    let mut payload = vec![0u8; len];
    input.read_exact(&mut payload).await?;
    Ok(Some((kind[0], payload)))
}
