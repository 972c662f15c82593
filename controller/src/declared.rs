//! What a reconcile acts on: the workspace's declarations, with the last valid version of
//! every file that is broken now.
//!
//! A half-saved or broken file must never make its objects look deleted, before or after a
//! restart. So the last valid documents of every file are remembered (in the state store),
//! and while a file is invalid its last valid version stays in effect. While any file is
//! invalid, or the file list may be incomplete, the declarations are marked incomplete and
//! nothing is pruned: an object that is not declared may still be wanted by the file that
//! does not parse. With no valid version ever seen, a broken file's objects are simply not
//! declared, and whatever Podman runs for them is left alone.
//!
//! Pure apart from reading the workspace's files; persisting [`LastValid`] is the caller's
//! (see `StateStore::save_last_valid`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pocket_dock_spec::model::{Metadata, Spec, WorkspaceSpec};
use pocket_dock_spec::{
    Declarations, Diagnostic, Kind, KnownElsewhere, Loaded, Object, ResolvedPaths, Source,
    load_with,
};
use serde::{Deserialize, Serialize};

use crate::key::Key;

/// The `Workspace` document of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceDocument {
    pub name: Option<String>,
    pub settings: WorkspaceSpec,
    pub source: Source,
}

/// The valid documents of one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileDocuments {
    pub objects: Vec<Object>,
    pub workspace: Option<WorkspaceDocument>,
}

/// The last valid version of every file, by path relative to the workspace root.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LastValid {
    pub files: BTreeMap<PathBuf, FileDocuments>,
}

impl LastValid {
    /// Every file's documents, when `declarations` are complete (every file valid); `None`
    /// otherwise, since then some files' documents are not known to be valid.
    pub fn of_complete(declarations: &Declarations) -> Option<LastValid> {
        if !declarations.complete {
            return None;
        }
        let files = declarations
            .files
            .iter()
            .map(|file| (file.clone(), documents_of(declarations, file)))
            .collect();
        Some(LastValid { files })
    }
}

fn documents_of(declarations: &Declarations, file: &Path) -> FileDocuments {
    FileDocuments {
        objects: declarations
            .objects
            .iter()
            .filter(|o| o.source.file == file)
            .cloned()
            .collect(),
        workspace: declarations
            .workspace_source
            .as_ref()
            .filter(|s| s.file == file)
            .map(|source| WorkspaceDocument {
                name: declarations.workspace_name.clone(),
                settings: declarations.settings.clone(),
                source: source.clone(),
            }),
    }
}

/// The declarations to act on, and what is wrong with the files now.
#[derive(Debug, Clone)]
pub struct Declared {
    /// What the files declare, with the last valid version of each invalid file in place of
    /// what it says now. `complete` is false while any file is invalid or the file list may
    /// be incomplete: then nothing is pruned.
    pub declarations: Declarations,
    /// Every current problem (file, line, message), sorted.
    pub problems: Vec<Diagnostic>,
    /// Objects in effect from a last valid version, with the problem of their file now.
    pub retained: BTreeMap<Key, String>,
    /// What to remember as the last valid version of every file after this load.
    pub last_valid: LastValid,
}

impl Declared {
    /// Loads the workspace at `root`, filling in files that are broken now from
    /// `previous`.
    pub fn load(root: &Path, previous: &LastValid) -> Declared {
        let mut loaded = load_with(root, &KnownElsewhere::new());
        if !loaded.is_valid() {
            // References to objects of a broken file's last valid version are fine: those
            // objects stay in effect.
            let known = known_elsewhere(&loaded, previous);
            if !known.is_empty() {
                loaded = load_with(root, &known);
            }
        }
        merge(loaded, previous)
    }

    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Files whose last valid version stays in effect: invalid now, or not found while the file
/// list may be incomplete.
fn stale_files<'a>(loaded: &Loaded, previous: &'a LastValid) -> Vec<&'a PathBuf> {
    let invalid = loaded.invalid_files();
    let present: BTreeSet<&Path> = loaded
        .declarations
        .files
        .iter()
        .map(PathBuf::as_path)
        .collect();
    previous
        .files
        .keys()
        .filter(|file| {
            invalid.contains(file.as_path())
                || (!loaded.discovery_complete && !present.contains(file.as_path()))
        })
        .collect()
}

fn known_elsewhere(loaded: &Loaded, previous: &LastValid) -> KnownElsewhere {
    stale_files(loaded, previous)
        .into_iter()
        .flat_map(|file| &previous.files[file].objects)
        .map(|o| (o.kind, o.metadata.name.clone()))
        .collect()
}

/// The first problem of `file`, else the first problem at all (a folder that could not be
/// listed hides the files in it).
fn problem_of(problems: &[Diagnostic], file: &Path) -> String {
    problems
        .iter()
        .find(|d| d.file == file)
        .or_else(|| problems.first())
        .map_or_else(
            || format!("{} cannot be read", file.display()),
            ToString::to_string,
        )
}

fn merge(loaded: Loaded, previous: &LastValid) -> Declared {
    let stale = stale_files(&loaded, previous);
    let invalid: BTreeSet<PathBuf> = loaded
        .invalid_files()
        .into_iter()
        .map(Path::to_path_buf)
        .collect();
    let Loaded {
        declarations: mut decl,
        diagnostics: problems,
        discovery_complete,
        unparsed_workspace_files,
    } = loaded;

    let mut last_valid = LastValid::default();
    for file in decl.files.iter().filter(|f| !invalid.contains(*f)) {
        last_valid
            .files
            .insert(file.clone(), documents_of(&decl, file));
    }

    // Objects of invalid files are taken from their last valid version only: what such a
    // file says now was not validated as a whole.
    decl.objects.retain(|o| !invalid.contains(&o.source.file));
    let mut declared: BTreeSet<Key> = decl
        .objects
        .iter()
        .map(|o| Key::new(o.kind, o.metadata.name.clone()))
        .collect();
    let mut retained = BTreeMap::new();
    let mut retained_workspace = None;
    for file in &stale {
        let documents = &previous.files[*file];
        let problem = problem_of(&problems, file);
        for object in &documents.objects {
            let key = Key::new(object.kind, object.metadata.name.clone());
            // Declared in a valid file now (moved there): that version wins.
            if declared.insert(key.clone()) {
                decl.objects.push(object.clone());
                retained.insert(key, problem.clone());
            }
        }
        retained_workspace = retained_workspace.or(documents.workspace.clone());
        last_valid.files.insert((*file).clone(), documents.clone());
    }

    let workspace_invalid = decl
        .workspace_source
        .as_ref()
        .is_some_and(|s| invalid.contains(&s.file));
    // A file that does not parse, was never valid, and reads `kind: Workspace` may hold the
    // defaults: they are unknown then, unless a valid Workspace document is known.
    let workspace_unknown = decl.workspace_source.is_none()
        && retained_workspace.is_none()
        && unparsed_workspace_files
            .iter()
            .any(|f| !previous.files.contains_key(f));
    match retained_workspace {
        Some(w) if workspace_invalid || decl.workspace_source.is_none() => {
            decl.workspace_name = w.name;
            decl.settings = w.settings;
            decl.workspace_source = Some(w.source);
        }
        _ if workspace_invalid => {
            let file = decl
                .workspace_source
                .as_ref()
                .map(|s| s.file.clone())
                .unwrap_or_default();
            if stale.iter().any(|f| **f == file) {
                // Its last valid version had no Workspace document: the defaults held.
                decl.workspace_name = None;
                decl.settings = WorkspaceSpec::default();
                decl.workspace_source = None;
            } else {
                withhold_sandboxes(&mut decl, &mut retained);
            }
        }
        _ if workspace_unknown => withhold_sandboxes(&mut decl, &mut retained),
        _ => {}
    }
    decl.complete = problems.is_empty() && discovery_complete;
    Declared {
        declarations: decl,
        problems,
        retained,
        last_valid,
    }
}

/// The workspace's defaults are unknown, so no sandbox's effective spec is: act on none of
/// them (and prune nothing, the picture being incomplete) until the file is fixed.
fn withhold_sandboxes(decl: &mut Declarations, retained: &mut BTreeMap<Key, String>) {
    retained.retain(|key, _| key.kind != Kind::Sandbox);
    decl.objects.retain(|o| o.kind != Kind::Sandbox);
}

// ---------------------------------------------------------------------------------------
// How the last valid versions are stored: JSON, one row per file.

#[derive(Serialize, Deserialize)]
struct StoredObject {
    kind: String,
    metadata: Metadata,
    spec: serde_json::Value,
    source: Source,
    #[serde(default)]
    resolved: ResolvedPaths,
}

#[derive(Serialize, Deserialize)]
struct StoredFile {
    objects: Vec<StoredObject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workspace: Option<WorkspaceDocument>,
}

impl FileDocuments {
    /// The stored form.
    pub fn to_json(&self) -> String {
        let stored = StoredFile {
            objects: self
                .objects
                .iter()
                .map(|o| StoredObject {
                    kind: o.kind.as_str().to_string(),
                    metadata: o.metadata.clone(),
                    spec: serde_json::to_value(&o.spec).unwrap_or_default(),
                    source: o.source.clone(),
                    resolved: o.resolved.clone(),
                })
                .collect(),
            workspace: self.workspace.clone(),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// Reads the stored form back; `None` when it cannot be understood (written by a
    /// version with other types): the file then has no last valid version.
    pub fn from_json(text: &str) -> Option<FileDocuments> {
        let stored: StoredFile = serde_json::from_str(text).ok()?;
        let objects = stored
            .objects
            .into_iter()
            .map(|o| {
                let kind = o.kind.parse::<Kind>().ok()?;
                Some(Object {
                    kind,
                    metadata: o.metadata,
                    spec: Spec::from_json(kind, o.spec)?.ok()?,
                    source: o.source,
                    resolved: o.resolved,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(FileDocuments {
            objects,
            workspace: stored.workspace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "apiVersion: pocket-dock.dev/v1alpha1\n";

    fn sandbox(name: &str, image: &str) -> String {
        format!(
            "---\n{HEADER}kind: Sandbox\nmetadata: {{name: {name}}}\nspec: {{image: '{image}'}}\n"
        )
    }

    struct Ws {
        dir: tempfile::TempDir,
    }

    impl Ws {
        fn new() -> Ws {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join(".pocket-dock")).unwrap();
            Ws { dir }
        }
        fn write(&self, file: &str, text: &str) {
            std::fs::write(self.dir.path().join(".pocket-dock").join(file), text).unwrap();
        }
        fn load(&self, previous: &LastValid) -> Declared {
            Declared::load(self.dir.path(), previous)
        }
    }

    fn names(d: &Declared) -> Vec<String> {
        let mut names: Vec<String> = d
            .declarations
            .objects
            .iter()
            .map(|o| format!("{}/{}", o.kind, o.metadata.name))
            .collect();
        names.sort();
        names
    }

    fn image_of(d: &Declared, name: &str) -> String {
        match &d.declarations.get(Kind::Sandbox, name).unwrap().spec {
            Spec::Sandbox(s) => s.image.clone().unwrap(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_broken_file_keeps_its_last_valid_version_and_the_picture_is_incomplete() {
        let ws = Ws::new();
        ws.write("a.yaml", &sandbox("a", "img:1"));
        ws.write("b.yaml", &sandbox("b", "img:1"));
        let first = ws.load(&LastValid::default());
        assert!(first.is_valid() && first.declarations.complete);
        assert_eq!(first.last_valid.files.len(), 2);

        ws.write("a.yaml", "kind: Sandbox\nspec: [unclosed\n");
        ws.write("b.yaml", &sandbox("b", "img:2"));
        let second = ws.load(&first.last_valid);
        assert!(!second.declarations.complete);
        assert_eq!(names(&second), ["Sandbox/a", "Sandbox/b"]);
        assert_eq!(image_of(&second, "a"), "img:1", "the last valid version");
        assert_eq!(image_of(&second, "b"), "img:2", "valid files are current");
        let problem = &second.retained[&Key::new(Kind::Sandbox, "a")];
        assert!(problem.starts_with(".pocket-dock/a.yaml:"), "{problem}");
        assert!(!second.retained.contains_key(&Key::new(Kind::Sandbox, "b")));
        // What is remembered for a.yaml is still its last valid version.
        assert_eq!(
            second.last_valid.files[Path::new(".pocket-dock/a.yaml")],
            first.last_valid.files[Path::new(".pocket-dock/a.yaml")]
        );

        // Across a restart: the stored form round-trips.
        let restored = LastValid {
            files: second
                .last_valid
                .files
                .iter()
                .map(|(f, d)| (f.clone(), FileDocuments::from_json(&d.to_json()).unwrap()))
                .collect(),
        };
        assert_eq!(restored, second.last_valid);
        let third = ws.load(&restored);
        assert_eq!(names(&third), ["Sandbox/a", "Sandbox/b"]);
    }

    fn sandbox_spec(d: &Declared, name: &str) -> pocket_dock_spec::model::SandboxSpec {
        match &d.declarations.get(Kind::Sandbox, name).unwrap().spec {
            Spec::Sandbox(s) => s.clone(),
            _ => unreachable!(),
        }
    }

    fn template(name: &str, env: &str) -> String {
        format!(
            "{HEADER}kind: Template\nmetadata: {{name: {name}}}\nspec:\n  sandbox: {{image: 'img:1', env: {{A: '{env}'}}}}\n"
        )
    }

    #[test]
    fn a_sandbox_whose_templates_file_is_broken_keeps_its_last_valid_merged_spec() {
        let ws = Ws::new();
        ws.write("t.yaml", &template("t", "one"));
        ws.write(
            "s.yaml",
            &format!("{HEADER}kind: Sandbox\nmetadata: {{name: s}}\nspec: {{template: t, env: {{B: '2'}}}}\n"),
        );
        ws.write("other.yaml", &sandbox("other", "img:1"));
        let first = ws.load(&LastValid::default());
        assert!(first.is_valid() && first.declarations.complete);
        let merged = sandbox_spec(&first, "s");
        assert_eq!(merged.env.len(), 2);

        // The template edited and broken at once (a half-saved file): the sandbox stays as
        // it was merged, nothing is pruned, and the other sandbox is current.
        ws.write(
            "t.yaml",
            &format!("{}  extra: [unclosed\n", template("t", "two")),
        );
        ws.write("other.yaml", &sandbox("other", "img:2"));
        let second = ws.load(&first.last_valid);
        assert!(!second.declarations.complete);
        assert_eq!(names(&second), ["Sandbox/other", "Sandbox/s", "Template/t"]);
        assert_eq!(
            sandbox_spec(&second, "s"),
            merged,
            "the last valid merged spec"
        );
        assert!(second.retained.contains_key(&Key::new(Kind::Sandbox, "s")));
        assert_eq!(image_of(&second, "other"), "img:2");

        // Valid YAML, but a problem elsewhere in the template's file: the same.
        ws.write(
            "t.yaml",
            &format!(
                "{}---\n{HEADER}kind: Volume\nmetadata: {{name: Bad_Name}}\n",
                template("t", "two")
            ),
        );
        let third = ws.load(&second.last_valid);
        assert!(!third.declarations.complete);
        assert_eq!(sandbox_spec(&third, "s"), merged);

        // Fixed: the edit takes effect.
        ws.write("t.yaml", &template("t", "two"));
        let fourth = ws.load(&third.last_valid);
        assert!(fourth.is_valid() && fourth.declarations.complete);
        assert_ne!(sandbox_spec(&fourth, "s"), merged);
    }

    #[test]
    fn with_no_valid_version_a_broken_file_declares_nothing_and_prunes_nothing() {
        let ws = Ws::new();
        ws.write("a.yaml", "<<<<<<< HEAD\n");
        ws.write("b.yaml", &sandbox("b", "img:1"));
        let d = ws.load(&LastValid::default());
        assert_eq!(names(&d), ["Sandbox/b"]);
        assert!(!d.declarations.complete);
        assert!(d.retained.is_empty());
        assert!(
            !d.last_valid
                .files
                .contains_key(Path::new(".pocket-dock/a.yaml"))
        );
    }

    #[test]
    fn references_into_a_broken_file_resolve_to_its_last_valid_version() {
        let ws = Ws::new();
        ws.write(
            "images.yaml",
            &format!("{HEADER}kind: Image\nmetadata: {{name: base}}\nspec: {{from: {{reference: 'img:1'}}}}\n"),
        );
        ws.write(
            "app.yaml",
            &format!("{HEADER}kind: Sandbox\nmetadata: {{name: app}}\nspec: {{imageFrom: {{image: base}}}}\n"),
        );
        let first = ws.load(&LastValid::default());
        assert!(first.is_valid(), "{:?}", first.problems);
        ws.write("images.yaml", "kind: [\n");
        let second = ws.load(&first.last_valid);
        assert_eq!(
            second
                .problems
                .iter()
                .map(|p| p.file.display().to_string())
                .collect::<Vec<_>>(),
            [".pocket-dock/images.yaml"],
            "app.yaml's reference is fine"
        );
        assert_eq!(names(&second), ["Image/base", "Sandbox/app"]);
        assert!(second.retained.contains_key(&Key::new(Kind::Image, "base")));
        assert!(
            !second
                .retained
                .contains_key(&Key::new(Kind::Sandbox, "app"))
        );
    }

    #[test]
    fn a_deleted_file_is_forgotten_and_a_moved_object_takes_its_new_file() {
        let ws = Ws::new();
        ws.write("a.yaml", &sandbox("a", "img:1"));
        let first = ws.load(&LastValid::default());
        std::fs::remove_file(ws.dir.path().join(".pocket-dock/a.yaml")).unwrap();
        let second = ws.load(&first.last_valid);
        assert!(second.declarations.complete);
        assert!(names(&second).is_empty());
        assert!(second.last_valid.files.is_empty());

        // Moved from a (now broken) to c: c's version wins.
        ws.write("a.yaml", &sandbox("a", "img:1"));
        let third = ws.load(&LastValid::default());
        ws.write("a.yaml", "{broken");
        ws.write("c.yaml", &sandbox("a", "img:9"));
        let fourth = ws.load(&third.last_valid);
        assert_eq!(names(&fourth), ["Sandbox/a"]);
        assert_eq!(image_of(&fourth, "a"), "img:9");
        assert!(fourth.retained.is_empty());
    }

    #[test]
    fn a_broken_workspace_document_keeps_its_last_valid_defaults_or_holds_every_sandbox() {
        let ws = Ws::new();
        let workspace = format!(
            "---\n{HEADER}kind: Workspace\nmetadata: {{name: w}}\nspec: {{defaults: {{network: none}}}}\n"
        );
        ws.write("workspace.yaml", &workspace);
        ws.write("a.yaml", &sandbox("a", "img:1"));
        let first = ws.load(&LastValid::default());
        assert!(first.is_valid(), "{:?}", first.problems);
        ws.write(
            "workspace.yaml",
            &workspace.replace("network: none}", "network: none}, bogus: 1"),
        );
        let second = ws.load(&first.last_valid);
        assert!(!second.is_valid());
        assert_eq!(second.declarations.settings, first.declarations.settings);
        assert_eq!(names(&second), ["Sandbox/a"]);

        // Never valid: the defaults are unknown, so no sandbox is acted on.
        let third = ws.load(&LastValid::default());
        assert!(names(&third).is_empty(), "{:?}", names(&third));
        assert!(!third.declarations.complete);

        // Not even parsing, never valid, and it reads `kind: Workspace`: unknown too.
        ws.write("workspace.yaml", &format!("<<<<<<< HEAD\n{workspace}"));
        let fourth = ws.load(&LastValid::default());
        assert!(names(&fourth).is_empty(), "{:?}", names(&fourth));
        // With its last valid version known, that version's defaults hold.
        let fifth = ws.load(&first.last_valid);
        assert_eq!(names(&fifth), ["Sandbox/a"]);
        assert_eq!(fifth.declarations.settings, first.declarations.settings);
        // A broken file that is not about the workspace holds nothing.
        ws.write("workspace.yaml", "<<<<<<< HEAD\nkind: Sandbox\n");
        let sixth = ws.load(&LastValid::default());
        assert_eq!(names(&sixth), ["Sandbox/a"]);
    }
}
