//! Newline-delimited ECS JSON: one object per event, each followed by `\n`.

use crate::event::Event;

/// Appends `events` to `out` as ndjson.
pub fn encode(events: &[Event], out: &mut Vec<u8>) {
    for event in events {
        event.write_json(out);
        out.push(b'\n');
    }
}
