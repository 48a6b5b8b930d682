//! The Selector layer on every backend: misuse answered with precise errors
//! (`bad_input`), random operation sequences checked against a model (`model`), the
//! sequences that once failed (`regressions`), and the buffer bounds safe code keeps
//! (`safe_code`).

#[macro_use]
#[path = "../util/mod.rs"]
mod util;

mod bad_input;
mod model;
mod regressions;
mod safe_code;
