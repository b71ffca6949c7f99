//! Generates the client from `spec/invitations.yaml`; see build-tools for every setting.

fn main() {
    const SPEC: &str = "../spec/invitations.yaml";
    println!("cargo:rerun-if-changed={SPEC}");
    let spec = std::fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
    let code = build_tools::render(&spec).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("codegen.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
