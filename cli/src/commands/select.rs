//! `--only` and `--selector`, shared by `apply`, `diff`, `delete` and `controller`.

use clap::Args;
use pocket_dock::{Error, Selection};

#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Only these objects, e.g. `Sandbox/web,Volume/data` (comma-separated, repeatable); each
    /// must be declared
    #[arg(long, value_name = "KIND/NAME,...")]
    pub only: Vec<String>,
    /// Only objects whose metadata.labels carry all of these, e.g. `tier=db,team=a`
    /// (comma-separated, repeatable: all must match). With --only, an object must satisfy
    /// both
    #[arg(long, short = 'l', value_name = "KEY=VALUE,...")]
    pub selector: Vec<String>,
}

impl SelectArgs {
    /// The selection, or `None` when neither flag was given.
    pub fn selection(&self) -> Result<Option<Selection>, Error> {
        Selection::parse(&self.only, &self.selector)
    }
}
