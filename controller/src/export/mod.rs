//! Writing a workspace in other tools' formats.

pub mod quadlet;
