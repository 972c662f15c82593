//! `pocket-dock init`: prints what `pocket_dock::workspace::init` made.

use pocket_dock::sdk::init as make;
use pocket_dock::workspace::DIR_NAME;
use pocket_dock::{Error, ExitCode};
use pocket_dock_spec::schema::COMBINED_FILE;

use super::{GlobalArgs, Outcome, OutputFormat, emit};

pub fn init(global: &GlobalArgs) -> Outcome {
    let cwd = std::env::current_dir().map_err(|e| Error::file("read", "the current folder", e))?;
    let given = global.dir.as_ref().map_or(cwd.clone(), |d| cwd.join(d));
    let made = make::init(&given)?;
    let dir = made.root.join(DIR_NAME);
    if matches!(global.output, OutputFormat::Json | OutputFormat::Yaml) {
        emit(
            &serde_json::json!({
                "root": made.root,
                "dir": dir,
                "created": made.created,
                "unchanged": made.created.is_empty(),
            }),
            global.output,
        );
    } else if made.created.is_empty() {
        out!("{} is already initialised; nothing changed", dir.display());
    } else {
        for name in &made.created {
            out!("created {}/{name}", DIR_NAME);
        }
        out!("next: edit {DIR_NAME}/sandbox.yaml, then `pocket-dock validate`");
        out!(
            "editors: {DIR_NAME}/schema/{COMBINED_FILE} (refresh with `pocket-dock schema --out {DIR_NAME}/schema`)"
        );
    }
    Ok(ExitCode::Success.code())
}
