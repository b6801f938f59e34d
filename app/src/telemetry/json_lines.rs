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
        let metadata = event.metadata();
        writer.write_str(r#"{"timestamp":""#)?;
        write_timestamp(&mut writer)?;
        write!(writer, r#"","level":"{}""#, metadata.level())?;
        let mut fields = FieldWriter {
            out: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str(r#","target":"#)?;
        write_json_string(&mut writer, metadata.target())?;
        writer.write_str("}\n")
    }
}

/// `2026-11-22T11:21:19.149392Z`. The part up to the second is formatted once per second per
/// thread, not once per line.
fn write_timestamp(out: &mut impl Write) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = Utc::now();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != now.timestamp() {
            cached.1.clear();
            write!(cached.1, "{}", now.format("%Y-%m-%dT%H:%M:%S"))?;
            cached.0 = now.timestamp();
        }
        write!(out, "{}.{:06}Z", cached.1, now.timestamp_subsec_micros())
    })
}

struct FieldWriter<'a, W: Write> {
    out: &'a mut W,
    result: fmt::Result,
}

impl<W: Write> FieldWriter<'_, W> {
    fn key(&mut self, field: &Field) -> fmt::Result {
        self.out.write_str(",")?;
        write_json_string(self.out, field.name())?;
        self.out.write_str(":")
    }

    fn record_with(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(self.out));
        }
    }
}

impl<W: Write> Visit for FieldWriter<'_, W> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record_with(field, |out| {
            if value.is_finite() {
                write!(out, "{value}")
            } else {
                out.write_str("null")
            }
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_with(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_with(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record_with(field, |out| write!(out, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_with(field, |out| write_json_string(out, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_with(field, |out| {
            out.write_char('"')?;
            write!(Escaped(out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

fn write_json_string(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(&mut *out).write_str(text)?;
    out.write_char('"')
}

/// Escapes what JSON strings cannot hold raw: quotes, backslashes and control characters.
struct Escaped<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut clean_from = 0;
        for (index, c) in text.char_indices() {
            let escape = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                c if c.is_control() && (c as u32) < 0x20 => "",
                _ => continue,
            };
            self.0.write_str(&text[clean_from..index])?;
            if escape.is_empty() {
                write!(self.0, "\\u{:04x}", c as u32)?;
            } else {
                self.0.write_str(escape)?;
            }
            clean_from = index + c.len_utf8();
        }
        self.0.write_str(&text[clean_from..])
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
