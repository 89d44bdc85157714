//! `raw`: each line is shipped as it is, in `message`, with no claim about its meaning.

use super::Parser;
use crate::event::{Event, Origin, Text, Value};

/// The raw parser.
#[derive(Debug, Default)]
pub struct RawParser;

impl Parser for RawParser {
    fn parse(&self, record: &str, origin: Origin, created: i64) -> Event {
        let mut event = Event::new(record.to_owned(), origin, created);
        event.set("event.kind", Value::Str(Text::Static("event")));
        let all = Text::within(record, record).unwrap_or(Text::Static(""));
        event.set("message", Value::Str(all));
        event
    }
}
