//! Inputs: saved files (format recognised from content) and the demo data embedded in the binary.
