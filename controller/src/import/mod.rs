//! Reading other tools' files into pocket-dock documents.

pub mod devcontainer;
