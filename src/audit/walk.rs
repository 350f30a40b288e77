//! One pass over every entry, on every core: the read the two full walks
//! (`audit verify`, `audit replay`) stand on.
//!
//! Reading the bodies out of SQLite is the floor of both walks, and it can
//! only run on the thread that owns the connection. So that thread does
//! nothing else: it copies rows into chunks of one buffer each (the log
//! holds no secret), workers hash and parse whole chunks side by side, and
//! one consumer takes the chunks back in log order, so everything that
//! depends on the entry before (the chain, replay's state) sees the log as
//! the single-threaded walk saw it and reports in the same order. Buffers
//! go back to the reader once consumed, so a walk allocates a few chunks,
//! not one per 4,096 entries.
//!
//! [`envelope`] reads an entry in the exact form [`super::append`] writes
//! by its bytes, for the entries (nearly all) that are in that form; the
//! walks read any other body with serde as before, so what they report
//! about it does not change.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};

use serde::de::IgnoredAny;

/// Entries handed over at a time.
pub(crate) const CHUNK_ROWS: usize = 8192;
/// Bytes of bodies after which a chunk is handed over early.
const CHUNK_BYTES: usize = 2 << 20;

/// Rows as read, on their way to a worker.
#[derive(Default)]
pub(crate) struct Chunk {
    /// The bodies, one after the other.
    bytes: Vec<u8>,
    /// One per row, in log order.
    pub rows: Vec<Row>,
}

/// What the reader found in one row.
pub(crate) struct Row {
    /// The stored `seq` as stored (an edited row may hold a negative one).
    pub raw_seq: i64,
    end: usize,
    start: usize,
    /// The body column holds a blob.
    pub blob: bool,
    /// The body column holds text (an edited row): its bytes are kept,
    /// as SQL's `CAST(body AS TEXT)` would read them.
    pub text: bool,
    /// The stored hash, when it is a 32-byte blob.
    pub stored: Option<[u8; 32]>,
}

impl Row {
    /// The stored `seq`; a negative one (an edited row) reads as 0.
    pub fn seq(&self) -> u64 {
        u64::try_from(self.raw_seq).unwrap_or(0)
    }
}

impl Chunk {
    /// The bytes of `row`'s body column (empty unless blob or text).
    pub fn body(&self, row: &Row) -> &[u8] {
        &self.bytes[row.start..row.end]
    }

    /// The body as an entry: the blob, or nothing for any other type.
    pub fn blob(&self, row: &Row) -> &[u8] {
        if row.blob {
            self.body(row)
        } else {
            &[]
        }
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.rows.clear();
    }

    /// Appends a row of `SELECT seq, body, hash`; with `strict`, a body
    /// that is not a blob is an error (what replay has always said).
    fn push(&mut self, row: &rusqlite::Row<'_>, strict: bool) -> rusqlite::Result<()> {
        let raw_seq = row.get::<_, i64>(0)?;
        let body = row.get_ref(1)?;
        if strict {
            body.as_blob().map_err(rusqlite::Error::from)?;
        }
        let (blob, text, bytes) = match body {
            rusqlite::types::ValueRef::Blob(b) => (true, false, b),
            rusqlite::types::ValueRef::Text(t) => (false, true, t),
            _ => (false, false, &[][..]),
        };
        let stored = row
            .get_ref(2)
            .ok()
            .and_then(|v| v.as_blob().ok())
            .and_then(|h| <[u8; 32]>::try_from(h).ok());
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        self.rows.push(Row {
            raw_seq,
            start,
            end: self.bytes.len(),
            blob,
            text,
            stored,
        });
        Ok(())
    }

    fn full(&self) -> bool {
        self.rows.len() == CHUNK_ROWS || self.bytes.len() >= CHUNK_BYTES
    }
}

/// Threads that hash and parse besides the reader.
fn workers() -> usize {
    // As many as cores: the reader waits on SQLite's page reads and on a
    // full queue often enough that the workers use its core meanwhile.
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// Lowers the calling worker thread's priority a little (nice +3 on what
/// it was; a failure changes nothing). The reader, which alone can read
/// SQLite, is the walk's critical path and 40 % of its CPU; at equal
/// priority the scheduler shares its core with the workers evenly, and
/// they then wait on it. On the 1M-entry bench log this took `audit
/// verify` from 0.555 s to 0.530 s at the median of 20 alternating runs
/// (quartiles 0.540..0.570 and 0.500..0.550), at the same CPU time.
/// Lowering one's own priority needs no privilege.
fn behind_the_reader() {
    let me = rustix::thread::gettid();
    if let Ok(now) = rustix::process::getpriority_process(Some(me)) {
        let _ = rustix::process::setpriority_process(Some(me), now.saturating_add(3));
    }
}

/// Reads every row of `stmt` (`seq, body, hash`, in log order, bound to
/// `params`), runs `work` on each chunk on a worker thread, and hands each
/// chunk with its result to `consume` in log order. `progress` gets
/// `(rows read, total)` every [`super::verify::PROGRESS_EVERY`] rows.
/// Returns the rows read.
pub(crate) fn walk<R, W, C>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    strict: bool,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
    work: W,
    consume: C,
) -> rusqlite::Result<u64>
where
    R: Send,
    W: Fn(&Chunk) -> R + Sync,
    C: FnMut(&Chunk, R) + Send,
{
    let mut rows = stmt.query(params)?;
    let n = workers();
    let (to_work, work_queue) = mpsc::sync_channel::<(u64, Chunk)>(n * 2);
    // Shared by the workers and dropped with the last of them, so that a
    // reader whose workers all stopped (a panic downstream) gets an error
    // from its send instead of waiting on a full queue.
    let work_queue = Arc::new(Mutex::new(work_queue));
    let (to_consumer, results) = mpsc::sync_channel::<(u64, Chunk, R)>(n * 2);
    let (to_reader, recycled) = mpsc::channel::<Chunk>();
    let mut read = 0u64;
    let outcome = std::thread::scope(|scope| {
        let mut threads = Vec::new();
        for _ in 0..n {
            let (work, queue, out) = (&work, Arc::clone(&work_queue), to_consumer.clone());
            threads.push(scope.spawn(move || {
                behind_the_reader();
                loop {
                    // The lock is held only to take the next chunk; a
                    // poisoned one means another worker panicked: stop,
                    // the panic is passed on at join.
                    let next = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    let Ok((i, chunk)) = next else { return };
                    let r = work(&chunk);
                    if out.send((i, chunk, r)).is_err() {
                        return;
                    }
                }
            }));
        }
        drop((to_consumer, work_queue));
        let mut consume = consume;
        let consumer = scope.spawn(move || {
            // Chunks finish out of order on several workers; they are
            // consumed in the order read.
            let mut waiting = BTreeMap::new();
            let mut next = 0u64;
            for (i, chunk, r) in results {
                waiting.insert(i, (chunk, r));
                while let Some((mut chunk, r)) = waiting.remove(&next) {
                    consume(&chunk, r);
                    chunk.clear();
                    let _ = to_reader.send(chunk);
                    next += 1;
                }
            }
        });
        let reading = (|| -> rusqlite::Result<()> {
            let mut chunk = Chunk::default();
            let mut index = 0u64;
            while let Some(row) = rows.next()? {
                read += 1;
                if read % super::verify::PROGRESS_EVERY == 0 {
                    progress(read, total);
                }
                chunk.push(row, strict)?;
                if chunk.full() {
                    let fresh = recycled.try_recv().unwrap_or_default();
                    // A send fails only when every worker stopped: a bug,
                    // raised at join.
                    if to_work
                        .send((index, std::mem::replace(&mut chunk, fresh)))
                        .is_err()
                    {
                        return Ok(());
                    }
                    index += 1;
                }
            }
            if !chunk.rows.is_empty() {
                let _ = to_work.send((index, chunk));
            }
            Ok(())
        })();
        drop(to_work);
        let mut panic = None;
        for t in threads.into_iter().chain([consumer]) {
            if let Err(e) = t.join() {
                panic.get_or_insert(e);
            }
        }
        // The workers only slice chunks they were handed whole: a panic
        // there is a bug, passed on as one.
        if let Some(e) = panic {
            std::panic::resume_unwind(e);
        }
        reading
    });
    outcome.map(|()| read)
}

/// An entry's envelope, read by its bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    /// Its `seq` field.
    pub seq: u64,
    /// Its `prev` field (not checked to be hex).
    pub prev: &'a [u8],
    /// Its `time` field.
    pub time: &'a [u8],
    /// Its `vault` field.
    pub vault: &'a [u8],
    /// Its `event` field.
    pub event: &'a [u8],
    /// Its `data` object, as stored.
    pub data: &'a [u8],
}

/// The envelope of `body` if `body` is in exactly the form `append`
/// writes (`{"v":1,"seq":N,"prev":"..","time":"..","vault":"..","event":
/// "..","actors":["..",..],"data":{..}}`, no whitespace) in printable
/// ASCII without an escape, and is well-formed JSON throughout: the
/// actors an array of strings, the data an object (checked by
/// [`flat_object`] when it is flat, by serde_json otherwise). `None` for
/// any other body, which the caller then reads with serde as it always
/// did: this only ever says yes to a body that serde reads to the same
/// fields.
pub(crate) fn envelope(body: &[u8]) -> Option<Envelope<'_>> {
    // Printable ASCII and no `\`: every string is then its bytes (as a
    // borrowed &str is), valid UTF-8 and free of the control characters
    // JSON refuses in strings, with no check per string. One pass the
    // compiler vectorizes.
    let odd = body.iter().fold(false, |odd, &c| {
        odd | !(0x20..0x7f).contains(&c) | (c == b'\\')
    });
    if odd {
        return None;
    }
    let mut c = Cursor { b: body, i: 0 };
    c.lit(b"{\"v\":1,\"seq\":")?;
    let seq = c.uint()?;
    c.lit(b",\"prev\":\"")?;
    // The lengths `append` writes (hex SHA-256, RFC 3339 UTC seconds, the
    // vault id) are tried first; any other length is found by scanning.
    let prev = c.string_of(64)?;
    c.lit(b",\"time\":\"")?;
    let time = c.string_of(20)?;
    c.lit(b",\"vault\":\"")?;
    let vault = c.string_of(16)?;
    c.lit(b",\"event\":\"")?;
    let event = c.string()?;
    c.lit(b",\"actors\":[")?;
    c.strings()?;
    c.lit(b",\"data\":")?;
    // The data is the rest but the envelope's closing brace.
    let data = body.get(c.i..body.len().checked_sub(1)?)?;
    if body.last() != Some(&b'}') || !is_object(data) {
        return None;
    }
    Some(Envelope {
        seq,
        prev,
        time,
        vault,
        event,
        data,
    })
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn lit(&mut self, what: &[u8]) -> Option<()> {
        let end = self.i.checked_add(what.len())?;
        (self.b.get(self.i..end)? == what).then(|| self.i = end)
    }

    /// The digits of a JSON integer: `0`, or digits not led by `0`.
    fn digits(&mut self) -> Option<&'a [u8]> {
        let rest = &self.b[self.i..];
        let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || (n > 1 && rest[0] == b'0') {
            return None;
        }
        self.i += n;
        Some(&rest[..n])
    }

    /// A JSON unsigned integer that fits a u64.
    fn uint(&mut self) -> Option<u64> {
        self.digits()?.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    }

    /// A JSON integer: `-`, if any, then its digits (what follows is the
    /// caller's to check).
    fn int(&mut self) -> Option<()> {
        let _ = self.lit(b"-");
        self.digits().map(|_| ())
    }

    /// The rest of a string whose opening quote was read, up to and past
    /// its closing quote (the body was checked to be printable ASCII
    /// without escapes).
    fn string(&mut self) -> Option<&'a [u8]> {
        let rest = &self.b[self.i..];
        let len = find_quote(rest)?;
        self.i += len + 1;
        Some(&rest[..len])
    }

    /// [`Self::string`], looking first whether it is `len` bytes long.
    fn string_of(&mut self, len: usize) -> Option<&'a [u8]> {
        let rest = &self.b[self.i..];
        // A fold, not `any`: no branch per byte, so it is vectorized.
        let quoted = |text: &[u8]| text.iter().fold(false, |q, &c| q | (c == b'"'));
        if rest.get(len) == Some(&b'"') && !quoted(&rest[..len]) {
            self.i += len + 1;
            return Some(&rest[..len]);
        }
        self.string()
    }

    /// The rest of an array of strings whose `[` was read, past its `]`.
    fn strings(&mut self) -> Option<()> {
        if self.lit(b"]").is_some() {
            return Some(());
        }
        loop {
            self.lit(b"\"")?;
            self.string()?;
            if self.lit(b"]").is_some() {
                return Some(());
            }
            self.lit(b",")?;
        }
    }
}

/// Whether `data` is one JSON object and nothing else (by serde_json's
/// grammar). It ends at its closing brace: serde_json would also take
/// whitespace after it, which `append` never writes.
fn is_object(data: &[u8]) -> bool {
    data.first() == Some(&b'{')
        && data.last() == Some(&b'}')
        && (flat_object(data).is_some() || serde_json::from_slice::<IgnoredAny>(data).is_ok())
}

/// `Some` when `data` (printable ASCII without `\`, as [`envelope`]
/// checked) is an object whose values are all strings, integers, `true`,
/// `false` or `null`: what most events' data is, and a subset of JSON's
/// grammar, read here in a few nanoseconds a field where serde_json's
/// ignoring reader takes several times that. `None` for anything else
/// (a nested value, a fraction, an exponent, a slip), which serde_json
/// then judges: this can only say yes where serde_json would.
fn flat_object(data: &[u8]) -> Option<()> {
    let mut c = Cursor { b: data, i: 0 };
    c.lit(b"{")?;
    if c.lit(b"}").is_none() {
        loop {
            c.lit(b"\"")?;
            c.string()?;
            c.lit(b":")?;
            match *c.b.get(c.i)? {
                b'"' => {
                    c.i += 1;
                    c.string()?;
                }
                b't' => c.lit(b"true")?,
                b'f' => c.lit(b"false")?,
                b'n' => c.lit(b"null")?,
                _ => c.int()?,
            }
            if c.lit(b"}").is_some() {
                break;
            }
            c.lit(b",")?;
        }
    }
    (c.i == data.len()).then_some(())
}

/// Where the first `"` of `text` is, eight bytes at a time.
fn find_quote(text: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_le_bytes([b'"'; 8]);
    let mut words = text.chunks_exact(8);
    for (n, word) in words.by_ref().enumerate() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        // A quote is a zero byte of `x`; the lowest byte flagged here is
        // the first zero byte exactly (a borrow only runs upwards).
        let x = u64::from_le_bytes(bytes) ^ QUOTES;
        let zeros = x.wrapping_sub(ONES) & !x & HIGH;
        if zeros != 0 {
            let at = usize::try_from(zeros.trailing_zeros() / 8).ok()?;
            return Some(n * 8 + at);
        }
    }
    let tail = words.remainder();
    let at = tail.iter().position(|&c| c == b'"')?;
    Some(text.len() - tail.len() + at)
}

/// `text` as the 32 bytes it is the lower-case hex of (what `crypto::hex`
/// writes), or `None`.
pub(crate) fn unhex32(text: &[u8]) -> Option<[u8; 32]> {
    let text: &[u8; 64] = text.try_into().ok()?;
    // Arithmetic and selects, no table and no branch per digit, so the
    // compiler vectorizes it: a million of these per walk.
    let (mut nibbles, mut bad) = ([0u8; 64], 0u8);
    for (n, &c) in nibbles.iter_mut().zip(text) {
        let (digit, letter) = (c.wrapping_sub(b'0'), c.wrapping_sub(b'a'));
        let (is_digit, is_letter) = (digit < 10, letter < 6);
        *n = if is_digit {
            digit
        } else {
            letter.wrapping_add(10)
        };
        bad |= u8::from(!(is_digit | is_letter));
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(nibbles.chunks_exact(2)) {
        *byte = (pair[0] << 4) | pair[1];
    }
    (bad == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(seq: u64, data: &str) -> String {
        format!(
            r#"{{"v":1,"seq":{seq},"prev":"{}","time":"2026-11-30T01:02:03Z","vault":"0123456789abcdef","event":"token.verified","actors":["alice","bob"],"data":{data}}}"#,
            "ab".repeat(32)
        )
    }

    #[test]
    fn the_envelope_of_what_append_writes_is_read_by_bytes() {
        let b = body(42, r#"{"serial":"1","n":[1,{"x":null}]}"#);
        let e = envelope(b.as_bytes()).unwrap();
        assert_eq!(e.seq, 42);
        assert_eq!(e.prev, "ab".repeat(32).as_bytes());
        assert_eq!(
            (e.vault, e.event),
            (&b"0123456789abcdef"[..], &b"token.verified"[..])
        );
        assert_eq!(e.data, br#"{"serial":"1","n":[1,{"x":null}]}"#);
        assert_eq!(unhex32(e.prev), Some([0xab; 32]));
        let every_kind = r#"{"a":-0.5e+3,"b":[true,false,null,"",0,1E7,[]],"c":{},"d":"x:y,{"}"#;
        let b = body(1, every_kind);
        assert_eq!(envelope(b.as_bytes()).unwrap().data, every_kind.as_bytes());
    }

    #[test]
    fn flat_data_is_read_without_serde_and_only_when_well_formed() {
        for flat in [
            "{}",
            r#"{"at":1800499976,"drift":0,"matched":true,"serial":"30099976"}"#,
            r#"{"a":null,"b":false,"c":-5,"d":-0,"":"","e":"x:y,{}[]"}"#,
        ] {
            assert_eq!(flat_object(flat.as_bytes()), Some(()), "{flat}");
            assert!(is_object(flat.as_bytes()), "{flat}");
        }
        // Well-formed but not flat: left to serde, which says yes.
        for nested in [
            r#"{"a":[1]}"#,
            r#"{"a":{"b":1}}"#,
            r#"{"a":1.5}"#,
            r#"{"a":1e3}"#,
            r#"{ "a":1}"#,
            r#"{"a": 1}"#,
            r#"{"a":1 }"#,
        ] {
            assert_eq!(flat_object(nested.as_bytes()), None, "{nested}");
            assert!(is_object(nested.as_bytes()), "{nested}");
        }
        // Not JSON, or not an object alone: no at both.
        for bad in [
            "",
            "{",
            "}",
            "{,}",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":-}"#,
            r#"{"a":01}"#,
            r#"{"a":-01}"#,
            r#"{"a":1,}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":1}}"#,
            r#"{"a":1}{}"#,
            r#"{"a":1} "#,
            r#"{"a":"b}"#,
            r#"{a:1}"#,
            r#"{"a":1"b":2}"#,
            "[]",
        ] {
            assert_eq!(flat_object(bad.as_bytes()), None, "{bad}");
            assert!(!is_object(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn find_quote_finds_the_first_quote_at_any_place() {
        for len in 0..40 {
            let mut text = vec![b'a'; len];
            assert_eq!(find_quote(&text), None);
            for at in 0..len {
                text[at] = b'"';
                assert_eq!(find_quote(&text), Some(at), "len {len}, quote at {at}");
                // A later quote never hides an earlier one.
                for later in at + 1..len {
                    text[later] = b'"';
                    assert_eq!(find_quote(&text), Some(at));
                    text[later] = b'a';
                }
                text[at] = b'a';
            }
        }
        // Bytes next to the quote's value do not read as one (the borrow
        // of `!"` is what the word trick must not mistake).
        for c in 0..=255u8 {
            let text = [c, c, b'#', b'!', c, c, c, c, c, b'"'];
            let want = text.iter().position(|&b| b == b'"');
            assert_eq!(find_quote(&text), want, "{c:#x}");
        }
    }

    #[test]
    fn any_other_form_is_left_to_serde() {
        let good = body(7, "{}");
        assert!(envelope(good.as_bytes()).is_some());
        for bad in [
            good.replace("\"v\":1", "\"v\":2"),
            good.replace("\"seq\":7", "\"seq\":07"),
            good.replace("\"seq\":7", "\"seq\":99999999999999999999"),
            good.replace("\"seq\":7", "\"seq\":-7"),
            good.replace("\"alice\"", "\"al\\u0069ce\""),
            good.replace("\"alice\"", "5"),
            good.replace("[\"alice\",\"bob\"]", "[\"alice\",]"),
            good.replace("\"data\":{}", "\"data\":[]"),
            good.replace("\"data\":{}", "\"data\":{\"a\":}"),
            good.replace("\"data\":{}", "\"data\":{} "),
            good.replace("\"data\":{}", "\"data\":{\"a\":01}"),
            good.replace("\"data\":{}", "\"data\":{\"a\":1.}"),
            good.replace("\"data\":{}", "\"data\":{\"a\":-}"),
            good.replace("\"data\":{}", "\"data\":{\"a\":1e}"),
            good.replace("\"data\":{}", "\"data\":{\"a\":tru}"),
            good.replace("\"data\":{}", "\"data\":{\"a\":[1,]}"),
            good.replace("\"data\":{}", "\"data\":{\"a\":1,}"),
            good.replace("\"data\":{}", "\"data\":{1:1}"),
            good.replace("\"data\":{}}", "\"data\":{},\"seq\":8}"),
            good.replace("01:02:03", "01:02\u{1}03"),
            good.replace("01:02:03", "01:02:\u{e9}3"),
            good.replace("[\"alice\",\"bob\"]", "[\"alice\" ]"),
            good.replace("[\"alice\",\"bob\"]", "[\"alice\",\"bob\",]"),
            good.replace("{\"v\"", "{ \"v\""),
            format!("{good} "),
            good[..good.len() - 1].to_owned(),
        ] {
            assert_eq!(envelope(bad.as_bytes()), None, "{bad}");
        }
        let mut invalid = good.into_bytes();
        let at = invalid.iter().position(|&c| c == b'b').unwrap();
        invalid[at] = 0xff;
        assert_eq!(envelope(&invalid), None);
    }

    #[test]
    fn a_panic_in_a_stage_is_passed_on_not_waited_for() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE audit (seq INTEGER PRIMARY KEY, body BLOB NOT NULL, hash BLOB NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
             INSERT INTO audit SELECT i, CAST('{}' AS BLOB), zeroblob(32) FROM n;",
        )
        .unwrap();
        for consumer_panics in [false, true] {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut stmt = conn
                    .prepare("SELECT seq, body, hash FROM audit ORDER BY seq")
                    .unwrap();
                walk(
                    &mut stmt,
                    [],
                    false,
                    0,
                    &mut |_, _| {},
                    |c: &Chunk| assert!(consumer_panics || c.rows.is_empty(), "worker"),
                    |_, ()| assert!(!consumer_panics, "consumer"),
                )
            }));
            assert!(outcome.is_err());
        }
        // And an untroubled walk reads every row, in order.
        let mut stmt = conn
            .prepare("SELECT seq, body, hash FROM audit ORDER BY seq")
            .unwrap();
        let mut seen = Vec::new();
        let n = walk(
            &mut stmt,
            [],
            true,
            0,
            &mut |_, _| {},
            |c: &Chunk| c.rows.len(),
            |c, n| {
                assert_eq!(c.rows.len(), n);
                seen.extend(c.rows.iter().map(Row::seq));
            },
        )
        .unwrap();
        assert_eq!(n, 100_000);
        assert!(seen.iter().copied().eq(1..=100_000));
    }

    #[test]
    fn unhex32_takes_lower_case_hex_of_32_bytes_only() {
        assert_eq!(unhex32("00".repeat(32).as_bytes()), Some([0; 32]));
        assert_eq!(unhex32("AB".repeat(32).as_bytes()), None);
        assert_eq!(unhex32("ab".repeat(31).as_bytes()), None);
        assert_eq!(unhex32("zz".repeat(32).as_bytes()), None);
        // Every byte value in every place: a digit of `0-9a-f` or refused.
        for place in [0, 1, 31, 62, 63] {
            for c in 0..=255u8 {
                let mut text = "0".repeat(64).into_bytes();
                text[place] = c;
                let hex_digit = c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
                assert_eq!(unhex32(&text).is_some(), hex_digit, "{c:#x} at {place}");
            }
        }
        for seed in 0..64u8 {
            let bytes = crate::crypto::sha256(&[seed]);
            let text = crate::crypto::hex(&bytes);
            assert_eq!(unhex32(text.as_bytes()), Some(bytes));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// The byte path never says yes to data serde_json refuses, and
        /// says yes to all it writes itself.
        #[test]
        fn the_data_check_agrees_with_serde(data in json_text()) {
            let b = body(1, &data);
            // What the check stands for: one JSON value by the grammar
            // (serde's ignoring reader, which does not mind a number too
            // large for an f64), and an object.
            let mut values = serde_json::Deserializer::from_str(&data)
                .into_iter::<serde::de::IgnoredAny>();
            let serde_reads = data.starts_with('{')
                && values.next().is_some_and(|v| v.is_ok())
                && values.byte_offset() == data.len();
            if envelope(b.as_bytes()).is_some() {
                proptest::prop_assert!(serde_reads, "{}", data);
            }
            if flat_object(data.as_bytes()).is_some() {
                proptest::prop_assert!(serde_reads, "flat: {}", data);
            }
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&data) {
                let written = serde_json::to_string(&v).unwrap();
                let printable = written.bytes().all(|c| (0x20..0x7f).contains(&c) && c != b'\\');
                if v.is_object() && printable {
                    let again = body(1, &written);
                    proptest::prop_assert!(envelope(again.as_bytes()).is_some(), "{}", written);
                }
            }
        }
    }

    /// Text near JSON: an object serde_json writes, with up to two
    /// characters inserted or deleted, so that most cases are one slip
    /// away from well-formed.
    fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e6..1e6f64).prop_map(Value::from),
            "[a-z :,{}]{0,4}".prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{0,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        let object = proptest::collection::btree_map("[a-z]{0,3}", value, 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()).to_string());
        let slip = (any::<proptest::sample::Index>(), 0..30usize);
        (object, proptest::collection::vec(slip, 0..3)).prop_map(|(text, slips)| {
            let mut text = text.into_bytes();
            for (at, what) in slips {
                let at = at.index(text.len() + 1);
                match b"{}[],:\"-+.0159eEtfnrul x".get(what) {
                    Some(&c) => text.insert(at, c),
                    None if at < text.len() => drop(text.remove(at)),
                    None => {}
                }
            }
            String::from_utf8(text).unwrap()
        })
    }
}
