//! Command-line surface: argument types and dispatch. Every command is a thin layer over
//! the library; nothing here decides behaviour that a library user could not reach.

/// `println!` that never panics: a closed stdout (`pocket-dock get | head -1`) must not
/// crash a command or abort an apply half-way, so write errors are ignored.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that never panics.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod apply;
mod audit;
mod controller;
mod declared;
mod delete;
mod doctor;
mod events;
mod exec;
mod explain;
mod export;
mod export_quadlet;
mod fork;
mod gc;
mod get;
mod image;
mod import;
mod import_devcontainer;
mod init;
mod logs;
mod man;
mod pause;
mod pool;
pub mod progress;
mod report;
mod reset;
mod run;
mod schema;
mod select;
mod session;
mod shell;
mod snapshot;
mod template;
pub mod usage;
mod validate;
mod wait;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pocket_dock::engine::EngineConfig;
use pocket_dock::{Engine, Error, ExitCode, Workspace};

pub use report::print_error;

#[derive(Debug, Parser)]
#[command(
    name = "pocket-dock",
    version,
    about = "Declarative, reconciled sandboxes on Podman",
    after_help = "Exit codes: 0 ok, 1 changes pending, 2 invalid input, 3 Podman unreachable, \
                  4 operation failed, 5 timed out, 130 interrupted; `run`, `exec` and `shell` pass their command's code through."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Workspace root (default: nearest ancestor holding .pocket-dock/, else the current folder)
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Podman socket, e.g. unix:///run/podman/podman.sock (default: CONTAINER_HOST,
    /// DOCKER_HOST, then the rootless and rootful sockets)
    #[arg(long, global = true, value_name = "URL")]
    pub host: Option<String>,

    /// Show raw Podman API operations (-vv: also exec output chunks)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Output format (`wide`: text with more columns, for `get`; text elsewhere)
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// The command's path (`image export`), for the JSON error object; set after parsing.
    #[arg(skip)]
    pub command: String,

    /// Where live progress lines are drawn (a terminal's stderr), set by `main`.
    #[arg(skip)]
    pub screen: Option<progress::Screen>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    /// Text with more columns (`get -o wide`, as kubectl's). Every other command sees
    /// `Text`: [`dispatch`] hands the difference to `get` alone.
    Wide,
    Json,
    Yaml,
}

/// Writes a chunk of a command's output where it belongs: stdout (flushed, so that output
/// shows as it comes) or stderr.
pub fn write_chunk(stream: pocket_dock::engine::StreamKind, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    match stream {
        pocket_dock::engine::StreamKind::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(data)?;
            out.flush()
        }
        pocket_dock::engine::StreamKind::Stderr => std::io::stderr().lock().write_all(data),
    }
}

/// Writes a chunk of a command's output as one JSON line on stdout (json and yaml modes of
/// `exec`, `run` and `logs`): `{"stream": "stdout"|"stderr", "data": "..."}`, the data as
/// UTF-8 (invalid bytes replaced).
pub fn write_json_chunk(
    stream: pocket_dock::engine::StreamKind,
    data: &[u8],
) -> std::io::Result<()> {
    use std::io::Write as _;
    let line = serde_json::json!({
        "stream": match stream {
            pocket_dock::engine::StreamKind::Stdout => "stdout",
            pocket_dock::engine::StreamKind::Stderr => "stderr",
        },
        "data": String::from_utf8_lossy(data),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// A warning on stderr: `warning: TEXT` in text mode, `{"warning": "TEXT"}` in json and
/// yaml modes (where stderr holds only JSON lines).
pub fn warn(format: OutputFormat, text: &str) {
    match format {
        OutputFormat::Text | OutputFormat::Wide => err!("warning: {text}"),
        OutputFormat::Json | OutputFormat::Yaml => {
            err!("{}", serde_json::json!({ "warning": text }))
        }
    }
}

/// A note on stderr: TEXT as it is in text mode, `{"note": "TEXT"}` in json and yaml modes.
pub fn note(format: OutputFormat, text: &str) {
    match format {
        OutputFormat::Text | OutputFormat::Wide => err!("{text}"),
        OutputFormat::Json | OutputFormat::Yaml => {
            err!("{}", serde_json::json!({ "note": text }))
        }
    }
}

/// Options for a command run in a sandbox (`run`, `exec`).
#[derive(Debug, Args)]
pub struct CommandOptions {
    /// Working directory inside the sandbox
    #[arg(long, short = 'w', value_name = "DIR")]
    pub workdir: Option<String>,
    /// Environment variable for the command (repeatable)
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Give up after this long (exit 5), e.g. 30s, 5m; exec kills the command and what it
    /// started
    #[arg(long, value_name = "DURATION", value_parser = pocket_dock_spec::parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

impl CommandOptions {
    pub fn check(&self) -> Result<(), Error> {
        match self.env.iter().find(|e| !e.contains('=')) {
            Some(bad) => Err(Error::argument(
                "--env",
                format!("--env {bad:?} must be KEY=VALUE"),
            )),
            None => Ok(()),
        }
    }
}

/// Prints a machine-readable value in the chosen format (text falls back to JSON).
pub fn emit(value: &serde_json::Value, format: OutputFormat) {
    match format {
        OutputFormat::Yaml => {
            use std::io::Write as _;
            let _ = write!(
                std::io::stdout().lock(),
                "{}",
                pocket_dock_spec::to_yaml(value)
            );
        }
        _ => out!("{value}"),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the Podman connection and setup, and say what to fix
    Doctor,
    /// Run a command in an ephemeral sandbox, streaming its output
    Run(run::RunArgs),
    /// Converge: make Podman run what .pocket-dock/ declares
    #[command(after_help = SELECTED_APPLY)]
    Apply(apply::ApplyArgs),
    /// Show what apply would do and why (exit 1 when changes are pending)
    #[command(alias = "plan", after_help = SELECTED_APPLY)]
    Diff(apply::DiffArgs),
    /// List declared and running objects: desired vs actual state, phase, age
    Get(get::GetArgs),
    /// Wait until objects are Ready for their current spec, or deleted (exit 5 on timeout)
    Wait(wait::WaitArgs),
    /// Run a command in a running sandbox, streaming its output; its exit code is ours
    Exec(exec::ExecArgs),
    /// An interactive shell in a running sandbox, with a terminal
    Shell(shell::ShellArgs),
    /// A shell session driven by JSON lines on stdin/stdout (for tools and agents)
    Session(session::SessionArgs),
    /// Show a sandbox's output (-f to follow it, across restarts)
    Logs(logs::LogsArgs),
    /// List the commands run with `exec` (latest last; a view of the event log)
    History(exec::HistoryArgs),
    /// Inspect, export or import the workspace's images (OCI archives, no network)
    Image(image::ImageArgs),
    /// Write the workspace in another tool's format (`export kube`: manifests for a
    /// cluster or `podman kube play`; `export quadlet`: systemd units)
    Export(export::ExportArgs),
    /// Write .pocket-dock/ documents from another tool's files (`import compose`,
    /// `import devcontainer`)
    Import(import::ImportArgs),
    /// Snapshot a running sandbox: writes .pocket-dock/snapshots/NAME.yaml, then applies it
    Snapshot(snapshot::SnapshotArgs),
    /// Remove a sandbox's or volume's runtime objects (not its YAML)
    #[command(after_help = SELECTED_DELETE)]
    Delete(delete::DeleteArgs),
    /// Take a ready sandbox from a warm pool; prints its name (the only stdout line)
    Claim(pool::ClaimArgs),
    /// Remove a claimed sandbox at once
    Release(pool::ReleaseArgs),
    /// Warm pools: `pool list`, `pool refill POOL`
    Pool(pool::PoolArgs),
    /// Make a sandbox again from its declaration: its container removed and created anew;
    /// its named volumes kept unless --volumes
    Reset(reset::ResetArgs),
    /// Remove what pocket-dock made that nothing declares any more (--dry-run lists it)
    Gc(gc::GcArgs),
    /// Copy a running sandbox: commit it (without stopping it) and declare NEW from that
    /// snapshot in .pocket-dock/forks/NEW.yaml, then apply NEW
    Fork(fork::ForkArgs),
    /// Freeze a running sandbox's processes, keeping its memory (until `resume`)
    Pause(pause::PauseArgs),
    /// Thaw a paused sandbox
    Resume(pause::PauseArgs),
    /// Keep the workspace converged: react to file edits and Podman events until stopped
    #[command(alias = "watch", after_help = SELECTED_APPLY)]
    Controller(controller::ControllerArgs),
    /// Show the event log: every action of every command and the controller (-f to follow)
    Events(events::EventsArgs),
    /// Check the event log's hash chains (`audit verify`: exit 4 names the first changed,
    /// deleted or reordered row)
    Audit(audit::AuditArgs),
    /// List the built-in and declared templates, or show the sandbox spec one gives
    Template(template::TemplateArgs),
    /// Check every document under .pocket-dock/ and report all problems (exit 2 if any)
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema (or the Kubernetes CRDs), write them to a folder, or check them
    /// for drift
    Schema(schema::SchemaArgs),
    /// Create .pocket-dock/ with an example Sandbox, a .gitignore and the schema
    Init,
    /// The egress proxy of a workspace (started by apply; not for people)
    #[command(hide = true, name = "egress-proxy")]
    EgressProxy {
        /// The workspace's `.pocket-dock/` folder.
        dir: std::path::PathBuf,
    },
    /// Describe a field of a document: its type, description, default and an example
    /// (`explain sandbox.spec.mounts`), from the JSON Schema
    Explain(explain::ExplainArgs),
    /// Write a man page for every command and subcommand into a folder
    Man(man::ManArgs),
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// How `--only`/`--selector` limit the commands that converge.
const SELECTED_APPLY: &str = "With --only/--selector: the selected objects (both flags given: those matching both) \
     and what they need (dependsOn, volumes, their Image or Snapshot, a build's parent image, \
     a snapshot's sandbox), not what depends on them. Nothing outside is touched and nothing \
     is pruned (no undeclared container, image or volume is removed). A selection that \
     matches no declared object is an error (exit 2).";

/// How `--only`/`--selector` limit `delete`.
const SELECTED_DELETE: &str = "With --only/--selector: removes the selected objects' containers, and \
     the selected volumes with their data; not their dependencies (deleting Sandbox/web leaves \
     the Sandbox/db it depends on). Both flags given: the objects matching both. A selection \
     that matches no declared object is an error (exit 2).";

/// The outcome of a command: an exit code to leave with.
pub type Outcome = Result<u8, Error>;

pub async fn dispatch(mut cli: Cli) -> Outcome {
    let wide = cli.global.output == OutputFormat::Wide;
    if wide {
        cli.global.output = OutputFormat::Text;
    }
    match cli.command {
        Command::Doctor => doctor::doctor(&cli.global).await,
        Command::Run(args) => run::run(&cli.global, args).await,
        Command::Apply(args) => apply::apply(&cli.global, args).await,
        Command::Diff(args) => apply::diff(&cli.global, args).await,
        Command::Get(args) => get::get(&cli.global, args, wide).await,
        Command::Wait(args) => wait::wait(&cli.global, args).await,
        Command::Delete(args) => delete::delete(&cli.global, args).await,
        Command::Gc(args) => gc::gc(&cli.global, args).await,
        Command::Reset(args) => reset::reset(&cli.global, args).await,
        Command::Fork(args) => fork::fork(&cli.global, args).await,
        Command::Pause(args) => pause::pause(&cli.global, args).await,
        Command::Resume(args) => pause::resume(&cli.global, args).await,
        Command::Claim(args) => pool::claim(&cli.global, args).await,
        Command::Release(args) => pool::release(&cli.global, args).await,
        Command::Pool(args) => pool::pool(&cli.global, args).await,
        Command::Image(args) => image::image(&cli.global, args).await,
        Command::Import(args) => import::import(&cli.global, args),
        Command::Exec(args) => exec::exec(&cli.global, args).await,
        Command::History(args) => exec::history(&cli.global, args),
        Command::Logs(args) => logs::logs(&cli.global, args).await,
        Command::Session(args) => session::session(&cli.global, args).await,
        Command::Shell(args) => shell::shell(&cli.global, args).await,
        Command::Export(args) => export::export(&cli.global, args).await,
        Command::Snapshot(args) => snapshot::snapshot(&cli.global, args).await,
        Command::Controller(args) => controller::controller(&cli.global, args).await,
        Command::Events(args) => events::events(&cli.global, args).await,
        Command::Audit(args) => audit::audit(&cli.global, args),
        Command::Validate(args) => validate::validate(&cli.global, args).await,
        Command::Schema(args) => schema::schema(&cli.global, args),
        Command::Template(args) => template::template(&cli.global, args),
        Command::Init => init::init(&cli.global),
        Command::Explain(args) => explain::explain(&cli.global, args),
        Command::Man(args) => man::man(&cli.global, args),
        Command::EgressProxy { dir } => match pocket_dock::egress::proxy::run(&dir).await {
            Ok(()) => Ok(ExitCode::Success.code()),
            Err(e) => {
                eprintln!("pocket-dock egress-proxy: {e}");
                Ok(ExitCode::Failed.code())
            }
        },
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            if cli.global.output == OutputFormat::Text {
                clap_complete::generate(shell, &mut cmd, "pocket-dock", &mut std::io::stdout());
            } else {
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut cmd, "pocket-dock", &mut script);
                emit(
                    &serde_json::json!({
                        "shell": shell.to_string(),
                        "script": String::from_utf8_lossy(&script),
                    }),
                    cli.global.output,
                );
            }
            Ok(ExitCode::Success.code())
        }
    }
}

impl GlobalArgs {
    pub fn workspace(&self) -> Result<Workspace, Error> {
        let cwd =
            std::env::current_dir().map_err(|e| Error::file("read", "the current folder", e))?;
        Ok(Workspace::locate(self.dir.as_deref(), &cwd)?)
    }

    /// The workspace, which must have a `.pocket-dock/` folder (declarative commands).
    pub fn declared_workspace(&self) -> Result<Workspace, Error> {
        Ok(self.workspace()?.require_declared()?)
    }

    pub fn engine_config(&self) -> Result<EngineConfig, Error> {
        Ok(EngineConfig::discover(self.host.as_deref())?)
    }

    pub fn engine(&self) -> Result<Engine, Error> {
        Ok(Engine::new(&self.engine_config()?)?)
    }

    /// The engine for work on `workspace`. Without one, invalid documents are still the
    /// first thing to report: they are what the user fixes first, and need no engine.
    pub fn engine_for(&self, workspace: &Workspace) -> Result<Engine, Error> {
        self.engine().map_err(|e| match workspace.load() {
            Err(invalid @ Error::Invalid { .. }) => invalid,
            _ => e,
        })
    }
}
