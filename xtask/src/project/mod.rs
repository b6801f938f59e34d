//! This repository as the commands see it: the images and the static binary it makes, their
//! Dockerfiles and profiles.

pub(crate) mod final_stage;
pub(crate) mod profile;
pub(crate) mod static_binary;
pub(crate) mod variant;
