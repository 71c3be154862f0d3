use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Logs go to stderr: human-readable on a terminal, one JSON object per line otherwise (for log
/// shippers). `RUST_LOG` sets the filter (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().with_current_span(true).init();
    }
}
