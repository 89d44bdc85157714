//! Newline-delimited ECS JSON: one object per event, each followed by `\n`.

use crate::event::Event;

/// Appends `events` to `out` as ndjson.
pub fn encode(events: &[Event], out: &mut Vec<u8>) {
    for event in events {
        line(event, out);
    }
}

/// Appends one event as an ndjson line.
pub fn line(event: &Event, out: &mut Vec<u8>) {
    event.write_json(out);
    out.push(b'\n');
}
