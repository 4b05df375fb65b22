//! Inputs: saved files, with each file's format recognised from its content, and the demo data
//! embedded in the binary.

pub mod demo;
mod files;
pub mod kube;

pub use files::{
    DEFAULT_MAX_FLOWS, Input, InputFormat, Loaded, detect_format, load_inputs, load_inputs_bounded,
    location_from_file_name,
};
