//! A source being read, as the importer sees it: first its summary, then its rows, then how the
//! read ended — whether a thread of this process reads it or a confined reader process does.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::limits::{ReaderLimits, ReaderReport};
use super::order::{ReadOrder, ReaderEvent, SourceSummary};
use crate::error::{ImportError, ImportResult};
use crate::reader::ReadStats;

/// Where a source is read.
#[derive(Debug, Clone, Default)]
pub enum Reading {
    /// On a thread of the importing process: `bando import` of GIS staff's own files.
    #[default]
    InProcess,
    /// In a confined reader process (uploads): `program read-source`, under `limits`.
    Confined {
        /// The executable that runs readers (`bando`).
        program: PathBuf,
        /// Its limits.
        limits: ReaderLimits,
    },
}

/// How a read ended.
#[derive(Debug)]
pub struct ReaderEnd {
    /// The reader's statistics, or why it failed.
    pub result: ImportResult<ReadStats>,
    /// How the source was read (driver; the reader process's exit and usage).
    pub report: ReaderReport,
}

/// A source being read.
#[derive(Debug)]
pub struct SourceStream {
    events: mpsc::Receiver<ReaderEvent>,
    end: JoinHandle<ReaderEnd>,
    driver: Option<String>,
}

impl Reading {
    /// Starts reading `order`, with `work_dir` for the files the reader makes (and, for a
    /// reader process, as its working folder: `order`'s paths are relative to it).
    pub fn start(&self, order: ReadOrder, work_dir: &Path) -> SourceStream {
        let (sender, events) = mpsc::channel(4);
        let end = match self {
            Self::InProcess => {
                let work_dir = work_dir.to_path_buf();
                tokio::task::spawn_blocking(move || {
                    let mut emit = |event| {
                        sender.blocking_send(event).map_err(|_| {
                            ImportError::ReaderStopped("the database writer stopped".to_owned())
                        })
                    };
                    ReaderEnd {
                        result: super::order::read(&order, &work_dir, &mut emit),
                        report: ReaderReport::default(),
                    }
                })
            }
            Self::Confined { program, limits } => tokio::spawn(super::spawn::run(
                program.clone(),
                *limits,
                order,
                work_dir.to_path_buf(),
                sender,
            )),
        };
        SourceStream {
            events,
            end,
            driver: None,
        }
    }
}

impl SourceStream {
    /// The source's summary; `None` if the reader ended first ([`SourceStream::finish`] says
    /// why).
    pub async fn summary(&mut self) -> Option<SourceSummary> {
        loop {
            match self.events.recv().await? {
                ReaderEvent::Planned(summary) => {
                    self.driver = Some(summary.format.clone());
                    return Some(summary);
                }
                ReaderEvent::Progress(_) => {}
                // Rows before a plan: a broken reader; its end says so.
                ReaderEvent::Rows(_) => return None,
            }
        }
    }

    /// The next chunk of rows (`progress` hears of features read meanwhile); `None` at the end.
    pub async fn next_rows(&mut self, progress: &(dyn Fn(u64) + Send + Sync)) -> Option<Vec<u8>> {
        loop {
            match self.events.recv().await? {
                ReaderEvent::Rows(rows) => return Some(rows),
                ReaderEvent::Progress(read) => progress(read),
                ReaderEvent::Planned(_) => return None,
            }
        }
    }

    /// Stops listening and waits for the reader's end (a reader still sending is stopped).
    pub async fn finish(self) -> ReaderEnd {
        drop(self.events);
        let mut end = self.end.await.unwrap_or_else(|e| ReaderEnd {
            result: Err(ImportError::ReaderStopped(e.to_string())),
            report: ReaderReport::default(),
        });
        if end.report.driver.is_none() {
            end.report.driver = self.driver;
        }
        end
    }
}
