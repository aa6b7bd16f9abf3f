//! Docker image references, parsed and normalised like the docker CLI.
