//! The `phasetwo-fake` program, run as a process: what it seeds, what it says, its flags.

use serde_json::Value;

/// Starts `phasetwo-fake` with `args` and returns it with the JSON line it printed.
async fn phasetwo_fake(args: &[&str]) -> (std::process::Child, Value) {
    use std::io::BufRead;

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_phasetwo-fake"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    (child, serde_json::from_str(&line).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phasetwo_fake_seeds_what_the_conformance_cases_need_and_says_so() {
    use phasetwo_invitations::{Client, ErrorKind};

    let (mut child, seeded) = phasetwo_fake(&[]).await;
    let text = |field: &str| seeded[field].as_str().unwrap().to_owned();
    let url = text("url");
    let (realm, org_id) = (text("realm"), text("org"));
    assert_eq!(seeded["roles"], serde_json::json!(["member", "admin"]));
    let with_token =
        |token: String| Client::builder().base_url(&url).bearer_token(token).build().unwrap();
    let org = with_token(text("token")).invitations(&realm, &org_id);
    org.create("a@example.com").roles(["admin"]).await.unwrap();
    let e = org.create(text("member_email")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyMember);
    let viewer = with_token(text("view_token")).invitations(&realm, &org_id);
    assert_eq!(viewer.count().await.unwrap(), 1);
    let e = viewer.create("b@example.com").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let service = Client::builder()
        .base_url(&url)
        .client_credentials(&realm, text("client_id"), text("client_secret"))
        .build()
        .unwrap();
    let other = service.invitations(&realm, text("other_org"));
    other.create(text("invitee_email")).await.unwrap();
    let invitee = with_token(text("invitee_token")).my_invitations(&realm);
    let mine = invitee.list().await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].organization_id.as_deref(), Some(text("other_org").as_str()));
    assert_eq!(seeded["token_lifetime_s"], 300);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phasetwo_fake_flags_change_what_it_seeds() {
    let (mut child, seeded) = phasetwo_fake(&[
        "--addr",
        "127.0.0.1:0",
        "--realm",
        "acme",
        "--org",
        "org-1",
        "--role",
        "owner",
        "--member",
        "m1@example.com",
        "--member",
        "m2@example.com",
        "--invitation",
        "Seeded@Example.com",
        "--token",
        "t0ken",
    ])
    .await;
    assert_eq!(seeded["roles"], serde_json::json!(["owner"]));
    assert_eq!(seeded["members"], serde_json::json!(["m1@example.com", "m2@example.com"]));
    assert_eq!(seeded["invitations"][0]["email"], "seeded@example.com");
    let client = phasetwo_invitations::Client::builder()
        .base_url(seeded["url"].as_str().unwrap())
        .bearer_token("t0ken")
        .build()
        .unwrap();
    let org = client.invitations("acme", "org-1");
    let id = seeded["invitations"][0]["id"].as_str().unwrap();
    assert_eq!(org.get(id).await.unwrap().id, id);
    org.create("x@example.com").roles(["owner"]).await.unwrap();
    let e = org.create("y@example.com").roles(["member"]).await.unwrap_err();
    assert_eq!(e.server_message(), Some("Unknown role in list."));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn phasetwo_fake_has_a_help_text_and_refuses_unknown_flags() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_phasetwo-fake")).args(args).output().unwrap()
    };
    let help = run(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["--member", "--view-token", "--invitee-token", "--other-org", "--role"] {
        assert!(text.contains(flag), "{flag} in:\n{text}");
    }
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    for bad in [&["--bogus", "x"][..], &["--realm"], &["--token-lifetime", "soon"]] {
        let output = run(bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("--help"));
    }
}
