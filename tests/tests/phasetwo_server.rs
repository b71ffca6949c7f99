//! The real server's launcher, the parts that need no Keycloak: downloads are checked against
//! their pinned SHA-256 before they are cached, a cached file needs no network, and failures
//! name the artifact. (Starting, configuring and stopping Keycloak are exercised by CI's
//! real-server run, `cargo xtask phasetwo-server -- tests/real-server.sh`.)

use std::path::Path;
use std::process::Command;

use axum::http::StatusCode;
use invitations_tests::keycloak::Artifact;

const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

fn artifact() -> Artifact {
    Artifact {
        coordinates: "org.example:thing",
        version: "1.0",
        extension: "jar",
        sha256: HELLO_SHA256,
    }
}

/// A Maven repository on loopback answering every request with `status` and `body`.
async fn repository(status: StatusCode, body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move || async move { (status, body) });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The error of fetching the artifact from a repository answering `status` and `body`.
async fn failed_fetch(status: StatusCode, body: &'static str, cache: &std::path::Path) -> String {
    let maven = repository(status, body).await;
    artifact().fetch(&maven, cache).await.unwrap_err().to_string()
}

#[tokio::test]
async fn a_download_is_checked_then_cached_and_then_needs_no_network() {
    let cache = temp_dir("cache-ok");
    let maven = repository(StatusCode::OK, "hello").await;
    let file = artifact().fetch(&maven, &cache).await.unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "hello");
    assert_eq!(file, cache.join("thing-1.0.jar"));
    // A closed port: only the cache can answer.
    let nowhere = "http://127.0.0.1:9";
    assert_eq!(artifact().fetch(nowhere, &cache).await.unwrap(), file);
}

#[tokio::test]
async fn a_download_with_another_checksum_is_refused_and_not_cached() {
    let cache = temp_dir("cache-bad");
    let e = failed_fetch(StatusCode::OK, "tampered", &cache).await;
    assert!(e.contains("org.example:thing:1.0"), "{e}");
    assert!(e.contains("SHA-256") && e.contains(HELLO_SHA256), "{e}");
    let left: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert!(left.is_empty(), "nothing kept: {left:?}");
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_downloaded_again() {
    let cache = temp_dir("cache-corrupt");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("thing-1.0.jar"), "half").unwrap();
    let maven = repository(StatusCode::OK, "hello").await;
    let file = artifact().fetch(&maven, &cache).await.unwrap();
    assert_eq!(std::fs::read_to_string(file).unwrap(), "hello");
}

#[tokio::test]
async fn a_failed_download_names_the_artifact_and_the_status() {
    let e = failed_fetch(StatusCode::NOT_FOUND, "", &temp_dir("cache-missing")).await;
    assert!(e.starts_with("downloading org.example:thing:1.0"), "{e}");
    assert!(e.contains("404"), "{e}");
}

#[tokio::test]
async fn the_command_exits_non_zero_naming_what_it_could_not_download() {
    let cache = temp_dir("cache-command");
    let maven = repository(StatusCode::NOT_FOUND, "").await;
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_phasetwo-server"))
            .env("PHASETWO_SERVER_CACHE", &cache)
            .env("PHASETWO_MAVEN_URL", &maven)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("downloading org.keycloak:keycloak-quarkus-dist:26.5.0"), "{stderr}");
    assert!(output.stdout.is_empty(), "no description printed");
}

#[test]
fn usage_errors_exit_2() {
    for args in [&["--port"][..], &["--port", "many"], &["--"], &["--bogus"]] {
        let output =
            Command::new(env!("CARGO_BIN_EXE_phasetwo-server")).args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_phasetwo-server")).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("usage: phasetwo-server"));
}

#[test]
fn a_taken_port_is_reported_before_anything_else() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_phasetwo-server"))
        .args(["--port", &port])
        .env("PHASETWO_MAVEN_URL", "http://127.0.0.1:9")
        .env("PHASETWO_SERVER_CACHE", temp_dir("cache-port"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("port {port} on 127.0.0.1 is not free")), "{stderr}");
}
