//! The fault suite: every way auditship was found to lose, stall or leak under faults, each
//! reproduced through the real binary (rotations, restarts, SIGKILL, receivers that refuse,
//! hang or reset). Every loop is bounded; network tests use loopback only.

mod clock;
mod dead_letters;
mod disk;
mod ids;
mod input;
mod kills;
mod process;
mod receivers;
mod rotation;
mod secrets;
mod stalls;
