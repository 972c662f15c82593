//! Images from Rust: snapshot a running sandbox (a Snapshot document is written, then
//! applied), export the snapshot's image to an OCI archive, and import it again, checked
//! blob by blob.
//!
//! ```sh
//! cd examples/workspaces/basic && pocket-dock apply
//! cargo run -p pocket-dock --example images_and_snapshots -- examples/workspaces/basic shell /tmp/shell.tar
//! ```

use std::path::Path;
use std::sync::Arc;

use pocket_dock::{ApplyOptions, Engine, Error, NoObserver, SnapshotRequest, Workspace, images};

/// Snapshots `sandbox` as Snapshot `saved`, exports it to `archive`, imports it again.
/// Returns the imported image's id.
pub async fn run(
    engine: &Engine,
    root: &Path,
    sandbox: &str,
    archive: &Path,
) -> Result<String, Error> {
    let workspace = Workspace::open(root)?;
    let request = SnapshotRequest {
        sandbox: sandbox.to_string(),
        name: "saved".to_string(),
        description: Some("taken by the SDK example".to_string()),
    };
    let snapshot = workspace
        .snapshot(
            engine,
            &request,
            ApplyOptions::default(),
            Arc::new(NoObserver),
        )
        .await?;
    println!(
        "wrote {} (generation {}); converged: {}",
        snapshot.file.path.display(),
        snapshot.file.generation,
        snapshot.apply.converged()
    );

    let (object, exported) = workspace.export_image(engine, "saved", archive).await?;
    println!(
        "exported {} ({}) to {}: {} blobs, {} bytes",
        object.key,
        exported.image,
        archive.display(),
        exported.archive.blobs,
        exported.archive.bytes
    );
    let imported = images::import(engine, archive).await?;
    println!("imported {} as {:?}", imported.id, imported.names);
    Ok(imported.id)
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| ".".into());
    let name = args.next().unwrap_or_else(|| "shell".into());
    let archive = args
        .next()
        .unwrap_or_else(|| "/tmp/pocket-dock-snapshot.tar".into());
    run(
        &Engine::from_env()?,
        Path::new(&root),
        &name,
        Path::new(&archive),
    )
    .await?;
    Ok(())
}
