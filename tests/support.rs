//! Running the binary from the repository root.

use std::path::PathBuf;
use std::process::Output;

/// The repository root (tests run the CLI from there, as the README does).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `secpath ARGS` from the repository root.
pub fn secpath<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    std::process::Command::new(env!("CARGO_BIN_EXE_secpath"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("the secpath binary runs")
}

/// Parses stdout as JSON, with the output in the panic message if it isn't.
pub fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
