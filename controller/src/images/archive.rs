//! Reading OCI archives back: every blob's sha256 is checked against its name, and the
//! image's identity (config digest = image id, manifest digest, name) is read from the
//! index. `image import` refuses an archive that fails any check, before Podman sees it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{ImageError, hex};

/// What an OCI archive holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveInfo {
    /// `sha256:<config digest>`: the id Podman gives the loaded image.
    pub image_id: String,
    pub manifest_digest: String,
    /// The `org.opencontainers.image.ref.name` annotation, when present.
    pub name: Option<String>,
    pub blobs: usize,
    pub bytes: u64,
    /// Whether it also has Docker's `manifest.json` (as `docker save` and pocket-dock's
    /// embedded base write it), which every engine can load.
    pub docker_manifest: bool,
}

/// Small JSON blobs are kept to be parsed; layers are only hashed.
const KEEP_UP_TO: u64 = 4 * 1024 * 1024;

pub fn inspect(path: &Path) -> Result<ArchiveInfo, ImageError> {
    let invalid = |reason: String| ImageError::InvalidArchive {
        path: path.to_path_buf(),
        reason,
    };
    let read = |source| ImageError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let bytes = file.metadata().map_err(read)?.len();
    let mut archive = tar::Archive::new(file);
    let mut index: Option<Vec<u8>> = None;
    let mut docker_manifest = false;
    // Blob digest -> its content when small.
    let mut blobs: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    for entry in archive.entries().map_err(read)? {
        let mut entry = entry.map_err(read)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(read)?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if name == "manifest.json" {
            docker_manifest = true;
        }
        if name == "index.json" {
            let mut content = Vec::new();
            (&mut entry)
                .take(KEEP_UP_TO)
                .read_to_end(&mut content)
                .map_err(read)?;
            index = Some(content);
        } else if let Some(expected) = name.strip_prefix("blobs/sha256/") {
            let keep = entry.size() <= KEEP_UP_TO;
            let mut hasher = Sha256::new();
            let mut content = Vec::new();
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let n = entry.read(&mut buffer).map_err(read)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
                if keep {
                    content.extend_from_slice(&buffer[..n]);
                }
            }
            let actual = hex(&hasher.finalize());
            if actual != expected {
                return Err(ImageError::DigestMismatch {
                    path: path.to_path_buf(),
                    blob: format!("sha256:{expected}"),
                    actual: format!("sha256:{actual}"),
                });
            }
            blobs.insert(format!("sha256:{actual}"), keep.then_some(content));
        }
    }
    let index = index.ok_or_else(|| invalid("no index.json: not an OCI archive".into()))?;
    let index: serde_json::Value = serde_json::from_slice(&index)
        .map_err(|e| invalid(format!("index.json is not JSON: {e}")))?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let [descriptor] = manifests.as_slice() else {
        return Err(invalid(format!(
            "index.json lists {} images; import takes archives of one",
            manifests.len()
        )));
    };
    let manifest_digest = descriptor["digest"]
        .as_str()
        .ok_or_else(|| invalid("index.json has no manifest digest".into()))?
        .to_string();
    let name = descriptor["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .map(str::to_string);
    let blob = |digest: &str| -> Result<&Option<Vec<u8>>, ImageError> {
        blobs
            .get(digest)
            .ok_or_else(|| invalid(format!("blob {digest} is missing")))
    };
    let manifest: serde_json::Value = match blob(&manifest_digest)? {
        Some(content) => serde_json::from_slice(content)
            .map_err(|e| invalid(format!("manifest is not JSON: {e}")))?,
        None => return Err(invalid("manifest is implausibly large".into())),
    };
    let image_id = manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| invalid("manifest has no config digest".into()))?
        .to_string();
    blob(&image_id)?;
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        let digest = layer["digest"]
            .as_str()
            .ok_or_else(|| invalid("a layer has no digest".into()))?;
        blob(digest)?;
    }
    Ok(ArchiveInfo {
        image_id,
        manifest_digest,
        name,
        blobs: blobs.len(),
        bytes,
        docker_manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::embedded::{BaseInput, build};

    #[test]
    fn a_sound_archive_is_read_and_a_tampered_one_refused() {
        let base = build(&BaseInput::find().expect("busybox-static is installed")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.tar");
        std::fs::write(&good, &base.archive).unwrap();
        let info = inspect(&good).unwrap();
        assert_eq!(info.image_id, base.image_id);
        assert_eq!(info.manifest_digest, base.manifest_digest);
        assert_eq!(info.name.as_deref(), Some(base.tag.as_str()));

        // Flip one byte inside the busybox binary (the layer blob).
        let mut bad = base.archive.clone();
        let at = bad.len() / 2;
        bad[at] ^= 0xff;
        let tampered = dir.path().join("bad.tar");
        std::fs::write(&tampered, &bad).unwrap();
        let err = inspect(&tampered).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");

        let empty = dir.path().join("empty.tar");
        std::fs::write(&empty, tar::Builder::new(Vec::new()).into_inner().unwrap()).unwrap();
        assert!(
            inspect(&empty)
                .unwrap_err()
                .to_string()
                .contains("index.json")
        );
    }
}
