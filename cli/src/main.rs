//! The `pocket-dock` binary: parse arguments, set up logging, run one command, exit with
//! its documented code.

mod commands;
mod sentence;

use tracing_subscriber::EnvFilter;

use commands::OutputFormat;

fn main() -> std::process::ExitCode {
    let (mut cli, command) = match commands::usage::parse(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(code) => return std::process::ExitCode::from(code),
    };
    cli.global.command = command.clone();
    cli.global.screen = commands::progress::Screen::detect(cli.global.output);
    let controller = matches!(cli.command, commands::Command::Controller(_));
    init_tracing(
        cli.global.verbose,
        cli.global.output,
        cli.global.screen.clone(),
        controller,
    );
    let format = cli.global.output;
    let verbose = cli.global.verbose > 0;

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) if format == OutputFormat::Text || format == OutputFormat::Wide => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(pocket_dock::ExitCode::Failed.code());
        }
        Err(e) => {
            let err = pocket_dock::Error::Task {
                task: "starting the async runtime",
                message: e.to_string(),
            };
            commands::print_error(&err, format, verbose, &command);
            return std::process::ExitCode::from(err.exit_code().code());
        }
    };
    let code = match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            commands::print_error(&err, format, verbose, &command);
            err.exit_code().code()
        }
    };
    std::process::ExitCode::from(code)
}

/// `screen`: live progress lines, kept out of the way of each log line. `controller`: the
/// `controller` command, whose INFO lines are its output.
fn init_tracing(
    verbose: u8,
    format: OutputFormat,
    screen: Option<commands::progress::Screen>,
    controller: bool,
) {
    let default = match verbose {
        // The controller's one line per reconcile is its normal output. Every other
        // command prints its own sentences; the library's log lines are for -v.
        0 if controller => "warn,pocket_dock::controller=info",
        0 => "warn",
        1 => "warn,pocket_dock=debug",
        _ => "warn,pocket_dock=trace",
    };
    let filter =
        EnvFilter::try_from_env("POCKET_DOCK_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || commands::progress::LogWriter::new(screen.clone()))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    match format {
        OutputFormat::Json | OutputFormat::Yaml => builder.json().init(),
        // Without -v, a command's warnings read as its own sentences.
        OutputFormat::Text | OutputFormat::Wide if verbose == 0 && !controller => {
            builder.event_format(sentence::Sentence).init();
        }
        OutputFormat::Text | OutputFormat::Wide => builder.compact().init(),
    }
}
