//! A sandbox in milliseconds from a warm pool: claim one (a ready member handed over under
//! its own name), run code in a shell session in it, release it, and top the pool up again.
//! The workspace declares a `Pool` (here `graders`) of a template that names an image.
//!
//! ```sh
//! pocket-dock apply                  # fills the pool
//! cargo run -p pocket-dock --example pool_claim -- . graders
//! ```

use std::path::Path;
use std::time::Instant;

use pocket_dock::pool::ClaimOptions;
use pocket_dock::sandbox::Sandbox;
use pocket_dock::{Engine, Error, Workspace};

/// What the session printed, and how long the claim took (ms).
pub async fn run(engine: &Engine, root: &Path, pool: &str) -> Result<(String, f64), Error> {
    let workspace = Workspace::open(root)?;
    let pool = workspace.pool(engine, pool);

    let started = Instant::now();
    let claimed = pool.claim(&ClaimOptions::default()).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "claimed {} from Pool/{} in {ms:.1} ms{}",
        claimed.name,
        claimed.pool,
        if claimed.cold {
            " (cold: the pool was empty)"
        } else {
            ""
        }
    );

    // From here on it is a sandbox like any other: found by its name.
    let sandbox = Sandbox::find(engine, &workspace.ownership(), &claimed.name).await?;
    let mut session = sandbox.open_session(None, None).await?;
    let mut printed = String::new();
    for code in ["x=6; y=7", "echo $((x * y))"] {
        let done = session
            .run(code, None, |_, data| {
                printed.push_str(&String::from_utf8_lossy(data))
            })
            .await?;
        println!("[{code}] exit {:?}", done.exit_code);
    }
    session.close(None).await?;
    print!("{printed}");

    // Done with it: removed at once. Then the pool is brought back to its size (a running
    // `pocket-dock controller` would have done it already; this waits for another refill).
    workspace.release(engine, &claimed.name).await?;
    let refill = pool.refill(true).await?;
    println!("refilled: {} made", refill.made);
    let status = pool.status().await?;
    println!(
        "Pool/{}: {}/{} ready",
        status.name, status.ready, status.size
    );
    Ok((printed, ms))
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let pool = args.next().unwrap_or_else(|| "graders".into());
    run(&Engine::from_env()?, Path::new(&root), &pool).await?;
    Ok(())
}
