//! The one integration-test binary (issue 29): every file in tests/ is a module here, as
//! ripgrep's tests/tests.rs does, so the dependencies are linked once instead of 34 times and
//! `tests/support` is compiled once. Run one file's tests with
//! `cargo test --test integration <file>::`.

mod support;

mod architecture;
mod build;
mod ci_env;
mod ci_env_golden;
mod cleanup;
mod cleanup_model;
mod cli;
mod concurrency;
mod config;
mod doctor;
mod fault_proxy;
mod faults;
mod final_images;
mod gitlab_ci_docs;
mod gitlab_ci_local;
mod gitlab_pipeline;
mod harness;
mod helm_values;
mod host_cleanup;
mod image_spec;
mod inspect;
mod json_output;
mod kube;
mod login;
mod naming;
mod platform;
mod podman;
mod promote;
mod provenance;
mod publish;
mod push_archive;
mod quickstart;
mod records;
mod registry_preflight;
mod registry_tls;
mod robustness;
mod runners;
mod schema;
mod shipping;
mod signature;
mod stages_storage;
mod stapel;
mod stapel_ansible;
mod stapel_dependency_tags;
mod stapel_external;
mod stapel_meaning;
mod stapel_stages;
mod stapel_werf2;
mod stapel_werf2_keys;
mod troubleshooting;
mod vendor_errors;
mod vendors;
mod werf2_config;
mod werf_commands;
mod werf_parity;
mod werf_registry;
mod werf_templates;
