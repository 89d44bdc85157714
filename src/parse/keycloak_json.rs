//! Keycloak's JSON layouts (REST representations, Quarkus JSON log records): the members the
//! parser reads. A plain line (compact; every key one of the members below, each given once;
//! every string without an escape; every number an integer of at most 18 digits) is read
//! without `serde_json`: one pass over its bytes, eight at a time, finds its quotes (and
//! whether it holds any escape or control character), then its members are read from quote
//! to quote, the strings borrowed from the line. Any other line goes to
//! `serde_json`, which reads it the same way or says what is wrong with it: a property test
//! holds the two readings equal. `serde_json` took about 7,000 instructions for a 420-byte
//! REST event, a fifth of its whole path to a compressed `_bulk` body.

use std::borrow::Cow;

use serde::Deserialize;

use super::borrow::{StringMap, Text};
use crate::encode::escape::{flags, quotes, word};

/// `line` read into `into` (a default [`Json`]): in one pass when it is plain, else by
/// `serde_json`. Filled in place: the struct is 872 bytes, and moving it out of a
/// reader through `Option`, `Result` and `?` took four copies of it per event (1.6 % of the
/// Keycloak scenario's cycles in `perf`).
///
/// # Errors
/// When the line is not a JSON object, or a member read here has a value of another type or
/// is given twice (`serde_json`'s message). `into` is then left half filled.
pub(super) fn read<'a>(line: &'a str, into: &mut Json<'a>) -> Result<(), String> {
    if fill_plain(line, into) {
        return Ok(());
    }
    *into = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(())
}

/// The JSON layouts: REST representations and Quarkus JSON log records.
#[derive(Deserialize, Default, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(super) struct Json<'a> {
    #[serde(borrow)]
    pub(super) id: Option<Text<'a>>,
    pub(super) time: Option<i64>,
    #[serde(rename = "type", borrow)]
    pub(super) kind: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) operation_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) realm_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) realm_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) client_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) user_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) session_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) ip_address: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) error: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) resource_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) resource_path: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) representation: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) details: Option<StringMap<'a>>,
    #[serde(borrow)]
    pub(super) auth_details: Option<AuthDetails<'a>>,
    // JSON log layouts (default and ECS field names).
    #[serde(borrow)]
    pub(super) timestamp: Option<Text<'a>>,
    #[serde(rename = "@timestamp", borrow)]
    pub(super) at_timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) logger_name: Option<Text<'a>>,
    #[serde(rename = "log.logger", borrow)]
    pub(super) log_logger: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) level: Option<Text<'a>>,
    #[serde(rename = "log.level", borrow)]
    pub(super) log_level: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) message: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) thread_name: Option<Text<'a>>,
    #[serde(rename = "process.thread.name", borrow)]
    pub(super) process_thread_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) host_name: Option<Text<'a>>,
    #[serde(rename = "host.hostname", borrow)]
    pub(super) host_hostname: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) stack_trace: Option<Text<'a>>,
    pub(super) sequence: Option<i64>,
    #[serde(rename = "event.sequence")]
    pub(super) event_sequence: Option<i64>,
    pub(super) process_id: Option<i64>,
    #[serde(rename = "process.pid")]
    pub(super) process_pid: Option<i64>,
    #[serde(borrow)]
    pub(super) process_name: Option<Text<'a>>,
    #[serde(rename = "process.name", borrow)]
    pub(super) process_name_ecs: Option<Text<'a>>,
}

#[derive(Deserialize, Default, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuthDetails<'a> {
    #[serde(borrow)]
    pub(super) realm_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) realm_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) client_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) user_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub(super) ip_address: Option<Text<'a>>,
}

/// For the `keycloak_json` fuzz target and the property test: what the one-pass reader reads,
/// `serde_json` must read the same.
///
/// # Panics
/// When the one-pass reader reads `line` and `serde_json` refuses it or reads it otherwise.
pub(crate) fn check_against_serde(line: &str) {
    if let Some(ours) = plain(line) {
        match serde_json::from_str::<Json<'_>>(line) {
            Ok(theirs) => assert_eq!(ours, theirs, "{line:?}"),
            Err(e) => panic!("read in one pass, refused by serde_json ({e}): {line:?}"),
        }
    }
}

/// `line` read in one pass; `None` when it is not plain (see the module's note).
fn plain(line: &str) -> Option<Json<'_>> {
    let mut j = Json::default();
    fill_plain(line, &mut j).then_some(j)
}

/// `line` read in one pass into `j` (a default [`Json`]); false when it is not plain, and
/// `j` then half filled.
fn fill_plain<'a>(line: &'a str, j: &mut Json<'a>) -> bool {
    let mut found = [0u32; MAX_QUOTES];
    let Some(count) = find_quotes(line.as_bytes(), &mut found) else {
        return false;
    };
    let mut c = Cursor {
        text: line,
        at: 0,
        quotes: &found[..count],
        next: 0,
    };
    let mut seen = Seen::default();
    let read = c.object(|c, key| {
        match key {
            "id" => j.id = seen.once(0).and_then(|()| c.text())?,
            "time" => j.time = seen.once(1).and_then(|()| c.int())?,
            "type" => j.kind = seen.once(2).and_then(|()| c.text())?,
            "operationType" => j.operation_type = seen.once(3).and_then(|()| c.text())?,
            "realmId" => j.realm_id = seen.once(4).and_then(|()| c.text())?,
            "realmName" => j.realm_name = seen.once(5).and_then(|()| c.text())?,
            "clientId" => j.client_id = seen.once(6).and_then(|()| c.text())?,
            "userId" => j.user_id = seen.once(7).and_then(|()| c.text())?,
            "sessionId" => j.session_id = seen.once(8).and_then(|()| c.text())?,
            "ipAddress" => j.ip_address = seen.once(9).and_then(|()| c.text())?,
            "error" => j.error = seen.once(10).and_then(|()| c.text())?,
            "resourceType" => j.resource_type = seen.once(11).and_then(|()| c.text())?,
            "resourcePath" => j.resource_path = seen.once(12).and_then(|()| c.text())?,
            "representation" => j.representation = seen.once(13).and_then(|()| c.text())?,
            "details" => j.details = seen.once(14).and_then(|()| c.details())?,
            "authDetails" => j.auth_details = seen.once(15).and_then(|()| c.auth_details())?,
            "timestamp" => j.timestamp = seen.once(16).and_then(|()| c.text())?,
            "@timestamp" => j.at_timestamp = seen.once(17).and_then(|()| c.text())?,
            "loggerName" => j.logger_name = seen.once(18).and_then(|()| c.text())?,
            "log.logger" => j.log_logger = seen.once(19).and_then(|()| c.text())?,
            "level" => j.level = seen.once(20).and_then(|()| c.text())?,
            "log.level" => j.log_level = seen.once(21).and_then(|()| c.text())?,
            "message" => j.message = seen.once(22).and_then(|()| c.text())?,
            "threadName" => j.thread_name = seen.once(23).and_then(|()| c.text())?,
            "process.thread.name" => {
                j.process_thread_name = seen.once(24).and_then(|()| c.text())?;
            }
            "hostName" => j.host_name = seen.once(25).and_then(|()| c.text())?,
            "host.hostname" => j.host_hostname = seen.once(26).and_then(|()| c.text())?,
            "stackTrace" => j.stack_trace = seen.once(27).and_then(|()| c.text())?,
            "sequence" => j.sequence = seen.once(28).and_then(|()| c.int())?,
            "event.sequence" => j.event_sequence = seen.once(29).and_then(|()| c.int())?,
            "processId" => j.process_id = seen.once(30).and_then(|()| c.int())?,
            "process.pid" => j.process_pid = seen.once(31).and_then(|()| c.int())?,
            "processName" => j.process_name = seen.once(32).and_then(|()| c.text())?,
            "process.name" => j.process_name_ecs = seen.once(33).and_then(|()| c.text())?,
            // A member the parser does not read: `serde_json` skips its value, whatever it is.
            _ => return Err(NotPlain),
        }
        Ok(())
    });
    // Anything after the object (even white space): `serde_json`'s to judge.
    read.is_ok() && c.at == line.len()
}

/// Quotes a plain line may hold: a Keycloak REST event has 40 to 80.
const MAX_QUOTES: usize = 256;

/// The places of the quotes of `bytes`, in `found`; how many. `None` when `bytes` holds a
/// backslash or a control character (an escape, or white space `serde_json` is to judge), or
/// more quotes than `found` holds.
fn find_quotes(bytes: &[u8], found: &mut [u32; MAX_QUOTES]) -> Option<usize> {
    let mut n = 0;
    let mut put = |at: usize| -> Option<()> {
        *found.get_mut(n)? = u32::try_from(at).ok()?;
        n += 1;
        Some(())
    };
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let w = word(w);
        let mut mask = flags(w);
        if mask != 0 {
            if mask != quotes(w) {
                return None;
            }
            while mask != 0 {
                put(at + (mask.trailing_zeros() / 8) as usize)?;
                mask &= mask - 1;
            }
        }
        at += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        match b {
            b'"' => put(at + i)?,
            b'\\' | 0..0x20 => return None,
            _ => {}
        }
    }
    Some(n)
}

/// A line that is not plain (see the module's note): `serde_json` is to read it.
struct NotPlain;

/// The members read so far, one bit each: a member given twice is `serde_json`'s to refuse.
/// A key always finds its own bit, so a repeat is always seen; two members sharing a bit by
/// mistake would only send lines holding both to `serde_json`.
#[derive(Default)]
struct Seen(u64);

impl Seen {
    /// [`NotPlain`] when member `bit` was seen before.
    fn once(&mut self, bit: u32) -> Result<(), NotPlain> {
        let mask = 1u64 << bit;
        if self.0 & mask != 0 {
            return Err(NotPlain);
        }
        self.0 |= mask;
        Ok(())
    }
}

/// A position in a plain line being read.
struct Cursor<'a, 'q> {
    text: &'a str,
    at: usize,
    /// The line's quotes: in a line without escapes, each string is from one to the next.
    quotes: &'q [u32],
    /// The next string's opening quote in `quotes`.
    next: usize,
}

impl<'a> Cursor<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Steps over `b`; `None` when the next byte is not `b`.
    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.at += 1)
    }

    /// Steps over `null` when it comes next.
    fn null(&mut self) -> bool {
        let next = self.text.as_bytes().get(self.at..self.at + 4);
        if next == Some(b"null") {
            self.at += 4;
            true
        } else {
            false
        }
    }

    /// The string that starts here, borrowed; `None` when none does.
    fn string(&mut self) -> Option<&'a str> {
        let open = *self.quotes.get(self.next)? as usize;
        if open != self.at {
            return None;
        }
        let close = *self.quotes.get(self.next + 1)? as usize;
        self.next += 2;
        self.at = close + 1;
        // Both ends are next to a quote: character boundaries.
        self.text.get(open + 1..close)
    }

    /// `null`, or a plain string.
    fn text(&mut self) -> Result<Option<Text<'a>>, NotPlain> {
        if self.null() {
            return Ok(None);
        }
        Ok(Some(Text(Cow::Borrowed(self.string().ok_or(NotPlain)?))))
    }

    /// `null`, or an integer in JSON's grammar of at most 18 digits (so within `i64`), not
    /// `-0`. A fraction or an exponent stops the member's value short, and the object then
    /// refuses the byte after it.
    fn int(&mut self) -> Result<Option<i64>, NotPlain> {
        if self.null() {
            return Ok(None);
        }
        let bytes = self.text.as_bytes();
        let negative = bytes.get(self.at) == Some(&b'-');
        let from = self.at + usize::from(negative);
        let digits = bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        // `-0` too: `serde_json` reads it as a float (its sign kept), and refuses it.
        if digits == 0 || digits > 18 || (bytes[from] == b'0' && (digits > 1 || negative)) {
            return Err(NotPlain);
        }
        let end = from + digits;
        let n = bytes[from..end]
            .iter()
            .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
        self.at = end;
        Ok(Some(if negative { -n } else { n }))
    }

    /// An object whose members `member` reads (called with each key, before its value).
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str) -> Result<(), NotPlain>,
    ) -> Result<(), NotPlain> {
        self.eat(b'{').ok_or(NotPlain)?;
        if self.eat(b'}').is_some() {
            return Ok(());
        }
        loop {
            let key = self.string().ok_or(NotPlain)?;
            self.eat(b':').ok_or(NotPlain)?;
            member(self, key)?;
            match self.peek().ok_or(NotPlain)? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(NotPlain),
            }
        }
    }

    /// `null`, or an object of plain strings and `null`s.
    fn details(&mut self) -> Result<Option<StringMap<'a>>, NotPlain> {
        if self.null() {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(8);
        self.object(|c, key| {
            let value = c.text()?.map(|t| t.0);
            entries.push((Cow::Borrowed(key), value));
            Ok(())
        })?;
        Ok(Some(StringMap::from_entries(entries)))
    }

    /// `null`, or an object of the members of [`AuthDetails`].
    fn auth_details(&mut self) -> Result<Option<AuthDetails<'a>>, NotPlain> {
        if self.null() {
            return Ok(None);
        }
        let mut a = AuthDetails::default();
        let mut seen = Seen::default();
        self.object(|c, key| {
            match key {
                "realmId" => a.realm_id = seen.once(0).and_then(|()| c.text())?,
                "realmName" => a.realm_name = seen.once(1).and_then(|()| c.text())?,
                "clientId" => a.client_id = seen.once(2).and_then(|()| c.text())?,
                "userId" => a.user_id = seen.once(3).and_then(|()| c.text())?,
                "ipAddress" => a.ip_address = seen.once(4).and_then(|()| c.text())?,
                _ => return Err(NotPlain),
            }
            Ok(())
        })?;
        Ok(Some(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_serde(line: &str) -> Result<Json<'_>, serde_json::Error> {
        serde_json::from_str(line)
    }

    /// [`super::read`] into a new struct.
    fn read(line: &str) -> Result<Json<'_>, String> {
        let mut j = Json::default();
        super::read(line, &mut j).map(|()| j)
    }

    #[test]
    fn json_values_without_escapes_are_slices_of_the_line() {
        let line = r#"{"type":"LOGIN","realmId":"corp","ipAddress":"10.0.0.1","error":"a\"b","details":{"username":"alice","code_id":"x\ny"}}"#;
        let j = by_serde(line).unwrap();
        assert!(matches!(j.kind, Some(Text(Cow::Borrowed("LOGIN")))));
        assert!(matches!(j.realm_id, Some(Text(Cow::Borrowed("corp")))));
        assert!(matches!(
            j.ip_address,
            Some(Text(Cow::Borrowed("10.0.0.1")))
        ));
        // A value with an escape cannot be a slice: it is unescaped into its own string.
        assert!(matches!(&j.error, Some(Text(Cow::Owned(s))) if s == "a\"b"));
        let details = j.details.unwrap();
        let (key, value) = details.iter().find(|(k, _)| *k == "username").unwrap();
        assert!(matches!(key, Cow::Borrowed(_)));
        assert!(matches!(value, Some(Cow::Borrowed("alice"))));
        assert_eq!(
            details.get("code_id").cloned().flatten().as_deref(),
            Some("x\ny")
        );
        assert!(j.user_id.is_none(), "a missing field is absent");
    }

    #[test]
    fn plain_rest_events_are_read_in_one_pass_as_serde_reads_them() {
        let lines = [
            r#"{"time":1732233600128,"type":"LOGIN","realmId":"partners","clientId":"mobile-app","userId":"bd9c66b3","sessionId":"972a8469","ipAddress":"10.216.16.8","details":{"auth_method":"openid-connect","username":"dave285","code_id":"815e","username":"last"}}"#,
            r#"{"id":"6d7e","time":-10,"type":"LOGIN","realmId":"7b0c","userId":null,"error":null,"details":{}}"#,
            r#"{"time":1748942445300,"realmId":"7b0c","authDetails":{"realmId":"m","clientId":"security-admin-console","userId":"0f0e","ipAddress":"192.0.2.33"},"operationType":"DELETE","resourceType":"CLIENT","resourcePath":"clients/9a8b","error":null}"#,
            concat!(
                r#"{"@timestamp":"2025-06-03T09:14:23.5Z","event.sequence":40212,"#,
                r#""log.logger":"org.keycloak.events","message":"ünïcödé 日本 "#,
                "\u{7f}",
                r#"","process.pid":1,"details":null,"authDetails":null}"#
            ),
            "{}",
        ];
        for line in lines {
            let ours = plain(line).unwrap_or_else(|| panic!("not read in one pass: {line}"));
            assert_eq!(Some(ours), by_serde(line).ok(), "{line}");
        }
    }

    #[test]
    fn lines_that_are_not_plain_go_to_serde() {
        let lines = [
            // white space, escapes, control characters, members not read, twice the same
            r#" {"time":1}"#,
            r#"{"time":1} "#,
            r#"{"time": 1}"#,
            r#"{"type":"LO\"GIN"}"#,
            "{\"type\":\"LO\tGIN\"}",
            r#"{"time":1,"mdc":{}}"#,
            r#"{"time":1,"time":2}"#,
            r#"{"type":null,"type":"LOGIN"}"#,
            r#"{"authDetails":{"userId":"a","userId":"b"}}"#,
            r#"{"authDetails":{"other":"a"}}"#,
            r#"{"details":{"a":1}}"#,
            // numbers serde reads differently or refuses
            r#"{"time":1.5}"#,
            r#"{"time":1e3}"#,
            r#"{"time":01}"#,
            r#"{"time":-}"#,
            r#"{"time":-0}"#,
            r#"{"time":1234567890123456789}"#,
            r#"{"time":"1"}"#,
            r#"{"type":1}"#,
            // not an object, or cut short
            r#"["time"]"#,
            r#"{"time":1"#,
            r#"{"time":1,}"#,
            r#"{"type":"x"#,
            "",
        ];
        for line in lines {
            assert!(plain(line).is_none(), "read in one pass: {line}");
        }
        // What serde makes of them is the reading: the same record or the same refusal.
        assert_eq!(read(r#"{"time": 1}"#).unwrap().time, Some(1));
        assert_eq!(
            read(r#"{"type":"LO\"GIN"}"#).unwrap().kind.as_deref(),
            Some("LO\"GIN")
        );
        assert!(read(r#"{"time":1,"time":2}"#)
            .unwrap_err()
            .contains("duplicate field `time`"));
        assert_eq!(
            read(r#"{"time":1234567890123456789}"#).unwrap().time,
            Some(1_234_567_890_123_456_789)
        );
    }

    #[test]
    fn a_line_given_up_half_way_is_read_whole_by_serde() {
        // The one-pass reader fills `type`, then meets a member it does not read.
        let line = r#"{"type":"LOGIN","mdc":{"a":"b"},"realmId":"corp"}"#;
        let mut half = Json::default();
        assert!(!fill_plain(line, &mut half));
        assert_eq!(half.kind.as_deref(), Some("LOGIN"));
        assert!(half.realm_id.is_none(), "given up before `realmId`");
        let whole = read(line).unwrap();
        assert_eq!(whole.realm_id.as_deref(), Some("corp"));
        assert_eq!(whole, by_serde(line).unwrap());
    }

    /// Lines of the members the reader knows and a few it does not, with values of every
    /// kind (mostly plain ones, so that many lines are plain), compact or spaced, some
    /// members twice.
    fn jsonish() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("id"),
            Just("time"),
            Just("type"),
            Just("operationType"),
            Just("userId"),
            Just("details"),
            Just("authDetails"),
            Just("@timestamp"),
            Just("log.level"),
            Just("process.pid"),
            Just("sequence"),
            Just("realmId"),
            Just("clientId"),
            Just("ipAddress"),
            Just("mdc"),
        ];
        let scalar = prop_oneof![
            6 => "\"[a-zA-Z0-9 .:é_-]{0,12}\"",
            3 => "-?[0-9]{1,19}",
            1 => Just("-0".to_owned()),
            1 => Just("0".to_owned()),
            2 => Just("null".to_owned()),
            1 => Just("\"a\\\"b\"".to_owned()),
            1 => Just("\"a\\u00e9\"".to_owned()),
            1 => Just("\"tab\tin\"".to_owned()),
            1 => Just("true".to_owned()),
            1 => Just("1.5".to_owned()),
            1 => Just("2e3".to_owned()),
            1 => Just("[]".to_owned()),
        ];
        let inner = proptest::collection::vec((key.clone(), scalar.clone()), 0..4).prop_map(|m| {
            let body: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", body.join(","))
        });
        let value = prop_oneof![5 => scalar, 1 => inner];
        let space = prop_oneof![20 => Just(""), 1 => Just(" ")];
        proptest::collection::vec((key, value, space), 0..6).prop_map(|members| {
            let body: Vec<String> = members
                .iter()
                .map(|(k, v, s)| format!("\"{k}\":{s}{v}"))
                .collect();
            format!("{{{}}}", body.join(","))
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn what_the_one_pass_reader_reads_serde_reads_the_same(line in jsonish()) {
            check_against_serde(&line);
        }
    }
}
