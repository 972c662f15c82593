//! The Podman API operations pocket-dock performs, named once, so that errors, verbose
//! logs and the write counters all speak of the same things.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Connect,
    Ping,
    Version,
    Info,
    ContainerList,
    ContainerInspect,
    ContainerCreate,
    ContainerStart,
    ContainerStop,
    ContainerRemove,
    ContainerPause,
    ContainerUnpause,
    ContainerRename,
    ContainerAttach,
    ContainerWait,
    ContainerKill,
    ExecCreate,
    ExecStart,
    ExecStream,
    ExecInspect,
    ExecResize,
    ImageList,
    ImageInspect,
    ImagePull,
    ImageBuild,
    ImageLoad,
    ImageExport,
    ImageRemove,
    ImageTag,
    ImagePush,
    ContainerCommit,
    ContainerLogs,
    VolumeList,
    VolumeCreate,
    VolumeRemove,
    NetworkList,
    NetworkInspect,
    NetworkCreate,
    NetworkRemove,
    NetworkConnect,
    NetworkDisconnect,
    Events,
}

impl Operation {
    /// The HTTP method and path template of the compat API call behind the operation.
    pub fn endpoint(self) -> (&'static str, &'static str) {
        match self {
            Operation::Connect => ("CONNECT", "(socket)"),
            Operation::Ping => ("GET", "/_ping"),
            Operation::Version => ("GET", "/version"),
            Operation::Info => ("GET", "/info"),
            Operation::ContainerList => ("GET", "/containers/json"),
            Operation::ContainerInspect => ("GET", "/containers/{id}/json"),
            Operation::ContainerCreate => ("POST", "/containers/create"),
            Operation::ContainerStart => ("POST", "/containers/{id}/start"),
            Operation::ContainerStop => ("POST", "/containers/{id}/stop"),
            Operation::ContainerRemove => ("DELETE", "/containers/{id}"),
            Operation::ContainerPause => ("POST", "/containers/{id}/pause"),
            Operation::ContainerUnpause => ("POST", "/containers/{id}/unpause"),
            Operation::ContainerRename => ("POST", "/containers/{id}/rename"),
            Operation::ContainerAttach => ("POST", "/containers/{id}/attach"),
            Operation::ContainerWait => ("POST", "/containers/{id}/wait"),
            Operation::ContainerKill => ("POST", "/containers/{id}/kill"),
            Operation::ExecCreate => ("POST", "/containers/{id}/exec"),
            Operation::ExecStart => ("POST", "/exec/{id}/start"),
            Operation::ExecStream => ("STREAM", "/exec/{id}/start"),
            Operation::ExecInspect => ("GET", "/exec/{id}/json"),
            Operation::ExecResize => ("POST", "/exec/{id}/resize"),
            Operation::ImageList => ("GET", "/images/json"),
            Operation::ImageInspect => ("GET", "/images/{id}/json"),
            Operation::ImagePull => ("POST", "/images/create"),
            Operation::ImageBuild => ("POST", "/libpod/build"),
            Operation::ImageLoad => ("POST", "/libpod/images/load"),
            Operation::ImageExport => ("GET", "/libpod/images/{id}/get"),
            Operation::ImageRemove => ("DELETE", "/images/{id}"),
            Operation::ImageTag => ("POST", "/images/{id}/tag"),
            Operation::ImagePush => ("POST", "/images/{id}/push"),
            Operation::ContainerCommit => ("POST", "/libpod/commit"),
            Operation::ContainerLogs => ("GET", "/containers/{id}/logs"),
            Operation::VolumeList => ("GET", "/volumes"),
            Operation::VolumeCreate => ("POST", "/volumes/create"),
            Operation::VolumeRemove => ("DELETE", "/volumes/{id}"),
            Operation::NetworkList => ("GET", "/networks"),
            Operation::NetworkInspect => ("GET", "/networks/{id}"),
            Operation::NetworkCreate => ("POST", "/networks/create"),
            Operation::NetworkRemove => ("DELETE", "/networks/{id}"),
            Operation::NetworkConnect => ("POST", "/networks/{id}/connect"),
            Operation::NetworkDisconnect => ("POST", "/networks/{id}/disconnect"),
            Operation::Events => ("GET", "/events"),
        }
    }

    /// Whether the operation changes state in Podman (counted as a write).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Operation::ContainerCreate
                | Operation::ContainerStart
                | Operation::ContainerStop
                | Operation::ContainerRemove
                | Operation::ContainerPause
                | Operation::ContainerUnpause
                | Operation::ContainerRename
                | Operation::ContainerKill
                | Operation::ExecCreate
                | Operation::ExecStart
                | Operation::ImagePull
                | Operation::ImageBuild
                | Operation::ImageLoad
                | Operation::ImageRemove
                | Operation::ImageTag
                | Operation::ImagePush
                | Operation::ContainerCommit
                | Operation::VolumeCreate
                | Operation::VolumeRemove
                | Operation::NetworkCreate
                | Operation::NetworkRemove
                | Operation::NetworkConnect
                | Operation::NetworkDisconnect
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Connect => "connect",
            Operation::Ping => "ping",
            Operation::Version => "version",
            Operation::Info => "info",
            Operation::ContainerList => "container list",
            Operation::ContainerInspect => "container inspect",
            Operation::ContainerCreate => "container create",
            Operation::ContainerStart => "container start",
            Operation::ContainerStop => "container stop",
            Operation::ContainerRemove => "container remove",
            Operation::ContainerPause => "container pause",
            Operation::ContainerUnpause => "container unpause",
            Operation::ContainerRename => "container rename",
            Operation::ContainerAttach => "container attach",
            Operation::ContainerWait => "container wait",
            Operation::ContainerKill => "container kill",
            Operation::ExecCreate => "exec create",
            Operation::ExecStart => "exec start",
            Operation::ExecStream => "exec output stream",
            Operation::ExecInspect => "exec inspect",
            Operation::ExecResize => "exec resize",
            Operation::ImageList => "image list",
            Operation::ImageInspect => "image inspect",
            Operation::ImagePull => "image pull",
            Operation::ImageBuild => "image build",
            Operation::ImageLoad => "image load",
            Operation::ImageExport => "image export",
            Operation::ImageRemove => "image remove",
            Operation::ImageTag => "image tag",
            Operation::ImagePush => "image push",
            Operation::ContainerCommit => "container commit",
            Operation::ContainerLogs => "container logs",
            Operation::VolumeList => "volume list",
            Operation::VolumeCreate => "volume create",
            Operation::VolumeRemove => "volume remove",
            Operation::NetworkList => "network list",
            Operation::NetworkInspect => "network inspect",
            Operation::NetworkCreate => "network create",
            Operation::NetworkRemove => "network remove",
            Operation::NetworkConnect => "network connect",
            Operation::NetworkDisconnect => "network disconnect",
            Operation::Events => "event stream",
        }
    }
}

impl Operation {
    /// What pocket-dock was doing, for sentences people read (`starting container`,
    /// `listing images`): error messages start with it, an id after it where there is one.
    /// [`as_str`](Self::as_str) stays the stable name machines read.
    pub fn doing(self) -> &'static str {
        match self {
            Operation::Connect => "connecting to Podman",
            Operation::Ping => "checking that Podman answers",
            Operation::Version => "reading Podman's version",
            Operation::Info => "reading Podman's settings",
            Operation::ContainerList => "listing containers",
            Operation::ContainerInspect => "inspecting container",
            Operation::ContainerCreate => "creating container",
            Operation::ContainerStart => "starting container",
            Operation::ContainerStop => "stopping container",
            Operation::ContainerRemove => "removing container",
            Operation::ContainerPause => "pausing container",
            Operation::ContainerUnpause => "resuming container",
            Operation::ContainerRename => "renaming container",
            Operation::ContainerAttach => "attaching to container",
            Operation::ContainerWait => "waiting for container",
            Operation::ContainerKill => "killing container",
            Operation::ExecCreate => "starting a command in container",
            Operation::ExecStart => "starting command",
            Operation::ExecStream => "reading the output of command",
            Operation::ExecInspect => "checking command",
            Operation::ExecResize => "resizing the terminal of command",
            Operation::ImageList => "listing images",
            Operation::ImageInspect => "inspecting image",
            Operation::ImagePull => "pulling image",
            Operation::ImageBuild => "building image",
            Operation::ImageLoad => "loading image",
            Operation::ImageExport => "exporting image",
            Operation::ImageRemove => "removing image",
            Operation::ImageTag => "naming image",
            Operation::ImagePush => "pushing image",
            Operation::ContainerCommit => "committing container",
            Operation::ContainerLogs => "reading the logs of container",
            Operation::VolumeList => "listing volumes",
            Operation::VolumeCreate => "creating volume",
            Operation::VolumeRemove => "removing volume",
            Operation::NetworkList => "listing networks",
            Operation::NetworkInspect => "inspecting network",
            Operation::NetworkCreate => "creating network",
            Operation::NetworkRemove => "removing network",
            Operation::NetworkConnect => "connecting to network",
            Operation::NetworkDisconnect => "disconnecting from network",
            Operation::Events => "following Podman's events",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
