//! idflow: follow a request's identity from the Akamai edge through an Istio mesh.
//!
//! The domain modules (`token`, `accesslog`, `edge`, `flow`) are plain Rust with no IO, no async and
//! no terminal. `source` reads inputs, `output` writes the headless forms, `tui` draws the screens.

pub mod accesslog;
pub mod cli;
pub mod edge;
pub mod flow;
pub mod mesh;
pub mod model;
pub mod output;
mod redact;
pub mod source;
pub mod token;
pub mod tui;

/// Makes mimalloc the allocator of the executable, benchmark or example that invokes it, so that
/// benchmarks measure what `idflow-full` runs. Parsing and correlating a log line allocates a few
/// dozen small strings, and with glibc's allocator `malloc` and `free` took about a third of the
/// live pipeline's time. `benches/pipeline.rs` on 2 AMD EPYC vCPUs went from about 117,000 lines a
/// second with glibc 2.36 to about 158,000 with mimalloc. The `idflow` executable keeps the system
/// allocator, which starts faster (see `cli::front`).
#[macro_export]
macro_rules! use_pipeline_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::PipelineAllocator = $crate::PipelineAllocator;
    };
}

#[doc(hidden)]
pub use mimalloc::MiMalloc as PipelineAllocator;

/// Returns a pseudo-random sequence (xorshift64) of numbers below each call's bound, so that
/// generated test cases are the same on every run.
#[cfg(test)]
pub(crate) fn xorshift(mut state: u64) -> impl FnMut(usize) -> usize {
    move |bound| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % bound as u64).expect("bound fits usize")
    }
}
