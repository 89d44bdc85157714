//! Tamper evidence: Dogtag's signed audit logs verified (`auditship verify`), and every shipped
//! event hash-chained.

pub mod cert;
pub mod chain;
pub mod dogtag;
pub mod live;
