//! Bundles: several images in one OCI archive (an OCI image layout in a tar), each blob
//! once, one index entry per name. `image export --all` writes one from the single-image
//! archives the engine exports; `image import` unpacks one (every digest checked before
//! anything is loaded) into single-image archives the engine loads. File work only.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::ImageError;
use super::archive::{Layout, LayoutImage, read_layout, read_layout_with};

/// The index annotation that marks a bundle (its value: the bundle format version).
pub const BUNDLE_ANNOTATION: &str = "dev.pocket-dock.bundle";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// One image of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundledImage {
    pub names: Vec<String>,
    /// `sha256:<config digest>`: the id the engine gives it.
    pub image_id: String,
    pub manifest_digest: String,
}

/// What a bundle holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundleInfo {
    pub images: Vec<BundledImage>,
    /// Distinct blobs (each layer once, however many images share it).
    pub blobs: usize,
    pub bytes: u64,
}

fn write_error(path: &Path) -> impl Fn(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn append(
    builder: &mut tar::Builder<impl Write>,
    name: &str,
    size: u64,
    data: impl Read,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(0);
    builder.append_data(&mut header, name, data)
}

/// Writes an OCI archive at `out` from single-image OCI archives, each with the names it is
/// to carry; `bundle` marks it as a bundle (what `image export --all` writes; a single
/// image unmarked is what `image export NAME` writes). Each part is read once: its blobs are
/// copied (those not written yet) while their digests are checked. The archive is written
/// under a temporary name and renamed into place, so a failure never leaves a partial one
/// at `out`.
pub fn write_archive(
    out: &Path,
    parts: &[(PathBuf, Vec<String>)],
    bundle: bool,
) -> Result<BundleInfo, ImageError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".pocket-dock-bundle-")
        .tempfile_in(parent)
        .map_err(write_error(out))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(temp.as_file()));
    append(
        &mut builder,
        "oci-layout",
        OCI_LAYOUT.len() as u64,
        OCI_LAYOUT,
    )
    .map_err(write_error(out))?;
    let mut written: BTreeSet<String> = BTreeSet::new();
    let mut manifests = Vec::new();
    let mut docker = Vec::new();
    let mut images = Vec::new();
    for (part, names) in parts {
        let image = copy_part(part, &mut builder, &mut written)?;
        for name in names {
            let mut descriptor = image.descriptor.clone();
            descriptor["annotations"] = serde_json::json!({ REF_NAME: name });
            manifests.push(descriptor);
        }
        docker.push(docker_entry(&image, names));
        images.push(BundledImage {
            names: names.clone(),
            image_id: image.image_id,
            manifest_digest: image.manifest_digest,
        });
    }
    append_indexes(&mut builder, manifests, &docker, bundle).map_err(write_error(out))?;
    let mut buffered = builder.into_inner().map_err(write_error(out))?;
    buffered.flush().map_err(write_error(out))?;
    drop(buffered);
    temp.as_file().sync_all().map_err(write_error(out))?;
    let bytes = temp.as_file().metadata().map_err(write_error(out))?.len();
    temp.persist(out).map_err(|e| write_error(out)(e.error))?;
    Ok(BundleInfo {
        images,
        blobs: written.len(),
        bytes,
    })
}

/// An image's entry in Docker's `manifest.json` (what `docker save` writes beside the OCI
/// index since Docker 25): Docker Engine without the containerd image store loads only
/// archives that have one. Its paths are the OCI layout's blobs, so nothing is stored twice.
fn docker_entry(image: &LayoutImage, names: &[String]) -> serde_json::Value {
    let path = |digest: &String| format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    serde_json::json!({
        "Config": path(&image.image_id),
        "RepoTags": names,
        // The manifest and the config come first in `blobs`; the layers follow, in order.
        "Layers": image.blobs.iter().skip(2).map(path).collect::<Vec<_>>(),
    })
}

/// The two indexes of an archive: Docker's `manifest.json` and the OCI `index.json`
/// (marked as a bundle's when it is one).
fn append_indexes(
    builder: &mut tar::Builder<impl Write>,
    manifests: Vec<serde_json::Value>,
    docker: &[serde_json::Value],
    bundle: bool,
) -> std::io::Result<()> {
    let text = serde_json::to_vec(docker).unwrap_or_default();
    append(builder, "manifest.json", text.len() as u64, text.as_slice())?;
    let mut index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    if bundle {
        index["annotations"] = serde_json::json!({ BUNDLE_ANNOTATION: "1" });
    }
    let text = serde_json::to_vec(&index).unwrap_or_default();
    append(builder, "index.json", text.len() as u64, text.as_slice())
}

/// Copies one single-image archive's blobs into `builder` (those not in `written`), each
/// digest checked as it streams, and returns its image, checked whole.
fn copy_part(
    part: &Path,
    builder: &mut tar::Builder<impl Write>,
    written: &mut BTreeSet<String>,
) -> Result<LayoutImage, ImageError> {
    let layout = read_layout_with(part, |hex_digest, size, blob| {
        if written.insert(format!("sha256:{hex_digest}")) {
            append(builder, &format!("blobs/sha256/{hex_digest}"), size, blob)
                .map_err(write_error(part))?;
        }
        Ok(())
    })?;
    let mut images = layout.images(part)?;
    match images.len() {
        1 => Ok(images.remove(0)),
        n => Err(ImageError::InvalidArchive {
            path: part.to_path_buf(),
            reason: format!("the engine exported {n} images where one was asked for"),
        }),
    }
}

/// A bundle unpacked into a folder: every blob checked and written there.
pub(crate) struct Unpacked {
    /// One entry per distinct image (manifest), with every name the bundle gives it.
    pub images: Vec<(LayoutImage, Vec<String>)>,
    pub blobs: usize,
    pub bytes: u64,
    pub is_bundle: bool,
}

/// Whether an archive's index marks it as a bundle, or names more than one image.
pub(crate) fn is_bundle(layout: &Layout, images: &[LayoutImage]) -> bool {
    let distinct: BTreeSet<&str> = images.iter().map(|i| i.manifest_digest.as_str()).collect();
    layout.index["annotations"][BUNDLE_ANNOTATION].is_string() || distinct.len() > 1
}

/// Reads the archive at `path` into `dir` (one file per blob), checking every digest, and
/// groups its index entries by image.
pub(crate) fn unpack(path: &Path, dir: &Path) -> Result<Unpacked, ImageError> {
    let layout = read_layout(path, Some(dir))?;
    let listed = layout.images(path)?;
    let is_bundle = is_bundle(&layout, &listed);
    let mut images: Vec<(LayoutImage, Vec<String>)> = Vec::new();
    for image in listed {
        let name = image.name.clone();
        match images
            .iter_mut()
            .find(|(i, _)| i.manifest_digest == image.manifest_digest)
        {
            Some((_, names)) => names.extend(name),
            None => images.push((image, name.into_iter().collect())),
        }
    }
    Ok(Unpacked {
        images,
        blobs: layout.blobs.len(),
        bytes: layout.bytes,
        is_bundle,
    })
}

/// Writes one unpacked image as a single-image OCI archive at `out`, named `name`.
pub(crate) fn single_image_archive(
    dir: &Path,
    image: &LayoutImage,
    name: Option<&str>,
    out: &Path,
) -> Result<(), ImageError> {
    let file = std::fs::File::create(out).map_err(write_error(out))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
    append(
        &mut builder,
        "oci-layout",
        OCI_LAYOUT.len() as u64,
        OCI_LAYOUT,
    )
    .map_err(write_error(out))?;
    for digest in image.blobs.iter().collect::<BTreeSet<_>>() {
        let hex_digest = digest.trim_start_matches("sha256:");
        let path = dir.join(hex_digest);
        let blob = std::fs::File::open(&path).map_err(|source| ImageError::Read {
            path: path.clone(),
            source,
        })?;
        let size = blob
            .metadata()
            .map_err(|source| ImageError::Read {
                path: path.clone(),
                source,
            })?
            .len();
        append(
            &mut builder,
            &format!("blobs/sha256/{hex_digest}"),
            size,
            blob,
        )
        .map_err(write_error(out))?;
    }
    let names: Vec<String> = name.map(str::to_string).into_iter().collect();
    let mut descriptor = image.descriptor.clone();
    descriptor["annotations"] = match name {
        Some(name) => serde_json::json!({ REF_NAME: name }),
        None => serde_json::json!({}),
    };
    append_indexes(
        &mut builder,
        vec![descriptor],
        &[docker_entry(image, &names)],
        false,
    )
    .map_err(write_error(out))?;
    builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .map_err(write_error(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::embedded::{BaseInput, build};

    #[test]
    fn a_bundle_holds_each_blob_once_and_unpacks_to_loadable_single_archives() {
        let base = build(&BaseInput::find().expect("busybox-static is installed")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("base.tar");
        std::fs::write(&part, &base.archive).unwrap();
        let out = dir.path().join("bundle.tar");
        // The same image twice (as two exports would give it) under three names.
        let parts = vec![
            (part.clone(), vec!["localhost/a:1".to_string()]),
            (
                part.clone(),
                vec!["localhost/b:1".to_string(), "localhost/c:1".to_string()],
            ),
        ];
        let info = write_archive(&out, &parts, true).unwrap();
        assert_eq!(info.images.len(), 2);
        assert_eq!(info.images[0].image_id, base.image_id);
        // Manifest, config and one layer: each once.
        assert_eq!(info.blobs, 3);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".pocket-dock"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary file left behind");

        let unpacked_dir = dir.path().join("unpacked");
        std::fs::create_dir(&unpacked_dir).unwrap();
        let unpacked = unpack(&out, &unpacked_dir).unwrap();
        assert!(unpacked.is_bundle);
        assert_eq!(unpacked.images.len(), 1, "one image, however many names");
        let (image, names) = &unpacked.images[0];
        assert_eq!(names, &["localhost/a:1", "localhost/b:1", "localhost/c:1"]);
        let single = dir.path().join("single.tar");
        single_image_archive(&unpacked_dir, image, Some("localhost/a:1"), &single).unwrap();
        let info = crate::images::archive::inspect(&single).unwrap();
        assert_eq!(info.image_id, base.image_id);
        assert!(info.docker_manifest, "Docker's manifest.json too");
        assert_eq!(info.name.as_deref(), Some("localhost/a:1"));

        // One flipped byte anywhere in a blob: refused before anything is unpacked for use.
        let mut bad = std::fs::read(&out).unwrap();
        let at = bad.len() / 2;
        bad[at] ^= 0xff;
        let tampered = dir.path().join("tampered.tar");
        std::fs::write(&tampered, &bad).unwrap();
        let again = dir.path().join("again");
        std::fs::create_dir(&again).unwrap();
        assert!(unpack(&tampered, &again).is_err());
    }
}
