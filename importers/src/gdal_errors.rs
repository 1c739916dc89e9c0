//! Collecting GDAL's error messages per thread, so a reader can tell a truncated or corrupt file
//! (GDAL reports the failure and goes on, or stops early) from a clean read.

use std::cell::RefCell;
use std::sync::Once;

use gdal::errors::CplErrType;

thread_local! {
    static FAILURES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static WARNINGS: RefCell<Warnings> = const { RefCell::new(Warnings { count: 0, first: Vec::new() }) };
}

/// How many of GDAL's warnings a job report quotes.
pub const QUOTED_WARNINGS: usize = 5;

/// GDAL's warnings on a thread: counted, the first few kept (a damaged extract can emit
/// thousands of the same line).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Warnings {
    /// How many.
    pub count: u64,
    /// The first [`QUOTED_WARNINGS`] distinct messages.
    pub first: Vec<String>,
}

impl Warnings {
    /// The report line, if there was any warning.
    pub fn summary(&self) -> Option<String> {
        (self.count > 0).then(|| {
            format!(
                "GDAL warned {} times while reading, e.g.: {}",
                self.count,
                self.first.join(" | ")
            )
        })
    }
}

static INSTALL: Once = Once::new();

/// Installs the process-wide handler (once). GDAL calls it on the thread that hit the error.
pub fn install() {
    INSTALL.call_once(|| {
        gdal::config::set_error_handler(|class, _code, message| match class {
            CplErrType::Failure | CplErrType::Fatal => {
                FAILURES.with(|f| f.borrow_mut().push(message.to_owned()));
            }
            CplErrType::Warning => {
                tracing::debug!(gdal = message, "GDAL warning");
                WARNINGS.with(|w| {
                    let mut w = w.borrow_mut();
                    w.count += 1;
                    let message = message.trim().to_owned();
                    if w.first.len() < QUOTED_WARNINGS && !w.first.contains(&message) {
                        w.first.push(message);
                    }
                });
            }
            _ => {}
        });
    });
}

/// Takes the warnings GDAL reported on this thread since the last call.
pub fn take_warnings() -> Warnings {
    WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// Takes the failures GDAL reported on this thread since the last call.
pub fn take_failures() -> Vec<String> {
    FAILURES.with(|f| std::mem::take(&mut *f.borrow_mut()))
}

/// Drops this thread's "Pointer ... is NULL" reports: probing a missing geometry makes them.
pub fn forget_null_pointer_reports() {
    FAILURES.with(|f| f.borrow_mut().retain(|m| !m.contains("is NULL in")));
}
