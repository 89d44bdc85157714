//! auditship's integration tests: one binary, one module per topic.

mod allocator;
mod api;
mod chain;
mod config_errors;
mod detect;
mod elasticsearch_sink;
mod faults;
mod file_source;
mod http_server;
mod http_sink;
mod kafka;
mod kafka_source;
mod live_verify;
mod parsers;
mod pipeline_delivery;
mod reload;
mod shutdown;
mod signed;
mod support;
mod syslog_sink;
mod tap;
mod transforms;
