//! Running the binary from the repository root.

use std::path::PathBuf;
use std::process::Output;

/// The repository root (tests run the CLI from there, as the README does).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The D7 fixture under `--no-nsg deny`: NIC 10.140.1.4 has a Standard public IP and no NSG.
pub const D7_CLOSED: [&str; 4] = [
    "--snapshot",
    "fixtures/cases/sem-4-d7-no-nsg/snapshot",
    "--no-nsg",
    "deny",
];

/// A flow from the Internet to the D7 fixture's closed NIC.
pub const D7_FLOW: &str = "tcp 203.0.113.5:50000 -> 10.140.1.4:443";

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

/// `contents` written to file `name` in a scratch directory of its own, named after `name`
/// and this process; returns the file's path (remove its parent when done).
pub fn scratch_file(name: &str, contents: impl AsRef<[u8]>) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("secpath-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// `secpath explain --format json FLOW` against a snapshot of one file, `name`, holding
/// `text` (written to a scratch directory of its own, removed afterwards).
pub fn explain_one_file(name: &str, text: &str, flow: &str) -> serde_json::Value {
    let path = scratch_file(name, text);
    let dir = path.parent().unwrap().to_path_buf();
    let got = json_of(&secpath([
        "explain",
        "--snapshot",
        path.to_str().unwrap(),
        "--format",
        "json",
        flow,
    ]));
    std::fs::remove_dir_all(&dir).ok();
    got
}
