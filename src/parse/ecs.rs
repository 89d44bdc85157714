//! `ecs`: the ECS JSON documents an auditship sink wrote (read back by the `kafka` source),
//! taken as they are: every field kept, `event.original`, `@timestamp`, `event.created` and
//! `log.*` restored as the event's own, so that writing the event gives the same document.
//!
//! The record's origin (a Kafka partition and offset) still decides the document id when the
//! message carried none: the id is made from the partition, the offset and the original text,
//! so a message read twice keeps one id.

use std::sync::Arc;

use serde_json::Value as Json;

use super::{failure, Parser};
use crate::event::{Event, Origin};
use crate::source::fingerprint::fnv1a;

/// The parser of auditship's own ECS documents.
#[derive(Debug, Default)]
pub struct EcsParser;

impl Parser for EcsParser {
    fn parse(&self, record: String, origin: Origin, created: i64) -> Event {
        let map = match serde_json::from_str(&record) {
            Ok(Json::Object(map)) => map,
            Ok(_) => {
                return failure(
                    record,
                    origin,
                    created,
                    "not an ECS document: not a JSON object",
                )
            }
            Err(e) => {
                let reason = format!("not an ECS document: invalid JSON: {e}");
                return failure(record, origin, created, &reason);
            }
        };
        let (path, offset) = crate::event::log_of(&map);
        let mut where_read = [0u8; 16];
        where_read[..8].copy_from_slice(&origin.file_id.to_le_bytes());
        where_read[8..].copy_from_slice(&origin.offset.to_le_bytes());
        let origin = Origin {
            source: origin.source,
            path: path.map(Arc::from),
            file_id: fnv1a(&where_read) | 1,
            offset,
            end: origin.end,
        };
        Event::from_document(&map, &record, origin, created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(offset: u64) -> Origin {
        Origin {
            source: Arc::from("k"),
            path: None,
            file_id: 42,
            offset,
            end: offset + 1,
        }
    }

    fn written(line: &str) -> String {
        let parser = crate::parse::for_format(
            crate::parse::Format::Keycloak,
            &crate::parse::ParseOptions::default(),
        );
        let event = parser.parse(
            line.to_owned(),
            Origin {
                source: Arc::from("in"),
                path: Some(Arc::from("/var/log/keycloak/audit.log")),
                file_id: 7,
                offset: 1234,
                end: 1300,
            },
            1_736_760_000_123,
        );
        event.to_json()
    }

    const LINE: &str = "2025-01-13 09:00:01,002 INFO  [org.keycloak.events] (executor-thread-1) type=\"LOGIN_ERROR\", realmId=\"acme\", clientId=\"portal\", userId=\"null\", ipAddress=\"203.0.113.9\", error=\"invalid_user_credentials\", username=\"alice\"";

    #[test]
    fn a_document_read_back_is_written_out_the_same() {
        let document = written(LINE);
        let event = EcsParser.parse(document.clone(), origin(5), 1);
        assert_eq!(event.to_json(), document);
        assert_eq!(event.original(), LINE);
        assert_eq!(
            event.origin.path.as_deref(),
            Some("/var/log/keycloak/audit.log")
        );
        assert_eq!(event.origin.offset, 1234);
        assert!(event.get("user.name").is_some());
    }

    #[test]
    fn the_same_message_keeps_its_id_and_another_offset_gets_another() {
        let document = written(LINE);
        let id = |offset| {
            crate::sink::elasticsearch::document_id(&EcsParser.parse(
                document.clone(),
                origin(offset),
                1,
            ))
        };
        assert_eq!(id(5), id(5));
        assert_ne!(id(5), id(6));
    }

    #[test]
    fn a_given_id_wins_over_the_one_made_from_the_origin() {
        let mut event = EcsParser.parse(written(LINE), origin(5), 1);
        assert!(event.set_given_id("f7320dfba4f751667f8acde608a99868"));
        assert_eq!(
            crate::sink::elasticsearch::document_id(&event),
            "f7320dfba4f751667f8acde608a99868"
        );
        assert!(!event.set_given_id("has\"quote"));
        assert!(!event.set_given_id(""));
    }

    #[test]
    fn a_message_that_is_not_a_document_ships_raw_with_the_reason() {
        let event = EcsParser.parse("not json".to_owned(), origin(5), 1);
        assert!(event.has_tag("audit_parse_failure"));
        assert_eq!(event.original(), "not json");
        let v: serde_json::Value = serde_json::from_str(&event.to_json()).unwrap();
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("not an ECS document"));
    }
}
