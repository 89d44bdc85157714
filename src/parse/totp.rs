//! `totp`: the TOTP-secrets manager's `audit_logs` rows as JSON lines (FORMATS.md §4).
//!
//! `timestamp` is Unix seconds (values above 10^11 are milliseconds), a numeric string, or an
//! RFC 3339 string. `ip_address` may be an `X-Forwarded-For` chain: the first address is
//! `source.ip`, the chain is kept in `totp.ip_chain`, and a chain is tagged as spoofable.

use serde::Deserialize;

use super::borrow::Text;
use super::draft::Draft;
use super::{failure, Parser};
use crate::event::{Event, Origin};
use crate::normalize::totp::{outcome, TABLE};
use crate::normalize::{self};

/// The TOTP manager parser.
#[derive(Debug, Default, Clone, Copy)]
pub struct TotpParser;

#[derive(Deserialize)]
struct Row<'a> {
    id: Option<serde_json::Value>,
    #[serde(borrow)]
    username: Option<Text<'a>>,
    #[serde(borrow)]
    action: Option<Text<'a>>,
    #[serde(borrow)]
    resource: Option<Text<'a>>,
    #[serde(borrow)]
    details: Option<Text<'a>>,
    #[serde(borrow)]
    ip_address: Option<Text<'a>>,
    #[serde(borrow)]
    user_agent: Option<Text<'a>>,
    timestamp: Option<serde_json::Value>,
}

impl Parser for TotpParser {
    fn parse(&self, record: String, origin: Origin, created: i64) -> Event {
        match draft(&record) {
            Ok(d) => d.finish(record, origin, created),
            Err(reason) => failure(record, origin, created, &reason),
        }
    }
}

/// Epoch ms from seconds, milliseconds, a numeric string or RFC 3339.
fn timestamp(value: &serde_json::Value) -> Option<i64> {
    let from_number = |n: f64| {
        if !n.is_finite() || n < 0.0 {
            None
        } else if n > 1e11 {
            Some(n as i64)
        } else {
            Some((n * 1000.0) as i64)
        }
    };
    match value {
        serde_json::Value::Number(n) => n.as_f64().and_then(from_number),
        serde_json::Value::String(s) => match s.trim().parse::<f64>() {
            Ok(n) => from_number(n),
            Err(_) => crate::time::parse_rfc3339(s),
        },
        _ => None,
    }
}

fn draft(line: &str) -> Result<Draft, String> {
    let row: Row<'_> = serde_json::from_str(line.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("invalid JSON: {e}"))?;
    let action = row
        .action
        .as_deref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| "row without `action`".to_owned())?;
    let ts = row
        .timestamp
        .as_ref()
        .and_then(timestamp)
        .ok_or_else(|| "row without a usable `timestamp`".to_owned())?;
    let mut d = Draft::new();
    d.timestamp = Some(ts);
    d.constant("event.kind", "event");
    d.constant("event.module", "totp");
    d.constant("event.dataset", "totp.audit");
    d.constant("event.provider", "totp-manager");
    d.str("event.action", line, action);
    let mapping = normalize::lookup(&TABLE, action);
    match mapping {
        Some(mapping) => normalize::categorise(&mut d, mapping),
        None => d.tag("audit_unknown_action"),
    }
    normalize::outcome(&mut d, outcome(action, mapping.is_some()));
    match &row.id {
        Some(serde_json::Value::Number(n)) => d.owned("event.id", n.to_string()),
        Some(serde_json::Value::String(s)) => d.str("event.id", line, s),
        _ => {}
    }
    if let Some(user) = row.username.as_deref().filter(|u| !u.is_empty()) {
        d.str("user.name", line, user);
        d.push("related.user", line, user);
        if action == "password_changed" {
            d.str("user.target.name", line, user);
        }
    }
    if let Some(resource) = row
        .resource
        .as_deref()
        .filter(|r| !r.is_empty() && *r != "-")
    {
        d.str("totp.resource", line, resource);
        if let Some(id) = resource.strip_prefix("account_") {
            d.str("totp.account.id", line, id);
        } else if let Some(id) = resource.strip_prefix("api_key_") {
            d.str("totp.api_key.id", line, id);
        } else if action.starts_with("user_") {
            d.str("user.target.name", line, resource);
            d.push("related.user", line, resource);
        }
    }
    if let Some(details) = row.details.as_deref().filter(|s| !s.is_empty()) {
        d.str("message", line, details);
    }
    if let Some(agent) = row
        .user_agent
        .as_deref()
        .filter(|s| *s != "unknown" && !s.is_empty())
    {
        d.str("user_agent.original", line, agent);
    }
    if let Some(chain) = row.ip_address.as_deref() {
        let first = chain.split(',').next().unwrap_or(chain);
        normalize::ip_or_address(&mut d, line, first, "source.ip", "source.address");
        if chain.contains(',') {
            d.str("totp.ip_chain", line, chain);
            for hop in chain.split(',').skip(1) {
                if let Some(ip) = normalize::clean_ip(hop) {
                    d.push("related.ip", line, ip);
                }
            }
            d.tag("source_ip_spoofable");
        }
    }
    if action == "backup_downloaded" {
        // A bulk export of every stored secret.
        d.constant("event.severity_label", "high");
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> serde_json::Value {
        crate::parse::ecs_of(&TotpParser, line, Origin::default())
    }

    #[test]
    fn failed_login_with_forwarded_chain() {
        let v = parse(
            r#"{"id":8812,"username":"m.kaya","action":"login_failed","resource":"auth","details":"Failed login attempt for user: m.kaya","ip_address":"203.0.113.77, 10.8.0.4","user_agent":"Mozilla/5.0","timestamp":1750000123}"#,
        );
        assert_eq!(v["@timestamp"], "2025-06-15T15:08:43.000Z");
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(v["source"]["ip"], "203.0.113.77");
        assert_eq!(v["totp"]["ip_chain"], "203.0.113.77, 10.8.0.4");
        assert_eq!(v["event"]["id"], "8812");
    }

    #[test]
    fn timestamps_in_ms_strings_and_rfc3339() {
        for ts in [
            "1750000123000",
            "\"1750000123\"",
            "\"2025-06-15T15:08:43Z\"",
        ] {
            let v = parse(&format!(
                r#"{{"action":"logout","username":"a","timestamp":{ts}}}"#
            ));
            assert_eq!(v["@timestamp"], "2025-06-15T15:08:43.000Z", "{ts}");
        }
        let v = parse(r#"{"action":"logout","username":"a"}"#);
        assert_eq!(v["tags"], serde_json::json!(["audit_parse_failure"]));
    }

    #[test]
    fn unknown_actions_keep_their_name() {
        let v = parse(
            r#"{"action":"favorite_added","username":"a","resource":"account_3","timestamp":1}"#,
        );
        assert_eq!(v["event"]["action"], "favorite_added");
        assert_eq!(v["event"]["outcome"], "unknown");
        assert!(v["event"]["category"].is_null());
        assert_eq!(v["totp"]["account"]["id"], "3");
    }
}
