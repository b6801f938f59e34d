//! Small shared pieces with a name each: running programs, HTTP probes, time.

pub(crate) mod http;
pub(crate) mod process;
pub(crate) mod time;
