//! `sap`: SAP Audit Log retrieval records, one JSON object per line (FORMATS.md §3): the Cloud
//! Foundry v2 shape (`message` an object or a JSON string) and the Neo shape (capitalised keys,
//! `2018-03-21T09.00.40.572+0000` times, free-text `Message`).
//!
//! The fields this parser reads are deserialised into borrowed structs (values without escapes
//! stay slices of the line); the varied parts (`object`, `attributes`, `data_subject`) are
//! read as `serde_json::Value`, and only for the categories that use them. The OAuth 2.0
//! service payload (`action`, `key`/`objectID`, `operation`, `tenantId`,
//! `account`) is documented only as search terms, so it is extracted by key from the decoded
//! text, whatever its nesting or quoting.

use std::borrow::Cow;

use super::draft::Draft;
use super::tape::{self, Kind, Val};
use super::{failure, Parser};
use crate::event::{Event, Origin};
use crate::normalize::sap::{oauth_object, uaa_outcome, UAA_EVENTS};
use crate::normalize::{self, Outcome};

/// The SAP audit log parser.
#[derive(Debug, Default, Clone, Copy)]
pub struct SapParser;

impl Parser for SapParser {
    fn parse(&self, record: String, origin: Origin, created: i64) -> Event {
        match draft(&record) {
            Ok(d) => d.finish(record, origin, created),
            Err(reason) => failure(record, origin, created, &reason),
        }
    }
}

/// A member's string value (anything else, like a missing member, is absent).
fn text<'a>(object: Option<Val<'_, 'a>>, key: &str) -> Option<Cow<'a, str>> {
    object?.get(key)?.str()
}

/// SAP's "no user" values.
fn is_placeholder(user: &str) -> bool {
    let u = user.trim();
    u.is_empty() || u == "UNKNOWN_USER" || u == "$USER" || u == "$PROVIDER" || u == "$SUBSCRIBER"
}

/// `2018-03-21T09.00.40.572+0000` (Neo) or RFC 3339.
fn sap_time(s: &str) -> Option<i64> {
    if let Some(ms) = crate::time::parse_rfc3339(s) {
        return Some(ms);
    }
    // Neo writes dots between hours, minutes and seconds.
    let b = s.as_bytes();
    if b.len() >= 19 && b[13] == b'.' && b[16] == b'.' {
        let mut fixed = s.to_owned();
        fixed.replace_range(13..14, ":");
        fixed.replace_range(16..17, ":");
        return crate::time::parse_rfc3339(&fixed);
    }
    None
}

fn draft(line: &str) -> Result<Draft, String> {
    let body = line.trim_start_matches('\u{feff}');
    if !body.trim_start().starts_with('{') {
        // Not an object: say what serde says of it.
        let error = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(body)
            .err()
            .map_or_else(|| "not a JSON object".to_owned(), |e| e.to_string());
        return Err(format!("invalid JSON: {error}"));
    }
    let tape = tape::read(body).map_err(|tape::Refused| tape::explain(body))?;
    let record = tape.root();
    let mut d = Draft::new();
    d.constant("event.kind", "event");
    d.constant("event.module", "sap");
    d.constant("event.dataset", "sap.auditlog");
    let r = Record::read(Some(record));
    // Neo's capitalised keys (a `null` one counts as absent).
    let neo_key = |v: Option<Val<'_, '_>>| v.is_some_and(|v| v.kind() != Kind::Null);
    if neo_key(r.neo_uuid) || neo_key(r.neo_category) {
        neo(&mut d, line, record)?;
    } else {
        cloud_foundry(&mut d, line, &r)?;
    }
    Ok(d)
}

/// Declares a struct of an object's members, each field named with the key it is read from,
/// and its `read`: every member looked up in one pass over the object (`Val::pick`).
macro_rules! members {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $key:literal),* $(,)? }) => {
        $(#[$doc])*
        struct $name<'t, 'a> {
            $($field: Option<Val<'t, 'a>>,)*
        }

        impl<'t, 'a> $name<'t, 'a> {
            fn read(object: Option<Val<'t, 'a>>) -> Self {
                let [$($field),*] = object.map_or([None; [$($key),*].len()], |o| o.pick([$($key),*]));
                $name { $($field),* }
            }
        }
    };
}

members! {
    /// The fields of a record this parser reads first.
    Record {
        message: "message",
        message_uuid: "message_uuid",
        time: "time",
        tenant: "tenant",
        org_id: "org_id",
        space_id: "space_id",
        als_service_id: "als_service_id",
        app_or_service_id: "app_or_service_id",
        user: "user",
        category: "category",
        neo_uuid: "Uuid",
        neo_category: "Category",
    }
}

members! {
    /// The fields of the Cloud Foundry `message` object this parser reads first.
    Message {
        time: "time",
        user: "user",
        ip: "ip",
        category: "category",
        data: "data",
    }
}

/// A field's string value (anything else is absent).
fn string<'a>(v: Option<Val<'_, 'a>>) -> Option<Cow<'a, str>> {
    v?.str()
}

fn cloud_foundry(d: &mut Draft, line: &str, r: &Record<'_, '_>) -> Result<(), String> {
    // `message` is an object, or a string holding JSON (read a second time).
    let decoded = string(r.message).filter(|text| text.trim_start().starts_with('{'));
    let embedded = match decoded.as_deref().map(|text| (text, tape::read(text))) {
        Some((_, Ok(tape))) => Some(tape),
        // The embedded object follows the same rule as the line: no key twice.
        Some((text, Err(tape::Refused))) => match super::json::duplicate_key(text) {
            Some(dup) => return Err(format!("duplicate JSON key `{dup}` in `message`")),
            None => None,
        },
        None => None,
    };
    let message = match r.message {
        Some(m) if m.kind() == Kind::Object => Some(m),
        _ => embedded.as_ref().map(tape::Tape::root),
    };
    let m = Message::read(message);
    let time = string(m.time)
        .as_deref()
        .and_then(sap_time)
        .or_else(|| string(r.time).as_deref().and_then(sap_time))
        .ok_or_else(|| "record without a usable `time`".to_owned())?;
    d.timestamp = Some(time);
    if let Some(id) = string(r.message_uuid) {
        d.str("event.id", line, &id);
    }
    if let Some(t) = string(r.tenant) {
        d.str("organization.id", line, &t);
    }
    for (value, name) in [
        (r.org_id, "sap.org_id"),
        (r.space_id, "sap.space_id"),
        (r.als_service_id, "sap.als_service_id"),
    ] {
        if let Some(v) = string(value).filter(|v| !v.is_empty()) {
            d.str(name, line, &v);
        }
    }
    match string(r.app_or_service_id).filter(|v| !v.is_empty()) {
        Some(p) => d.str("event.provider", line, &p),
        None => d.constant("event.provider", "sap-audit-log"),
    }
    let actor = string(m.user)
        .filter(|u| !is_placeholder(u))
        .or_else(|| string(r.user).filter(|u| !is_placeholder(u)));
    if let Some(u) = actor {
        normalize::user(d, "user.name", line, &u);
    }
    if let Some(ip) = string(m.ip) {
        normalize::ip_or_address(d, line, &ip, "source.ip", "source.address");
    }
    let category = string(m.category)
        .or_else(|| string(r.category))
        .unwrap_or_default();
    d.str("event.code", line, &category);
    let data = string(m.data).unwrap_or_default();
    categorise(d, line, &category, message, &data);
    Ok(())
}

fn neo(d: &mut Draft, line: &str, r: Val<'_, '_>) -> Result<(), String> {
    let r = Some(r);
    let time = text(r, "Time")
        .as_deref()
        .and_then(sap_time)
        .ok_or_else(|| "record without a usable `Time`".to_owned())?;
    d.timestamp = Some(time);
    if let Some(id) = text(r, "Uuid") {
        d.str("event.id", line, &id);
    }
    if let Some(t) = text(r, "Tenant") {
        d.str("organization.id", line, &t);
    }
    if let Some(a) = text(r, "Account") {
        d.str("cloud.account.id", line, &a);
    }
    match text(r, "Application").filter(|v| !v.is_empty()) {
        Some(p) => d.str("event.provider", line, &p),
        None => d.constant("event.provider", "sap-audit-log"),
    }
    if let Some(user) = text(r, "User") {
        // "<A> on behalf of <B>": A is who the service authenticated, B was asserted.
        let (actor, behalf) = match user.split_once("on behalf of ") {
            Some((a, b)) => (a.trim(), Some(b.trim())),
            None => (user.trim(), None),
        };
        let actor = if actor.is_empty() {
            behalf.unwrap_or("")
        } else {
            actor
        };
        if !is_placeholder(actor) {
            normalize::user(d, "user.name", line, actor);
        }
        if let Some(b) = behalf.filter(|b| !b.is_empty()) {
            d.str("sap.on_behalf_of", line, b);
        }
    }
    let category = text(r, "Category").unwrap_or_default();
    d.str("event.code", line, &category);
    let message = text(r, "Message").unwrap_or_default();
    if !message.is_empty() {
        d.str("message", line, &message);
    }
    categorise(d, line, &category, None, &message);
    Ok(())
}

/// The category policy of §3.5.
fn categorise(d: &mut Draft, line: &str, category: &str, message: Option<Val<'_, '_>>, data: &str) {
    // The first two dotted parts (`audit.security-events.oauth` → `audit.security-events`).
    let base = match memchr::memchr_iter(b'.', category.as_bytes()).nth(1) {
        Some(second) => &category[..second],
        None => category,
    };
    match base {
        "audit.security-events" => security(d, line, data),
        "audit.configuration" => {
            d.constant("event.action", "configuration-change");
            d.push_constant("event.category", "configuration");
            let attrs = message.and_then(|m| m.get_kind("attributes", Kind::Array));
            let has = |k: &str| attrs.is_some_and(|a| a.children().any(|x| x.get(k).is_some()));
            let kind = match (has("new"), has("old")) {
                (true, false) => "creation",
                (false, true) => "deletion",
                _ => "change",
            };
            d.push_constant("event.type", kind);
            object(d, line, message);
            normalize::outcome(d, stated(message));
        }
        "audit.data-access" => {
            d.constant("event.action", "data-access");
            d.push_constant("event.category", "database");
            d.push_constant("event.type", "access");
            object(d, line, message);
            let mut outcome = stated(message);
            if outcome == Outcome::Unknown {
                outcome = attribute_success(message);
            }
            normalize::outcome(d, outcome);
        }
        "audit.data-modification" => {
            d.constant("event.action", "data-modification");
            d.push_constant("event.category", "database");
            d.push_constant("event.type", "change");
            object(d, line, message);
            normalize::outcome(d, stated(message));
        }
        _ => {
            d.str(
                "event.action",
                line,
                if category.is_empty() {
                    "unknown"
                } else {
                    category
                },
            );
            d.tag("audit_unknown_action");
            normalize::outcome(d, Outcome::Unknown);
        }
    }
}

/// `success` (absent: an "intention", logged before the action).
fn stated(message: Option<Val<'_, '_>>) -> Outcome {
    match message.and_then(|m| m.get("success")).and_then(Val::bool) {
        Some(true) => Outcome::Success,
        Some(false) => Outcome::Failure,
        None => Outcome::Unknown,
    }
}

/// Data access: every attribute `successful` → success, any false → failure.
fn attribute_success(message: Option<Val<'_, '_>>) -> Outcome {
    let Some(attrs) = message.and_then(|m| m.get_kind("attributes", Kind::Array)) else {
        return Outcome::Unknown;
    };
    let flags: Vec<bool> = attrs
        .children()
        .filter_map(|a| {
            a.get("successful")
                .or_else(|| a.get("successfull"))
                .and_then(Val::bool)
        })
        .collect();
    if flags.is_empty() {
        Outcome::Unknown
    } else if flags.iter().all(|f| *f) {
        Outcome::Success
    } else {
        Outcome::Failure
    }
}

/// `object`, `attributes` and `data_subject` into the `sap.*` namespace.
fn object(d: &mut Draft, line: &str, message: Option<Val<'_, '_>>) {
    let Some(m) = message else { return };
    if let Some(obj) = m.get_kind("object", Kind::Object) {
        if let Some(t) = text(Some(obj), "type") {
            d.str("sap.object.type", line, &t);
        }
        if let Some(ids) = obj.get_kind("id", Kind::Object) {
            for (k, v) in ids.members() {
                if let Some(v) = v.str() {
                    d.dynamic("sap.object.id", line, &k, &v);
                }
            }
        }
    }
    if let Some(attrs) = m.get_kind("attributes", Kind::Array) {
        for a in attrs.children() {
            if let Some(name) = text(Some(a), "name") {
                d.push("sap.attributes", line, &name);
            }
            if let Some(new) = text(Some(a), "new") {
                d.push("sap.attributes_new", line, &new);
            }
        }
    }
    if let Some(subject) = m.get_kind("data_subject", Kind::Object) {
        for key in ["type", "role"] {
            if let Some(v) = text(Some(subject), key) {
                d.dynamic("sap.data_subject", line, key, &v);
            }
        }
        if let Some(ids) = subject.get_kind("id", Kind::Object) {
            for (k, v) in ids.members() {
                if let Some(v) = v.str() {
                    d.dynamic("sap.data_subject.id", line, &k, &v);
                }
            }
        }
    }
}

/// Security events: UAA messages, OAuth 2.0 service payloads, or anything else.
fn security(d: &mut Draft, line: &str, data: &str) {
    let unquoted = unescape_quotes(data);
    let payload = Payload::locate(&unquoted);
    if let Some(action) = payload.value(PayloadKey::Action) {
        let subject = payload
            .value(PayloadKey::Key)
            .or_else(|| payload.value(PayloadKey::ObjectId));
        if let Some(subject) = subject {
            oauth(d, &payload, &action, &subject);
            return;
        }
    }
    if let Some(uaa) = uaa_message(&payload) {
        d.owned("event.action", uaa.name.clone());
        if let Some(mapping) = normalize::lookup(&UAA_EVENTS, &uaa.name) {
            normalize::categorise(d, mapping);
            normalize::outcome(d, uaa_outcome(&uaa.name));
        } else {
            d.push_constant("event.category", "iam");
            d.push_constant("event.type", "info");
            normalize::outcome(d, Outcome::Unknown);
        }
        if let Some(ip) = uaa.remote_address {
            normalize::ip_or_address(d, line, &ip, "source.ip", "source.address");
        }
        if let Some(c) = uaa.client_id {
            d.owned("sap.oauth.client_id", c);
        }
        return;
    }
    d.constant("event.action", "security-event");
    d.push_constant("event.category", "iam");
    d.push_constant("event.type", "info");
    normalize::outcome(d, Outcome::Unknown);
    if !data.is_empty() {
        d.str("message", line, data);
    }
}

/// `<action>-<object>` from `"action":"create"` and `"key":"Creating access token: X7pQa"`.
fn oauth(d: &mut Draft, payload: &Payload<'_>, action: &str, subject: &str) {
    let (head, tail) = subject.split_once(':').unwrap_or((subject, ""));
    // "Creating access token" → "access token"; the verb is the first word.
    let object = head
        .trim()
        .split_once(' ')
        .map_or("", |(_, o)| o)
        .trim()
        .to_ascii_lowercase();
    let action = action.trim();
    let mut name = String::with_capacity(action.len() + 1 + object.len());
    name.push_str(action);
    name.make_ascii_lowercase();
    // `<action>-<object in kebab case>`.
    name.push('-');
    for (n, word) in object.split_whitespace().enumerate() {
        if n > 0 {
            name.push('-');
        }
        name.push_str(word);
    }
    let mapping = oauth_object(&object, &name[..action.len()]);
    d.owned("event.action", name);
    normalize::categorise(d, mapping);
    // The service logs after the fact in practice, but nothing in the record says so.
    normalize::outcome(d, Outcome::Unknown);
    let value = tail
        .trim()
        .trim_matches(|c: char| c == '"' || c.is_whitespace());
    if object.contains("client") {
        if !value.is_empty() {
            d.str("sap.oauth.client_id", "", value);
        }
    } else if !value.is_empty() {
        // SAP keeps only the first 5 characters of a token: not a secret, kept as written.
        let end = value.char_indices().nth(5).map_or(value.len(), |(i, _)| i);
        d.str("sap.oauth.token_prefix", "", &value[..end]);
    }
    d.owned("sap.oauth.object", object);
    for (key, field) in [
        (PayloadKey::Operation, "sap.oauth.operation"),
        (PayloadKey::TenantId, "sap.oauth.tenant_id"),
        (PayloadKey::Account, "sap.oauth.account"),
    ] {
        if let Some(v) = payload.value(key) {
            d.str(field, "", &v);
        }
    }
}

/// The payload keys the parser reads.
#[derive(Clone, Copy)]
enum PayloadKey {
    Action,
    Key,
    ObjectId,
    Operation,
    TenantId,
    Account,
    Message,
}

impl PayloadKey {
    /// How many keys there are (`Message` is the last).
    const COUNT: usize = PayloadKey::Message as usize + 1;

    fn named(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"action" => PayloadKey::Action,
            b"key" => PayloadKey::Key,
            b"objectID" => PayloadKey::ObjectId,
            b"operation" => PayloadKey::Operation,
            b"tenantId" => PayloadKey::TenantId,
            b"account" => PayloadKey::Account,
            b"message" => PayloadKey::Message,
            _ => return None,
        })
    }
}

/// A security event's payload with where each key's first `"key"` ends, found in one pass
/// over its quotes.
struct Payload<'a> {
    text: &'a str,
    after: [Option<usize>; PayloadKey::COUNT],
}

impl<'a> Payload<'a> {
    fn locate(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let mut after = [None; PayloadKey::COUNT];
        // Each quote with the next one: is the text between them a key's name?
        let mut quotes = memchr::memchr_iter(b'"', bytes);
        let mut open = quotes.next();
        while let Some(q) = open {
            let close = quotes.next();
            let Some(e) = close else { break };
            if let Some(key) = PayloadKey::named(&bytes[q + 1..e]) {
                after[key as usize].get_or_insert(e + 1);
            }
            open = close;
        }
        Payload { text, after }
    }

    /// The string value of `"key": "..."`, tolerant of stray quotes around it; borrowed when
    /// it needs no clean-up.
    fn value(&self, key: PayloadKey) -> Option<Cow<'a, str>> {
        let at = self.after[key as usize]?;
        value_after(&self.text[at..])
    }
}

/// Removes backslashes before quotes, however deep the payload was JSON-in-a-string.
fn unescape_quotes(s: &str) -> Cow<'_, str> {
    if memchr::memchr(b'\\', s.as_bytes()).is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let mut run = 1;
            while chars.peek() == Some(&'\\') {
                chars.next();
                run += 1;
            }
            if chars.peek() == Some(&'"') {
                continue;
            }
            out.extend(std::iter::repeat_n('\\', run));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The value that follows a key (`: "..."`), up to the first `",`, `"}` or `" }`.
fn value_after(text: &str) -> Option<Cow<'_, str>> {
    let rest = text.trim_start().strip_prefix(':')?;
    let rest = rest.trim_start_matches(|c: char| c == '"' || c.is_whitespace());
    // The value ends at the first `",`, `"}` or `" }`.
    let rb = rest.as_bytes();
    let end = memchr::memchr_iter(b'"', rb)
        .find(|&q| matches!(rb.get(q + 1), Some(b',' | b'}')) || rb[q + 1..].starts_with(b" }"))
        .unwrap_or(rest.len());
    let raw = &rest[..end];
    if is_tidy(raw) {
        return Some(Cow::Borrowed(raw));
    }
    let value: String = raw.chars().filter(|c| *c != '"').collect();
    let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
    (!value.is_empty()).then_some(Cow::Owned(value))
}

/// Whether `raw` is already what [`value_after`]'s clean-up makes of it: not empty, ASCII, no
/// quotes, no whitespace but single spaces between words.
fn is_tidy(raw: &str) -> bool {
    let b = raw.as_bytes();
    let mut previous_space = true;
    for &c in b {
        let space = c == b' ';
        if c >= 0x80
            || c == b'"'
            || (c.is_ascii_whitespace() && !space)
            || (space && previous_space)
        {
            return false;
        }
        previous_space = space;
    }
    !previous_space
}

struct Uaa {
    name: String,
    remote_address: Option<String>,
    client_id: Option<String>,
}

/// `<UaaEventName> ('<desc>'): principal=..., origin=[remoteAddress=.., clientId=..], ...`
fn uaa_message(payload: &Payload<'_>) -> Option<Uaa> {
    let message = payload.value(PayloadKey::Message)?;
    let name: String = message
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    if name.is_empty() || !message[name.len()..].trim_start().starts_with("('") {
        return None;
    }
    let field = |key: &str| {
        let at = message.find(key)? + key.len();
        let v: String = message[at..]
            .chars()
            .take_while(|c| !matches!(c, ',' | ']' | ' '))
            .collect();
        (!v.is_empty()).then_some(v)
    };
    Some(Uaa {
        name,
        remote_address: field("remoteAddress="),
        client_id: field("clientId="),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn a_tidy_value_is_one_the_clean_up_would_not_change(raw in "[a-z \t\"é\u{b}]{0,8}") {
            // The one-pass check against its definition.
            let defined = raw
                .bytes()
                .all(|b| b.is_ascii() && b != b'"' && (b == b' ' || !b.is_ascii_whitespace()))
                && !raw.starts_with(' ')
                && !raw.ends_with(' ')
                && !raw.contains("  ")
                && !raw.is_empty();
            proptest::prop_assert_eq!(is_tidy(&raw), defined);
        }
    }

    fn parse(line: &str) -> serde_json::Value {
        crate::parse::ecs_of(&SapParser, line, Origin::default())
    }

    #[test]
    fn oauth_token_creation_in_a_data_string() {
        let v = parse(
            r#"{"message_uuid":"9f1e","time":"2025-01-20T06:41:09.512Z","tenant":"c0ffee00","app_or_service_id":"oauth-svc-01","user":"ci-runner","category":"audit.security-events","message":{"uuid":"1111","user":"ci-runner","time":"2025-01-20T06:41:09.512Z","ip":"10.1.1.9","data":"{\"action\":\"create\",\"key\":\"Creating access token: X7pQa\",\"tenantId\":\"c0ffee00\"}","category":"audit.security-events","tenant":"$PROVIDER"}}"#,
        );
        assert_eq!(v["event"]["action"], "create-access-token");
        assert_eq!(v["sap"]["oauth"]["token_prefix"], "X7pQa");
        assert_eq!(v["event"]["outcome"], "unknown");
        assert_eq!(v["organization"]["id"], "c0ffee00");
        assert_eq!(v["source"]["ip"], "10.1.1.9");
    }

    #[test]
    fn neo_times_users_on_behalf_and_nested_quotes() {
        let v = parse(
            r#"{"Uuid":"4c4c4c-18d2e3f4a5b-1f","Category":"audit.security-events","User":"p2099001 on behalf of s.ops","Tenant":"neo-t-42","Account":"corpprod","Application":"oauthas","Time":"2019-11-05T22.10.03.004+0000","Message":"Security event message. Security event: \"{\\\"action\\\":\\\"delete\\\",\\\"key\\\":\\\"Deleting cloud access token: Q0wEr\\\"}\"","InstanceId":null,"FormatVersion":"2.2"}"#,
        );
        assert_eq!(v["@timestamp"], "2019-11-05T22:10:03.004Z");
        assert_eq!(v["event"]["action"], "delete-cloud-access-token");
        assert_eq!(v["user"]["name"], "p2099001");
        assert_eq!(v["sap"]["on_behalf_of"], "s.ops");
        assert_eq!(v["sap"]["oauth"]["token_prefix"], "Q0wEr");
    }

    #[test]
    fn a_key_twice_inside_a_message_string_is_malformed() {
        let v = parse(
            r#"{"message_uuid":"9f1e","time":"2025-01-20T06:41:09.512Z","category":"audit.security-events","message":"{\"user\":\"alice\",\"user\":\"root\",\"time\":\"2025-01-20T06:41:09.512Z\"}"}"#,
        );
        assert_eq!(v["tags"], serde_json::json!(["audit_parse_failure"]));
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`user` in `message`"));
    }

    #[test]
    fn a_lone_surrogate_in_any_field_makes_the_record_malformed() {
        let v = parse(
            r#"{"message_uuid":"9f1e","time":"2025-01-20T06:41:09.512Z","category":"audit.security-events","unread":"\ud800","message":{"user":"alice","time":"2025-01-20T06:41:09.512Z"}}"#,
        );
        assert_eq!(v["tags"], serde_json::json!(["audit_parse_failure"]));
        let reason = v["error"]["message"].as_str().unwrap();
        assert!(reason.contains("hex escape"), "{reason}");
        assert!(reason.contains("column"), "{reason}");
    }

    #[test]
    fn configuration_change_with_only_new_values_is_a_creation() {
        let v = parse(
            r#"{"message_uuid":"0d0d","time":"2025-01-20T06:45:00.000Z","tenant":"c0ffee00","user":"sec.admin@corp.test","category":"audit.configuration","message":{"user":"sec.admin@corp.test","time":"2025-01-20T06:45:00.000Z","category":"audit.configuration","tenant":"$PROVIDER","object":{"type":"xsrolecollections","id":{"crudType":"CREATE"}},"attributes":[{"name":"name","new":"Auditors EU"}],"success":true}}"#,
        );
        assert_eq!(v["event"]["type"], serde_json::json!(["creation"]));
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["sap"]["object"]["type"], "xsrolecollections");
    }
}
