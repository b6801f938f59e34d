//! Small shared pieces with a name each: running programs, HTTP probes, time, the machine.

pub(crate) mod fs;
pub(crate) mod git;
pub(crate) mod http;
pub(crate) mod machine;
pub(crate) mod output;
pub(crate) mod process;
pub(crate) mod stats;
pub(crate) mod time;
pub(crate) mod wait;
