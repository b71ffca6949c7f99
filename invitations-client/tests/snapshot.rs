//! The generated code, as build.rs produces it, is kept in `tests/snapshots/codegen.rs` so that
//! a change of spec or of progenitor shows up as a reviewable diff.
//! Refresh it with `cargo xtask spec`.

#[test]
fn generated_code_matches_snapshot() {
    let spec = std::fs::read_to_string("invitations.yaml").unwrap();
    let code = phasetwo_invitations_codegen::render(&spec).unwrap();
    // On a mismatch expectorate prints the diff; `cargo xtask spec` rewrites the snapshot.
    expectorate::assert_contents("tests/snapshots/codegen.rs", &code);
}
