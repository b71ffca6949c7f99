//! A server process started in a process group of its own, so that stopping it reaches every
//! process it started (kc.sh starts a JVM), and guarded by a watchdog that ends the group when
//! this process dies without stopping it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, ChildStdin, Command};

use crate::keycloak::Error;

/// A running process group. [`Group::stop`] ends it; dropping it without stopping lets the
/// watchdog end it.
#[derive(Debug)]
pub struct Group {
    process: Option<Child>,
    /// Closing this pipe (also by the death of this process) makes the watchdog end the group.
    watchdog: Option<(Child, ChildStdin)>,
}

impl Group {
    /// Starts `command` as the leader of a new process group.
    pub fn spawn(mut command: Command, what: &str) -> Result<Group, Error> {
        // Its own group, so that a Ctrl-C at the terminal reaches the watchdog's decision, not
        // the server.
        command.process_group(0).kill_on_drop(false);
        let process = command.spawn().map_err(|e| format!("starting {what}: {e}"))?;
        let id = process.id().ok_or_else(|| format!("{what} exited at once"))?;
        Ok(Group { process: Some(process), watchdog: Some(watchdog(id)?) })
    }

    /// The group's id (its leader's process id), while it runs.
    pub fn id(&self) -> Option<u32> {
        self.process.as_ref().and_then(Child::id)
    }

    /// The leader's exit status, if it has ended.
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>, Error> {
        match self.process.as_mut() {
            Some(process) => Ok(process.try_wait()?),
            None => Ok(None),
        }
    }

    /// SIGTERM to the group, SIGKILL when it has not ended `within`.
    pub async fn stop(&mut self, within: Duration) {
        self.end("TERM", within).await;
    }

    /// SIGKILL to the group at once, as a crash or an out-of-memory kill would end it.
    pub async fn kill(&mut self) {
        self.end("KILL", Duration::from_secs(10)).await;
    }

    async fn end(&mut self, signal: &str, within: Duration) {
        if let Some(mut process) = self.process.take() {
            if let Some(group) = process.id() {
                signal_group(signal, group).await;
                if tokio::time::timeout(within, process.wait()).await.is_err() {
                    signal_group("KILL", group).await;
                }
                // The leader may be gone while others of its group are still ending.
                wait_for_group_exit(group, within).await;
            }
            let _ = process.wait().await;
        }
        if let Some((mut watchdog, _pipe)) = self.watchdog.take() {
            let _ = watchdog.kill().await;
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Not stopped: closing the pipe lets the watchdog end the group.
        if let Some((watchdog, pipe)) = self.watchdog.take() {
            drop(pipe);
            drop(watchdog);
        }
    }
}

/// A shell that waits for its standard input to close, then ends `group`. It ignores the
/// terminal's signals, so it outlives this process however it ends. (`kill -SIG -PGID`
/// without `--`: the POSIX shells' built-in `kill` refuses `--`.)
fn watchdog(group: u32) -> Result<(Child, ChildStdin), Error> {
    let script = format!(
        "trap '' INT TERM HUP; read -r _; kill -TERM -{group} 2>/dev/null; \
         i=0; while kill -0 -{group} 2>/dev/null && [ $i -lt 20 ]; do sleep 1; i=$((i+1)); done; \
         kill -KILL -{group} 2>/dev/null"
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| format!("starting the watchdog shell: {e}"))?;
    let stdin = child.stdin.take().ok_or("the watchdog has no stdin")?;
    Ok((child, stdin))
}

/// SIGKILL to process group `group`, as a crash would end it.
pub async fn kill_group(group: u32) {
    signal_group("KILL", group).await;
}

async fn signal_group(signal: &str, group: u32) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status()
        .await;
}

async fn wait_for_group_exit(group: u32, within: Duration) {
    let started = Instant::now();
    loop {
        let alive = Command::new("kill")
            .args(["-0", "--", &format!("-{group}")])
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
        if !alive {
            return;
        }
        if started.elapsed() > within {
            signal_group("KILL", group).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
