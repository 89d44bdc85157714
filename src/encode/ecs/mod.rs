//! The ECS encoder: an event as one Elastic Common Schema JSON object, nested, keys sorted,
//! written with a plan cached per event shape (`plan.rs`). A second schema (OCSF) is one more
//! encoder beside this one.

mod plan;

use crate::event::Event;

/// Appends `event` as one ECS JSON object (no newline) to `out`; a replayed dead letter is
/// written exactly as it was.
pub fn write(event: &Event, out: &mut Vec<u8>) {
    if let Some(rendered) = event.rendered() {
        out.extend_from_slice(rendered.as_bytes());
        return;
    }
    plan::write(event, out);
}
