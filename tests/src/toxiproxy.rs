//! Shopify's Toxiproxy between the client and the real server: built once from its pinned Go
//! module into the cache, started on 127.0.0.1 in a process group of its own, and driven
//! through its REST API.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::process::Command;

use crate::keycloak::{Error, cache_dir, free_port};
use crate::process::Group;

/// The Go package built, and its pinned release.
pub const MODULE: &str = "github.com/Shopify/toxiproxy/v2/cmd/server";
/// The pinned release of [`MODULE`].
pub const VERSION: &str = "v2.5.0";

/// The server binary, built with `go install` into the cache when it is not there yet.
pub async fn binary() -> Result<PathBuf, Error> {
    let dir = cache_dir().join("toxiproxy").join(VERSION);
    let binary = dir.join("server");
    if binary.exists() {
        return Ok(binary);
    }
    eprintln!("toxiproxy: building {MODULE}@{VERSION} with go install (once)");
    let output = Command::new("go")
        .args(["install", &format!("{MODULE}@{VERSION}")])
        .env("GOBIN", &dir)
        .env("GOFLAGS", "-buildvcs=false")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("running go install for Toxiproxy (is Go installed?): {e}"))?;
    if !output.status.success() || !binary.exists() {
        return Err(format!(
            "go install {MODULE}@{VERSION} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(binary)
}

/// A running Toxiproxy server.
#[derive(Debug)]
pub struct Toxiproxy {
    api: String,
    http: reqwest::Client,
    process: Group,
}

impl Toxiproxy {
    /// Builds Toxiproxy if needed and starts it on a free loopback port.
    pub async fn start() -> Result<Toxiproxy, Error> {
        let binary = binary().await?;
        let port = free_port()?;
        let mut command = Command::new(&binary);
        command
            .args(["-host", "127.0.0.1", "-port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut toxiproxy = Toxiproxy {
            api: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            process: Group::spawn(command, "Toxiproxy")?,
        };
        let started = Instant::now();
        loop {
            let version = toxiproxy.http.get(format!("{}/version", toxiproxy.api)).send().await;
            if version.is_ok_and(|r| r.status().is_success()) {
                return Ok(toxiproxy);
            }
            if let Some(status) = toxiproxy.process.try_wait()? {
                return Err(format!("Toxiproxy exited before it answered ({status})").into());
            }
            if started.elapsed() > Duration::from_secs(20) {
                toxiproxy.stop().await;
                return Err("Toxiproxy did not answer within 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new proxy listening on a free loopback port and forwarding to `upstream`
    /// (`host:port`).
    pub async fn proxy(&self, name: &str, upstream: &str) -> Result<Proxy, Error> {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let body = serde_json::json!({
            "name": name,
            "listen": listen,
            "upstream": upstream,
            "enabled": true,
        });
        let response = self.http.post(format!("{}/proxies", self.api)).json(&body).send().await?;
        checked(&format!("creating proxy {name}"), response).await?;
        Ok(Proxy { name: name.to_owned(), listen, api: self.api.clone(), http: self.http.clone() })
    }

    /// Stops the server.
    pub async fn stop(&mut self) {
        self.process.stop(Duration::from_secs(5)).await;
    }
}

async fn checked(step: &str, response: reqwest::Response) -> Result<(), Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(format!("Toxiproxy, {step}: {status}: {body}").into())
}

/// One proxy of a [`Toxiproxy`] server.
#[derive(Debug, Clone)]
pub struct Proxy {
    name: String,
    listen: String,
    api: String,
    http: reqwest::Client,
}

/// Which way a toxic acts: on what the client sends, or on what it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Client to server: the request.
    Upstream,
    /// Server to client: the answer.
    Downstream,
}

/// A toxic as Toxiproxy's API takes it.
#[derive(Debug, Clone, Serialize)]
pub struct Toxic {
    /// Unique within its proxy.
    pub name: String,
    /// `latency`, `timeout`, `reset_peer`, `limit_data`, `slicer`, `bandwidth`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Which way it acts.
    pub stream: Stream,
    /// The share of connections it applies to, 0 to 1.
    pub toxicity: f32,
    /// The type's own settings.
    pub attributes: serde_json::Value,
}

impl Proxy {
    /// `http://` and the address it listens on.
    pub fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// Adds a toxic.
    pub async fn add(&self, toxic: &Toxic) -> Result<(), Error> {
        let response = self
            .http
            .post(format!("{}/proxies/{}/toxics", self.api, self.name))
            .json(toxic)
            .send()
            .await?;
        checked(&format!("adding toxic {}", toxic.name), response).await
    }

    /// Removes a toxic.
    pub async fn remove(&self, toxic: &str) -> Result<(), Error> {
        let response = self
            .http
            .delete(format!("{}/proxies/{}/toxics/{toxic}", self.api, self.name))
            .send()
            .await?;
        checked(&format!("removing toxic {toxic}"), response).await
    }
}
