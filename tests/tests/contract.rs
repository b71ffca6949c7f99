//! Contract tests: the facade's traffic checked against `invitations-client/invitations.yaml` by Prism, an
//! independent OpenAPI validator, as a proxy in front of the built-in server and as a mock
//! server on its own. Any request or response that breaks the spec fails the test, whether
//! Prism refuses it (`--errors`) or only logs it as a violation.
//!
//! Prism is installed on first use by `tests/contract/prism.sh` (Node and npm are needed).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use phasetwo_invitations::{Client, ErrorKind, RetryConfig};
use phasetwo_invitations_testing::{FakeServer, Permission};
use serde_json::Value;

/// Prism serves the spec's paths at its root and ignores the `{baseUrl}/realms` of `servers`;
/// the client puts `/realms` in the path. This copy of the spec carries the prefix in its
/// paths instead, which describes the same URLs.
fn spec_with_realms_prefix() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(build_tools::paths::DERIVED)).unwrap();
    let mut spec = build_tools::parse_yaml(&text).unwrap();
    let paths = spec["paths"].as_object().unwrap().clone();
    spec["paths"] = Value::Object(
        paths.into_iter().map(|(path, item)| (format!("/realms{path}"), item)).collect(),
    );
    spec["servers"] = serde_json::json!([{ "url": "/" }]);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("prism-invitations.yaml");
    std::fs::write(&out, serde_yaml_ng::to_string(&spec).unwrap()).unwrap();
    out
}

/// A Prism process on a free loopback port, stopped when dropped.
struct Prism {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Prism {
    fn start(mode_args: &[&str], name: &str) -> Prism {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("contract/prism.sh");
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("prism-{name}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(script)
            .args(mode_args)
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("tests/contract/prism.sh starts");
        let mut prism = Prism { child, url: format!("http://127.0.0.1:{port}"), log };
        // The first start may install Prism; later ones take a few seconds.
        let deadline = Instant::now() + Duration::from_secs(180);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = prism.child.try_wait() {
                panic!("Prism exited with {status}:\n{}", prism.log());
            }
            assert!(Instant::now() < deadline, "Prism did not start:\n{}", prism.log());
            std::thread::sleep(Duration::from_millis(200));
        }
        prism
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails on anything Prism found wrong with a request or a response.
    fn assert_no_violation(&self) {
        let log = self.log();
        let problems: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Violation") || l.contains("Request terminated with error"))
            .collect();
        assert!(problems.is_empty(), "Prism found violations:\n{}", problems.join("\n"));
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(url: &str, token: &str) -> Client {
    Client::builder()
        .base_url(url)
        .bearer_token(token)
        .retry(RetryConfig::disabled())
        .build()
        .unwrap()
}

/// Path values that must travel as one encoded segment each, through Prism to the built-in
/// server (the real server's ids are UUIDs). The full range of operations goes through Prism
/// in `traffic_to_the_conformance_target_through_prism_proxy_matches_the_spec`.
#[tokio::test(flavor = "multi_thread")]
async fn odd_path_values_through_prism_proxy_match_the_spec() {
    let server = FakeServer::start().await;
    let (realm, org_id) = ("acme corp", "org #1 %é");
    server.add_org(realm, org_id, ["member", "admin"]);
    server.add_token("admin", Permission::Manage);
    let spec = spec_with_realms_prefix();
    let prism = Prism::start(&["proxy", spec.to_str().unwrap(), server.url(), "--errors"], "proxy");

    let org = client(&prism.url, "admin").invitations(realm, org_id);
    let created = org.create("alice@example.com").await.unwrap();
    assert_eq!(org.list().page_size(5).send().await.unwrap().len(), 1);
    assert_eq!(org.get(created.id()).await.unwrap().id, created.id());
    assert_eq!(org.count().await.unwrap(), 1);
    org.resend(created.id()).await.unwrap();
    org.delete(created.id()).await.unwrap();

    prism.assert_no_violation();
    // Prism forwarded every call: the server saw them, encoded as one segment each.
    let requests = server.requests();
    assert_eq!(requests.len(), 6);
    assert!(
        requests
            .iter()
            .all(|r| r.path.starts_with("/realms/acme%20corp/orgs/org%20%231%20%25%C3%A9/")),
        "{:?}",
        requests.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn facade_requests_are_valid_for_prism_mock() {
    let spec = spec_with_realms_prefix();
    let prism = Prism::start(&["mock", spec.to_str().unwrap()], "mock");
    let admin = client(&prism.url, "any-token");
    let org = admin.invitations("acme", "org-1");

    // Prism invents the answers from the spec; what matters is that it accepts every
    // request and that the facade reads every answer.
    match org
        .create("alice@example.com")
        .roles(["member"])
        .send_email(true)
        .redirect_uri("https://app.example.com/welcome")
        .attribute("team", ["blue"])
        .await
    {
        Ok(_) => {}
        // An invented `Location` need not end in /invitations/{id}.
        Err(e) if e.kind() == ErrorKind::MissingLocation => {}
        Err(e) => panic!("{e:?}"),
    }
    org.list().search("alice").offset(0).page_size(10).send().await.unwrap();
    org.get("inv-1").await.unwrap();
    org.count().await.unwrap();
    org.resend("inv-1").await.unwrap();
    org.delete("inv-1").await.unwrap();
    let me = admin.my_invitations("acme");
    me.list().await.unwrap();
    me.accept("inv-1").await.unwrap();
    me.reject("inv-2").await.unwrap();

    prism.assert_no_violation();
}

/// The same traffic against the conformance target: the built-in server here, the real
/// Phase Two server when `PHASETWO_SERVER` describes one. Tokens come from the server's token
/// endpoint directly, which is not part of the spec.
#[tokio::test(flavor = "multi_thread")]
async fn traffic_to_the_conformance_target_through_prism_proxy_matches_the_spec() {
    let target = invitations_tests::target::Target::new().await;
    let org_id = target.new_org().await;
    let member = target.email("member");
    target.add_member(&org_id, &member).await;
    let invitee = target.email("invitee");
    let invitee_token = target.user_token(&invitee).await;
    let spec = spec_with_realms_prefix();
    let prism =
        Prism::start(&["proxy", spec.to_str().unwrap(), target.url(), "--errors"], "proxy-target");

    let manager = client(&prism.url, &target.manager_token().await);
    let org = manager.invitations(target.realm(), &org_id);
    let full = org
        .create(target.email("Full").to_uppercase())
        .roles(["member", "admin"])
        .send_email(true)
        .redirect_uri("https://app.example.com/welcome?from=invite")
        .attribute("team", ["blue", "green"])
        .await
        .unwrap();
    let minimal = org.create(target.email("minimal")).await.unwrap();
    org.create(&invitee).await.unwrap();
    for (email, kind) in
        [(full.email(), ErrorKind::AlreadyInvited), (member.as_str(), ErrorKind::AlreadyMember)]
    {
        assert_eq!(org.create(email).await.unwrap_err().kind(), kind);
    }
    let e = org.create(target.email("role")).roles(["owner"]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadRequest);

    let page = org.list().search("example").offset(1).page_size(2).send().await.unwrap();
    assert_eq!(page.len(), 2);
    let all: Vec<_> = org.list().page_size(1).collect().await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(org.find_by_email(minimal.email()).await.unwrap().is_some());
    let found = org.get(full.id()).await.unwrap();
    assert_eq!(found.attributes["team"], ["blue", "green"]);
    assert!(org.get("no-such-id").optional().await.unwrap().is_none());
    assert_eq!(org.count().await.unwrap(), 3);
    org.resend(minimal.id()).await.unwrap();
    org.delete(minimal.id()).await.unwrap();
    assert!(org.delete(minimal.id()).await.unwrap_err().is_not_found());
    org.delete(minimal.id()).ignore_missing().await.unwrap();
    let lost = manager.invitations(target.realm(), "no-such-org");
    assert!(lost.count().await.unwrap_err().is_not_found());

    let viewer = client(&prism.url, &target.viewer_token().await);
    let e = viewer
        .invitations(target.realm(), &org_id)
        .create(target.email("viewer"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);

    let me = client(&prism.url, &invitee_token).my_invitations(target.realm());
    let mine = me.list().await.unwrap();
    assert_eq!(mine.len(), 1);
    me.accept(&mine[0].id).await.unwrap();
    assert!(me.reject("no-such-id").await.unwrap_err().is_not_found());
    assert!(me.accept("no-such-id").await.unwrap_err().is_not_found());

    prism.assert_no_violation();
}
