//! The one "wait until it answers" loop: look, and look again after a pause, until the look
//! finds what it waits for, fails, or the time is up. Every wait of xtask is bounded.

use std::time::{Duration, Instant};

use anyhow::Result;

/// Calls `look` until it returns `Some`, pausing `interval` between looks (never past the
/// deadline). `Ok(None)` when `timeout` passed first; an error from `look` ends the wait.
pub(crate) fn until<T>(
    timeout: Duration,
    interval: Duration,
    mut look: impl FnMut() -> Result<Option<T>>,
) -> Result<Option<T>> {
    let started = Instant::now();
    loop {
        if let Some(found) = look()? {
            return Ok(Some(found));
        }
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(interval.min(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_what_it_found_or_none_when_time_is_up() {
        let mut looks = 0;
        let found = until(Duration::from_secs(5), Duration::from_millis(1), || {
            looks += 1;
            Ok((looks == 3).then_some(looks))
        });
        assert_eq!(found.expect("no error"), Some(3));
        let started = Instant::now();
        let never = until(Duration::from_millis(30), Duration::from_millis(5), || {
            Ok(None::<()>)
        });
        assert!(never.expect("no error").is_none());
        assert!(started.elapsed() < Duration::from_secs(1), "bounded");
        let failed = until(Duration::from_secs(5), Duration::from_millis(1), || {
            anyhow::bail!("gone")
        });
        assert_eq!(
            failed
                .map(|_: Option<()>| ())
                .expect_err("an error ends it")
                .to_string(),
            "gone"
        );
    }
}
