//! A JSON-lines event formatter that writes straight into the line buffer.
//!
//! tracing-subscriber's own JSON formatter first collects every field into a map of
//! `serde_json::Value`s, allocating for each; at one log line per request that was a sixth of
//! the service's throughput. This one writes `"key":value` pairs as it visits them. Output:
//! `{"timestamp":"…","level":"INFO","message":"…",<fields…>,"target":"…"}`.

use std::cell::RefCell;
use std::fmt::{self, Write};

use chrono::Utc;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // The line is built in a buffer of this thread's, by direct appends, and handed to the
        // writer in one call: each call through `Writer` is a dynamic dispatch, and a line
        // has about forty pieces.
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        LINE.with(|line| {
            if let Ok(mut line) = line.try_borrow_mut() {
                line.clear();
                format_line(&mut line, event);
                writer.write_str(&line)
            } else {
                // Only if formatting a field logged (re-entered): a buffer of its own.
                let mut line = String::new();
                format_line(&mut line, event);
                writer.write_str(&line)
            }
        })
    }
}

fn format_line(line: &mut String, event: &Event<'_>) {
    let metadata = event.metadata();
    line.push_str(r#"{"timestamp":""#);
    write_timestamp(line);
    line.push_str(r#"","level":""#);
    line.push_str(metadata.level().as_str());
    line.push('"');
    let mut fields = FieldWriter { line };
    event.record(&mut fields);
    line.push_str(r#","target":"#);
    write_json_string(line, metadata.target());
    line.push_str("}\n");
}

/// `2026-11-22T11:21:19.149392Z`. The part up to the second is formatted once per second per
/// thread, not once per line; the microseconds are written digit by digit, without `fmt`.
fn write_timestamp(line: &mut String) {
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = Utc::now();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != now.timestamp() {
            cached.1.clear();
            let _ = write!(cached.1, "{}", now.format("%Y-%m-%dT%H:%M:%S"));
            cached.0 = now.timestamp();
        }
        line.push_str(&cached.1);
    });
    line.push('.');
    write_digits(
        line,
        u64::from(now.timestamp_subsec_micros().min(999_999)),
        6,
    );
    line.push('Z');
}

struct FieldWriter<'a> {
    line: &'a mut String,
}

impl FieldWriter<'_> {
    fn key(&mut self, field: &Field) -> &mut String {
        self.line.push(',');
        write_json_string(self.line, field.name());
        self.line.push(':');
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
            line.push('-');
        }
        write_u64(line, value.unsigned_abs());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        write_u64(self.key(field), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field)
            .push_str(if value { "true" } else { "false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        write_json_string(self.key(field), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let line = self.key(field);
        line.push('"');
        // Writing into a String cannot fail.
        let _ = write!(Escaped(line), "{value:?}");
        line.push('"');
    }
}

/// A whole number in decimal, without `fmt`'s machinery (a log line holds several).
fn write_u64(line: &mut String, value: u64) {
    let mut width = 1;
    let mut rest = value / 10;
    while rest > 0 {
        width += 1;
        rest /= 10;
    }
    write_digits(line, value, width);
}

/// The last `width` decimal digits of `value`, zero-padded.
fn write_digits(line: &mut String, mut value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let width = width.min(digits.len());
    for slot in digits[..width].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    line.extend(digits[..width].iter().map(|&digit| char::from(digit)));
}

/// JSON has no NaN or infinity: those become `null`. A value with at most three decimals (as
/// latencies in milliseconds, counted in microseconds, are) is written digit by digit; its
/// shortest round-trip form is exactly those digits, which is what `Display` would print.
/// Anything else goes through `Display`.
fn write_f64(line: &mut String, value: f64) {
    if !value.is_finite() {
        line.push_str("null");
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
            line.push('.');
            let mut width = 3;
            while fraction.is_multiple_of(10) {
                fraction /= 10;
                width -= 1;
            }
            write_digits(line, fraction, width);
        }
        return;
    }
    let _ = write!(line, "{value}");
}

fn write_json_string(line: &mut String, text: &str) {
    line.push('"');
    escape_into(line, text);
    line.push('"');
}

/// Appends `text` with what JSON strings cannot hold raw escaped: quotes, backslashes and
/// control characters. Works on bytes: every byte that needs escaping is ASCII, so the runs
/// between them are whole UTF-8 sequences, appended in one piece each. Clean text is skipped
/// eight bytes at a time.
fn escape_into(line: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    let mut clean_from = 0;
    let mut index = 0;
    while index < bytes.len() {
        let end = (index + 8).min(bytes.len());
        // The last word of a string is padded with a clean byte: short strings (field names,
        // methods) take one test, not a loop.
        let mut word = [b'a'; 8];
        word[..end - index].copy_from_slice(&bytes[index..end]);
        if is_clean(u64::from_le_bytes(word)) {
            index = end;
            continue;
        }
        for (at, &byte) in bytes.iter().enumerate().take(end).skip(index) {
            if byte >= 0x20 && byte != b'"' && byte != b'\\' {
                continue;
            }
            line.push_str(&text[clean_from..at]);
            match byte {
                b'"' => line.push_str("\\\""),
                b'\\' => line.push_str("\\\\"),
                b'\n' => line.push_str("\\n"),
                b'\r' => line.push_str("\\r"),
                b'\t' => line.push_str("\\t"),
                _ => {
                    line.push_str("\\u00");
                    line.push(char::from(HEX[usize::from(byte >> 4)]));
                    line.push(char::from(HEX[usize::from(byte & 0xF)]));
                }
            }
            clean_from = at + 1;
        }
        index = end;
    }
    line.push_str(&text[clean_from..]);
}

/// Whether none of eight bytes needs escaping: no byte below 0x20, no `"`, no `\`. The usual
/// word-at-a-time tests: a byte below `n` (for `n` ≤ 0x80) sets its top bit in
/// `(x - n·0x01…) & !x & 0x80…`, and a zero byte does the same with `n` = 1.
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
struct Escaped<'a>(&'a mut String);

impl Write for Escaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        escape_into(self.0, text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

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
            let mut written = String::new();
            write_f64(&mut written, value);
            assert_eq!(written, format!("{value}"), "for {value:?}");
        }
        for value in [0, 7, 10, 99, 100, 12_345, u64::MAX] {
            let mut written = String::new();
            write_u64(&mut written, value);
            assert_eq!(written, value.to_string());
        }
    }

    #[test]
    fn every_byte_that_json_cannot_hold_raw_is_escaped() {
        let hostile: String = (0_u8..0x80)
            .map(char::from)
            .chain("é\u{2028}😀".chars())
            .collect();
        let mut written = String::new();
        write_json_string(&mut written, &hostile);
        let parsed: String = serde_json::from_str(&written).expect("valid JSON");
        assert_eq!(parsed, hostile);
        assert!(
            !written.bytes().any(|byte| byte < 0x20),
            "raw control byte in {written:?}"
        );
    }

    #[test]
    fn every_kind_of_field_becomes_valid_json() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLines)
            .with_writer(lines.clone())
            .finish();
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
