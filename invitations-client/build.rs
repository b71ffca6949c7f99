//! Generates the client from `invitations.yaml`, the spec this crate ships; the settings are
//! in phasetwo-invitations-codegen.

fn main() {
    const SPEC: &str = "invitations.yaml";
    println!("cargo:rerun-if-changed={SPEC}");
    let spec = std::fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
    let code =
        phasetwo_invitations_codegen::render(&spec).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("codegen.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
