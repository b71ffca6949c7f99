//! The release check: what a change does to the published crates' Rust API, judged by
//! cargo-semver-checks against the last release, and a drill that proves the spec-change path
//! classifies spec changes correctly.

use std::path::Path;
use std::process::{Command, ExitCode};

use build_tools::{Result, derive_spec, diff, parse_yaml, paths, workspace_root};
use serde_json::{Value, json};

/// The file naming the last release: its version and commit.
pub const BASELINE_FILE: &str = "RELEASED.toml";

/// The cargo-semver-checks release the checks are written for (it reads this toolchain's
/// rustdoc JSON).
const SEMVER_CHECKS_VERSION: &str = "0.51.0";

/// `cargo xtask release-check`: every published crate against the recorded release.
pub fn check() -> Result<ExitCode> {
    let root = workspace_root();
    let baseline = Baseline::read(&root.join(BASELINE_FILE))?;
    ensure_semver_checks()?;
    eprintln!(
        "release-check: the public API against {} (commit {})",
        baseline.version, baseline.commit
    );
    let status = Command::new(cargo())
        .current_dir(&root)
        .args(["semver-checks", "check-release", "--workspace"])
        .args(["--baseline-rev", &baseline.commit])
        .status()?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "release-check: the change needs the version bump named above (while 0.x, a \
             breaking change is a minor bump); see CHANGELOG.md and spec/README.md"
        );
        ExitCode::FAILURE
    })
}

/// The last release, as [`BASELINE_FILE`] records it.
struct Baseline {
    version: String,
    commit: String,
}

impl Baseline {
    /// Reads the `key = "value"` lines of the file (comments and blank lines aside).
    fn read(path: &Path) -> Result<Baseline> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let value = |key: &str| -> Result<String> {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().trim_matches('"').to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{}: no `{key}`", path.display()).into())
        };
        Ok(Baseline { version: value("version")?, commit: value("commit")? })
    }
}

/// One upstream spec change of the drill and the verdict it must get.
struct Scenario {
    name: &'static str,
    change: fn(&mut Value) -> Result<()>,
    /// What a maintainer changes in the overlay after `cargo xtask spec` refused the new
    /// upstream spec, if it must refuse it.
    overlay_follow_up: Option<fn(&mut Value) -> Result<()>>,
    breaking: bool,
}

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "an optional field added to InvitationRepresentation",
        change: add_optional_field,
        overlay_follow_up: None,
        breaking: false,
    },
    Scenario {
        name: "a field removed from InvitationRepresentation",
        change: remove_field,
        overlay_follow_up: Some(forget_removed_field),
        breaking: true,
    },
    Scenario {
        name: "an operation removed (resend)",
        change: remove_operation,
        overlay_follow_up: None,
        breaking: true,
    },
];

const REMOVED_FIELD: &str = "invitationUrl";

fn schema_properties(spec: &mut Value) -> Result<&mut serde_json::Map<String, Value>> {
    spec.pointer_mut("/components/schemas/InvitationRepresentation/properties")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| "the upstream spec has no InvitationRepresentation properties".into())
}

fn add_optional_field(spec: &mut Value) -> Result<()> {
    schema_properties(spec)?.insert("expiresAt".into(), json!({ "type": "string" }));
    Ok(())
}

fn remove_field(spec: &mut Value) -> Result<()> {
    schema_properties(spec)?
        .shift_remove(REMOVED_FIELD)
        .map(drop)
        .ok_or_else(|| format!("no {REMOVED_FIELD} to remove").into())
}

/// Drops the overlay's actions about the removed field.
fn forget_removed_field(overlay: &mut Value) -> Result<()> {
    let actions = overlay
        .get_mut("actions")
        .and_then(Value::as_array_mut)
        .ok_or("the overlay has no actions")?;
    let suffix = format!(".properties.{REMOVED_FIELD}");
    actions.retain(|a| !a["target"].as_str().is_some_and(|t| t.ends_with(&suffix)));
    Ok(())
}

fn remove_operation(spec: &mut Value) -> Result<()> {
    let paths = spec
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .ok_or("the upstream spec has no paths")?;
    let resend = paths
        .keys()
        .find(|p| p.ends_with("/resend-email"))
        .cloned()
        .ok_or("no resend-email path to remove")?;
    paths.shift_remove(&resend);
    Ok(())
}

/// `cargo xtask spec-drill`: on a copy of the workspace per scenario, change the upstream spec,
/// derive the client's spec from it (following up in the overlay where the pipeline refuses
/// the change, as a maintainer would), print the wire difference, and ask cargo-semver-checks
/// whether a minor release may carry the client crate's new API. Fails when a verdict is not
/// the expected one.
pub fn drill() -> Result<ExitCode> {
    let root = workspace_root();
    ensure_semver_checks()?;
    let upstream = parse_yaml(&read(&root.join(paths::UPSTREAM))?)?;
    let overlay = parse_yaml(&read(&root.join(paths::OVERLAY))?)?;
    let derived_now = parse_yaml(&read(&root.join(paths::DERIVED))?)?;
    // One copy for every scenario: each writes all three files of the pipeline into it.
    let copy = tempfile::Builder::new().prefix("phasetwo-spec-drill-").tempdir()?;
    copy_tracked_files(&root, copy.path())?;
    let mut wrong = 0;
    for scenario in &SCENARIOS {
        println!("{}", scenario.name);
        let mut changed = upstream.clone();
        (scenario.change)(&mut changed)?;
        let changed_text = serde_yaml_ng::to_string(&changed)?;
        let mut overlay_text = serde_yaml_ng::to_string(&overlay)?;
        let mut derived = derive_spec(&changed_text, &overlay_text);
        let refused = derived.is_err();
        if let (Err(e), Some(follow_up)) = (&derived, scenario.overlay_follow_up) {
            println!("  spec: refused ({e}); the overlay follows the change");
            let mut followed = overlay.clone();
            follow_up(&mut followed)?;
            overlay_text = serde_yaml_ng::to_string(&followed)?;
            derived = derive_spec(&changed_text, &overlay_text);
        }
        let derived = derived?;
        let wire: Vec<String> = diff::diff(&derived_now, &parse_yaml(&derived)?)
            .iter()
            .map(|change| format!("\n    {change}"))
            .collect();
        println!("  wire:{}", wire.concat());
        std::fs::write(copy.path().join(paths::UPSTREAM), &changed_text)?;
        std::fs::write(copy.path().join(paths::OVERLAY), &overlay_text)?;
        std::fs::write(copy.path().join(paths::DERIVED), &derived)?;
        let minor_is_enough = semver_check_client(&root, copy.path())?;
        // The pipeline must refuse exactly the changes that need a follow-up.
        let as_expected =
            minor_is_enough != scenario.breaking && refused == scenario.overlay_follow_up.is_some();
        println!(
            "{}: {} (expected {})",
            if as_expected { "ok" } else { "WRONG" },
            if minor_is_enough { "a minor release may carry it" } else { "breaking" },
            if scenario.breaking { "breaking" } else { "minor" },
        );
        wrong += usize::from(!as_expected);
    }
    println!(
        "{} of {} spec changes classified as expected",
        SCENARIOS.len() - wrong,
        SCENARIOS.len()
    );
    Ok(if wrong == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Whether the client crate of `copy` may be released as a minor version of the one in
/// `root`; the tool's report goes to the terminal.
fn semver_check_client(root: &Path, copy: &Path) -> Result<bool> {
    let status = Command::new(cargo())
        .args(["semver-checks", "check-release", "--release-type", "minor"])
        .args(["--package", "phasetwo-invitations-client"])
        .arg("--manifest-path")
        .arg(copy.join("Cargo.toml"))
        .arg("--baseline-root")
        .arg(root)
        // One build cache for every scenario: only the client crate differs between them.
        .env("CARGO_TARGET_DIR", root.join("target/spec-drill"))
        .status()?;
    Ok(status.success())
}

/// Copies the files git tracks under `root`, as they are in the working tree, into `copy`.
fn copy_tracked_files(root: &Path, copy: &Path) -> Result<()> {
    let listed = Command::new("git").current_dir(root).args(["ls-files", "-z"]).output()?;
    if !listed.status.success() {
        return Err("git ls-files failed: the drill copies a git checkout".into());
    }
    for file in listed.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let relative = Path::new(std::str::from_utf8(file)?);
        let from = root.join(relative);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = copy.join(relative);
        std::fs::create_dir_all(to.parent().expect("a file has a directory"))?;
        std::fs::copy(&from, &to)?;
    }
    Ok(())
}

/// Installs cargo-semver-checks when `cargo semver-checks` is missing (a few minutes, once).
fn ensure_semver_checks() -> Result<()> {
    let present = Command::new(cargo())
        .args(["semver-checks", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    eprintln!("installing cargo-semver-checks {SEMVER_CHECKS_VERSION} (once; a few minutes)");
    let installed = Command::new(cargo())
        .args(["install", "--locked", "cargo-semver-checks", "--version"])
        .arg(SEMVER_CHECKS_VERSION)
        .status()?;
    if installed.success() { Ok(()) } else { Err("could not install cargo-semver-checks".into()) }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()).into())
}
