//! What `scan` finds and what else looks for the same things: the severity scale findings are
//! ranked on (and `--fail-on` compares against), and the secret rules that `scan` runs over
//! image layers and the tidy tests run over this repository.

pub(crate) mod secrets;
pub(crate) mod severity;
