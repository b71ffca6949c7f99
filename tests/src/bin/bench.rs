//! The runtime figures of `cargo xtask bench`: each a ratio of two measurements taken in the
//! same run on the same machine, so that it holds on a noisy, shared machine.
//!
//! `bench [--quick] --out FILE` writes the figures as JSON. `bench stream-child URL TOTAL`
//! (used by the memory figure) streams TOTAL invitations and prints its peak resident memory.
//! `bench concurrent facade|hand URL CALLS` runs one side of the concurrency figure, to profile.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use invitations_tests::{HandInvitation, page_body};
use phasetwo_invitations::raw::types::InvitationRepresentation;
use phasetwo_invitations::{Client, RetryConfig};
use serde_json::{Value, json};

const TOKEN: &str = "bench-token";

/// A bench server process, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(delay_ms: u64) -> Server {
        let exe = std::env::current_exe().expect("own path");
        let mut child = Command::new(exe.with_file_name("bench-server"))
            .args(["--delay-ms", &delay_ms.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("bench-server is built next to bench");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("bench-server prints its URL");
        Server { child, url: line.trim().to_owned() }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(url: &str) -> Client {
    Client::builder()
        .base_url(url)
        .bearer_token(TOKEN)
        .retry(RetryConfig::disabled())
        .build()
        .expect("client")
}

/// The hand-written client the facade is compared with: reqwest with the same time limits the
/// facade sets by default, so that both do the same work per request.
fn hand_http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// One page the hand-written way: a GET with reqwest, then serde_json into a plain struct.
async fn hand_page(
    http: &reqwest::Client,
    page_url: &str,
    first: u64,
    max: u64,
) -> Vec<HandInvitation> {
    http.get(page_url)
        .query(&[("first", first), ("max", max)])
        .header("accept", "application/json")
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("decode")
}

/// One page of 20 through the generated client alone (the facade's hooks, none of its
/// layers). Returns how many invitations it held.
async fn generated_page(facade: &Client) -> usize {
    facade
        .raw()
        .get_organization_invitations()
        .realm("bench")
        .org_id("total-1000")
        .first(0)
        .max(20)
        .send()
        .await
        .expect("page")
        .into_inner()
        .len()
}

/// Every invitation the hand-written way; see [`every_page`].
async fn hand_stream(http: &reqwest::Client, page_url: &str) -> u64 {
    every_page(|first| hand_page(http, page_url, first, 1000)).await
}

/// Pages of 1,000 by offset until a short one, each invitation handed on as a stream hands it
/// to its reader. Returns how many.
async fn every_page<T, Page: Future<Output = Vec<T>>>(mut page_at: impl FnMut(u64) -> Page) -> u64 {
    let (mut first, mut seen) = (0u64, 0u64);
    loop {
        let page = page_at(first).await;
        let full = page.len() == 1000;
        first += page.len() as u64;
        for invitation in page {
            std::hint::black_box(invitation);
            seen += 1;
        }
        if !full {
            return seen;
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] }
}

async fn time<F: std::future::Future<Output = ()>>(f: F) -> Duration {
    let started = Instant::now();
    f.await;
    started.elapsed()
}

/// Seconds per `list().send()` of 20 through the facade, the generated client and by hand.
async fn overhead_page(url: &str, calls: usize, runs: usize) -> Value {
    let facade = client(url);
    let org = facade.invitations("bench", "total-1000");
    let http = hand_http();
    let page_url = format!("{url}/realms/bench/orgs/total-1000/invitations");
    let by_hand = || async {
        let page = hand_page(&http, &page_url, 0, 20).await;
        assert_eq!(page.len(), 20);
    };
    let through_facade = || async {
        let page = org.list().page_size(20).send().await.expect("page");
        assert_eq!(page.len(), 20);
    };
    let generated = || async {
        assert_eq!(generated_page(&facade).await, 20);
    };
    // Warm up connections and caches.
    for _ in 0..50 {
        by_hand().await;
        through_facade().await;
        generated().await;
    }
    let (mut facade_ratio, mut generated_ratio) = (Vec::new(), Vec::new());
    for run in 0..runs {
        // Interleaved rounds, alternating which goes first.
        let hand_rounds = || async {
            time(async {
                for _ in 0..calls {
                    by_hand().await;
                }
            })
            .await
        };
        let facade_rounds = || async {
            time(async {
                for _ in 0..calls {
                    through_facade().await;
                }
            })
            .await
        };
        let (hand, fac) = if run.is_multiple_of(2) {
            let hand = hand_rounds().await;
            (hand, facade_rounds().await)
        } else {
            let fac = facade_rounds().await;
            (hand_rounds().await, fac)
        };
        let gen_ = time(async {
            for _ in 0..calls {
                generated().await;
            }
        })
        .await;
        facade_ratio.push(fac.as_secs_f64() / hand.as_secs_f64());
        generated_ratio.push(gen_.as_secs_f64() / hand.as_secs_f64());
    }
    merged(
        with_spread("overhead_page", facade_ratio),
        with_spread("overhead_page_generated", generated_ratio),
    )
}

/// Invitations per second through `stream()`, over a hand-written loop over the same pages.
async fn stream_throughput(url: &str, total: u64, runs: usize) -> Value {
    let org_id = format!("total-{total}");
    let org_client = client(url);
    let org = org_client.invitations("bench", &org_id);
    let http = hand_http();
    let page_url = format!("{url}/realms/bench/orgs/{org_id}/invitations");
    let hand_loop = || async {
        assert_eq!(hand_stream(&http, &page_url).await, total);
    };
    let facade_stream = || async {
        let mut stream = std::pin::pin!(org.list().page_size(1000).stream());
        let mut n = 0u64;
        while let Some(invitation) = stream.try_next().await.expect("stream") {
            std::hint::black_box(invitation);
            n += 1;
        }
        assert_eq!(n, total);
    };
    let raw = org_client.raw();
    let org_id = org_id.as_str();
    let generated_loop = || async {
        let seen = every_page(|first| async move {
            raw.get_organization_invitations()
                .realm("bench")
                .org_id(org_id)
                .first(i32::try_from(first).expect("a page offset fits"))
                .max(1000)
                .send()
                .await
                .expect("page")
                .into_inner()
        })
        .await;
        assert_eq!(seen, total);
    };
    // Warm up, then alternate which goes first, so that neither always meets a colder server.
    hand_loop().await;
    facade_stream().await;
    generated_loop().await;
    let (mut ratios, mut generated_ratios) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let (hand, facade) = if run.is_multiple_of(2) {
            let hand = time(hand_loop()).await;
            (hand, time(facade_stream()).await)
        } else {
            let facade = time(facade_stream()).await;
            (time(hand_loop()).await, facade)
        };
        let generated = time(generated_loop()).await;
        ratios.push(hand.as_secs_f64() / facade.as_secs_f64());
        generated_ratios.push(hand.as_secs_f64() / generated.as_secs_f64());
    }
    merged(
        with_spread("stream_throughput", ratios),
        with_spread("stream_throughput_generated", generated_ratios),
    )
}

/// What streaming costs in memory per invitation: the growth of peak resident memory from a
/// process streaming `small` invitations to one streaming `big`, divided by the difference.
/// Streams remember every id they yielded, so this is the price of never yielding one twice.
fn stream_memory(url: &str, small: u64, big: u64, runs: usize) -> Value {
    let peak = |total: u64| -> f64 {
        let exe = std::env::current_exe().expect("own path");
        let output = Command::new(exe)
            .args(["stream-child", url, &total.to_string()])
            .output()
            .expect("stream-child runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("peak KiB")
    };
    let per_invitation: Vec<f64> = (0..runs)
        .map(|_| (peak(big) - peak(small)).max(0.0) * 1024.0 / (big - small) as f64)
        .collect();
    json!({ "stream_memory_bytes": median(per_invitation) })
}

/// What `bench count` runs `N` times (or over `N` invitations), one request at a time on a
/// single-threaded runtime, so that its instruction count repeats from run to run.
const COUNTED: [&str; 6] =
    ["facade_page", "generated_page", "hand_page", "facade_stream", "facade_pages", "hand_stream"];

/// `bench count KIND URL N`: the work of `KIND` (see [`COUNTED`]) after one warm-up call.
fn count_child(kind: &str, url: &str, n: u64) {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let facade = client(url);
        let http = hand_http();
        let page_url = |org: &str| format!("{url}/realms/bench/orgs/{org}/invitations");
        let (page_of_1000, page_of_n) = (page_url("total-1000"), page_url(&format!("total-{n}")));
        let org = facade.invitations("bench", "total-1000");
        match kind {
            "facade_page" | "generated_page" | "hand_page" => {
                for call in 0..=n {
                    let len = match kind {
                        "facade_page" => org.list().page_size(20).send().await.expect("page").len(),
                        "generated_page" => generated_page(&facade).await,
                        _ => hand_page(&http, &page_of_1000, 0, 20).await.len(),
                    };
                    assert_eq!(len, 20, "call {call}");
                }
            }
            "facade_stream" | "facade_pages" | "hand_stream" => {
                // A warm-up request, then `n` invitations in pages of 1,000.
                let _ = hand_page(&http, &page_of_1000, 0, 1).await;
                let org = facade.invitations("bench", format!("total-{n}"));
                let seen = match kind {
                    "facade_stream" => {
                        let mut stream = std::pin::pin!(org.list().page_size(1000).stream());
                        let mut seen = 0u64;
                        while let Some(invitation) = stream.try_next().await.expect("stream") {
                            std::hint::black_box(invitation);
                            seen += 1;
                        }
                        seen
                    }
                    "facade_pages" => {
                        let mut pages = std::pin::pin!(org.list().page_size(1000).pages());
                        let mut seen = 0u64;
                        while let Some(page) = pages.try_next().await.expect("pages") {
                            for invitation in page {
                                std::hint::black_box(invitation);
                                seen += 1;
                            }
                        }
                        seen
                    }
                    _ => hand_stream(&http, &page_of_n).await,
                };
                assert_eq!(seen, n);
            }
            other => panic!("unknown kind {other}"),
        }
    });
}

/// Instructions the client process executes for `kind` with `n`, counted by callgrind (the
/// server runs outside it, in its own process).
fn instructions(kind: &str, url: &str, n: u64) -> u64 {
    let exe = std::env::current_exe().expect("own path");
    let out =
        std::env::temp_dir().join(format!("bench-callgrind-{}-{kind}-{n}.out", std::process::id()));
    let status = Command::new("valgrind")
        .args(["--tool=callgrind", "--quiet"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args(["count", kind, url, &n.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("valgrind runs (it is installed with the machine's tools)");
    assert!(status.success(), "valgrind {kind} {n}: {status}");
    let text = std::fs::read_to_string(&out).expect("callgrind output");
    let _ = std::fs::remove_file(&out);
    text.lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("callgrind totals")
}

/// Per-call (or per-invitation) instructions of `kind`: the count for `2n` minus the count
/// for `n`, over `n`, so that start-up and warm-up cancel out.
fn per_unit(kind: &str, url: &str, n: u64) -> f64 {
    let once = instructions(kind, url, n);
    let twice = instructions(kind, url, 2 * n);
    twice.saturating_sub(once) as f64 / n as f64
}

/// Instruction counts per list `send()` and per streamed invitation, and their ratios to the
/// hand-written reqwest + serde_json client.
fn instruction_figures(url: &str, calls: u64, invitations: u64) -> Value {
    let mut per = std::collections::BTreeMap::new();
    for kind in COUNTED {
        let n = if kind.ends_with("_page") { calls } else { invitations };
        per.insert(kind, per_unit(kind, url, n));
        eprintln!("  {kind}: {:.0} instructions per unit", per[kind]);
    }
    json!({
        "page_instructions": per["facade_page"] / per["hand_page"],
        "page_instructions_generated": per["generated_page"] / per["hand_page"],
        "page_instructions_hand": per["hand_page"],
        "stream_instructions": per["facade_stream"] / per["hand_stream"],
        "stream_instructions_pages": per["facade_pages"] / per["hand_stream"],
        "stream_instructions_hand": per["hand_stream"],
    })
}

/// list `send()` calls kept in flight by the concurrency figure.
const IN_FLIGHT: usize = 64;

/// `calls` pages of 20 through the facade (`kind` "facade") or by hand ("hand"), by
/// [`IN_FLIGHT`] tasks of the multi-threaded runtime that each take the next call when their
/// last one ends. Tasks, not one task polling 64 futures: that would run every call on one
/// thread, measuring one thread's cost per call (the instruction figures do that) and never
/// two calls at once, which is what shared state in a client would slow down.
async fn concurrent_pages(
    kind: &'static str,
    facade: &Client,
    http: &reqwest::Client,
    url: &str,
    calls: usize,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = Arc::new(AtomicUsize::new(0));
    let page_url: Arc<str> = format!("{url}/realms/bench/orgs/total-1000/invitations").into();
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (next, page_url) = (next.clone(), page_url.clone());
            let (org, http) = (facade.invitations("bench", "total-1000"), http.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < calls {
                    let len = match kind {
                        "facade" => org.list().page_size(20).send().await.expect("page").len(),
                        _ => hand_page(&http, &page_url, 0, 20).await.len(),
                    };
                    assert_eq!(len, 20);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a call task panicked");
    }
}

/// Requests per second of [`IN_FLIGHT`] list `send()` calls in flight through the facade, over
/// the same with hand-written reqwest, in interleaved rounds (A B B A …) on the
/// multi-threaded runtime.
async fn concurrency_throughput(url: &str, calls: usize, rounds: usize) -> Value {
    let (facade, http) = (client(url), hand_http());
    let run = |kind| concurrent_pages(kind, &facade, &http, url, calls);
    run("hand").await;
    run("facade").await;
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let (h, f) = if round.is_multiple_of(2) {
            let h = time(run("hand")).await;
            (h, time(run("facade")).await)
        } else {
            let f = time(run("facade")).await;
            (time(run("hand")).await, f)
        };
        // Requests per second, facade over hand: the inverse ratio of the times.
        ratios.push(h.as_secs_f64() / f.as_secs_f64());
    }
    with_spread("concurrency_throughput", ratios)
}

/// A figure as the median of its rounds, with the spread `[min, median, max]` beside it.
fn with_spread(name: &str, mut values: Vec<f64>) -> Value {
    values.sort_by(f64::total_cmp);
    let mid = median(values.clone());
    let mut figures = serde_json::Map::new();
    figures.insert(name.to_owned(), json!(mid));
    figures.insert(format!("{name}_spread"), json!([values[0], mid, values[values.len() - 1]]));
    Value::Object(figures)
}

/// Two figure objects in one.
fn merged(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut a), Value::Object(b)) => {
            a.extend(b);
            Value::Object(a)
        }
        (a, _) => a,
    }
}

/// `bench stream-child URL TOTAL`: streams TOTAL invitations, prints peak RSS in KiB.
async fn stream_child(url: &str, total: u64) {
    let org = client(url).invitations("bench", format!("total-{total}"));
    let n = org
        .list()
        .page_size(1000)
        .stream()
        .try_fold(0u64, |n, _| async move { Ok(n + 1) })
        .await
        .expect("stream");
    assert_eq!(n, total);
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM");
    println!("{peak}");
}

/// `create_many` at concurrency 16 over concurrency 1, against a server adding 5 ms.
async fn bulk_speedup(url: &str, creates: usize, runs: usize) -> Value {
    let org = client(url).invitations("bench", "total-0");
    let emails: Vec<String> = (0..creates).map(|i| format!("bulk{i}@example.com")).collect();
    let mut ratios = Vec::new();
    for _ in 0..runs {
        let mut elapsed = Vec::new();
        for concurrency in [1, 16] {
            let report = org.create_many(emails.clone()).concurrency(concurrency).send().await;
            assert_eq!(report.created, creates, "{report}");
            elapsed.push(report.elapsed.as_secs_f64());
        }
        ratios.push(elapsed[0] / elapsed[1]);
    }
    json!({ "bulk_speedup": median(ratios) })
}

/// Decoding a 1,000-item page into the generated types, in throughput relative to the
/// hand-written struct with the same fields.
fn decode(iterations: usize, runs: usize) -> Value {
    let body = page_body(0, 1000, 1000, "bench-org");
    let timed = |f: &dyn Fn()| {
        let started = Instant::now();
        for _ in 0..iterations {
            f();
        }
        started.elapsed().as_secs_f64()
    };
    let generated = || {
        let page: Vec<InvitationRepresentation> = serde_json::from_slice(&body).expect("decode");
        std::hint::black_box(page);
    };
    let by_hand = || {
        let page: Vec<HandInvitation> = serde_json::from_slice(&body).expect("decode");
        std::hint::black_box(page);
    };
    generated();
    by_hand();
    let ratios: Vec<f64> = (0..runs).map(|_| timed(&by_hand) / timed(&generated)).collect();
    json!({ "decode": median(ratios) })
}

/// Milliseconds for `build_tools::render` on the committed spec.
fn codegen(runs: usize) -> Value {
    let spec_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../invitations-client/invitations.yaml");
    let spec = std::fs::read_to_string(spec_path).expect("spec");
    let times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let code = build_tools::render(&spec).expect("render");
            std::hint::black_box(code);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    json!({ "codegen_render_ms": median(times) })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, url, total] = args.as_slice()
        && mode == "stream-child"
    {
        stream_child(url, total.parse().expect("TOTAL")).await;
        return;
    }
    if let [mode, kind, url, calls] = args.as_slice()
        && mode == "concurrent"
    {
        // For profiling one side of the concurrency figure.
        let calls = calls.parse().expect("CALLS");
        let kind = if kind == "facade" { "facade" } else { "hand" };
        concurrent_pages(kind, &client(url), &hand_http(), url, calls).await;
        return;
    }
    if let [mode, kind, url, n] = args.as_slice()
        && mode == "count"
    {
        // Its own single-threaded runtime: leave this one's worker threads out of it.
        let (kind, url, n) = (kind.clone(), url.clone(), n.parse().expect("N"));
        std::thread::spawn(move || count_child(&kind, &url, n)).join().expect("count");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    // `--only NAME` measures one figure, for working on it.
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    // Whether to measure `name`; says so on stderr when it does.
    let wanted = |name: &str| {
        let wanted = only.as_deref().is_none_or(|o| o == name);
        if wanted {
            eprintln!("{name} ...");
        }
        wanted
    };
    let out =
        args.iter().position(|a| a == "--out").and_then(|i| args.get(i + 1)).expect("--out FILE");

    let server = Server::start(0);
    let slow_server = Server::start(5);
    let runs = if quick { 1 } else { 5 };
    let mut figures = serde_json::Map::new();
    let mut add = |value: Value| {
        if let Value::Object(map) = value {
            figures.extend(map);
        }
    };
    if wanted("overhead_page") {
        add(overhead_page(&server.url, if quick { 100 } else { 2000 }, runs).await);
    }
    if wanted("instructions") {
        let (calls, invitations) = if quick { (20, 2_000) } else { (200, 20_000) };
        add(instruction_figures(&server.url, calls, invitations));
    }
    if wanted("concurrency_throughput") {
        let (calls, rounds) = if quick { (2_000, 2) } else { (20_000, 20) };
        add(concurrency_throughput(&server.url, calls, rounds).await);
    }
    if wanted("stream_throughput") {
        let total = if quick { 10_000 } else { 100_000 };
        add(stream_throughput(&server.url, total, if quick { 1 } else { 9 }).await);
    }
    if wanted("stream_memory") {
        let (small, big) = if quick { (1_000, 20_000) } else { (10_000, 1_000_000) };
        add(stream_memory(&server.url, small, big, if quick { 1 } else { 3 }));
    }
    if wanted("bulk_speedup") {
        let (creates, bulk_runs) = if quick { (160, 1) } else { (10_000, 3) };
        add(bulk_speedup(&slow_server.url, creates, bulk_runs).await);
    }
    if wanted("decode") {
        add(decode(if quick { 20 } else { 500 }, runs));
    }
    if wanted("codegen_render_ms") {
        add(codegen(if quick { 3 } else { 20 }));
    }
    std::fs::write(out, serde_json::to_string_pretty(&figures).expect("json"))
        .expect("write --out");
}
