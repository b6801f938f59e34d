//! Images read from their saved archive: the archive and its layers, the filesystem they stack
//! up to, what the configuration says, and the attack surface.

pub(crate) mod archive;
pub(crate) mod entry;
pub(crate) mod facts;
pub(crate) mod surface;
pub(crate) mod tree;
