//! The `phasetwo-invitations` tool, run as a process against the built-in server.

use std::process::Output;

use phasetwo_invitations::operation;
use phasetwo_invitations_testing::support::{Fixture, MANAGE_TOKEN};
use phasetwo_invitations_testing::{FakeServer, Fault, FaultAction, Permission, Scope};
use serde_json::Value;

const TOKEN: &str = MANAGE_TOKEN;
const SECRET: &str = "cli-client-secret-456";
const BIN: &str = env!("CARGO_BIN_EXE_phasetwo-invitations");

async fn server() -> FakeServer {
    Fixture::start().await.server
}

/// Runs the tool with the connection given through the environment, as an operator would.
async fn run(server: &FakeServer, args: &[&str]) -> Output {
    run_with(server, args, &[("PHASETWO_TOKEN", TOKEN)]).await
}

async fn run_with(server: &FakeServer, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PHASETWO_URL", server.url())
        .env("PHASETWO_REALM", "acme")
        .env("PHASETWO_ORG", "org-1");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    // Whatever happened, no secret is ever printed.
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains(TOKEN) && !text.contains(SECRET), "{text}");
    }
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_count_list_resend_delete() {
    let server = server().await;
    let created = run(
        &server,
        &[
            "--json",
            "create",
            "Ann@Example.com",
            "--role",
            "member",
            "--send-email",
            "--redirect-uri",
            "https://app.example.com/",
            "--attr",
            "team=blue",
        ],
    )
    .await;
    assert_eq!(code(&created), 0, "{}", stderr(&created));
    let created = &json_lines(&created)[0];
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["email"], "ann@example.com");
    let stored = &server.invitations("acme", "org-1")[0];
    assert!(stored.send_email && stored.roles.contains("member"));
    assert_eq!(stored.attributes["team"], ["blue"]);

    let get = run(&server, &["get", &id]).await;
    assert_eq!(code(&get), 0);
    assert!(stdout(&get).contains("ann@example.com") && stdout(&get).contains("team=blue"));
    let get_json = run(&server, &["--json", "get", &id]).await;
    assert_eq!(json_lines(&get_json)[0]["id"], id.as_str());

    let count = run(&server, &["count"]).await;
    assert_eq!(stdout(&count).trim(), "1");
    let count = run(&server, &["--json", "count"]).await;
    assert_eq!(json_lines(&count)[0]["count"], 1);

    run(&server, &["create", "bob@example.com"]).await;
    let table = run(&server, &["list"]).await;
    let lines: Vec<String> = stdout(&table).lines().map(str::to_owned).collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("EMAIL"));
    assert_eq!(lines.len(), 3);
    let listed = run(&server, &["--json", "list", "--search", "BOB", "--page-size", "1"]).await;
    let listed = json_lines(&listed);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["email"], "bob@example.com");
    // snake_case, like every other JSON the tool prints.
    assert!(listed[0].get("created_at").is_some(), "{}", listed[0]);
    assert!(listed[0].get("createdAt").is_none(), "{}", listed[0]);
    // A refused page size prints no table header before its error.
    let zero = run(&server, &["list", "--page-size", "0"]).await;
    assert_eq!(code(&zero), 2);
    assert!(stdout(&zero).is_empty(), "{}", stdout(&zero));
    let limited = run(&server, &["--json", "list", "--limit", "1"]).await;
    assert_eq!(json_lines(&limited).len(), 1);
    // An exact domain, as `revoke --domain` selects it: not a subdomain, not a substring.
    for email in ["carol@corp.example", "dan@x.corp.example", "eve@corp.example.evil"] {
        server.add_invitation("acme", "org-1", email);
    }
    let at_corp = run(&server, &["--json", "list", "--domain", "Corp.Example"]).await;
    let at_corp = json_lines(&at_corp);
    assert_eq!(at_corp.len(), 1, "{at_corp:?}");
    assert_eq!(at_corp[0]["email"], "carol@corp.example");
    // Sorted by email, and by creation time (the server's form sorts as text).
    server.add_invitation("acme", "org-1", "abe@example.com");
    let by_email = json_lines(&run(&server, &["--json", "list", "--sort", "email"]).await);
    let emails: Vec<&str> = by_email.iter().filter_map(|i| i["email"].as_str()).collect();
    assert_eq!(emails.len(), 6);
    assert!(emails.is_sorted() && emails[0] == "abe@example.com", "{emails:?}");
    let by_time = json_lines(&run(&server, &["--json", "list", "--sort", "created"]).await);
    let times: Vec<&str> = by_time.iter().filter_map(|i| i["created_at"].as_str()).collect();
    assert_eq!(times.len(), 6);
    assert!(times.is_sorted(), "{times:?}");

    let resend = run(&server, &["resend", &id]).await;
    assert_eq!((code(&resend), stdout(&resend).trim()), (0, format!("resent {id}").as_str()));
    assert_eq!(server.invitations("acme", "org-1")[0].emails_sent, 2);

    let delete = run(&server, &["delete", &id]).await;
    assert_eq!(code(&delete), 0);
    let again = run(&server, &["delete", &id]).await;
    assert_eq!(code(&again), 4, "{}", stderr(&again));
    let ignored = run(&server, &["delete", &id, "--ignore-missing"]).await;
    assert_eq!(code(&ignored), 0);
    assert_eq!(stdout(&ignored).trim(), format!("{id} was already gone"));
    let ignored = run(&server, &["--json", "delete", &id, "--ignore-missing"]).await;
    assert_eq!(json_lines(&ignored)[0]["already_gone"], true);
    let missing = run(&server, &["get", &id]).await;
    assert_eq!(code(&missing), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_reads_csv_and_plain_lists_and_writes_a_report() {
    let server = server().await;
    let dir = std::env::temp_dir().join(format!("phasetwo-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("people.csv");
    std::fs::write(
        &csv,
        "email,roles,redirect_uri,attr.team\n\
         a@x.io,member,https://app.example.com/,blue\n\
         b@x.io,admin;member,,\n\
         A@X.io,,,\n\
         not-an-email,,,\n",
    )
    .unwrap();
    let report = dir.join("report.jsonl");
    let output = run(
        &server,
        &["bulk", csv.to_str().unwrap(), "--report", report.to_str().unwrap(), "--send-email"],
    )
    .await;
    assert_eq!(code(&output), 1, "one row is invalid: {}", stdout(&output));
    let summary = stdout(&output);
    assert!(summary.contains("2 created") && summary.contains("1 duplicates"), "{summary}");
    assert!(summary.contains("1 invalid") && summary.contains("not-an-email"), "{summary}");
    assert!(stderr(&output).is_empty(), "no progress bar when not a terminal: {}", stderr(&output));
    let lines: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let outcomes: std::collections::BTreeMap<u64, String> = lines
        .iter()
        .map(|l| (l["index"].as_u64().unwrap(), l["outcome"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(outcomes[&0], "created");
    assert_eq!(outcomes[&2], "duplicate");
    assert_eq!(outcomes[&3], "invalid");
    let stored = server.invitations("acme", "org-1");
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|i| i.send_email));
    let b = stored.iter().find(|i| i.email == "b@x.io").unwrap();
    assert_eq!(b.roles.len(), 2);

    let plain = dir.join("people.txt");
    std::fs::write(&plain, "# new people\nc@x.io\nd@x.io\n\na@x.io\n").unwrap();
    let output =
        run(&server, &["--json", "bulk", plain.to_str().unwrap(), "--role", "member"]).await;
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let lines = json_lines(&output);
    let summary = lines.last().unwrap();
    assert_eq!(summary["created"], 2);
    assert_eq!(summary["already_invited"], 1);
    // Every total of the library's report, derived rather than listed by hand.
    for key in ["reconciled", "already_gone", "not_attempted", "elapsed_s"] {
        assert!(summary.get(key).is_some(), "{key}: {summary}");
    }
    assert_eq!(lines.len(), 4, "three items and the summary");

    let dry = run(&server, &["bulk", plain.to_str().unwrap(), "--dry-run"]).await;
    assert_eq!(code(&dry), 0);
    assert!(stdout(&dry).contains("3 already invited"), "{}", stdout(&dry));

    // As spreadsheets save them: a byte-order mark, and `;` between fields.
    let saved = dir.join("saved.csv");
    std::fs::write(&saved, "\u{feff}Email;Roles\nsemi@x.io;admin,member\n").unwrap();
    let output = run(&server, &["bulk", saved.to_str().unwrap()]).await;
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let semi = server.invitations("acme", "org-1");
    let semi = semi.iter().find(|i| i.email == "semi@x.io").unwrap();
    assert_eq!(semi.roles.len(), 2);
    // A CSV row without its header is not an email: nothing is sent.
    let headless = dir.join("headless.txt");
    std::fs::write(&headless, "e@x.io\nf@x.io,admin\n").unwrap();
    let before = server.invitations("acme", "org-1").len();
    let output = run(&server, &["bulk", headless.to_str().unwrap()]).await;
    assert_eq!(code(&output), 2, "{}", stdout(&output));
    assert!(stderr(&output).contains("line 2"), "{}", stderr(&output));
    assert_eq!(server.invitations("acme", "org-1").len(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A revocation is planned with --dry-run (which prints exactly what would go), and the saved
/// plan is applied with --ids: nothing is listed again, so a later match stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_prints_a_plan_and_applies_exactly_it() {
    let server = server().await;
    server.add_invitations("acme", "org-1", (0..6).map(|i| format!("old{i}@legacy.example.com")));
    server.add_invitation("acme", "org-1", "mallory@legacy.example.com.evil.com");
    server.add_invitation("acme", "org-1", "keep@example.com");
    let dry = run(&server, &["revoke", "--domain", "legacy.example.com", "--dry-run"]).await;
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    let plan = stdout(&dry);
    assert_eq!(plan.lines().filter(|l| l.contains("@legacy.example.com ")).count(), 6, "{plan}");
    assert!(!plan.contains("mallory"), "{plan}");
    assert!(plan.contains("6 would be revoked"), "{plan}");
    assert_eq!(server.invitations("acme", "org-1").len(), 8);

    let dir = std::env::temp_dir().join(format!("phasetwo-cli-revoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join("plan.txt");
    std::fs::write(&saved, &plan).unwrap();
    server.add_invitation("acme", "org-1", "late@legacy.example.com");
    let applied = run(&server, &["--json", "revoke", "--ids", saved.to_str().unwrap()]).await;
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    assert_eq!(json_lines(&applied).last().unwrap()["deleted"], 6);
    let left: Vec<String> =
        server.invitations("acme", "org-1").into_iter().map(|i| i.email).collect();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.contains(&"late@legacy.example.com".to_owned()));

    // An unset variable in `--search "$X"` revokes nothing; neither does no selection.
    for args in [
        &["revoke", "--search", ""][..],
        &["revoke", "--search", "   "][..],
        &["revoke", "--domain", " @"][..],
        &["revoke"][..],
    ] {
        let refused = run(&server, args).await;
        assert_eq!(code(&refused), 2, "{args:?}: {}", stderr(&refused));
        // In the tool's words: its flags, not the library's methods.
        assert!(!stderr(&refused).contains("all()"), "{}", stderr(&refused));
    }
    let blank = run(&server, &["revoke", "--search", " "]).await;
    assert!(stderr(&blank).contains("--all"), "{}", stderr(&blank));
    assert_eq!(server.invitations("acme", "org-1").len(), 3);
    let everything = run(&server, &["revoke", "--all"]).await;
    assert_eq!(code(&everything), 0);
    assert!(server.invitations("acme", "org-1").is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `create --or-existing`, as a sign-up hook runs it: safe to repeat, exit 0 both times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_or_existing_is_safe_to_repeat() {
    let server = server().await;
    let first = run(&server, &["--json", "create", "hook@x.io", "--or-existing"]).await;
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let first = &json_lines(&first)[0];
    assert_eq!(first["existed"], false);
    let again = run(&server, &["create", "Hook@X.io", "--or-existing"]).await;
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let id = first["id"].as_str().unwrap();
    assert_eq!(stdout(&again).trim(), format!("already invited: {id} for hook@x.io"));
    // Asked with another role: the same invitation, and the roles it keeps are said.
    let other =
        run(&server, &["--json", "create", "hook@x.io", "--role", "admin", "--or-existing"]);
    let other = &json_lines(&other.await)[0];
    assert_eq!((&other["id"], &other["other_roles"]), (&first["id"], &serde_json::json!([])));
    let text = run(&server, &["create", "hook@x.io", "--role", "admin", "--or-existing"]).await;
    assert_eq!(
        stdout(&text).trim(),
        format!("already invited, with other roles (): {id} for hook@x.io")
    );
    server.add_member("acme", "org-1", "member@x.io");
    let member = run(&server, &["create", "member@x.io", "--or-existing"]).await;
    assert_eq!(code(&member), 6, "already a member stays an error");
    assert_eq!(server.invitations("acme", "org-1").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_say_what_went_wrong() {
    let server = server().await;
    server.add_token("viewer", Permission::View);
    // 6: already invited, or already a member.
    run(&server, &["create", "dup@x.io"]).await;
    let duplicate = run(&server, &["create", "dup@x.io"]).await;
    assert_eq!(code(&duplicate), 6);
    assert!(stderr(&duplicate).contains("already invited"), "{}", stderr(&duplicate));
    server.add_member("acme", "org-1", "member@x.io");
    assert_eq!(code(&run(&server, &["create", "member@x.io"]).await), 6);
    // 7: the server refused the request.
    let unknown_role = run(&server, &["create", "r@x.io", "--role", "wizard"]).await;
    assert_eq!(code(&unknown_role), 7, "{}", stderr(&unknown_role));
    // With --json, the error is one JSON object on standard error.
    let refused = run(&server, &["--json", "create", "dup@x.io"]).await;
    assert_eq!(code(&refused), 6);
    assert!(stdout(&refused).is_empty());
    let error: Value = serde_json::from_str(stderr(&refused).trim()).unwrap();
    assert_eq!(error["error"]["kind"], "already_invited");
    assert_eq!(error["error"]["status"], 409);
    assert!(error["error"]["message"].as_str().unwrap().contains("already invited"));
    assert_eq!(error["error"]["request_id"].as_str().unwrap().len(), 36);
    // 1: some items of a bulk run failed (here: the row already invited is not a failure,
    // the unknown role is).
    let dir = std::env::temp_dir().join(format!("phasetwo-cli-partial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let partial = dir.join("partial.csv");
    std::fs::write(&partial, "email,roles\nok@x.io,member\nbad@x.io,wizard\n").unwrap();
    let output = run(&server, &["bulk", partial.to_str().unwrap()]).await;
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert!(stdout(&output).contains("line 3: bad@x.io"), "{}", stdout(&output));
    std::fs::remove_dir_all(&dir).unwrap();
    // 2: usage and invalid input.
    assert_eq!(code(&run(&server, &["create", "not-an-email"]).await), 2);
    assert_eq!(code(&run(&server, &["bulk", "/no/such/file"]).await), 2);
    assert_eq!(code(&run(&server, &["frobnicate"]).await), 2);
    let no_credentials = run_with(&server, &["count"], &[]).await;
    assert_eq!(code(&no_credentials), 2);
    assert!(stderr(&no_credentials).contains("PHASETWO_TOKEN"));
    // 3: authentication or permission.
    let wrong = run_with(&server, &["count"], &[("PHASETWO_TOKEN", "wrong-token")]).await;
    assert_eq!(code(&wrong), 3, "{}", stderr(&wrong));
    let viewer = run_with(&server, &["create", "v@x.io"], &[("PHASETWO_TOKEN", "viewer")]).await;
    assert_eq!(code(&viewer), 3);
    let refused_grant = run_with(
        &server,
        &["count"],
        &[("PHASETWO_CLIENT_ID", "svc"), ("PHASETWO_CLIENT_SECRET", SECRET)],
    )
    .await;
    assert_eq!(code(&refused_grant), 3, "{}", stderr(&refused_grant));
    // 4: not found.
    assert_eq!(code(&run(&server, &["--org", "nope", "count"]).await), 4);
    // 5: server or network.
    server.inject(Fault::on(
        operation::COUNT,
        FaultAction::Status { status: 500, retry_after: None },
        10,
    ));
    assert_eq!(code(&run(&server, &["count"]).await), 5);
    // A bulk run stopped by a 401 exits with the 401's code.
    let dir = std::env::temp_dir().join(format!("phasetwo-cli-codes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("list.txt");
    std::fs::write(&list, (0..20).map(|i| format!("p{i}@x.io\n")).collect::<String>()).unwrap();
    let stopped = run_with(
        &server,
        &["bulk", list.to_str().unwrap(), "--concurrency", "1"],
        &[("PHASETWO_TOKEN", "viewer")],
    )
    .await;
    assert_eq!(code(&stopped), 3, "{}", stdout(&stopped));
    assert!(stdout(&stopped).contains("19 not attempted"), "{}", stdout(&stopped));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_from_the_environment() {
    let server = server().await;
    server.add_client(
        "master",
        "svc",
        SECRET,
        Permission::Manage,
        std::time::Duration::from_secs(60),
    );
    let output = run_with(
        &server,
        &["count"],
        &[("PHASETWO_CLIENT_ID", "svc"), ("PHASETWO_CLIENT_SECRET", SECRET)],
    )
    .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(server.grants(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_documents_exit_codes_and_hides_secret_values() {
    let server = server().await;
    let help = run_with(
        &server,
        &["--help"],
        &[("PHASETWO_TOKEN", TOKEN), ("PHASETWO_CLIENT_SECRET", SECRET)],
    )
    .await;
    assert_eq!(code(&help), 0);
    let text = stdout(&help);
    assert!(text.contains("Exit codes") && text.contains("4  not found"), "{text}");
    assert!(text.contains("PHASETWO_TOKEN"), "{text}");
}

/// On a terminal, `bulk` draws a progress bar (on standard error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_shows_a_progress_bar_on_a_terminal() {
    let server = server().await;
    // Slow creates, so that the bar is drawn while the run goes on.
    server.inject(Fault::on(
        operation::CREATE,
        FaultAction::Delay(std::time::Duration::from_millis(150)),
        10,
    ));
    let list = std::env::temp_dir().join(format!("phasetwo-cli-tty-{}.txt", std::process::id()));
    std::fs::write(&list, (0..10).map(|i| format!("tty{i}@x.io\n")).collect::<String>()).unwrap();
    let command = format!("{BIN} bulk {} --concurrency 1", list.display());
    // util-linux's `script` runs the tool on a pseudo-terminal.
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .env("PHASETWO_URL", server.url())
        .env("PHASETWO_REALM", "acme")
        .env("PHASETWO_ORG", "org-1")
        .env("PHASETWO_TOKEN", TOKEN)
        .env("TERM", "xterm");
    let output = tokio::task::spawn_blocking(move || script.output().unwrap()).await.unwrap();
    std::fs::remove_file(&list).unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("/10"), "a bar counting to 10: {shown:?}");
    assert!(shown.contains("10 created"), "{shown:?}");
    assert!(!shown.contains(TOKEN));
}

/// `revoke --ids` given the wrong file revokes nothing and says why: the bulk input (emails)
/// is refused by line, and a plan made for another organization is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_refuses_a_file_that_is_not_a_plan_for_this_organization() {
    let server = server().await;
    server.add_org("acme", "org-2", ["member"]);
    for i in 0..3 {
        server.add_invitation("acme", "org-1", &format!("a{i}@corp.example"));
        server.add_invitation("acme", "org-2", &format!("b{i}@corp.example"));
    }
    let dir = std::env::temp_dir().join(format!("phasetwo-cli-wrong-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let emails = dir.join("people.txt");
    std::fs::write(&emails, "# to invite\nann@x.io\nbob@x.io\n").unwrap();
    let refused = run(&server, &["revoke", "--ids", emails.to_str().unwrap()]).await;
    assert_eq!(code(&refused), 2, "{}", stdout(&refused));
    let why = stderr(&refused);
    assert!(why.contains("line 2") && why.contains("ann@x.io"), "{why}");

    for json in [false, true] {
        let mut args = vec!["revoke", "--domain", "corp.example", "--dry-run"];
        if json {
            args.insert(0, "--json");
        }
        let plan =
            run_with(&server, &args, &[("PHASETWO_TOKEN", TOKEN), ("PHASETWO_ORG", "org-2")]).await;
        assert_eq!(code(&plan), 0, "{}", stderr(&plan));
        let saved = dir.join(format!("plan-{json}.txt"));
        std::fs::write(&saved, stdout(&plan)).unwrap();
        let elsewhere = run(&server, &["revoke", "--ids", saved.to_str().unwrap()]).await;
        assert_eq!(code(&elsewhere), 2, "{}", stdout(&elsewhere));
        let why = stderr(&elsewhere);
        assert!(why.contains("org-2") && why.contains("org-1"), "{why}");
    }
    assert_eq!(server.invitations("acme", "org-1").len(), 3);
    assert_eq!(server.invitations("acme", "org-2").len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every outcome of a revocation names its id, failed and not attempted ones included, and
/// the text names a failed item by its line in the file: a report can feed the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_revocation_outcome_names_its_id_and_line() {
    let server = server().await;
    let ids: Vec<String> =
        (0..3).map(|i| server.add_invitation("acme", "org-1", &format!("r{i}@x.io"))).collect();
    let dir = std::env::temp_dir().join(format!("phasetwo-cli-ids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ids.txt");
    std::fs::write(&file, format!("# ids\n{}\n\n{}\n{}\n", ids[0], ids[1], ids[2])).unwrap();
    server.inject(Fault::new(
        Scope::PathPrefix(format!("/realms/acme/orgs/org-1/invitations/{}", ids[1])),
        FaultAction::Status { status: 400, retry_after: None },
        1,
    ));
    let report = dir.join("report.jsonl");
    let text = run(
        &server,
        &[
            "revoke",
            "--ids",
            file.to_str().unwrap(),
            "--concurrency",
            "1",
            "--report",
            report.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code(&text), 1, "{}", stderr(&text));
    let out = stdout(&text);
    let failed_line = format!("line 4: {}:", ids[1]);
    assert!(out.contains(&failed_line), "{out}");
    let lines: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        let index = line["index"].as_u64().unwrap() as usize;
        assert_eq!(line["id"], ids[index], "{line}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
