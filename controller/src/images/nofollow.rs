//! Reading a folder tree without ever following a symlink. A folder is opened by its
//! canonical path one component at a time from `/`, each with `O_NOFOLLOW|O_DIRECTORY`;
//! what is under it is opened relative to its descriptor (`openat`), folders again with
//! `O_NOFOLLOW|O_DIRECTORY` and files with `O_NOFOLLOW`, and `fstat` checks what was
//! opened. A symlink swapped in for any component after it was checked makes the open fail
//! instead of leading somewhere else.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::ImageError;

/// What a name in a folder is, as `lstat` sees it (a symlink is not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Dir,
    File {
        executable: bool,
    },
    Symlink,
    /// A FIFO, a socket or a device: never opened (opening a FIFO blocks).
    Special,
}

/// An open folder, and the path it was reached by (for messages only).
#[derive(Debug)]
pub(crate) struct DirHandle {
    fd: OwnedFd,
    path: PathBuf,
}

impl DirHandle {
    /// Opens the folder at `path`, which must be absolute and canonical. A path that no
    /// longer resolves to itself (a symlink was put in its way after it was checked) is
    /// refused, and no component is followed if one is swapped in while it is opened.
    pub fn open_canonical(path: &Path) -> Result<DirHandle, ImageError> {
        let resolved = path.canonicalize().map_err(|source| ImageError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if resolved != path {
            return Err(ImageError::NoLongerCanonical {
                path: path.to_path_buf(),
                resolved,
            });
        }
        let read = |source: Errno| ImageError::Read {
            path: path.to_path_buf(),
            source: source.into(),
        };
        // O_PATH for the way down: walking through a folder needs no read permission.
        let walk_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut fd = rustix::fs::open("/", walk_flags, Mode::empty()).map_err(read)?;
        let mut reached = PathBuf::from("/");
        for component in path.components() {
            let name = match component {
                Component::RootDir => continue,
                Component::Normal(name) => name,
                // Unreachable for a canonical path; refused rather than interpreted.
                _ => {
                    return Err(ImageError::NoLongerCanonical {
                        path: path.to_path_buf(),
                        resolved,
                    });
                }
            };
            reached.push(name);
            fd = rustix::fs::openat(&fd, name, walk_flags, Mode::empty())
                .map_err(|errno| open_error(fd.as_fd(), name, &reached, errno))?;
        }
        let fd = rustix::fs::openat(
            &fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(read)?;
        Ok(DirHandle {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names in this folder, sorted; a name that is not UTF-8 is an error.
    pub fn sorted_names(&self) -> Result<Vec<String>, ImageError> {
        let read = |source: Errno| ImageError::Read {
            path: self.path.clone(),
            source: source.into(),
        };
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd).map_err(read)? {
            let entry = entry.map_err(read)?;
            let bytes = entry.file_name().to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let name = String::from_utf8(bytes.to_vec()).map_err(|_| ImageError::Read {
                path: self.path.join(OsStr::from_bytes(bytes)),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "file name is not UTF-8",
                ),
            })?;
            names.push(name);
        }
        names.sort();
        Ok(names)
    }

    /// What `name` is, without following it; `None` if there is no such name.
    pub fn kind_of(&self, name: impl AsRef<OsStr>) -> Result<Option<EntryKind>, ImageError> {
        let name = name.as_ref();
        let stat = match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return Ok(None),
            Err(errno) => return Err(self.error(name, errno)),
        };
        let mode = Mode::from_raw_mode(stat.st_mode);
        Ok(Some(match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => EntryKind::Dir,
            FileType::RegularFile => EntryKind::File {
                executable: mode.intersects(Mode::XUSR | Mode::XGRP | Mode::XOTH),
            },
            FileType::Symlink => EntryKind::Symlink,
            _ => EntryKind::Special,
        }))
    }

    /// Opens the folder `name` in this one; a symlink is refused.
    pub fn open_dir(&self, name: impl AsRef<OsStr>) -> Result<DirHandle, ImageError> {
        let name = name.as_ref();
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())
            .map_err(|errno| self.error(name, errno))?;
        Ok(DirHandle {
            fd,
            path: self.path.join(name),
        })
    }

    /// Opens the regular file `name` for reading; a symlink is refused, and anything but a
    /// regular file is refused after `fstat` (opened without blocking, so a FIFO swapped in
    /// does not hang the read).
    pub fn open_file(&self, name: impl AsRef<OsStr>) -> Result<File, ImageError> {
        let name = name.as_ref();
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())
            .map_err(|errno| self.error(name, errno))?;
        let stat = rustix::fs::fstat(&fd).map_err(|errno| self.error(name, errno))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(ImageError::NotRegularFile {
                path: self.path.join(name),
            });
        }
        Ok(File::from(fd))
    }

    /// Like [`DirHandle::open_file`], but without opening anything that is not a regular
    /// file (a device could react to being opened); `None` if there is no such name.
    pub fn open_regular_file(&self, name: impl AsRef<OsStr>) -> Result<Option<File>, ImageError> {
        let name = name.as_ref();
        let path = || self.path.join(name);
        match self.kind_of(name)? {
            None => Ok(None),
            Some(EntryKind::File { .. }) => self.open_file(name).map(Some),
            Some(EntryKind::Symlink) => Err(ImageError::Symlink { path: path() }),
            Some(EntryKind::Dir | EntryKind::Special) => {
                Err(ImageError::NotRegularFile { path: path() })
            }
        }
    }

    /// The target of the symlink `name`, as written (never resolved).
    pub fn read_link(&self, name: impl AsRef<OsStr>) -> Result<PathBuf, ImageError> {
        let name = name.as_ref();
        let target = rustix::fs::readlinkat(&self.fd, name, Vec::new())
            .map_err(|errno| self.error(name, errno))?;
        Ok(PathBuf::from(OsString::from_vec(target.into_bytes())))
    }

    fn error(&self, name: &OsStr, errno: Errno) -> ImageError {
        open_error(self.fd.as_fd(), name, &self.path.join(name), errno)
    }
}

/// Names the symlink when an open failed because it met one (`O_NOFOLLOW` gives `ELOOP`,
/// with `O_DIRECTORY` `ENOTDIR`).
fn open_error(dir: BorrowedFd<'_>, name: &OsStr, path: &Path, errno: Errno) -> ImageError {
    let met_symlink = matches!(errno, Errno::LOOP | Errno::NOTDIR)
        && rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
    if met_symlink {
        ImageError::Symlink {
            path: path.to_path_buf(),
        }
    } else {
        ImageError::Read {
            path: path.to_path_buf(),
            source: errno.into(),
        }
    }
}

/// Opens folders under a root by relative path, keeping the chain last opened: entries
/// come in walk order, so consecutive files mostly share their folders.
pub(crate) struct DirCursor<'a> {
    root: &'a DirHandle,
    open: Vec<(OsString, DirHandle)>,
}

impl<'a> DirCursor<'a> {
    pub fn new(root: &'a DirHandle) -> Self {
        DirCursor {
            root,
            open: Vec::new(),
        }
    }

    /// The folder reached from the root through `folders` (each opened without following).
    pub fn dir(&mut self, folders: &[&OsStr]) -> Result<&DirHandle, ImageError> {
        let shared = self
            .open
            .iter()
            .zip(folders)
            .take_while(|((open, _), wanted)| open.as_os_str() == **wanted)
            .count();
        self.open.truncate(shared);
        for name in &folders[shared..] {
            let parent = self.open.last().map_or(self.root, |(_, dir)| dir);
            let dir = parent.open_dir(name)?;
            self.open.push((name.to_os_string(), dir));
        }
        Ok(self.open.last().map_or(self.root, |(_, dir)| dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical_tempdir() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap();
        (dir, path)
    }

    #[test]
    fn folders_and_files_are_opened_without_following_symlinks() {
        let (_keep, root) = canonical_tempdir();
        let (_outside_keep, outside) = canonical_tempdir();
        std::fs::write(outside.join("secret"), "secret").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/f"), "data").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), root.join("s")).unwrap();

        let dir = DirHandle::open_canonical(&root).unwrap();
        assert_eq!(dir.sorted_names().unwrap(), ["out", "s", "sub"]);
        assert_eq!(dir.kind_of("out").unwrap(), Some(EntryKind::Symlink));
        assert_eq!(dir.kind_of("nothing").unwrap(), None);
        assert!(matches!(
            dir.open_dir("out"),
            Err(ImageError::Symlink { .. })
        ));
        assert!(matches!(
            dir.open_file("s"),
            Err(ImageError::Symlink { .. })
        ));
        assert!(matches!(
            dir.open_regular_file("s"),
            Err(ImageError::Symlink { .. })
        ));
        assert!(matches!(
            dir.open_regular_file("sub"),
            Err(ImageError::NotRegularFile { .. })
        ));
        assert_eq!(dir.read_link("s").unwrap(), outside.join("secret"));

        let mut cursor = DirCursor::new(&dir);
        let sub = cursor.dir(&[OsStr::new("sub")]).unwrap();
        let text = std::io::read_to_string(sub.open_file("f").unwrap()).unwrap();
        assert_eq!(text, "data");
        assert!(matches!(
            cursor.dir(&[OsStr::new("out")]),
            Err(ImageError::Symlink { .. })
        ));
    }

    #[test]
    fn a_path_with_a_symlink_in_it_is_refused() {
        let (_keep, root) = canonical_tempdir();
        std::fs::create_dir_all(root.join("real/ctx")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let err = DirHandle::open_canonical(&root.join("link/ctx")).unwrap_err();
        assert!(matches!(err, ImageError::NoLongerCanonical { .. }), "{err}");
        let err = DirHandle::open_canonical(&root.join("real/../real/ctx")).unwrap_err();
        assert!(matches!(err, ImageError::NoLongerCanonical { .. }), "{err}");
    }

    #[test]
    fn a_fifo_is_never_opened_for_reading() {
        let (_keep, root) = canonical_tempdir();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("pipe"),
            FileType::Fifo,
            Mode::RUSR | Mode::WUSR,
            0,
        )
        .unwrap();
        let dir = DirHandle::open_canonical(&root).unwrap();
        assert_eq!(dir.kind_of("pipe").unwrap(), Some(EntryKind::Special));
        assert!(matches!(
            dir.open_file("pipe"),
            Err(ImageError::NotRegularFile { .. })
        ));
        assert!(matches!(
            dir.open_regular_file("pipe"),
            Err(ImageError::NotRegularFile { .. })
        ));
    }
}
