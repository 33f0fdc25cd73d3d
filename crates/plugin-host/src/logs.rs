//! Re-emitting Python log records as tracing events (`logger` and `py_level` fields).

/// Python's `logging.CRITICAL`.
pub const CRITICAL: i64 = 50;
/// Python's `logging.ERROR`.
pub const ERROR: i64 = 40;
/// Python's `logging.WARNING`.
pub const WARNING: i64 = 30;
/// Python's `logging.INFO`.
pub const INFO: i64 = 20;

/// The tracing target of records a plugin's Python logging let through. Python already
/// applied the plugin's own logger levels (`reg.logger.setLevel(logging.DEBUG)`), so the
/// daemon writes these whatever its `logging` level, as upstream's handlers do.
pub const PYTHON_TARGET: &str = "sgevents::python";

/// Emits one record of a plugin's Python logging (see [`PYTHON_TARGET`]), like [`emit`].
pub fn emit_python(logger: &str, py_level: i64, message: &str) {
    if py_level >= ERROR {
        tracing::error!(target: PYTHON_TARGET, logger, py_level, "{message}");
    } else if py_level >= WARNING {
        tracing::warn!(target: PYTHON_TARGET, logger, py_level, "{message}");
    } else if py_level >= INFO {
        tracing::info!(target: PYTHON_TARGET, logger, py_level, "{message}");
    } else {
        tracing::debug!(target: PYTHON_TARGET, logger, py_level, "{message}");
    }
}

/// Emits one Python log record as a tracing event with the fields
/// `logger = "<python logger name>"` and `py_level = <numeric level>`.
///
/// The tracing level follows the Python level: 40 and above is ERROR, 30 and above WARN,
/// 20 and above INFO, anything lower DEBUG.
pub fn emit(logger: &str, py_level: i64, message: &str) {
    if py_level >= ERROR {
        tracing::error!(logger, py_level, "{message}");
    } else if py_level >= WARNING {
        tracing::warn!(logger, py_level, "{message}");
    } else if py_level >= INFO {
        tracing::info!(logger, py_level, "{message}");
    } else {
        tracing::debug!(logger, py_level, "{message}");
    }
}
