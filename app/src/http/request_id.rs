//! `x-request-id`: kept when a caller (or the proxy in front) sends a sane one, generated
//! otherwise, so one id follows a request through proxy logs, app logs and the response.
//!
//! tower-http's `SetRequestIdLayer` keeps a caller's id and asks [`MakeId`] for one when there is
//! none; [`drop_unacceptable`], in front of it, removes a caller's id this service does not take
//! (empty, too long, not visible ASCII), so that it is replaced. A handler finds the id where the
//! caller's would be, in the request's own `x-request-id` header (and as tower-http's
//! [`RequestId`] extension); `PropagateRequestIdLayer` copies it onto the response.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use tower_http::request_id::{MakeRequestId, RequestId};

pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longer ids are replaced: a header is not a place to smuggle payloads into logs.
const MAX_LEN: usize = 128;

/// The request's id as the log line writes it.
pub fn as_str(id: &RequestId) -> &str {
    // Only visible ASCII ever gets here (see `is_acceptable`), so this cannot fail.
    id.header_value().to_str().unwrap_or_default()
}

/// Removes the caller's `x-request-id` when it is not one this service keeps.
pub fn drop_unacceptable(mut request: Request) -> Request {
    if request
        .headers()
        .get(&HEADER)
        .is_some_and(|value| !is_acceptable(value))
    {
        request.headers_mut().remove(&HEADER);
    }
    request
}

fn is_acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(u8::is_ascii_graphic)
}

/// The ids `SetRequestIdLayer` gives requests that come without one: [`generate`]d.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        Some(RequestId::new(generate()))
    }
}

/// A UUID-v4-shaped id: a process-wide counter run through `SipHash` with random keys, its 64
/// bits widened to 128 by a `SplitMix64` step keyed with a second secret. Unique within the
/// process, unpredictable outside it (the next id needs the next hash), and no system call per
/// request, where tower-http's `MakeRequestUuid` reads the operating system's random source
/// for each id and formats it through a `String`. One keyed hash, not two: a keyed hash is most
/// of an id's cost.
pub fn generate() -> HeaderValue {
    static KEYS: OnceLock<(RandomState, u64)> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (keys, widen) = KEYS.get_or_init(|| {
        let keys = RandomState::new();
        let widen = keys.hash_one(u64::MAX);
        (keys, widen)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let high = keys.hash_one(n);
    let mut low = (high ^ widen).wrapping_add(0x9e37_79b9_7f4a_7c15);
    low = (low ^ (low >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    low = (low ^ (low >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    low ^= low >> 31;
    let mut bits = (u128::from(high) << 64) | u128::from(low);
    bits = (bits & !(0xF << 76)) | (0x4 << 76); // version 4
    bits = (bits & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
    // Owned by the `Bytes` itself: one allocation, and clones that only count references.
    HeaderValue::from_maybe_shared(Bytes::from_owner(format_uuid(bits)))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, written without intermediate strings: two hex
/// digits a byte, from a table.
fn format_uuid(bits: u128) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b'-'; 36];
    let mut at = 0;
    for (index, byte) in bits.to_be_bytes().into_iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            at += 1; // the dash already there
        }
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0xF)];
        at += 2;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uuid_v4_shaped_and_distinct() {
        let (first, second) = (generate(), generate());
        assert_ne!(first, second);
        let id = first.to_str().expect("ascii");
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert!(matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn formats_all_128_bits_in_uuid_layout() {
        let text = format_uuid(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert_eq!(&text, b"01234567-89ab-cdef-fedc-ba9876543210");
    }

    #[test]
    fn keeps_a_sane_incoming_id_and_drops_a_bad_one() {
        let with = |value: HeaderValue| {
            let mut request = Request::new(axum::body::Body::empty());
            request.headers_mut().insert(&HEADER, value);
            drop_unacceptable(request).headers().get(&HEADER).cloned()
        };
        assert_eq!(
            with(HeaderValue::from_static("trace-abc-123")),
            Some(HeaderValue::from_static("trace-abc-123"))
        );
        assert_eq!(with(HeaderValue::from_static("has spaces")), None);
        assert_eq!(with(HeaderValue::from_static("")), None);
        let long = HeaderValue::from_str(&"x".repeat(129)).expect("ascii");
        assert_eq!(with(long), None);
        let bytes = HeaderValue::from_bytes(b"\xff\xfe-not-utf8").expect("a header value");
        assert_eq!(with(bytes), None);
    }
}
