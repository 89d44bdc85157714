//! `raw`: each line is shipped as it is, in `message`, with no claim about its meaning.

use super::Parser;
use crate::event::{Event, Origin, Text, Value};

/// The raw parser.
#[derive(Debug, Default)]
pub struct RawParser;

impl Parser for RawParser {
    fn parse(&self, record: String, origin: Origin, created: i64) -> Event {
        let all = Text::Original(crate::event::Slice::new(0, record.len() as u32));
        let mut event = Event::new(record, origin, created);
        event.set("event.kind", Value::Str(Text::Static("event")));
        event.set("message", Value::Str(all));
        event
    }
}
