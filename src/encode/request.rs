//! A batch encoded once into the body of one request (`http`, `elasticsearch`): compressed
//! once and sent again as it is on a retry. The events it was made from can be let go of as
//! soon as it exists, so their memory returns to the budget while the request is in flight;
//! the rare paths that need single records again (bulk items to resend, a body split in
//! halves, refused records for the dead-letter file) read them back from the body.

use std::io::Read as _;
use std::sync::Arc;

use super::body::{Bodies, Body};
use crate::event::Event;

/// How records are joined into a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One after the other (each record ends its own lines).
    Lines,
    /// A JSON array: `[`, records separated by `,`, `]`.
    Array,
}

impl Framing {
    fn open(self) -> &'static [u8] {
        match self {
            Framing::Lines => b"",
            Framing::Array => b"[",
        }
    }

    fn separator(self) -> &'static [u8] {
        match self {
            Framing::Lines => b"",
            Framing::Array => b",",
        }
    }

    fn close(self) -> &'static [u8] {
        match self {
            Framing::Lines => b"",
            Framing::Array => b"]",
        }
    }
}

/// How a body is written: framing, compression, and whether each record starts with a bulk
/// action line (the document is then the record's second line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// How records are joined.
    pub framing: Framing,
    /// gzip at this level (`Some(None)`: the default level), or not compressed (`None`).
    pub gzip: Option<Option<u32>>,
    /// Each record is an action line, then the document's line.
    pub action_line: bool,
}

/// A body being written record by record.
pub struct Writer {
    shape: Shape,
    body: Body,
    bodies: Arc<Bodies>,
    /// Where each record ends in the uncompressed body.
    ends: Vec<usize>,
}

impl Writer {
    /// A body of `shape` for `records` records, sized by what `bodies`' recent bodies took per
    /// record and written into one of their buffers.
    #[must_use]
    pub fn new(shape: Shape, records: usize, bodies: &Arc<Bodies>) -> Self {
        Self::sized(shape, bodies.bytes_for(records), records, bodies)
    }

    /// [`Writer::new`] for about `estimate` uncompressed bytes.
    #[must_use]
    pub fn sized(shape: Shape, estimate: usize, records: usize, bodies: &Arc<Bodies>) -> Self {
        let mut body = Body::new(
            shape.gzip.is_some(),
            shape.gzip.flatten(),
            estimate,
            bodies.take(),
        );
        body.buf().extend_from_slice(shape.framing.open());
        Self {
            shape,
            body,
            bodies: Arc::clone(bodies),
            ends: Vec::with_capacity(records),
        }
    }

    /// Where the next record is written; call [`Writer::end_record`] after it.
    pub fn record(&mut self) -> &mut Vec<u8> {
        if !self.ends.is_empty() {
            self.body
                .buf()
                .extend_from_slice(self.shape.framing.separator());
        }
        self.body.buf()
    }

    /// Ends the record written since [`Writer::record`].
    ///
    /// # Errors
    /// When the compressor fails.
    pub fn end_record(&mut self) -> std::io::Result<()> {
        self.ends.push(self.body.written());
        self.body.wrote()
    }

    /// The uncompressed bytes written so far.
    #[must_use]
    pub fn written(&self) -> usize {
        self.body.written()
    }

    /// The finished body.
    ///
    /// # Errors
    /// When the compressor fails.
    pub fn finish(mut self) -> std::io::Result<Encoded> {
        self.body
            .buf()
            .extend_from_slice(self.shape.framing.close());
        let plain_len = self.body.written();
        Ok(Encoded {
            body: self.bodies.send(self.body.finish()?),
            plain_len,
            ends: self.ends,
            shape: self.shape,
            bodies: self.bodies,
        })
    }
}

/// A finished body and where its records are.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// The bytes sent (compressed when the shape says so).
    pub body: bytes::Bytes,
    /// Its uncompressed length.
    plain_len: usize,
    ends: Vec<usize>,
    shape: Shape,
    /// Where bodies made of its records take their buffers.
    bodies: Arc<Bodies>,
}

impl Encoded {
    /// Records (events) in the body.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether it holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Whether the body is gzip-compressed.
    #[must_use]
    pub fn gzip(&self) -> bool {
        self.shape.gzip.is_some()
    }

    /// Bytes it holds in memory.
    #[must_use]
    pub fn held_bytes(&self) -> usize {
        self.body.len() + self.ends.len() * std::mem::size_of::<usize>()
    }

    /// The uncompressed body.
    fn plain(&self) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        if !self.gzip() {
            return Ok(std::borrow::Cow::Borrowed(&self.body[..]));
        }
        let mut out = Vec::with_capacity(self.plain_len);
        flate2::read::GzDecoder::new(&self.body[..]).read_to_end(&mut out)?;
        if out.len() != self.plain_len {
            return Err(std::io::Error::other(format!(
                "the body decompresses to {} bytes, {} were written",
                out.len(),
                self.plain_len
            )));
        }
        Ok(std::borrow::Cow::Owned(out))
    }

    /// Where record `i` is in the uncompressed body, without its separator.
    fn range(&self, i: usize) -> std::ops::Range<usize> {
        let start = match i {
            0 => self.shape.framing.open().len(),
            _ => self.ends[i - 1] + self.shape.framing.separator().len(),
        };
        start..self.ends[i]
    }

    /// A body of records `which` (in that order), of the same shape.
    ///
    /// # Errors
    /// When the body cannot be read back or compressed again.
    pub fn subset(&self, which: &[usize]) -> std::io::Result<Encoded> {
        let plain = self.plain()?;
        let estimate = which.iter().map(|&i| self.range(i).len()).sum::<usize>() + 2;
        let mut writer = Writer::sized(self.shape, estimate, which.len(), &self.bodies);
        for &i in which {
            writer.record().extend_from_slice(&plain[self.range(i)]);
            writer.end_record()?;
        }
        writer.finish()
    }

    /// The documents of records `which`, as events that write them out as they are (for the
    /// dead-letter file); `source` names where they came from.
    ///
    /// # Errors
    /// When the body cannot be read back or a record is not a JSON object.
    pub fn events(&self, which: &[usize], source: &Arc<str>) -> std::io::Result<Vec<Event>> {
        let plain = self.plain()?;
        which
            .iter()
            .map(|&i| {
                let mut record = &plain[self.range(i)];
                if self.shape.action_line {
                    let line = memchr::memchr(b'\n', record).map_or(record.len(), |n| n + 1);
                    record = &record[line..];
                }
                let text = std::str::from_utf8(record)
                    .map_err(std::io::Error::other)?
                    .trim_end_matches('\n');
                Event::from_rendered(text, source).map_err(std::io::Error::other)
            })
            .collect()
    }

    /// All record indices, in order.
    #[must_use]
    pub fn all(&self) -> Vec<usize> {
        (0..self.len()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(shape: Shape, docs: &[&str]) -> Encoded {
        let mut w = Writer::sized(shape, 10, docs.len(), &Arc::new(Bodies::new(1)));
        for (i, doc) in docs.iter().enumerate() {
            let out = w.record();
            if shape.action_line {
                out.extend_from_slice(format!("{{\"create\":{{\"_id\":\"{i}\"}}}}\n").as_bytes());
            }
            out.extend_from_slice(doc.as_bytes());
            if shape.framing == Framing::Lines {
                out.push(b'\n');
            }
            w.end_record().unwrap();
        }
        w.finish().unwrap()
    }

    fn plain(e: &Encoded) -> String {
        String::from_utf8(e.plain().unwrap().into_owned()).unwrap()
    }

    #[test]
    fn records_read_back_from_a_body_make_the_same_body_in_every_shape() {
        let docs = [r#"{"a":1}"#, r#"{"b":"x\ny"}"#, r#"{"c":[1,2]}"#];
        for framing in [Framing::Lines, Framing::Array] {
            for gzip in [None, Some(None), Some(Some(6))] {
                for action_line in [false, true] {
                    if framing == Framing::Array && action_line {
                        continue;
                    }
                    let shape = Shape {
                        framing,
                        gzip,
                        action_line,
                    };
                    let whole = body(shape, &docs);
                    assert_eq!(whole.len(), 3);
                    assert_eq!(plain(&whole.subset(&whole.all()).unwrap()), plain(&whole));
                    let some = whole.subset(&[2, 0]).unwrap();
                    let record = |i: usize| {
                        let action = if action_line {
                            format!("{{\"create\":{{\"_id\":\"{i}\"}}}}\n")
                        } else {
                            String::new()
                        };
                        let end = if framing == Framing::Lines { "\n" } else { "" };
                        format!("{action}{}{end}", docs[i])
                    };
                    let expected = match framing {
                        Framing::Lines => format!("{}{}", record(2), record(0)),
                        Framing::Array => format!("[{},{}]", record(2), record(0)),
                    };
                    assert_eq!(plain(&some), expected, "{shape:?}");
                    assert_eq!(some.gzip(), gzip.is_some());
                    let events = whole.events(&[1], &Arc::from("s")).unwrap();
                    let mut out = Vec::new();
                    events[0].write_json(&mut out);
                    assert_eq!(out, docs[1].as_bytes(), "{shape:?}");
                }
            }
        }
    }

    #[test]
    fn array_bodies_are_json_and_gzip_bodies_are_one_gzip_member() {
        let shape = Shape {
            framing: Framing::Array,
            gzip: Some(None),
            action_line: false,
        };
        let e = body(shape, &[r#"{"a":1}"#, r#"{"b":2}"#]);
        let value: serde_json::Value = serde_json::from_str(&plain(&e)).unwrap();
        assert_eq!(value, serde_json::json!([{"a": 1}, {"b": 2}]));
        let empty = body(shape, &[]);
        assert_eq!(plain(&empty), "[]");
        assert!(empty.is_empty());
        let one = e.subset(&[1]).unwrap();
        assert_eq!(plain(&one), r#"[{"b":2}]"#);
    }

    #[test]
    fn a_body_that_does_not_read_back_whole_is_an_error_not_fewer_records() {
        let shape = Shape {
            framing: Framing::Lines,
            gzip: Some(None),
            action_line: false,
        };
        let mut e = body(shape, &[r#"{"a":1}"#, r#"{"b":2}"#]);
        let cut = e.body.len() - 12;
        e.body = e.body.slice(..cut);
        assert!(e.subset(&[0]).is_err());
        assert!(e.events(&[1], &Arc::from("s")).is_err());
    }
}
