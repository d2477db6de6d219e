// Finds libqlinear through the pkg-config program: an installed qlinear.pc, or the uninstalled one a
// build tree writes to build/pkgconfig-uninstalled (PKG_CONFIG_PATH=build/pkgconfig-uninstalled).
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    let program = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let output = match Command::new(&program).args(["--libs", "qlinear"]).output() {
        Ok(output) => output,
        Err(e) => panic!("cannot run `{}` ({}): install pkg-config (Debian: apt-get install pkgconf)", program, e),
    };
    if !output.status.success() {
        panic!(
            "`{} --libs qlinear` failed: {}\ninstall qlinear (cmake --install build), or point PKG_CONFIG_PATH at \
             the folder of its qlinear.pc (build/pkgconfig-uninstalled for a build tree)",
            program,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let libs = String::from_utf8_lossy(&output.stdout).to_string();
    for token in libs.split_whitespace() {
        if let Some(dir) = token.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
            // So this crate's tests, examples and doc tests find the library where pkg-config found it
            // (cargo does not pass link arguments on to crates that depend on this one: their programs
            // find it through the loader's path, see the README).
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
            if let Ok(pc_dir) = env::var("PKG_CONFIG_PATH") {
                for d in pc_dir.split(':').filter(|d| !d.is_empty()) {
                    println!("cargo:rerun-if-changed={}/qlinear.pc", d);
                }
            }
        } else if let Some(lib) = token.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={}", lib);
        }
    }
}
