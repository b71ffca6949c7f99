//! The real server: Keycloak's distribution with Phase Two's organizations extension, from
//! Maven Central, started on a loopback port and stopped with everything it started.
//!
//! Downloads are pinned by SHA-256 and cached, so a second run needs no network. Each run
//! unpacks Keycloak into a directory of its own (its embedded database starts empty) and
//! removes it when stopped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::process::Group;

/// A failure, saying which artifact or step failed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// One file of a Maven release, pinned by its SHA-256.
#[derive(Debug, Clone, Copy)]
pub struct Artifact {
    /// `groupId:artifactId`.
    pub coordinates: &'static str,
    /// The release.
    pub version: &'static str,
    /// `jar` or `zip`.
    pub extension: &'static str,
    /// The file's SHA-256, hex.
    pub sha256: &'static str,
}

/// A Keycloak release, the organizations extension, and the one library the extension needs
/// that Keycloak does not ship (dnsjava, for domain verification; the extension fails to load
/// without it). Nothing else is needed for the endpoints this client calls.
#[derive(Debug, Clone, Copy)]
pub struct Versions {
    /// Keycloak's server distribution.
    pub keycloak: Artifact,
    /// Phase Two's organizations extension.
    pub orgs: Artifact,
    /// The dnsjava release the extension declares.
    pub dnsjava: Artifact,
}

impl Versions {
    /// `KEYCLOAK+ORGS`, as `--versions` takes it: `26.5.0+0.142`.
    pub fn name(&self) -> String {
        format!("{}+{}", self.keycloak.version, self.orgs.version)
    }

    /// What goes into Keycloak's `providers/`.
    pub fn providers(&self) -> [Artifact; 2] {
        [self.orgs, self.dnsjava]
    }

    /// The verified pair named `name` (see [`Versions::name`]).
    pub fn named(name: &str) -> Option<Versions> {
        VERIFIED.into_iter().find(|v| v.name() == name)
    }
}

const fn keycloak(version: &'static str, sha256: &'static str) -> Artifact {
    Artifact {
        coordinates: "org.keycloak:keycloak-quarkus-dist",
        version,
        extension: "zip",
        sha256,
    }
}

const fn orgs(version: &'static str, sha256: &'static str) -> Artifact {
    Artifact {
        coordinates: "io.phasetwo.keycloak:keycloak-orgs",
        version,
        extension: "jar",
        sha256,
    }
}

const fn dnsjava(version: &'static str, sha256: &'static str) -> Artifact {
    Artifact { coordinates: "dnsjava:dnsjava", version, extension: "jar", sha256 }
}

/// What CI runs: keycloak-orgs 0.142, built for Keycloak 26.5.0.
pub const PINNED: Versions = Versions {
    keycloak: keycloak(
        "26.5.0",
        "907f10721092bf57436698733d5046ad9ccf39564991d046f5afd67fadf17f08",
    ),
    orgs: orgs("0.142", "2ea168ace81cbac8f07a574a9c380da252b99b34f9f3a9ac58b0610972827958"),
    dnsjava: dnsjava("3.6.4", "39d50d2b5bdee1161978bf85a1b01e95fee490e92bbe98d76d3ceb9642183570"),
};

/// The pairs the conformance suite has passed against (README's table), oldest first:
/// `cargo xtask phasetwo-server --matrix -- COMMAND` runs COMMAND against each. The oldest
/// Keycloak served with the oldest extension built for its minor release (0.119, for 26.4.2),
/// and the newest extension with the Keycloak it is built for (0.144, for 26.5.7; with
/// Keycloak 26.7.3, the newest served, creating an organization fails with a 500).
pub const VERIFIED: [Versions; 3] = [
    Versions {
        keycloak: keycloak(
            "26.4.0",
            "1b6a11a2726ac8a8dc9c91d5fafe989a75ce4f1622d7f7b45c21d5bc16629c0a",
        ),
        orgs: orgs("0.119", "849c8d09f8f8d349e24e8578371d741c8323f3d73579a2fafc89e42ee13f8714"),
        dnsjava: dnsjava(
            "3.5.3",
            "146c82b345a2545d64bbbcddcaa652a52d27179245999a125ce5047724514e3c",
        ),
    },
    PINNED,
    Versions {
        keycloak: keycloak(
            "26.5.7",
            "7c38073ca48702f7d5e992508681d45027ba309ea2633ce8bef92343c795d729",
        ),
        orgs: orgs("0.144", "59614f9d22dc4cb328b1c9c0ea4eae1141f9f8947831bc372ce6a7acc56267f5"),
        dnsjava: dnsjava(
            "3.6.4",
            "39d50d2b5bdee1161978bf85a1b01e95fee490e92bbe98d76d3ceb9642183570",
        ),
    },
];

/// The lowest Java the extension's classes run on.
const JAVA_AT_LEAST: u32 = 21;
/// How long Keycloak may take to answer after it was started.
const READY_WITHIN: Duration = Duration::from_secs(240);
/// How long Keycloak may take to stop after SIGTERM before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(20);
/// The master realm's administrator, created at first start.
pub const ADMIN_USER: &str = "admin";

const MAVEN_CENTRAL: &str = "https://repo.maven.apache.org/maven2";

/// The Maven repository downloads come from: `PHASETWO_MAVEN_URL` (a mirror), else Maven
/// Central. Checksums are checked whatever the source.
pub fn maven_url() -> String {
    std::env::var("PHASETWO_MAVEN_URL")
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_else(|_| MAVEN_CENTRAL.to_owned())
}

impl Artifact {
    /// The file's name in a Maven repository and in the cache.
    pub fn file_name(&self) -> String {
        let artifact = self.coordinates.split(':').nth(1).unwrap_or(self.coordinates);
        format!("{artifact}-{}.{}", self.version, self.extension)
    }

    /// Where the file is in the Maven repository at `maven`.
    pub fn url(&self, maven: &str) -> String {
        let (group, artifact) = self.coordinates.split_once(':').unwrap_or((self.coordinates, ""));
        format!(
            "{maven}/{}/{artifact}/{}/{}",
            group.replace('.', "/"),
            self.version,
            self.file_name()
        )
    }

    /// The cached file, downloaded from the Maven repository at `maven` and checked first if
    /// it is not there yet.
    pub async fn fetch(&self, maven: &str, cache: &Path) -> Result<PathBuf, Error> {
        let target = cache.join(self.file_name());
        if target.exists() {
            if sha256_of(&target)? == self.sha256 {
                return Ok(target);
            }
            // A corrupt cache entry is fetched again rather than trusted.
            std::fs::remove_file(&target)?;
        }
        std::fs::create_dir_all(cache)?;
        let name = format!("{}:{}", self.coordinates, self.version);
        let partial = cache.join(format!("{}.part-{}", self.file_name(), std::process::id()));
        eprintln!("phasetwo-server: downloading {name} (once; cached)");
        let mut response = reqwest::get(self.url(maven))
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("downloading {name}: {e}"))?;
        let mut file = tokio::fs::File::create(&partial).await?;
        let mut hash = Sha256::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| format!("downloading {name}: {e}"))?
        {
            hash.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        let got = hex(&hash.finalize());
        if got != self.sha256 {
            let _ = std::fs::remove_file(&partial);
            return Err(
                format!("downloading {name}: SHA-256 {got}, expected {}", self.sha256).into()
            );
        }
        std::fs::rename(&partial, &target)?;
        Ok(target)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_of(path: &Path) -> Result<String, Error> {
    let mut hash = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hash)?;
    Ok(hex(&hash.finalize()))
}

/// Where downloads and run directories live: `PHASETWO_SERVER_CACHE`, else the user's cache
/// directory.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PHASETWO_SERVER_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("phasetwo-invitations")
}

/// A Java home able to run the extension: `PHASETWO_JAVA_HOME`, `JAVA_HOME`, or the newest
/// JDK installed under `/usr/lib/jvm`.
pub fn find_java() -> Result<PathBuf, Error> {
    let feature = |home: &Path| -> Option<u32> {
        let release = std::fs::read_to_string(home.join("release")).ok()?;
        let line = release.lines().find(|l| l.starts_with("JAVA_VERSION="))?;
        let version = line.trim_start_matches("JAVA_VERSION=").trim_matches('"');
        version.split('.').next()?.parse().ok()
    };
    for variable in ["PHASETWO_JAVA_HOME", "JAVA_HOME"] {
        if let Some(home) = std::env::var_os(variable).map(PathBuf::from)
            && feature(&home).is_some_and(|v| v >= JAVA_AT_LEAST)
        {
            return Ok(home);
        }
    }
    let newest = std::fs::read_dir("/usr/lib/jvm")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let home = entry.path();
            feature(&home).map(|v| (v, home))
        })
        .filter(|(v, _)| *v >= JAVA_AT_LEAST)
        .max_by_key(|(v, _)| *v);
    newest.map(|(_, home)| home).ok_or_else(|| {
        format!(
            "no Java {JAVA_AT_LEAST} or newer: set PHASETWO_JAVA_HOME to a JDK \
             (keycloak-orgs is built for Java {JAVA_AT_LEAST})"
        )
        .into()
    })
}

/// A free port on 127.0.0.1, as the system hands them out.
pub fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// A running Keycloak. [`Keycloak::stop`] ends it; dropping it without stopping ends it too,
/// through a watchdog that also outlives a killed parent.
#[derive(Debug)]
pub struct Keycloak {
    url: String,
    port: u16,
    admin_password: String,
    run_dir: PathBuf,
    home: PathBuf,
    java: PathBuf,
    process: Option<Group>,
}

impl Keycloak {
    /// Downloads what is missing, unpacks a fresh Keycloak with the extension (`versions`),
    /// starts it on `port` (a free one when `None`) and waits until it answers.
    pub async fn start(versions: Versions, port: Option<u16>) -> Result<Keycloak, Error> {
        // A taken port is reported at once, before the downloads and the minute Keycloak
        // takes to find out.
        let port = match port {
            Some(port) => {
                std::net::TcpListener::bind(("127.0.0.1", port))
                    .map_err(|e| format!("port {port} on 127.0.0.1 is not free: {e}"))?;
                port
            }
            None => free_port()?,
        };
        let cache = cache_dir();
        let downloads = cache.join("maven");
        let maven = maven_url();
        let zip = versions.keycloak.fetch(&maven, &downloads).await?;
        let mut providers = Vec::new();
        for artifact in versions.providers() {
            providers.push(artifact.fetch(&maven, &downloads).await?);
        }
        let java = find_java()?;
        remove_abandoned_runs(&cache.join("runs"));
        let run_dir = cache.join("runs").join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir)?;
        eprintln!(
            "phasetwo-server: starting Keycloak {} (about a minute on 2 cores)",
            versions.keycloak.version
        );
        let home = tokio::task::spawn_blocking({
            let (zip, run_dir) = (zip.clone(), run_dir.clone());
            move || unpack(&zip, &run_dir)
        })
        .await?
        .map_err(|e| format!("unpacking {}: {e}", zip.display()))?;
        for jar in &providers {
            let name = jar.file_name().unwrap_or_default();
            std::fs::copy(jar, home.join("providers").join(name))?;
        }

        let mut keycloak = Keycloak {
            url: format!("http://127.0.0.1:{port}"),
            port,
            admin_password: uuid::Uuid::new_v4().simple().to_string(),
            run_dir,
            home,
            java,
            process: None,
        };
        keycloak.run().await?;
        Ok(keycloak)
    }

    /// Starts Keycloak in its home (its database kept there) and waits until it answers.
    async fn run(&mut self) -> Result<(), Error> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.run_dir.join("keycloak.log"))?;
        let mut command = Command::new(self.home.join("bin/kc.sh"));
        command
            .args([
                "start-dev",
                "--http-host=127.0.0.1",
                &format!("--http-port={}", self.port),
                // Tokens name this address as their issuer whichever address (a proxy) they
                // were fetched through, so that the API accepts them through another.
                &format!("--hostname={}", self.url),
                "--health-enabled=false",
                "--metrics-enabled=false",
            ])
            .env("JAVA_HOME", &self.java)
            // Read at the first start only, when the master realm is created.
            .env("KC_BOOTSTRAP_ADMIN_USERNAME", ADMIN_USER)
            .env("KC_BOOTSTRAP_ADMIN_PASSWORD", &self.admin_password)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.process = Some(Group::spawn(command, "Keycloak (bin/kc.sh)")?);
        if let Err(e) = self.wait_until_ready().await {
            let tail = self.log_tail(40);
            self.stop().await;
            return Err(format!("{e}\n--- last lines of Keycloak's log ---\n{tail}").into());
        }
        Ok(())
    }

    /// Kills Keycloak with SIGKILL, as a crash would, keeping its data for [`Keycloak::restart`].
    pub async fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().await;
        }
    }

    /// Starts Keycloak again on the same port and data, killing it first if it still runs (a
    /// crash test kills its process group from elsewhere: [`crate::process::kill_group`]).
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.kill().await;
        self.run().await
    }

    async fn wait_until_ready(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        let http = reqwest::Client::new();
        let probe = format!("{}/realms/master", self.url);
        loop {
            if let Some(process) = self.process.as_mut()
                && let Some(status) = process.try_wait()?
            {
                return Err(format!("Keycloak exited before it was ready ({status})").into());
            }
            let ready = http
                .get(&probe)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            if started.elapsed() > READY_WITHIN {
                return Err(format!(
                    "Keycloak did not answer {probe} within {} s",
                    READY_WITHIN.as_secs()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The id of Keycloak's process group, while it runs.
    pub fn group_id(&self) -> Option<u32> {
        self.process.as_ref().and_then(Group::id)
    }

    /// The server URL, without `/realms`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The master realm administrator's password (user [`ADMIN_USER`]).
    pub fn admin_password(&self) -> &str {
        &self.admin_password
    }

    /// The last `lines` lines of Keycloak's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.run_dir.join("keycloak.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stops Keycloak (SIGTERM to its process group, SIGKILL after a while), and removes this
    /// run's directory.
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop(STOP_WITHIN).await;
        }
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// Removes run directories whose process is gone (a run that was killed).
fn remove_abandoned_runs(runs: &Path) {
    for entry in std::fs::read_dir(runs).into_iter().flatten().flatten() {
        let alive = entry
            .file_name()
            .to_str()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Unpacks the distribution into `dir` and returns its home (the zip's top directory).
fn unpack(zip: &Path, dir: &Path) -> Result<PathBuf, Error> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip)?)?;
    archive.extract(dir)?;
    let top = archive
        .file_names()
        .next()
        .and_then(|name| name.split('/').next())
        .ok_or("the archive is empty")?
        .to_owned();
    let home = dir.join(top);
    // Zip archives made on other systems may lose the executable bit of kc.sh.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(home.join("bin/kc.sh"), std::fs::Permissions::from_mode(0o755))?;
    Ok(home)
}
