//! What the service logs, on stderr, one line per event: `escort: MESSAGE`,
//! as the command line's own messages read. `ESCORT_LOG` filters the events
//! as `RUST_LOG` does (`warn`, `escort_http=debug`); the default is `info`,
//! which a filter that does not parse also falls back to, saying so.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The variable that filters the log.
const FILTER_VARIABLE: &str = "ESCORT_LOG";
/// What is logged without a filter, or with one that does not parse.
const DEFAULT_FILTER: &str = "info";

/// Sends the libraries' events to stderr for the rest of the process.
pub fn init() {
    let (filter, refused) = match std::env::var(FILTER_VARIABLE) {
        Err(_) => (EnvFilter::new(DEFAULT_FILTER), None),
        Ok(given) => match EnvFilter::try_new(&given) {
            Ok(filter) => (filter, None),
            Err(error) => (
                EnvFilter::new(DEFAULT_FILTER),
                Some(format!(
                    "{FILTER_VARIABLE}={given:?} is not a log filter ({error}); logging at {DEFAULT_FILTER}"
                )),
            ),
        },
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Line)
        .init();
    if let Some(refused) = refused {
        tracing::warn!("{refused}");
    }
}

/// `escort: MESSAGE`, and `FIELD=VALUE` after it for any other field.
struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, context: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        writer.write_str("escort: ")?;
        context.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
