//! Collecting GDAL's error messages per thread, so a reader can tell a truncated or corrupt file
//! (GDAL reports the failure and goes on, or stops early) from a clean read.

use std::cell::RefCell;
use std::sync::Once;

use gdal::errors::CplErrType;

thread_local! {
    static FAILURES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

static INSTALL: Once = Once::new();

/// Installs the process-wide handler (once). GDAL calls it on the thread that hit the error.
pub fn install() {
    INSTALL.call_once(|| {
        gdal::config::set_error_handler(|class, _code, message| match class {
            CplErrType::Failure | CplErrType::Fatal => {
                FAILURES.with(|f| f.borrow_mut().push(message.to_owned()));
            }
            CplErrType::Warning => tracing::debug!(gdal = message, "GDAL warning"),
            _ => {}
        });
    });
}

/// Takes the failures GDAL reported on this thread since the last call.
pub fn take_failures() -> Vec<String> {
    FAILURES.with(|f| std::mem::take(&mut *f.borrow_mut()))
}

/// Drops this thread's "Pointer ... is NULL" reports: probing a missing geometry makes them.
pub fn forget_null_pointer_reports() {
    FAILURES.with(|f| f.borrow_mut().retain(|m| !m.contains("is NULL in")));
}
