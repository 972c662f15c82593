//! pocket-dock's integration tests: one binary, every test against a real Podman service
//! that the harness starts itself (see support/podman.rs). Nothing here is skipped: without
//! Podman the tests fail and say how to install it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test or its harness failing loudly on the unexpected is the point"
)]

mod support;

mod apply;
mod bundles;
mod cli_audit;
mod cli_docs;
mod cli_doctor;
mod cli_events;
mod cli_exec;
mod cli_json;
mod cli_migrate;
mod cli_run;
mod cli_session;
mod cli_shell;
mod cli_spec;
mod controller;
mod devcontainer;
mod editor_lsp;
mod egress;
mod engine_containers;
mod engine_exec;
mod engine_faults;
mod engine_images;
mod engine_system;
mod export_kube;
mod faults;
mod fork;
mod gc;
mod golden;
mod images;
mod import_compose;
mod lifetime;
mod locked;
mod logs;
mod networks;
mod never_destroy;
mod pause;
mod pools;
mod ports;
mod progress;
mod quadlet;
mod rebuild;
mod registry;
mod rootless;
mod sdk_examples;
mod secrets;
mod select;
mod status_wait;
mod store_faults;
mod tasks;
mod templates;
