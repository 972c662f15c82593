//! The embedded base image (`embedded: base`): built in Rust, offline, reproducibly.
//!
//! Its one input is Debian's static busybox (package `busybox-static`): the binary plus a
//! link for each applet it reports, a root and a nobody user, and the usual empty folders.
//! The layer tar is normalised (sorted entries, owner 0:0, one fixed mtime, fixed modes), the
//! config has a fixed `created`, and every JSON document is written with sorted keys, so the
//! same busybox gives the same bytes, the same digests and the same image id on any machine.
//! The tag carries the recipe version and the input's hash: a different busybox is a
//! different image, never the same name with other content.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{ImageError, hex};

/// Bump when the recipe (not the input) changes.
pub const BASE_VERSION: &str = "1";
/// Where Debian's busybox-static installs its binary.
pub const BUSYBOX_PATHS: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];
/// 2026-11-01T00:00:00Z: every file's mtime and the image's creation time.
const FIXED_TIME: u64 = 1_793_491_200;
const FIXED_CREATED: &str = "2026-11-01T00:00:00Z";
pub const REPOSITORY: &str = "localhost/pocket-dock/base";

pub use crate::engine::labels::{
    EMBEDDED as LABEL_EMBEDDED, EMBEDDED_BUSYBOX as LABEL_BUSYBOX,
    EMBEDDED_BUSYBOX_SHA256 as LABEL_BUSYBOX_SHA256, EMBEDDED_VERSION as LABEL_VERSION,
};

const FOLDERS: [(&str, u32); 14] = [
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("proc", 0o755),
    ("root", 0o700),
    ("run", 0o755),
    ("sbin", 0o755),
    ("sys", 0o755),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("var", 0o755),
];

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// The input found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseInput {
    pub busybox: PathBuf,
    pub sha256: String,
}

impl BaseInput {
    /// Finds a static busybox; a dynamic one would not run inside the image.
    pub fn find() -> Result<Self, ImageError> {
        let path = BUSYBOX_PATHS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or(ImageError::NoBusybox {
                reason: "not installed".into(),
            })?;
        Self::at(&path)
    }

    pub fn at(path: &Path) -> Result<Self, ImageError> {
        let bytes = std::fs::read(path).map_err(|source| ImageError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if !is_static_elf(&bytes) {
            return Err(ImageError::NoBusybox {
                reason: format!("{} is not a statically linked binary", path.display()),
            });
        }
        Ok(BaseInput {
            busybox: path.to_path_buf(),
            sha256: hex(&Sha256::digest(&bytes)),
        })
    }

    /// The image's name: recipe version and input hash.
    pub fn tag(&self) -> String {
        format!("{REPOSITORY}:{}", self.tag_suffix())
    }

    fn tag_suffix(&self) -> String {
        format!("v{BASE_VERSION}-{}", &self.sha256[..12])
    }
}

/// An ELF file with no `PT_INTERP` program header (no dynamic loader needed).
fn is_static_elf(bytes: &[u8]) -> bool {
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    // 64-bit little-endian ELF only (what Debian ships for amd64 and arm64).
    if bytes.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return false;
    }
    let (Some(phoff), Some(entsize), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..count as usize).all(|i| {
        let at = phoff as usize + i * entsize as usize;
        bytes.get(at..at + 4) != Some(&3u32.to_le_bytes()[..])
    })
}

/// The built image: an OCI archive in memory and its identities.
#[derive(Debug, Clone)]
pub struct EmbeddedBase {
    pub tag: String,
    /// `sha256:<config digest>`: the image id Podman gives it.
    pub image_id: String,
    pub manifest_digest: String,
    pub busybox_version: String,
    pub archive: Vec<u8>,
}

fn normalised_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(FIXED_TIME);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn io_error(source: std::io::Error) -> ImageError {
    ImageError::Read {
        path: PathBuf::from("(image archive)"),
        source,
    }
}

/// Builds the base image from `input`.
pub fn build(input: &BaseInput) -> Result<EmbeddedBase, ImageError> {
    let busybox = std::fs::read(&input.busybox).map_err(|source| ImageError::Read {
        path: input.busybox.clone(),
        source,
    })?;
    if hex(&Sha256::digest(&busybox)) != input.sha256 {
        return Err(ImageError::NoBusybox {
            reason: format!("{} changed while building", input.busybox.display()),
        });
    }
    let (applets, version) = busybox_facts(&input.busybox)?;

    // Every entry, sorted by path: (path, type, mode, content or link target).
    enum Item<'a> {
        Dir(u32),
        File(u32, &'a [u8]),
        Link(String),
    }
    let mut items: Vec<(String, Item)> = FOLDERS
        .iter()
        .map(|(p, m)| (p.to_string(), Item::Dir(*m)))
        .collect();
    items.push(("bin/busybox".into(), Item::File(0o755, &busybox)));
    items.push(("etc/passwd".into(), Item::File(0o644, PASSWD.as_bytes())));
    items.push(("etc/group".into(), Item::File(0o644, GROUP.as_bytes())));
    for applet in &applets {
        items.push((applet.clone(), Item::Link("/bin/busybox".into())));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items.dedup_by(|a, b| a.0 == b.0);

    let mut layer = tar::Builder::new(Vec::new());
    for (path, item) in &items {
        match item {
            Item::Dir(mode) => {
                let mut h = normalised_header(tar::EntryType::Directory, *mode, 0);
                layer
                    .append_data(&mut h, format!("{path}/"), std::io::empty())
                    .map_err(io_error)?;
            }
            Item::File(mode, content) => {
                let mut h = normalised_header(tar::EntryType::Regular, *mode, content.len() as u64);
                layer
                    .append_data(&mut h, path, *content)
                    .map_err(io_error)?;
            }
            Item::Link(target) => {
                let mut h = normalised_header(tar::EntryType::Symlink, 0o777, 0);
                layer.append_link(&mut h, path, target).map_err(io_error)?;
            }
        }
    }
    let layer = layer.into_inner().map_err(io_error)?;
    let layer_digest = format!("sha256:{}", hex(&Sha256::digest(&layer)));

    let tag = input.tag();
    let config = json!({
        "architecture": oci_architecture(),
        "os": "linux",
        "created": FIXED_CREATED,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "Labels": {
                LABEL_EMBEDDED: "base",
                LABEL_VERSION: BASE_VERSION,
                LABEL_BUSYBOX: version,
                LABEL_BUSYBOX_SHA256: input.sha256,
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created": FIXED_CREATED, "created_by": format!("pocket-dock embedded base v{BASE_VERSION}")}],
    });
    let config = canonical_json(&config);
    let config_digest = format!("sha256:{}", hex(&Sha256::digest(&config)));
    let manifest = canonical_json(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer.len(),
        }],
    }));
    let manifest_digest = format!("sha256:{}", hex(&Sha256::digest(&manifest)));
    let index = canonical_json(&json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            // Podman names the image from the OCI ref name; Docker Engine (25 and later)
            // from containerd's.
            "annotations": {
                "io.containerd.image.name": tag,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    }));

    let mut archive = tar::Builder::new(Vec::new());
    let mut add = |path: String, content: &[u8]| {
        let mut h = normalised_header(tar::EntryType::Regular, 0o644, content.len() as u64);
        archive.append_data(&mut h, path, content).map_err(io_error)
    };
    let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let mut blobs = [
        (blob(&config_digest), config.as_slice()),
        (blob(&layer_digest), layer.as_slice()),
        (blob(&manifest_digest), manifest.as_slice()),
    ];
    blobs.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, content) in blobs {
        add(path, content)?;
    }
    add("index.json".into(), &index)?;
    // Docker Engine loads from `manifest.json` only, OCI layout or not (as its own `docker
    // save` writes both); Podman reads the OCI layout. Same blobs, same image id.
    let docker_manifest = canonical_json(&json!([{
        "Config": blob(&config_digest),
        "Layers": [blob(&layer_digest)],
        "RepoTags": [tag],
    }]));
    add("manifest.json".into(), &docker_manifest)?;
    add("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut archive = archive.into_inner().map_err(io_error)?;
    archive.flush().map_err(io_error)?;
    Ok(EmbeddedBase {
        tag,
        image_id: config_digest,
        manifest_digest,
        busybox_version: version,
        archive,
    })
}

/// JSON with keys sorted at every level (serde_json's default map is ordered).
fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn oci_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The applet links busybox reports (`--list-full`) and its version line.
fn busybox_facts(busybox: &Path) -> Result<(Vec<String>, String), ImageError> {
    let run = |arg: &str| {
        Command::new(busybox)
            .arg(arg)
            .output()
            .map_err(|source| ImageError::Read {
                path: busybox.to_path_buf(),
                source,
            })
    };
    let list = run("--list-full")?;
    if !list.status.success() {
        return Err(ImageError::NoBusybox {
            reason: format!("{} --list-full failed", busybox.display()),
        });
    }
    let applets = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && *l != "bin/busybox"
                && !l.contains("..")
                && FOLDERS.iter().any(|(dir, _)| {
                    l.strip_prefix(dir)
                        .and_then(|rest| rest.strip_prefix('/'))
                        .is_some_and(|name| !name.contains('/'))
                })
        })
        .map(str::to_string)
        .collect();
    let help = run("--help")?;
    let version = String::from_utf8_lossy(&help.stdout)
        .lines()
        .next()
        .unwrap_or("BusyBox")
        .trim_end_matches(" multi-call binary.")
        .to_string();
    Ok((applets, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_elf_detection() {
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        assert!(!is_static_elf(&[]));
        if let Ok(input) = BaseInput::find() {
            assert_eq!(input.sha256.len(), 64);
        }
        // A dynamically linked binary (every Debian has /bin/ls).
        assert!(!is_static_elf(&std::fs::read("/bin/ls").unwrap()));
    }

    #[test]
    fn building_twice_gives_identical_bytes() {
        // The suite's setup installs busybox-static; a missing one is a failure, not a skip.
        let input = BaseInput::find().expect("busybox-static is installed (scripts/test.sh)");
        let a = build(&input).unwrap();
        let b = build(&input).unwrap();
        assert_eq!(a.archive, b.archive);
        assert_eq!(a.image_id, b.image_id);
        assert!(a.tag.starts_with("localhost/pocket-dock/base:v1-"));
        let mut archive = tar::Archive::new(a.archive.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names.len(), 6, "{names:?}");
        assert_eq!(names[3], "index.json");
        assert_eq!(names[4], "manifest.json", "for Docker Engine");
    }
}
