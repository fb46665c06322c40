//! What the kit's trusted binaries and the grader say to each other.
//!
//! Drivers print one JSON object per line on stdout; the grader reads them
//! back into the same types, so a renamed or missing field is a parse error
//! with a name, never a number that silently became zero.
//!
//! - [`messages`]: every message a driver, the heap driver or a lab's tool prints.
//! - [`kit`]: finding the kit from the current directory, as cargo finds a workspace.

pub mod kit;
pub mod messages;

pub use messages::*;
