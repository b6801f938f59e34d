//! A JSON-lines logging layer that writes straight into the line buffer: a
//! `tracing_subscriber::Layer` of the service's own, the way the ecosystem extends `tracing`.
//!
//! tracing-subscriber's own JSON formatter first collects every field into a map of
//! `serde_json::Value`s, allocating for each; at one log line per request that was a sixth of
//! the service's throughput. This one writes `"key":value` pairs as it visits them. Output:
//! `{"timestamp":"…","level":"INFO","message":"…",<fields…>,"target":"…"}`.

use std::cell::RefCell;
use std::fmt::{self, Write};

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::DateTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};

/// The layer that writes every event it sees as one JSON line to `W`.
#[derive(Debug, Clone)]
pub struct JsonLines<W> {
    writer: W,
}

impl<W> JsonLines<W> {
    pub fn new(writer: W) -> Self {
        Self { writer }
    }
}

impl<S, W> Layer<S> for JsonLines<W>
where
    S: Subscriber,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // The line is built in a buffer of this thread's, by direct appends of bytes, and
        // handed to the writer in one call. A layer of its own rather than a format for
        // tracing-subscriber's `fmt` layer, which formats into a buffer of its own through
        // `fmt::Write` and copies that again: about 350 instructions a line.
        thread_local! {
            static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        // Nowhere to report a failed write from inside the logger; the writer counts its drops.
        LINE.with(|line| {
            if let Ok(mut line) = line.try_borrow_mut() {
                line.clear();
                format_line(&mut line, event);
                let _ = std::io::Write::write_all(&mut self.writer.make_writer(), &line);
            } else {
                // Only if formatting a field logged (re-entered): a buffer of its own.
                let mut line = Vec::new();
                format_line(&mut line, event);
                let _ = std::io::Write::write_all(&mut self.writer.make_writer(), &line);
            }
        });
    }
}

fn format_line(line: &mut Vec<u8>, event: &Event<'_>) {
    let metadata = event.metadata();
    line.extend_from_slice(br#"{"timestamp":""#);
    write_timestamp(line);
    line.extend_from_slice(br#"","level":""#);
    line.extend_from_slice(metadata.level().as_str().as_bytes());
    line.push(b'"');
    let mut fields = FieldWriter { line };
    event.record(&mut fields);
    line.extend_from_slice(br#","target":"#);
    write_json_string(line, metadata.target());
    line.extend_from_slice(b"}\n");
}

/// `2026-11-22T11:21:19.149392Z`. The part up to the second is formatted once per second per
/// thread, not once per line; the microseconds are written digit by digit, without `fmt`.
fn write_timestamp(line: &mut Vec<u8>) {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    // The system clock directly: chrono's `Utc::now` also converts to a calendar date, which
    // is only needed once a second.
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since_epoch.as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != seconds {
            cached.1.clear();
            let calendar = i64::try_from(seconds)
                .ok()
                .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
                .unwrap_or_default();
            let _ = write!(cached.1, "{}", calendar.format("%Y-%m-%dT%H:%M:%S"));
            cached.0 = seconds;
        }
        line.extend_from_slice(cached.1.as_bytes());
    });
    line.push(b'.');
    write_digits(line, u64::from(since_epoch.subsec_micros()), 6);
    line.push(b'Z');
}

struct FieldWriter<'a> {
    line: &'a mut Vec<u8>,
}

impl FieldWriter<'_> {
    fn key(&mut self, field: &Field) -> &mut Vec<u8> {
        self.line.extend_from_slice(b",\"");
        escape_into(self.line, field.name());
        self.line.extend_from_slice(b"\":");
        self.line
    }
}

impl Visit for FieldWriter<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        write_f64(self.key(field), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let line = self.key(field);
        if value < 0 {
            line.push(b'-');
        }
        write_u64(line, value.unsigned_abs());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        write_u64(self.key(field), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field)
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        write_json_string(self.key(field), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let line = self.key(field);
        line.push(b'"');
        // Writing into memory cannot fail.
        let _ = write!(Escaped(line), "{value:?}");
        line.push(b'"');
    }
}

/// A whole number in decimal, without `fmt`'s machinery (a log line holds several).
#[inline]
fn write_u64(line: &mut Vec<u8>, value: u64) {
    let mut width = 1;
    let mut rest = value / 10;
    while rest > 0 {
        width += 1;
        rest /= 10;
    }
    write_digits(line, value, width);
}

/// The last `width` decimal digits of `value`, zero-padded; two digits a division, from a
/// table, as the `itoa` crate does.
#[inline]
fn write_digits(line: &mut Vec<u8>, mut value: u64, width: usize) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut digits = [b'0'; 20];
    let width = width.min(digits.len());
    let mut at = digits.len();
    let end = digits.len() - width;
    while at > end + 1 {
        let pair = usize::try_from(value % 100).unwrap_or(0) * 2;
        value /= 100;
        at -= 2;
        digits[at] = PAIRS[pair];
        digits[at + 1] = PAIRS[pair + 1];
    }
    if at > end {
        digits[end] = b'0' + (value % 10) as u8;
    }
    line.extend_from_slice(&digits[end..]);
}

/// JSON has no NaN or infinity: those become `null`. A value with at most three decimals (as
/// latencies in milliseconds, counted in microseconds, are) is written digit by digit; its
/// shortest round-trip form is exactly those digits, which is what `Display` would print.
/// Anything else goes through `Display`.
fn write_f64(line: &mut Vec<u8>, value: f64) {
    if !value.is_finite() {
        line.extend_from_slice(b"null");
        return;
    }
    let thousandths = (value * 1000.0).round();
    // Below 10^9 an f64 resolves far finer than a thousandth, so no other decimal of three
    // places or fewer rounds to the same value: those digits are the shortest.
    #[allow(clippy::float_cmp)] // exactly equal is the point
    let exact = thousandths / 1000.0 == value;
    if (0.0..1.0e9).contains(&value) && exact {
        // In range by the test above: below 10^12 and not negative.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let thousandths = thousandths as u64;
        write_u64(line, thousandths / 1000);
        let mut fraction = thousandths % 1000;
        if fraction != 0 {
            line.push(b'.');
            let mut width = 3;
            while fraction.is_multiple_of(10) {
                fraction /= 10;
                width -= 1;
            }
            write_digits(line, fraction, width);
        }
        return;
    }
    let _ = std::io::Write::write_fmt(line, format_args!("{value}"));
}

#[inline]
fn write_json_string(line: &mut Vec<u8>, text: &str) {
    line.push(b'"');
    escape_into(line, text);
    line.push(b'"');
}

/// Appends `text` with what JSON strings cannot hold raw escaped: quotes, backslashes and
/// control characters. Clean text, nearly all of it, is tested eight bytes at a time and
/// appended whole; otherwise byte by byte: every byte that needs escaping is ASCII, so the runs
/// between them are whole UTF-8 sequences, appended in one piece each.
#[inline]
fn escape_into(line: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if is_clean_text(text.as_bytes()) {
        line.extend_from_slice(text.as_bytes());
        return;
    }
    let mut clean_from = 0;
    for (at, &byte) in text.as_bytes().iter().enumerate() {
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        line.extend_from_slice(&text.as_bytes()[clean_from..at]);
        match byte {
            b'"' => line.extend_from_slice(b"\\\""),
            b'\\' => line.extend_from_slice(b"\\\\"),
            b'\n' => line.extend_from_slice(b"\\n"),
            b'\r' => line.extend_from_slice(b"\\r"),
            b'\t' => line.extend_from_slice(b"\\t"),
            _ => line.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xF)],
            ]),
        }
        clean_from = at + 1;
    }
    line.extend_from_slice(&text.as_bytes()[clean_from..]);
}

/// Whether no byte of `bytes` needs escaping, eight at a time. The tail is the last eight
/// bytes again (overlapping), or, in a string shorter than a word, padded with a clean byte.
#[inline]
fn is_clean_text(bytes: &[u8]) -> bool {
    let word = |chunk: &[u8]| <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
    let mut chunks = bytes.chunks_exact(8);
    if !chunks.all(|chunk| is_clean(word(chunk))) {
        return false;
    }
    let tail = chunks.remainder();
    if tail.is_empty() {
        true
    } else if let Some(last) = bytes.len().checked_sub(8) {
        is_clean(word(&bytes[last..]))
    } else {
        let mut padded = [b'a'; 8];
        for (slot, &byte) in padded.iter_mut().zip(tail) {
            *slot = byte;
        }
        is_clean(u64::from_le_bytes(padded))
    }
}

/// Whether none of eight bytes needs escaping: no byte below 0x20, no `"`, no `\`. The usual
/// word-at-a-time tests: a byte below `n` (for `n` ≤ 0x80) sets its top bit in
/// `(x - n·0x01…) & !x & 0x80…`, and a zero byte does the same with `n` = 1.
#[inline]
fn is_clean(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u64| x.wrapping_sub(n * ONES) & !x & TOPS;
    below(word, 0x20)
        | below(word ^ (u64::from(b'"') * ONES), 1)
        | below(word ^ (u64::from(b'\\') * ONES), 1)
        == 0
}

/// [`escape_into`] as a `fmt::Write`, for values only `Debug` can print.
struct Escaped<'a>(&'a mut Vec<u8>);

impl Write for Escaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        escape_into(self.0, text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        let mut values: Vec<f64> = (0..200_000_u32)
            .map(|micros| f64::from(micros) / 1000.0)
            .collect();
        values.extend([
            0.1 + 0.2,
            1.0 / 3.0,
            1e-7,
            123_456.789,
            2.5e12,
            -0.5,
            0.0,
            1e9 + 0.5,
        ]);
        for value in values {
            let mut written = Vec::new();
            write_f64(&mut written, value);
            assert_eq!(written, format!("{value}").into_bytes(), "for {value:?}");
        }
        for value in [0, 7, 10, 99, 100, 12_345, u64::MAX] {
            let mut written = Vec::new();
            write_u64(&mut written, value);
            assert_eq!(written, value.to_string().into_bytes());
        }
    }

    #[test]
    fn every_byte_that_json_cannot_hold_raw_is_escaped() {
        let every_ascii: String = (0_u8..0x80).map(char::from).collect();
        let clean = "/health/ready-and-some-more-text";
        // Each byte that needs escaping at every offset of the eight-byte words the clean
        // text is tested in, short strings included.
        let mut cases = vec![
            every_ascii.clone(),
            format!("é\u{2028}😀{every_ascii}"),
            String::new(),
        ];
        for byte in (0_u8..0x20).chain([b'"', b'\\', 0x7f]) {
            for at in 0..clean.len() {
                let mut case = clean.to_owned();
                case.insert(at, char::from(byte));
                cases.push(case.clone());
                cases.push(case[..=at].to_owned());
            }
        }
        for hostile in cases {
            let mut written = Vec::new();
            write_json_string(&mut written, &hostile);
            let written = String::from_utf8(written).expect("UTF-8");
            let parsed: String = serde_json::from_str(&written).expect("valid JSON");
            assert_eq!(parsed, hostile);
            assert!(
                !written.bytes().any(|byte| byte < 0x20),
                "raw control byte in {written:?}"
            );
        }
    }

    #[test]
    fn every_kind_of_field_becomes_valid_json() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(JsonLines::new(lines.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: "app::test",
                text = "quote \" backslash \\ newline \n bell \u{7} é",
                count = 42_u64,
                delta = -3_i64,
                ratio = 0.5,
                nan = f64::NAN,
                flag = true,
                shown = %"displayed",
                "hello {}", "world"
            );
        });
        let output = String::from_utf8(lines.0.lock().expect("lock").clone()).expect("utf-8");
        assert!(output.ends_with("}\n"), "one line: {output}");
        let value: serde_json::Value = serde_json::from_str(output.trim_end()).expect("valid JSON");
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["message"], "hello world");
        assert_eq!(
            value["text"],
            "quote \" backslash \\ newline \n bell \u{7} é"
        );
        assert_eq!(value["count"], 42);
        assert_eq!(value["delta"], -3);
        assert_eq!(value["ratio"], 0.5);
        assert!(value["nan"].is_null());
        assert_eq!(value["flag"], true);
        assert_eq!(value["shown"], "displayed");
        assert_eq!(value["target"], "app::test");
        let timestamp = value["timestamp"].as_str().expect("timestamp");
        chrono::DateTime::parse_from_rfc3339(timestamp).expect("RFC 3339");
    }
}
