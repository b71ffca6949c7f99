//! `cargo xtask bench`: builds the benchmark programs in release mode, runs them, adds the
//! rebuild time of the generated client, and prints every figure beside its goal.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use serde_json::{Value, json};

use build_tools::{Result, paths, workspace_root};

/// Figures, what they are measured in, and their goals (`None`: reported, no goal).
const FIGURES: &[(&str, &str, Option<Goal>)] = &[
    (
        "overhead_page",
        "facade time / hand-written reqwest time, per page of 20",
        Some(Goal::AtMost(1.05)),
    ),
    ("overhead_page_generated", "generated client time / hand-written time, per page of 20", None),
    (
        "page_instructions",
        "facade instructions / hand-written, per list send() of 20 (callgrind, client process)",
        Some(Goal::AtMost(1.05)),
    ),
    (
        "page_instructions_generated",
        "generated client instructions / hand-written, per page of 20",
        None,
    ),
    (
        "page_instructions_hand",
        "instructions per hand-written page call (reqwest + serde_json)",
        None,
    ),
    (
        "stream_instructions",
        "facade stream() instructions / hand-written loop, per invitation",
        Some(Goal::AtMost(1.02)),
    ),
    (
        "stream_instructions_pages",
        "facade pages() instructions / hand-written loop, per invitation",
        None,
    ),
    ("stream_instructions_hand", "instructions per invitation of the hand-written loop", None),
    (
        "concurrency_throughput",
        "requests/s with 64 list send() calls in flight, facade / hand-written (20,000 calls)",
        Some(Goal::AtLeast(0.95)),
    ),
    ("stream_throughput", "facade stream rate / hand-written loop rate", Some(Goal::AtLeast(0.95))),
    ("stream_throughput_generated", "generated client loop rate / hand-written loop rate", None),
    (
        "stream_memory_bytes",
        "peak RSS growth per streamed invitation, bytes",
        Some(Goal::AtMost(32.0)),
    ),
    (
        "bulk_speedup",
        "create_many time at concurrency 1 / at 16 (5 ms server)",
        Some(Goal::AtLeast(10.0)),
    ),
    ("decode", "generated types decode rate / hand-written struct rate", Some(Goal::AtLeast(0.9))),
    ("codegen_render_ms", "build_tools::render on the spec, ms", Some(Goal::Below(100.0))),
    ("codegen_rebuild_s", "rebuild of the client crate after the spec changes, s", None),
    (
        "consumer_build_crates",
        "crates a new user's clean debug build of the facade compiles (default features)",
        None,
    ),
    ("consumer_build_s", "seconds of that build (full runs only)", None),
];

#[derive(Clone, Copy)]
enum Goal {
    AtMost(f64),
    AtLeast(f64),
    Below(f64),
}

impl Goal {
    fn met(self, value: f64) -> bool {
        match self {
            Goal::AtMost(goal) => value <= goal,
            Goal::AtLeast(goal) => value >= goal,
            Goal::Below(goal) => value < goal,
        }
    }

    fn describe(self) -> String {
        match self {
            Goal::AtMost(goal) => format!("<= {goal}"),
            Goal::AtLeast(goal) => format!(">= {goal}"),
            Goal::Below(goal) => format!("< {goal}"),
        }
    }
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo(args: &[&str]) -> Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(workspace_root())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed: {status}", args.join(" ")).into())
    }
}

pub fn run(quick: bool) -> Result<ExitCode> {
    // `--quick` only proves the command works: the debug build, which the tests share, spares
    // a release build of every dependency.
    let (profile, profile_dir) =
        if quick { ("--profile=dev", "debug") } else { ("--release", "release") };
    cargo(&["build", profile, "--locked", "--quiet", "-p", "invitations-tests", "--bins"])?;
    let out_dir = target_dir().join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let runtime = out_dir.join("runtime.json");
    let mut bench = Command::new(target_dir().join(profile_dir).join("bench"));
    if quick {
        bench.arg("--quick");
    }
    let status = bench.arg("--out").arg(&runtime).status()?;
    if !status.success() {
        return Err(format!("the benchmark program failed: {status}").into());
    }
    let mut figures: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&runtime)?)?;

    // A spec change: the same content written again, which is what cargo sees of an edit.
    eprintln!("codegen_rebuild_s ...");
    let spec = workspace_root().join(paths::DERIVED);
    std::fs::write(&spec, std::fs::read(&spec)?)?;
    let started = Instant::now();
    cargo(&["build", profile, "--locked", "--quiet", "-p", "phasetwo-invitations-client"])?;
    figures.insert("codegen_rebuild_s".into(), json!(started.elapsed().as_secs_f64()));

    // What a new user's first build costs: minutes of clean builds, so full runs only.
    if !quick {
        eprintln!("consumer build ...");
        let output = Command::new(workspace_root().join("tests/consumer/build-cost.sh"))
            .arg("default")
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        let numbers: Vec<f64> = text
            .lines()
            .last()
            .unwrap_or_default()
            .split_whitespace()
            .rev()
            .take(2)
            .filter_map(|n| n.parse().ok())
            .collect();
        if let [seconds, crates] = numbers[..] {
            figures.insert("consumer_build_crates".into(), json!(crates));
            figures.insert("consumer_build_s".into(), json!(seconds));
        } else {
            return Err(format!("tests/consumer/build-cost.sh said: {text}").into());
        }
    }

    let mut rows = Vec::new();
    println!(
        "{:<28} {:>10} {:>9} {:>5} {:>17}  measures",
        "figure", "value", "goal", "met", "spread (min-max)"
    );
    for (name, what, goal) in FIGURES {
        let Some(value) = figures.get(*name).and_then(Value::as_f64) else {
            if quick {
                continue;
            }
            return Err(format!("the benchmark program did not report {name}").into());
        };
        let spread = figures
            .get(&format!("{name}_spread"))
            .and_then(Value::as_array)
            .map(|s| s.iter().filter_map(Value::as_f64).collect::<Vec<_>>());
        let spread_text = match spread.as_deref() {
            Some([min, _, max]) => format!("{min:.3}-{max:.3}"),
            _ => String::new(),
        };
        let (goal_text, met) = match goal {
            Some(goal) => (goal.describe(), Some(goal.met(value))),
            None => ("-".to_owned(), None),
        };
        let met_text = match met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!("{name:<28} {value:>10.3} {goal_text:>9} {met_text:>5} {spread_text:>17}  {what}");
        rows.push(json!({"figure": name, "value": value, "goal": goal_text, "met": met, "spread": spread, "measures": what}));
    }
    let report = json!({ "quick": quick, "figures": rows });
    let path = out_dir.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!("\nwritten to {}", path.display());
    if quick {
        println!("(--quick: short runs, for checking the command; the figures are not meaningful)");
    }
    Ok(ExitCode::SUCCESS)
}
