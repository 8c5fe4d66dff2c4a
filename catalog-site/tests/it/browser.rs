//! `scripts/catalog-browser-test` run as part of `cargo test`: the healthcare schemas in, every catalog page opened in headless Chromium.

use std::path::Path;
use std::process::Command;

#[test]
fn every_catalog_page_opens_cleanly_in_chromium() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = workspace.join("scripts/catalog-browser-test");
    let output = Command::new("bash")
        .arg(&script)
        .current_dir(&workspace)
        .env("CAREBUS_CATALOG_BIN", env!("CARGO_BIN_EXE_carebus-catalog"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    match output.status.code() {
        Some(0) => {}
        Some(3) => panic!(
            "the browser test could not set up its tools (chromium or node): {stderr}\nInstall them with `apt-get update && apt-get install -y chromium nodejs npm` and run again."
        ),
        _ => panic!("the catalog failed the browser test:\n{stderr}"),
    }
}
