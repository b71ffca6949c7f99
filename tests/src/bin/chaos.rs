//! The jobs against the real server with faults between them: `cargo xtask chaos [--short]`.
//!
//! Starts Keycloak with Phase Two's extension and Toxiproxy in front of it (one proxy for the
//! API, one for the token endpoint), runs each scenario through the command-line tool or
//! through processes of this program, and judges each by the server's own state, read with
//! plain HTTP (not with the client under test). Prints one line per scenario and a closing
//! `N passed, M failed`; exits 1 when any failed. `--short` runs fewer rows, every toxic once.
//!
//! `PHASETWO_CLI` names the command-line tool to run (`cargo xtask chaos` builds it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use invitations_tests::admin::{self, Admin, Description, ROLES, configure};
use invitations_tests::keycloak::{ADMIN_USER, Error, Keycloak, PINNED};
use invitations_tests::toxiproxy::{self, Proxy, Stream, Toxic, Toxiproxy};
use serde_json::{Value, json};

const USAGE: &str = "usage: chaos [--short | --load [ROWS]]";

/// How much each scenario does. Each scenario has an organization of its own.
struct Sizes {
    /// Every toxic both ways and on both proxies, rather than each type once.
    every_toxic_both_ways: bool,
    bulk_rows: usize,
    revoke_rows: usize,
    kept_rows: usize,
    kill_rows: usize,
    or_existing_emails: usize,
    or_existing_processes: usize,
}

const FULL: Sizes = Sizes {
    every_toxic_both_ways: true,
    bulk_rows: 1000,
    revoke_rows: 500,
    kept_rows: 100,
    kill_rows: 1000,
    or_existing_emails: 50,
    or_existing_processes: 8,
};

const SHORT: Sizes = Sizes {
    every_toxic_both_ways: false,
    bulk_rows: 100,
    revoke_rows: 60,
    kept_rows: 20,
    kill_rows: 300,
    or_existing_emails: 20,
    or_existing_processes: 4,
};

/// The CLI's concurrency in the bulk scenarios.
const CONCURRENCY: usize = 16;

/// Everything the scenarios share.
struct Rig {
    keycloak: Keycloak,
    description: Description,
    api: Proxy,
    token: Proxy,
    cli: PathBuf,
    http: reqwest::Client,
    /// Numbers the organizations the scenarios make.
    orgs_made: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("or-existing-worker") {
        return or_existing_worker(&args[1..]).await;
    }
    let (sizes, load) = match args.as_slice() {
        [] => (&FULL, None),
        [flag] if flag == "--short" => (&SHORT, None),
        [flag] if flag == "--load" => (&FULL, Some(LOAD_ROWS)),
        [flag, rows] if flag == "--load" => match rows.parse() {
            Ok(rows) => (&FULL, Some(rows)),
            Err(e) => {
                eprintln!("--load {rows}: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let cli = std::env::var_os("PHASETWO_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/debug/phasetwo-invitations"));
    if !cli.exists() {
        eprintln!(
            "chaos: no command-line tool at {} (run through cargo xtask chaos)",
            cli.display()
        );
        return ExitCode::from(2);
    }

    let mut toxiproxy = match Toxiproxy::start().await {
        Ok(toxiproxy) => toxiproxy,
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut keycloak = match Keycloak::start(PINNED, None).await {
        Ok(keycloak) => keycloak,
        Err(e) => {
            eprintln!("chaos: {e}");
            toxiproxy.stop().await;
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "chaos: Keycloak {} with keycloak-orgs {} at {}, Toxiproxy {} in front",
        PINNED.keycloak.version,
        PINNED.orgs.version,
        keycloak.url(),
        toxiproxy::VERSION
    );
    let outcome = match set_up(&keycloak, &toxiproxy).await {
        Ok((description, api, token)) => {
            let mut rig = Rig {
                keycloak,
                description,
                api,
                token,
                cli,
                http: reqwest::Client::new(),
                orgs_made: 0,
            };
            let code = match load {
                Some(rows) => measure_load(&mut rig, rows).await,
                None => run_all(&mut rig, sizes).await,
            };
            keycloak = rig.keycloak;
            code
        }
        Err(e) => {
            eprintln!(
                "chaos: setting up: {e}\n--- last lines of Keycloak's log ---\n{}",
                keycloak.log_tail(40)
            );
            ExitCode::FAILURE
        }
    };
    keycloak.stop().await;
    toxiproxy.stop().await;
    outcome
}

/// Configures the server, and the two proxies in front of it.
async fn set_up(
    keycloak: &Keycloak,
    toxiproxy: &Toxiproxy,
) -> Result<(Description, Proxy, Proxy), Error> {
    let versions = (PINNED.keycloak.version, PINNED.orgs.version);
    let description = configure(keycloak.url(), keycloak.admin_password(), versions).await?;
    let upstream = keycloak.url().trim_start_matches("http://").to_owned();
    let api = toxiproxy.proxy("api", &upstream).await?;
    let token = toxiproxy.proxy("token", &upstream).await?;
    Ok((description, api, token))
}

async fn run_all(rig: &mut Rig, sizes: &Sizes) -> ExitCode {
    let (mut passed, mut failed) = (0, 0);
    let mut report = |name: &str, started: Instant, result: Result<String, Error>| {
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(detail) => {
                passed += 1;
                println!("ok    {name} ({detail}; {secs:.1} s)");
            }
            Err(e) => {
                failed += 1;
                println!("FAIL  {name}: {e} ({secs:.1} s)");
            }
        }
    };
    for (place, toxic) in toxics(sizes) {
        let name = format!(
            "bulk {} under {} on the {place} ({:?})",
            sizes.bulk_rows, toxic.name, toxic.stream
        );
        let started = Instant::now();
        let result = bulk_under(rig, place, &toxic, sizes.bulk_rows).await;
        report(&name, started, result);
    }
    for toxic in [reset_peer(Stream::Downstream), limit_data(Stream::Downstream)] {
        let name =
            format!("revocation plan of {} under {} on the API", sizes.revoke_rows, toxic.name);
        let started = Instant::now();
        let result = revoke_under(rig, &toxic, sizes).await;
        report(&name, started, result);
    }
    let name = format!(
        "create().or_existing() of {} emails from {} processes at once",
        sizes.or_existing_emails, sizes.or_existing_processes
    );
    let started = Instant::now();
    let result = or_existing_race(rig, sizes).await;
    report(&name, started, result);

    let name = format!("Keycloak killed (kill -9) during a bulk run of {}", sizes.kill_rows);
    let started = Instant::now();
    let result = killed_mid_bulk(rig, sizes.kill_rows).await;
    report(&name, started, result);

    let name = "Keycloak killed with a token fetch in flight".to_owned();
    let started = Instant::now();
    let result = killed_mid_token(rig, sizes.kill_rows.min(100)).await;
    report(&name, started, result);

    println!("{passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Which proxy a toxic goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Api,
    TokenEndpoint,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Place::Api => "API",
            Place::TokenEndpoint => "token endpoint",
        })
    }
}

fn toxic(kind: &'static str, stream: Stream, toxicity: f32, attributes: Value) -> Toxic {
    let way = match stream {
        Stream::Upstream => "up",
        Stream::Downstream => "down",
    };
    Toxic { name: format!("{kind}_{way}"), kind, stream, toxicity, attributes }
}

/// Connections reset 300 ms after they open, on a fifth of them.
fn reset_peer(stream: Stream) -> Toxic {
    toxic("reset_peer", stream, 0.2, json!({ "timeout": 300 }))
}

/// Connections closed after 3 kB, on a third of them: answers (or requests) cut mid-body.
fn limit_data(stream: Stream) -> Toxic {
    toxic("limit_data", stream, 0.3, json!({ "bytes": 3000 }))
}

/// The toxics of the bulk scenarios: each type on the API, and on the token endpoint, where
/// a run fetches one token; there the toxic hits every connection.
fn toxics(sizes: &Sizes) -> Vec<(Place, Toxic)> {
    use Stream::{Downstream, Upstream};
    let latency = |stream, toxicity| {
        toxic("latency", stream, toxicity, json!({ "latency": 100, "jitter": 100 }))
    };
    // Data held, then the connection closed after 2 s.
    let timeout = |stream, toxicity| toxic("timeout", stream, toxicity, json!({ "timeout": 2000 }));
    let slicer = |stream| {
        toxic(
            "slicer",
            stream,
            1.0,
            json!({ "average_size": 32, "size_variation": 16, "delay": 2000 }),
        )
    };
    let bandwidth = |stream| toxic("bandwidth", stream, 1.0, json!({ "rate": 16 }));
    let every = |mut toxic: Toxic| {
        toxic.toxicity = 1.0;
        toxic
    };
    // Every type on the API, in each direction asked for.
    let on_the_api = |way| {
        [
            latency(way, 1.0),
            timeout(way, 0.1),
            reset_peer(way),
            limit_data(way),
            slicer(way),
            bandwidth(way),
        ]
        .map(|toxic| (Place::Api, toxic))
    };
    let mut list = Vec::from(on_the_api(Downstream));
    list.extend([
        (Place::TokenEndpoint, every(reset_peer(Downstream))),
        (Place::TokenEndpoint, every(limit_data(Upstream))),
    ]);
    if sizes.every_toxic_both_ways {
        list.extend(on_the_api(Upstream));
        list.extend([
            (Place::TokenEndpoint, latency(Downstream, 1.0)),
            (Place::TokenEndpoint, timeout(Downstream, 1.0)),
            (Place::TokenEndpoint, every(reset_peer(Upstream))),
            (Place::TokenEndpoint, every(limit_data(Downstream))),
            (Place::TokenEndpoint, slicer(Downstream)),
            (Place::TokenEndpoint, bandwidth(Upstream)),
        ]);
    }
    list
}

impl Rig {
    fn proxy(&self, place: Place) -> &Proxy {
        match place {
            Place::Api => &self.api,
            Place::TokenEndpoint => &self.token,
        }
    }

    /// A new organization for one scenario.
    async fn new_org(&mut self) -> Result<String, Error> {
        self.orgs_made += 1;
        let admin =
            Admin::sign_in(self.keycloak.url(), ADMIN_USER, self.keycloak.admin_password()).await?;
        admin
            .create_org(&self.description.realm, &format!("chaos-{}", self.orgs_made), &ROLES)
            .await
    }

    /// The organization's invitations as the server holds them, `(id, email)`, read with a
    /// token of its own straight from Keycloak (no proxy, not the client under test).
    async fn stored(&self, org: &str) -> Result<Vec<(String, String)>, Error> {
        let d = &self.description;
        let token = admin::token(
            &self.http,
            self.keycloak.url(),
            &d.realm,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &d.client_id),
                ("client_secret", &d.client_secret),
            ],
        )
        .await?;
        let response = self
            .http
            .get(format!("{}/realms/{}/orgs/{org}/invitations", self.keycloak.url(), d.realm))
            .query(&[("first", "0"), ("max", "100000")])
            .bearer_auth(token)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("listing on the server: HTTP {}", response.status()).into());
        }
        let list: Vec<Value> = response.json().await?;
        Ok(list
            .iter()
            .map(|i| {
                let field = |name: &str| i[name].as_str().unwrap_or_default().to_owned();
                (field("id"), field("email"))
            })
            .collect())
    }

    /// Runs the command-line tool for `org` through the proxies; returns its exit code and
    /// standard output.
    async fn cli(&self, org: &str, args: &[&str]) -> Result<(i32, String), Error> {
        let d = &self.description;
        let output = tokio::process::Command::new(&self.cli)
            .args(args)
            .env_clear()
            .env("PHASETWO_URL", self.api.url())
            .env("PHASETWO_TOKEN_URL", self.token.url())
            .env("PHASETWO_REALM", &d.realm)
            .env("PHASETWO_ORG", org)
            .env("PHASETWO_CLIENT_ID", &d.client_id)
            .env("PHASETWO_CLIENT_SECRET", &d.client_secret)
            .env("PHASETWO_AUTH_REALM", &d.realm)
            .stdin(Stdio::null())
            .output()
            .await?;
        Ok((
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ))
    }
}

/// `n` rows of a bulk file, and their emails as the server stores them.
fn rows(tag: &str, n: usize) -> (String, BTreeSet<String>) {
    let mut file = String::from("email,roles\n");
    let mut emails = BTreeSet::new();
    for i in 0..n {
        file.push_str(&format!("{tag}-{i}@Example.com,member\n"));
        emails.insert(format!("{tag}-{i}@example.com"));
    }
    (file, emails)
}

/// What one CLI run reported: its per-item lines and its summary line.
struct Run {
    code: i32,
    items: Vec<Value>,
    summary: Value,
}

impl Run {
    fn parse(code: i32, stdout: &str) -> Result<Run, Error> {
        let mut lines: Vec<Value> = stdout
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("unreadable --json output: {e}"))?;
        let summary = lines.pop().ok_or("no output")?;
        Ok(Run { code, items: lines, summary })
    }

    fn count(&self, field: &str) -> u64 {
        self.summary[field].as_u64().unwrap_or(0)
    }

    /// Items that failed although their request may have reached the server.
    fn failed_maybe_sent(&self) -> usize {
        self.items.iter().filter(|i| i["may_have_been_sent"] == true).count()
    }

    fn first_error(&self) -> String {
        self.items.iter().find_map(|i| i["error"].as_str()).unwrap_or("none").to_owned()
    }
}

/// Runs a bulk file through the CLI and reads its report.
async fn bulk(rig: &Rig, org: &str, file: &std::path::Path) -> Result<Run, Error> {
    let path = file.to_str().ok_or("a temporary path that is not UTF-8")?;
    let concurrency = CONCURRENCY.to_string();
    let (code, stdout) =
        rig.cli(org, &["--json", "bulk", path, "--concurrency", &concurrency]).await?;
    Run::parse(code, &stdout)
}

/// Exactly `emails` stored, each once; returns the ids by email.
async fn exactly(
    rig: &Rig,
    org: &str,
    emails: &BTreeSet<String>,
) -> Result<BTreeMap<String, String>, Error> {
    let stored = rig.stored(org).await?;
    let mut by_email = BTreeMap::new();
    for (id, email) in &stored {
        if by_email.insert(email.clone(), id.clone()).is_some() {
            return Err(format!("{email} is stored twice").into());
        }
    }
    let have: BTreeSet<String> = by_email.keys().cloned().collect();
    if &have != emails {
        let missing = emails.difference(&have).count();
        let extra = have.difference(emails).count();
        return Err(format!(
            "the server holds {} invitations: {missing} missing, {extra} unexpected",
            stored.len()
        )
        .into());
    }
    Ok(by_email)
}

/// A bulk run with `toxic` on one proxy, then a re-run without it. On the API, the first run
/// must do everything (its retries ride out the fault) and the re-run create nothing; on the
/// token endpoint, where a fault can keep the run from starting, the first run must say of
/// every item it did not create that nothing was sent, and the two runs together create each
/// invitation exactly once.
async fn bulk_under(rig: &mut Rig, place: Place, toxic: &Toxic, n: usize) -> Result<String, Error> {
    let org = rig.new_org().await?;
    let (text, emails) = rows(&format!("bulk-{}", rig.orgs_made), n);
    let file = temp_file(&text)?;
    let proxy = rig.proxy(place).clone();
    proxy.add(toxic).await?;
    let first = bulk(rig, &org, file.path()).await;
    proxy.remove(&toxic.name).await?;
    let first = first?;
    let second = bulk(rig, &org, file.path()).await?;
    let ids = exactly(rig, &org, &emails).await?;
    for item in first.items.iter().chain(&second.items) {
        if let (Some(email), Some(id)) = (item["email"].as_str(), item["id"].as_str())
            && ids.get(&email.to_lowercase()).map(String::as_str) != Some(id)
        {
            return Err(format!("{email} was reported as {id}, the server holds another").into());
        }
    }
    let (created, recreated) = (first.count("created"), second.count("created"));
    if second.count("failed") != 0 {
        return Err(format!("the re-run failed items: {}", second.first_error()).into());
    }
    match place {
        Place::Api if first.code != 0 || created != n as u64 => {
            return Err(format!(
                "the run under the fault created {created} of {n} (exit {}; first error: {})",
                first.code,
                first.first_error()
            )
            .into());
        }
        Place::Api if recreated != 0 => {
            return Err(format!("the re-run created {recreated}").into());
        }
        Place::TokenEndpoint if first.failed_maybe_sent() != 0 => {
            return Err(format!(
                "{} items failed after their request may have been sent, with only the token endpoint at fault",
                first.failed_maybe_sent()
            )
            .into());
        }
        Place::TokenEndpoint if created + recreated != n as u64 => {
            return Err(format!(
                "the runs created {created} + {recreated} of {n}: an item was lost or doubled"
            )
            .into());
        }
        _ => {}
    }
    Ok(format!(
        "first run: {created} created, {} reconciled, {} failed (exit {}); re-run: {recreated} created",
        first.count("reconciled"),
        first.count("failed"),
        first.code
    ))
}

/// A plan of `revoke_rows` invitations (by domain) beside `kept_rows` others, applied with
/// `toxic` on the API: exactly the planned ones gone, the others kept; a second apply (the
/// fault removed) finds nothing left to do.
async fn revoke_under(rig: &mut Rig, toxic: &Toxic, sizes: &Sizes) -> Result<String, Error> {
    let org = rig.new_org().await?;
    let tag = format!("revoke-{}", rig.orgs_made);
    let mut text = String::from("email\n");
    for i in 0..sizes.revoke_rows {
        text.push_str(&format!("{tag}-{i}@gone.example\n"));
    }
    let mut kept = BTreeSet::new();
    for i in 0..sizes.kept_rows {
        text.push_str(&format!("{tag}-{i}@kept.example\n"));
        kept.insert(format!("{tag}-{i}@kept.example"));
    }
    let file = temp_file(&text)?;
    let made = bulk(rig, &org, file.path()).await?;
    if made.code != 0 {
        return Err(format!("setting up: {}", made.first_error()).into());
    }
    let (_, plan) = rig.cli(&org, &["revoke", "--domain", "gone.example", "--dry-run"]).await?;
    let plan_file = temp_file(&plan)?;
    let plan_path = plan_file.path().to_str().ok_or("a path that is not UTF-8")?;
    let planned = plan.lines().filter(|l| !l.starts_with('#')).count();
    if planned != sizes.revoke_rows {
        return Err(format!("the plan lists {planned}, not {}", sizes.revoke_rows).into());
    }
    rig.api.add(toxic).await?;
    let applied = rig.cli(&org, &["--json", "revoke", "--ids", plan_path]).await;
    rig.api.remove(&toxic.name).await?;
    let (code, stdout) = applied?;
    let applied = Run::parse(code, &stdout)?;
    let again = rig.cli(&org, &["--json", "revoke", "--ids", plan_path]).await?;
    let again = Run::parse(again.0, &again.1)?;
    exactly(rig, &org, &kept).await?;
    let deleted = applied.count("deleted") + applied.count("already_gone");
    if applied.code != 0 || deleted != sizes.revoke_rows as u64 {
        return Err(format!(
            "the apply under the fault revoked {deleted} (exit {}; first error: {})",
            applied.code,
            applied.first_error()
        )
        .into());
    }
    if again.count("deleted") != 0 {
        return Err(format!(
            "the second apply deleted {}: the first said it had",
            again.count("deleted")
        )
        .into());
    }
    Ok(format!(
        "{} deleted, {} already gone under the fault; {} kept",
        applied.count("deleted"),
        applied.count("already_gone"),
        kept.len()
    ))
}

/// Processes of this program calling `create(email).or_existing()` for the same emails at
/// once, through the API proxy with jittered latency: one invitation per email, and every
/// process told the same id.
async fn or_existing_race(rig: &mut Rig, sizes: &Sizes) -> Result<String, Error> {
    let org = rig.new_org().await?;
    let emails: BTreeSet<String> = (0..sizes.or_existing_emails)
        .map(|i| format!("race-{}-{i}@example.com", rig.orgs_made))
        .collect();
    let latency = toxic("latency", Stream::Upstream, 1.0, json!({ "latency": 20, "jitter": 20 }));
    rig.api.add(&latency).await?;
    let me = std::env::current_exe()?;
    let d = &rig.description;
    let workers: Vec<_> = (0..sizes.or_existing_processes)
        .map(|_| {
            tokio::process::Command::new(&me)
                .arg("or-existing-worker")
                .args(&emails)
                .env_clear()
                .env("PHASETWO_URL", rig.api.url())
                .env("PHASETWO_TOKEN_URL", rig.token.url())
                .env("PHASETWO_REALM", &d.realm)
                .env("PHASETWO_ORG", &org)
                .env("PHASETWO_CLIENT_ID", &d.client_id)
                .env("PHASETWO_CLIENT_SECRET", &d.client_secret)
                .env("PHASETWO_AUTH_REALM", &d.realm)
                .stdin(Stdio::null())
                .output()
        })
        .collect();
    let outputs = futures::future::join_all(workers).await;
    rig.api.remove(&latency.name).await?;
    let ids = exactly(rig, &org, &emails).await?;
    let (mut created, mut existing) = (0, 0);
    for output in outputs {
        let output = output?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "a worker failed ({}): {}{}",
                output.status,
                stdout.lines().find(|l| l.contains("error")).unwrap_or(""),
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        for line in stdout.lines() {
            let answer: Value = serde_json::from_str(line)?;
            let email = answer["email"].as_str().unwrap_or_default();
            if ids.get(email).map(String::as_str) != answer["id"].as_str() {
                return Err(format!("a worker was told {line}; the server holds another id").into());
            }
            if answer["created"] == true {
                created += 1;
            } else {
                existing += 1;
            }
        }
    }
    if created != emails.len() {
        return Err(format!(
            "{created} answers said created for {} emails: a created one was reported as existing or the reverse",
            emails.len()
        )
        .into());
    }
    Ok(format!("{} invitations; {created} answers created, {existing} existing", ids.len()))
}

/// One worker of [`or_existing_race`]: prints `{"email","id","created"}` for each email.
async fn or_existing_worker(emails: &[String]) -> ExitCode {
    use phasetwo_invitations::{Client, Invited};
    let client = match Client::from_env() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let org = client.invitations(
        std::env::var("PHASETWO_REALM").unwrap_or_default(),
        std::env::var("PHASETWO_ORG").unwrap_or_default(),
    );
    let calls = emails.iter().map(|email| {
        let org = org.clone();
        async move { (email, org.create(email).or_existing().await) }
    });
    let mut code = ExitCode::SUCCESS;
    for (email, answer) in futures::future::join_all(calls).await {
        match answer {
            Ok(invited) => {
                let created = matches!(invited, Invited::Created(_));
                println!("{}", json!({ "email": email, "id": invited.id(), "created": created }));
            }
            Err(e) => {
                println!("{}", json!({ "email": email, "error": e.to_string() }));
                code = ExitCode::FAILURE;
            }
        }
    }
    code
}

/// A bulk run during which Keycloak is killed with SIGKILL, once a fifth of the rows are
/// stored, and started again on its data:
/// the run ends (done, or failing items by name), and a re-run converges to exactly the rows.
async fn killed_mid_bulk(rig: &mut Rig, n: usize) -> Result<String, Error> {
    let org = rig.new_org().await?;
    // Keycloak's development database (H2) confirms a commit before it reaches the disk: an
    // organization created just before the kill was seen gone after the restart.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (text, emails) = rows(&format!("kill-{}", rig.orgs_made), n);
    let file = temp_file(&text)?;
    let group = rig.keycloak.group_id().ok_or("Keycloak is not running")?;
    let ((first, ended), killed) =
        tokio::join!(async { (bulk(rig, &org, file.path()).await, Instant::now()) }, async {
            // Mid-run: once a fifth of the rows are stored (or after a minute at most).
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(60) {
                let stored = rig.stored(&org).await.map_or(0, |s| s.len());
                if stored >= n / 5 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            kill_after(group, Duration::ZERO).await
        });
    rig.keycloak.restart().await?;
    let first = first?;
    if ended < killed {
        return Err("the run ended before Keycloak was killed: too few rows".into());
    }
    // An item that failed saying nothing was sent must not be on the server.
    let after_restart: BTreeSet<String> =
        rig.stored(&org).await?.into_iter().map(|(_, email)| email).collect();
    for item in &first.items {
        let email = item["email"].as_str().unwrap_or_default().to_lowercase();
        if item["may_have_been_sent"] == false && after_restart.contains(&email) {
            return Err(format!("{email} failed as not sent, yet the server holds it").into());
        }
    }
    let second = bulk(rig, &org, file.path()).await?;
    if second.code != 0 {
        return Err(format!("the re-run failed: {}", second.first_error()).into());
    }
    exactly(rig, &org, &emails).await?;
    let created = first.count("created");
    // Creates the server confirmed and then lost in the crash: Keycloak's development
    // database (H2) confirms a commit before it reaches the disk.
    let lost = (created + second.count("created")).saturating_sub(n as u64);
    Ok(format!(
        "first run: {created} created, {} failed ({} may have been sent), ended {:.1} s after the kill; re-run: {} created ({lost} of the confirmed creates lost by the server's crash)",
        first.count("failed"),
        first.failed_maybe_sent(),
        ended.saturating_duration_since(killed).as_secs_f64(),
        second.count("created")
    ))
}

/// A run that fetches its token through a slow token proxy while Keycloak is killed: the run
/// ends saying nothing was sent, and once Keycloak is back a re-run creates every row once.
async fn killed_mid_token(rig: &mut Rig, n: usize) -> Result<String, Error> {
    let org = rig.new_org().await?;
    let (text, emails) = rows(&format!("kill-token-{}", rig.orgs_made), n);
    let file = temp_file(&text)?;
    let slow = toxic("latency", Stream::Upstream, 1.0, json!({ "latency": 3000 }));
    rig.token.add(&slow).await?;
    let group = rig.keycloak.group_id().ok_or("Keycloak is not running")?;
    let (first, _) =
        tokio::join!(bulk(rig, &org, file.path()), kill_after(group, Duration::from_millis(1500)));
    let restarted = rig.keycloak.restart().await;
    rig.token.remove(&slow.name).await?;
    restarted?;
    let first = first?;
    if first.count("created") != 0 || first.failed_maybe_sent() != 0 {
        return Err(format!(
            "without a token the run created {} and says {} may have been sent",
            first.count("created"),
            first.failed_maybe_sent()
        )
        .into());
    }
    let second = bulk(rig, &org, file.path()).await?;
    exactly(rig, &org, &emails).await?;
    if second.count("created") != n as u64 {
        return Err(format!("the re-run created {} of {n}", second.count("created")).into());
    }
    Ok(format!(
        "first run: exit {}, nothing sent ({}); re-run: {n} created",
        first.code,
        first.first_error()
    ))
}

/// Kills the process group `group` with SIGKILL after `after`; returns when.
async fn kill_after(group: u32, after: Duration) -> Instant {
    tokio::time::sleep(after).await;
    invitations_tests::process::kill_group(group).await;
    Instant::now()
}

/// A temporary file holding `text`, removed when dropped.
fn temp_file(text: &str) -> Result<tempfile::NamedTempFile, Error> {
    let mut file = tempfile::NamedTempFile::new()?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    Ok(file)
}

/// Rows per setting of `--load`.
const LOAD_ROWS: usize = 1000;

/// One measured run of `--load`.
#[derive(Clone)]
struct Measure {
    rate: f64,
    p50: String,
    p99: String,
    keycloak: String,
    client: String,
}

/// How many requests a load run keeps in flight.
#[derive(Clone, Copy)]
enum Setting {
    Fixed(usize),
    /// `create_many` at a fixed concurrency: the adaptive runs' code path, without adapting.
    Many(usize),
    Adaptive {
        max: usize,
    },
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Fixed(n) => write!(f, "{n}"),
            Setting::Many(n) => write!(f, "{n}, through create_many"),
            Setting::Adaptive { max } => write!(f, "adaptive, up to {max}"),
        }
    }
}

/// Creates per second, latency and CPU at fixed concurrencies and with the adaptive default,
/// straight to Keycloak (no proxy), with the client in this process; prints a Markdown table.
async fn measure_load(rig: &mut Rig, rows: usize) -> ExitCode {
    use phasetwo_invitations::Client;
    let d = &rig.description;
    let client = match Client::builder()
        .base_url(rig.keycloak.url())
        .client_credentials(&d.realm, &d.client_id, &d.client_secret)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = [
        Setting::Fixed(1),
        Setting::Fixed(4),
        Setting::Fixed(16),
        Setting::Fixed(64),
        Setting::Many(16),
        Setting::Adaptive { max: 16 },
        Setting::Adaptive { max: 64 },
    ];
    // Keycloak's JIT compiles the create path during the first thousand or so: unmeasured.
    // Then every setting twice, the second time in reverse order, so that the server's
    // drift (its JIT, its growing tables) weighs on each alike; the table gives the mean.
    let runs: Vec<(Option<usize>, Setting)> = std::iter::once((None, Setting::Fixed(16)))
        .chain(settings.iter().copied().enumerate().map(|(i, s)| (Some(i), s)))
        .chain(settings.iter().copied().enumerate().rev().map(|(i, s)| (Some(i), s)))
        .collect();
    let mut measured: Vec<Vec<Measure>> = vec![Vec::new(); settings.len()];
    println!(
        "| concurrency | creates/s (mean of 2) | p50 ms | p99 ms | Keycloak CPU (of {} cores) | client CPU |",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!("|---|---|---|---|---|---|");
    let mut best_fixed: f64 = 0.0;
    let mut adaptive_worst = f64::MAX;
    for (slot, setting) in runs {
        let org = match rig.new_org().await {
            Ok(org) => org,
            Err(e) => {
                eprintln!("chaos: {e}");
                return ExitCode::FAILURE;
            }
        };
        let org = client.invitations(&rig.description.realm, org);
        let emails: Vec<String> =
            (0..rows).map(|i| format!("load-{}-{i}@example.com", rig.orgs_made)).collect();
        let keycloak_cpu = rig.keycloak.group_id().map(group_cpu_seconds);
        let own_cpu = own_cpu_seconds();
        let started = Instant::now();
        let many = org.create_many(emails.iter().map(String::as_str));
        let (done, mut latencies) = match setting {
            Setting::Fixed(n) => fixed_load(&org, &emails, n).await,
            Setting::Many(n) => (many.concurrency(n).send().await.created, Vec::new()),
            Setting::Adaptive { max } => {
                (many.max_concurrency(max).send().await.created, Vec::new())
            }
        };
        let elapsed = started.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed;
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let share = |seconds: f64| format!("{:.0} %", 100.0 * seconds / elapsed / cores);
        let keycloak = match (keycloak_cpu, rig.keycloak.group_id()) {
            (Some(before), Some(group)) => share(group_cpu_seconds(group) - before),
            _ => "?".to_owned(),
        };
        let client_share = share(own_cpu_seconds() - own_cpu);
        latencies.sort();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .map_or("-".to_owned(), |d| format!("{:.0}", d.as_secs_f64() * 1000.0))
        };
        if done != rows {
            eprintln!("chaos: {setting}: {done} of {rows} created");
            return ExitCode::FAILURE;
        }
        if let Some(slot) = slot {
            measured[slot].push(Measure {
                rate,
                p50: at(0.5),
                p99: at(0.99),
                keycloak,
                client: client_share,
            });
        }
    }
    for (setting, measures) in settings.iter().zip(&measured) {
        let rate = measures.iter().map(|m| m.rate).sum::<f64>() / measures.len() as f64;
        let both =
            |field: fn(&Measure) -> &str| measures.iter().map(field).collect::<Vec<_>>().join(", ");
        println!(
            "| {setting} | {rate:.0} | {} | {} | {} | {} |",
            both(|m| &m.p50),
            both(|m| &m.p99),
            both(|m| &m.keycloak),
            both(|m| &m.client)
        );
        match setting {
            Setting::Fixed(_) | Setting::Many(_) => best_fixed = best_fixed.max(rate),
            Setting::Adaptive { .. } => adaptive_worst = adaptive_worst.min(rate),
        }
    }
    let ratio = adaptive_worst / best_fixed;
    println!(
        "adaptive (worst of its ceilings) / best fixed: {:.0} % (goal: at least 95 %)",
        100.0 * ratio
    );
    ExitCode::SUCCESS
}

/// `create(..).or_existing()` for each email, `n` at a time, as `create_many` sends them;
/// returns how many were created and each call's latency.
async fn fixed_load(
    org: &phasetwo_invitations::OrgInvitations,
    emails: &[String],
    n: usize,
) -> (usize, Vec<Duration>) {
    use futures::StreamExt;
    let results: Vec<_> = futures::stream::iter(emails)
        .map(|email| async move {
            let started = Instant::now();
            let answer = org.create(email).or_existing().await;
            (answer, started.elapsed())
        })
        .buffer_unordered(n)
        .collect()
        .await;
    let created = results
        .iter()
        .filter(|(answer, _)| matches!(answer, Ok(phasetwo_invitations::Invited::Created(_))))
        .count();
    (created, results.into_iter().map(|(_, took)| took).collect())
}

/// CPU seconds (user and system) used so far by the processes of `group`.
fn group_cpu_seconds(group: u32) -> f64 {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Some((pgrp, seconds)) = stat_cpu(&entry.path().join("stat"))
            && pgrp == group
        {
            total += seconds;
        }
    }
    total
}

/// CPU seconds used so far by this process.
fn own_cpu_seconds() -> f64 {
    stat_cpu(std::path::Path::new("/proc/self/stat")).map_or(0.0, |(_, seconds)| seconds)
}

/// A process's group and CPU seconds from its `/proc/PID/stat` (fields 5, 14 and 15; clock
/// ticks of 1/100 s, Linux's value on every common architecture).
fn stat_cpu(path: &std::path::Path) -> Option<(u32, f64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let pgrp = fields.get(2)?.parse().ok()?;
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some((pgrp, ticks / 100.0))
}
