//! Files pocket-dock writes for itself (status files, snapshot declarations, `init`'s files,
//! the lock): written and deleted only as regular files, only inside folders opened without
//! following symlinks, and atomically.
//!
//! Every operation goes through an [`OwnedDir`], a folder file descriptor opened with
//! `O_NOFOLLOW | O_DIRECTORY`; names inside it are single path components resolved with
//! `*at` calls, so a symlink planted anywhere below the workspace root is never followed. A
//! symlink, FIFO, device or foreign folder is never opened, written or deleted: the caller
//! gets a typed error naming it and reports it.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// What a name in a folder is, looked at without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Absent,
    File,
    Folder,
    Symlink,
    /// A FIFO, socket or device.
    Special(&'static str),
}

impl EntryKind {
    pub fn describe(self) -> &'static str {
        match self {
            EntryKind::Absent => "absent",
            EntryKind::File => "a regular file",
            EntryKind::Folder => "a folder",
            EntryKind::Symlink => "a symlink",
            EntryKind::Special(what) => what,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OwnedFileError {
    #[error("{} is {what}, not something pocket-dock made; it was left alone", path.display())]
    NotOurs { path: PathBuf, what: &'static str },
    #[error("{} was not written by pocket-dock; it was left alone", path.display())]
    Foreign { path: PathBuf },
    #[error("{} already exists", path.display())]
    Exists { path: PathBuf },
    #[error("{} changed since it was read; it was left alone (run again)", path.display())]
    Changed { path: PathBuf },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl OwnedFileError {
    /// Something that is not pocket-dock's stands where its file goes (a symlink, a file
    /// someone else wrote): the workspace is not as it must be, and it was left alone, so
    /// invalid input. The file system refusing is storage.
    pub fn category(&self) -> crate::Category {
        match self {
            OwnedFileError::NotOurs { .. }
            | OwnedFileError::Foreign { .. }
            | OwnedFileError::Exists { .. } => crate::Category::InvalidInput,
            OwnedFileError::Changed { .. } => crate::Category::Conflict,
            OwnedFileError::Io { .. } => crate::Category::Storage,
        }
    }
}

impl OwnedFileError {
    pub(crate) fn io(
        action: &'static str,
        path: PathBuf,
        source: impl Into<std::io::Error>,
    ) -> Self {
        OwnedFileError::Io {
            action,
            path,
            source: source.into(),
        }
    }
}

/// A folder opened without following symlinks.
#[derive(Debug)]
pub struct OwnedDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Where leftovers of an interrupted [`OwnedDir::write_atomic`] are recognised: the name,
/// this marker, then the writer's pid.
const TEMP_MARKER: &str = crate::workspace::own_files::TEMP_MARKER;

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl OwnedDir {
    /// Opens `path`. Its last component must be a real folder, not a symlink to one; the
    /// components above it are taken as they are (callers pass the canonical workspace root
    /// joined with pocket-dock's own folder names).
    pub fn open(path: &Path) -> Result<OwnedDir, OwnedFileError> {
        match rustix::fs::open(path, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(OwnedDir {
                fd,
                path: path.to_path_buf(),
            }),
            Err(e) => Err(Self::refusal(path, e)),
        }
    }

    /// Turns the errno of a no-follow open into what it means.
    fn refusal(path: &Path, e: rustix::io::Errno) -> OwnedFileError {
        let kind = std::fs::symlink_metadata(path).map(|m| kind_of(m.file_type()));
        match (e, kind) {
            (rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR, Ok(kind))
                if kind != EntryKind::Folder =>
            {
                OwnedFileError::NotOurs {
                    path: path.to_path_buf(),
                    what: kind.describe(),
                }
            }
            _ => OwnedFileError::io("open", path.to_path_buf(), e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn child(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// What `name` is, without following it.
    pub fn entry(&self, name: &str) -> Result<EntryKind, OwnedFileError> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(kind_of_mode(stat.st_mode)),
            Err(rustix::io::Errno::NOENT) => Ok(EntryKind::Absent),
            Err(e) => Err(OwnedFileError::io("inspect", self.child(name), e)),
        }
    }

    /// The subfolder `name`; `None` when it does not exist and `create` is false. A symlink
    /// or anything else that is not a folder is refused.
    pub fn subdir(&self, name: &str, create: bool) -> Result<Option<OwnedDir>, OwnedFileError> {
        let path = self.child(name);
        if create {
            match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(OwnedFileError::io("create the folder", path, e)),
            }
        }
        match rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(Some(OwnedDir { fd, path })),
            Err(rustix::io::Errno::NOENT) if !create => Ok(None),
            Err(e @ (rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR)) => {
                match self.entry(name)? {
                    EntryKind::Folder => Err(OwnedFileError::io("open", path, e)),
                    kind => Err(OwnedFileError::NotOurs {
                        path,
                        what: kind.describe(),
                    }),
                }
            }
            Err(e) => Err(OwnedFileError::io("open", path, e)),
        }
    }

    /// The content of the regular file `name` (at most `limit` bytes are read); `None` when
    /// it does not exist. Anything else is refused without being opened for reading (a FIFO
    /// could block, a device never end).
    pub fn read(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, OwnedFileError> {
        let path = self.child(name);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => {
                return Err(OwnedFileError::NotOurs {
                    path,
                    what: EntryKind::Symlink.describe(),
                });
            }
            Err(e) => return Err(OwnedFileError::io("read", path, e)),
        };
        let stat =
            rustix::fs::fstat(&fd).map_err(|e| OwnedFileError::io("read", path.clone(), e))?;
        let kind = kind_of_mode(stat.st_mode);
        if kind != EntryKind::File {
            return Err(OwnedFileError::NotOurs {
                path,
                what: kind.describe(),
            });
        }
        let mut bytes = Vec::new();
        std::fs::File::from(fd)
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| OwnedFileError::io("read", path, e))?;
        Ok(Some(bytes))
    }

    /// Replaces `name` with `bytes` atomically: a temp file in the same folder, written and
    /// synced, renamed over `name`, then the folder synced. `name` must be absent or a
    /// regular file for which `ours` holds (given its current content).
    pub fn write_atomic(
        &self,
        name: &str,
        bytes: &[u8],
        ours: impl Fn(&[u8]) -> bool,
    ) -> Result<(), OwnedFileError> {
        self.check_replaceable(name, &ours)?;
        let temp = format!("{name}{TEMP_MARKER}{}", std::process::id());
        let temp_path = self.child(&temp);
        // Something else by the temp name is not ours to remove: only a temp file this call
        // created is cleaned up after a failure.
        self.write_new(&temp, bytes)?;
        let renamed = rustix::fs::renameat(&self.fd, &temp, &self.fd, name)
            .map_err(|e| OwnedFileError::io("rename into place", self.child(name), e));
        if let Err(e) = renamed {
            let _ = rustix::fs::unlinkat(&self.fd, &temp, AtFlags::empty());
            return Err(e);
        }
        rustix::fs::fsync(&self.fd).map_err(|e| OwnedFileError::io("sync", temp_path, e))
    }

    /// Replaces the user's regular file `name`, whose content must still be `expected`,
    /// with `bytes` atomically, keeping its permission bits: for rewriting a document the
    /// user asked to have rewritten (`migrate`). A symlink, a hard link to another file
    /// (the rename would split the two names), anything that is not a regular file, or a
    /// file changed since it was read is refused and left as it is.
    pub fn replace_atomic(
        &self,
        name: &str,
        expected: &[u8],
        bytes: &[u8],
    ) -> Result<(), OwnedFileError> {
        let path = self.child(name);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let (fd, stat) = self.open_no_follow(name, flags, Mode::empty())?;
        match kind_of_mode(stat.st_mode) {
            EntryKind::File if stat.st_nlink > 1 => {
                return Err(OwnedFileError::NotOurs {
                    path,
                    what: "a hard link to another file",
                });
            }
            EntryKind::File => {}
            kind => {
                return Err(OwnedFileError::NotOurs {
                    path,
                    what: kind.describe(),
                });
            }
        }
        let mut current = Vec::new();
        std::fs::File::from(fd)
            .take(expected.len() as u64 + 1)
            .read_to_end(&mut current)
            .map_err(|e| OwnedFileError::io("read", path.clone(), e))?;
        if current != expected {
            return Err(OwnedFileError::Changed { path });
        }
        let temp = format!("{name}{TEMP_MARKER}{}", std::process::id());
        self.write_new_mode(&temp, bytes, stat.st_mode & 0o7777)?;
        // The creation mode was cut by the umask: the file gets the original's bits, and its
        // owner and group (`sudo pocket-dock migrate` must not hand a user's file to root).
        // Where the owner cannot be kept, the file is left as it was.
        let temp_fd = rustix::fs::openat(
            &self.fd,
            &temp,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        );
        let kept = temp_fd.and_then(|fd| {
            let made = rustix::fs::fstat(&fd)?;
            if (made.st_uid, made.st_gid) != (stat.st_uid, stat.st_gid) {
                rustix::fs::fchown(
                    &fd,
                    Some(rustix::fs::Uid::from_raw_unchecked(stat.st_uid)),
                    Some(rustix::fs::Gid::from_raw_unchecked(stat.st_gid)),
                )?;
            }
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(stat.st_mode & 0o7777))
        });
        let renamed = kept
            .map_err(|e| OwnedFileError::io("keep the owner and mode of", self.child(name), e))
            .and_then(|()| {
                rustix::fs::renameat(&self.fd, &temp, &self.fd, name)
                    .map_err(|e| OwnedFileError::io("rename into place", path.clone(), e))
            });
        if let Err(e) = renamed {
            let _ = rustix::fs::unlinkat(&self.fd, &temp, AtFlags::empty());
            return Err(e);
        }
        rustix::fs::fsync(&self.fd).map_err(|e| OwnedFileError::io("sync", path, e))
    }

    /// Opens `name` in this folder with `flags` (which hold `NOFOLLOW`) and reads its
    /// metadata; a symlink is refused as not ours.
    fn open_no_follow(
        &self,
        name: &str,
        flags: OFlags,
        mode: Mode,
    ) -> Result<(rustix::fd::OwnedFd, rustix::fs::Stat), OwnedFileError> {
        let path = self.child(name);
        let fd = match rustix::fs::openat(&self.fd, name, flags, mode) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) => {
                return Err(OwnedFileError::NotOurs {
                    path,
                    what: EntryKind::Symlink.describe(),
                });
            }
            Err(e) => return Err(OwnedFileError::io("open", path, e)),
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| OwnedFileError::io("open", path, e))?;
        Ok((fd, stat))
    }

    /// Opens the regular file `name` for reading and writing, creating it when absent;
    /// refuses a symlink or anything else that is not a regular file.
    pub fn open_or_create(&self, name: &str) -> Result<std::fs::File, OwnedFileError> {
        let path = self.child(name);
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let (fd, stat) = self.open_no_follow(name, flags, Mode::from_raw_mode(0o644))?;
        match kind_of_mode(stat.st_mode) {
            // A second name for the file (a hard link to, say, README.md) would have that
            // file rewritten through this one.
            EntryKind::File if stat.st_nlink > 1 => Err(OwnedFileError::NotOurs {
                path,
                what: "a hard link to another file",
            }),
            EntryKind::File => Ok(std::fs::File::from(fd)),
            kind => Err(OwnedFileError::NotOurs {
                path,
                what: kind.describe(),
            }),
        }
    }

    /// Creates `name` with `bytes`; refuses when anything by that name exists (a dangling
    /// symlink included).
    pub fn create_new(&self, name: &str, bytes: &[u8]) -> Result<(), OwnedFileError> {
        self.write_new(name, bytes)?;
        rustix::fs::fsync(&self.fd).map_err(|e| OwnedFileError::io("sync", self.path.clone(), e))
    }

    /// [`Self::create_new`] with mode 0600 (only the owner reads it): for keys.
    pub fn create_new_private(&self, name: &str, bytes: &[u8]) -> Result<(), OwnedFileError> {
        self.write_new_mode(name, bytes, 0o600)?;
        rustix::fs::fsync(&self.fd).map_err(|e| OwnedFileError::io("sync", self.path.clone(), e))
    }

    fn write_new(&self, name: &str, bytes: &[u8]) -> Result<(), OwnedFileError> {
        self.write_new_mode(name, bytes, 0o644)
    }

    fn write_new_mode(&self, name: &str, bytes: &[u8], mode: u32) -> Result<(), OwnedFileError> {
        let path = self.child(name);
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(mode)) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) => return Err(OwnedFileError::Exists { path }),
            Err(e) => return Err(OwnedFileError::io("create", path, e)),
        };
        let mut file = std::fs::File::from(fd);
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(e) = written {
            // The file was made by this call: a half-written one is not left behind.
            let _ = rustix::fs::unlinkat(&self.fd, name, AtFlags::empty());
            return Err(OwnedFileError::io("write", path, e));
        }
        Ok(())
    }

    fn check_replaceable(
        &self,
        name: &str,
        ours: &impl Fn(&[u8]) -> bool,
    ) -> Result<(), OwnedFileError> {
        match self.entry(name)? {
            EntryKind::Absent => Ok(()),
            EntryKind::File => match self.read(name, OWNERSHIP_PROBE_BYTES)? {
                Some(head) if !ours(&head) => Err(OwnedFileError::Foreign {
                    path: self.child(name),
                }),
                _ => Ok(()),
            },
            kind => Err(OwnedFileError::NotOurs {
                path: self.child(name),
                what: kind.describe(),
            }),
        }
    }

    /// Deletes `name` when it is a regular file for which `ours` holds; anything else is
    /// refused and left in place.
    pub fn remove(&self, name: &str, ours: impl Fn(&[u8]) -> bool) -> Result<(), OwnedFileError> {
        if self.entry(name)? == EntryKind::Absent {
            return Ok(());
        }
        self.check_replaceable(name, &ours)?;
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(OwnedFileError::io("remove", self.child(name), e)),
        }
    }

    /// Every entry's name and kind (names that are not UTF-8 are reported as such).
    pub fn list(&self) -> Result<Vec<(String, EntryKind)>, OwnedFileError> {
        let listing_error = |e| OwnedFileError::io("list", self.path.clone(), e);
        let dir = rustix::fs::Dir::read_from(&self.fd).map_err(listing_error)?;
        let mut entries = Vec::new();
        for entry in dir {
            let entry = entry.map_err(listing_error)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." {
                continue;
            }
            let kind = self.entry(&name)?;
            entries.push((name, kind));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    /// Deletes leftovers of interrupted atomic writes: regular files named
    /// `<name>.tmp-<pid>` whose writer is no longer running.
    pub fn clean_temp_files(&self) -> Result<usize, OwnedFileError> {
        let mut removed = 0;
        for (name, kind) in self.list()? {
            if kind != EntryKind::File || !is_stale_temp_name(&name) {
                continue;
            }
            if rustix::fs::unlinkat(&self.fd, &name, AtFlags::empty()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The raw descriptor, for opening a file in it with flags of the caller's own.
    pub fn fd(&self) -> impl AsFd + '_ {
        &self.fd
    }
}

/// How much of an existing file is read to decide whether pocket-dock wrote it.
const OWNERSHIP_PROBE_BYTES: u64 = 4096;

/// Whether `name` is a temp file of a writer that is gone (never our own: a write of this
/// process may be under way).
pub fn is_stale_temp_name(name: &str) -> bool {
    let Some((_, pid)) = name.rsplit_once(TEMP_MARKER) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists()
}

/// Whether `name` looks like one of the temp files [`OwnedDir::write_atomic`] makes.
pub fn is_temp_name(name: &str) -> bool {
    name.rsplit_once(TEMP_MARKER)
        .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

fn kind_of(file_type: std::fs::FileType) -> EntryKind {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_symlink() {
        EntryKind::Symlink
    } else if file_type.is_dir() {
        EntryKind::Folder
    } else if file_type.is_file() {
        EntryKind::File
    } else if file_type.is_fifo() {
        EntryKind::Special("a FIFO")
    } else if file_type.is_socket() {
        EntryKind::Special("a socket")
    } else {
        EntryKind::Special("a device")
    }
}

fn kind_of_mode(mode: u32) -> EntryKind {
    match FileType::from_raw_mode(mode) {
        FileType::RegularFile => EntryKind::File,
        FileType::Directory => EntryKind::Folder,
        FileType::Symlink => EntryKind::Symlink,
        FileType::Fifo => EntryKind::Special("a FIFO"),
        FileType::Socket => EntryKind::Special("a socket"),
        _ => EntryKind::Special("a device"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn ours(head: &[u8]) -> bool {
        head.starts_with(b"# ours")
    }

    #[test]
    fn writes_are_atomic_and_replace_only_our_regular_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OwnedDir::open(tmp.path()).unwrap();
        dir.write_atomic("a.yaml", b"# ours 1\n", ours).unwrap();
        dir.write_atomic("a.yaml", b"# ours 2\n", ours).unwrap();
        assert_eq!(
            std::fs::read(tmp.path().join("a.yaml")).unwrap(),
            b"# ours 2\n"
        );

        std::fs::write(tmp.path().join("theirs.yaml"), "mine\n").unwrap();
        let err = dir
            .write_atomic("theirs.yaml", b"# ours\n", ours)
            .unwrap_err();
        assert!(matches!(err, OwnedFileError::Foreign { .. }), "{err}");
        let err = dir.remove("theirs.yaml", ours).unwrap_err();
        assert!(matches!(err, OwnedFileError::Foreign { .. }), "{err}");
        assert_eq!(
            std::fs::read(tmp.path().join("theirs.yaml")).unwrap(),
            b"mine\n"
        );
        // No temp file is left behind by a refused or a finished write.
        let names: Vec<String> = dir.list().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a.yaml", "theirs.yaml"]);
    }

    #[test]
    fn symlinks_fifos_and_folders_are_never_followed_written_or_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("victim.yaml"), "# ours precious\n").unwrap();
        let dir = OwnedDir::open(tmp.path()).unwrap();
        symlink(
            outside.path().join("victim.yaml"),
            tmp.path().join("link.yaml"),
        )
        .unwrap();
        symlink(outside.path(), tmp.path().join("linked-dir")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            tmp.path().join("pipe.yaml"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();

        for name in ["link.yaml", "pipe.yaml", "linked-dir"] {
            let err = dir.write_atomic(name, b"# ours\n", ours).unwrap_err();
            assert!(
                matches!(err, OwnedFileError::NotOurs { .. }),
                "{name}: {err}"
            );
            let err = dir.remove(name, |_| true).unwrap_err();
            assert!(
                matches!(err, OwnedFileError::NotOurs { .. }),
                "{name}: {err}"
            );
            assert!(dir.read(name, 10).is_err(), "{name}");
        }
        let err = dir.subdir("linked-dir", true).unwrap_err();
        assert!(matches!(err, OwnedFileError::NotOurs { .. }), "{err}");
        let err = OwnedDir::open(&tmp.path().join("linked-dir")).unwrap_err();
        assert!(matches!(err, OwnedFileError::NotOurs { .. }), "{err}");
        assert_eq!(
            std::fs::read(outside.path().join("victim.yaml")).unwrap(),
            b"# ours precious\n"
        );
        assert_eq!(dir.entry("link.yaml").unwrap(), EntryKind::Symlink);
        assert_eq!(
            dir.entry("pipe.yaml").unwrap(),
            EntryKind::Special("a FIFO")
        );
    }

    #[test]
    fn create_new_refuses_anything_in_the_way_even_a_dangling_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("made-through-the-link");
        symlink(&target, tmp.path().join("x")).unwrap();
        let dir = OwnedDir::open(tmp.path()).unwrap();
        assert!(dir.create_new("x", b"data").is_err());
        assert!(!target.exists());
        dir.create_new("y", b"data").unwrap();
        assert!(matches!(
            dir.create_new("y", b"again"),
            Err(OwnedFileError::Exists { .. })
        ));
    }

    #[test]
    fn a_hard_link_is_never_opened_for_writing_and_a_foreign_temp_name_is_never_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OwnedDir::open(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("README.md"), "keep me").unwrap();
        std::fs::hard_link(tmp.path().join("README.md"), tmp.path().join("lock")).unwrap();
        let err = dir.open_or_create("lock").unwrap_err();
        assert!(err.to_string().contains("hard link"), "{err}");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("README.md")).unwrap(),
            "keep me"
        );

        // Someone else's FIFO holds this process's temp name: the write fails, the FIFO stays.
        let temp = format!("a.yaml{TEMP_MARKER}{}", std::process::id());
        rustix::fs::mknodat(
            rustix::fs::CWD,
            tmp.path().join(&temp),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(dir.write_atomic("a.yaml", b"# ours\n", ours).is_err());
        assert_eq!(dir.entry(&temp).unwrap(), EntryKind::Special("a FIFO"));
    }

    #[test]
    fn stale_temp_files_are_cleaned_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = OwnedDir::open(tmp.path()).unwrap();
        // pid 1 is alive; a pid far above pid_max is not.
        std::fs::write(tmp.path().join("a.yaml.tmp-1"), "x").unwrap();
        std::fs::write(tmp.path().join("b.yaml.tmp-999999999"), "x").unwrap();
        std::fs::write(tmp.path().join("c.yaml.tmp-notapid"), "x").unwrap();
        assert_eq!(dir.clean_temp_files().unwrap(), 1);
        let names: Vec<String> = dir.list().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a.yaml.tmp-1", "c.yaml.tmp-notapid"]);
        assert!(is_temp_name("a.yaml.tmp-12"));
        assert!(!is_temp_name("a.yaml.tmp-"));
        assert!(!is_temp_name("a.yaml"));
    }
}
