//! The commands on many invitations at once: `bulk` and `revoke`, with progress, a
//! per-item report, and a summary derived from the library's `BulkReport`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use futures_util::{Stream, StreamExt};
use phasetwo_invitations::{BulkReport, ErrorKind, ItemResult, NewInvitation, OrgInvitations};
use serde::Serialize;

use crate::args::BulkCommand;
use crate::exit::Exit;
use crate::input::{self, PLAN_HEADER, PlanScope};
use crate::output::{Failure, Output, Row, Show};

/// Runs one bulk command; returns the exit code.
pub async fn run(command: BulkCommand, org: &OrgInvitations, out: &Output) -> Result<u8, Failure> {
    match command {
        BulkCommand::Bulk {
            file,
            concurrency,
            max_concurrency,
            rate,
            dry_run,
            send_email,
            roles,
            report,
        } => {
            let text = read_input(&file)?;
            let (lines, mut items): (Vec<usize>, Vec<NewInvitation>) = input::parse(&text)
                .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?
                .into_iter()
                .unzip();
            for item in &mut items {
                item.roles.extend(roles.iter().cloned());
                item.send_email |= send_email;
            }
            let total = items.len();
            let mut run = org.create_many(items).rate_limit(rate.unwrap_or(0));
            run = match concurrency {
                Some(n) => run.concurrency(n as usize),
                None => run.max_concurrency(max_concurrency as usize),
            };
            if dry_run {
                run = run.dry_run();
            }
            let where_from = |index: usize| format!("line {}", lines[index]);
            finish(run.stream(), total, report.as_deref(), out, where_from).await
        }
        BulkCommand::Revoke { email, domain, search, all, ids, dry_run, concurrency, report } => {
            let here = PlanScope { realm: org.realm().to_owned(), org: org.org_id().to_owned() };
            let (revoke, lines) = match ids {
                Some(file) => {
                    let text = read_input(&file)?;
                    let plan = input::parse_ids(&text)
                        .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
                    if let Some(scope) = plan.scope.filter(|scope| *scope != here) {
                        return Err(Failure::usage(format!(
                            "{} is a plan for realm `{}`, organization `{}`; this run is for realm `{}`, organization `{}`; nothing was revoked",
                            file.display(),
                            scope.realm,
                            scope.org,
                            here.realm,
                            here.org
                        )));
                    }
                    let (lines, ids): (Vec<usize>, Vec<String>) = plan.ids.into_iter().unzip();
                    if dry_run {
                        out.show(&PlanHeader(&here))?;
                        for id in &ids {
                            out.show(&PlannedId(id))?;
                        }
                        return Ok(Exit::Success.code());
                    }
                    (org.revoke(ids), Some(lines))
                }
                None => {
                    let mut select = org.select();
                    if let Some(email) = email {
                        select = select.email(email);
                    }
                    if let Some(domain) = domain {
                        select = select.domain(domain);
                    }
                    if let Some(search) = search {
                        select = select.search(search);
                    }
                    if all {
                        select = select.all();
                    }
                    // The library's refusals of a selection, in the tool's words: its flags,
                    // not the library's methods.
                    let plan = select.plan_revocation().await.map_err(|e| match e.field() {
                        Some(field @ ("search" | "domain")) => Failure::usage(format!(
                            "--{field} is blank; give --all to select every invitation"
                        )),
                        _ => Failure::from(e),
                    })?;
                    if dry_run {
                        out.show(&PlanHeader(&here))?;
                        for invitation in plan.invitations() {
                            out.show(&Row(invitation.into()))?;
                        }
                        out.show(&PlanSummary { would_revoke: plan.invitations().len() })?;
                        return Ok(Exit::Success.code());
                    }
                    (plan.apply(), None)
                }
            };
            let where_from = |index: usize| match &lines {
                Some(lines) => format!("line {}", lines[index]),
                None => format!("item {}", index + 1),
            };
            finish(revoke.concurrency(concurrency).stream(), 0, report.as_deref(), out, where_from)
                .await
        }
    }
}

/// Reads a file, or standard input for `-`.
fn read_input(file: &Path) -> Result<String, Failure> {
    if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))
}

/// The first line of a plan: the realm and organization it is for.
struct PlanHeader<'a>(&'a PlanScope);

impl Serialize for PlanHeader<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("plan", self.0)?;
        map.end()
    }
}

impl Show for PlanHeader<'_> {
    fn text(&self) -> String {
        let scope = serde_json::to_string(self.0).unwrap_or_default();
        format!("{PLAN_HEADER}{scope}")
    }
}

/// An id of a plan read back, shown by a dry run of `--ids`.
#[derive(Serialize)]
struct PlannedId<'a>(#[serde(serialize_with = "as_id")] &'a str);

fn as_id<S: serde::Serializer>(id: &&str, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry("id", id)?;
    map.end()
}

impl Show for PlannedId<'_> {
    fn text(&self) -> String {
        self.0.to_owned()
    }
}

/// The last line of a dry run: how many, and how to revoke exactly those.
#[derive(Serialize)]
struct PlanSummary {
    would_revoke: usize,
}

impl Show for PlanSummary {
    fn text(&self) -> String {
        format!(
            "# {} would be revoked; to revoke exactly these, save this output and run: revoke --ids FILE",
            self.would_revoke
        )
    }
}

/// One item's outcome, as the per-item report and `--json` print it.
#[derive(Serialize)]
#[serde(transparent)]
struct Item(serde_json::Value);

impl Show for Item {
    fn text(&self) -> String {
        self.0.to_string()
    }
}

/// The run's totals: `BulkReport`'s own fields, so that nothing can be left out, and its
/// text with the failures under it.
#[derive(Serialize)]
struct Summary<'a> {
    summary: String,
    #[serde(flatten)]
    report: &'a BulkReport,
    #[serde(skip)]
    failures: Vec<String>,
}

impl Show for Summary<'_> {
    fn text(&self) -> String {
        std::iter::once(self.summary.clone())
            .chain(self.failures.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Shows progress (on a terminal only), writes the per-item report, prints the summary, and
/// chooses the exit code of a bulk run. `where_from` names an item for messages.
async fn finish(
    results: impl Stream<Item = ItemResult>,
    total: usize,
    report_path: Option<&Path>,
    out: &Output,
    where_from: impl Fn(usize) -> String,
) -> Result<u8, Failure> {
    let progress = if std::io::stderr().is_terminal() && total > 0 {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut report_file = match report_path {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?,
        )),
        None => None,
    };
    let write_failed = |e: std::io::Error| Failure::output(e.to_string());
    let started = std::time::Instant::now();
    let mut report = BulkReport::default();
    let mut stop_code = None;
    let mut results = std::pin::pin!(results);
    while let Some(item) = results.next().await {
        progress.inc(1);
        let line = item.to_json();
        if let Some(file) = report_file.as_mut() {
            writeln!(file, "{line}").map_err(write_failed)?;
        }
        if out.json() {
            out.show(&Item(line))?;
        }
        if let Some(error) = item.outcome.error()
            && error.kind() != ErrorKind::InvalidInput
        {
            let exit = Exit::of(error);
            if exit.concerns_the_run() {
                stop_code.get_or_insert(exit.code());
            }
        }
        report.record(item);
    }
    progress.finish_and_clear();
    report.elapsed = started.elapsed();
    if let Some(file) = report_file.as_mut() {
        file.flush().map_err(write_failed)?;
    }
    let failures = report
        .invalid
        .iter()
        .chain(&report.failed)
        .map(|f| {
            // A revocation names its id, a create its email.
            let which = f.id.as_deref().unwrap_or(&f.email);
            format!("  {}: {which}: {}", where_from(f.index), f.error)
        })
        .collect();
    out.show(&Summary { summary: report.to_string(), report: &report, failures })?;
    Ok(match (report.not_attempted > 0, stop_code) {
        // The run stopped early: say why, as the error's own code.
        (true, Some(code)) => code,
        _ if report.is_success() => Exit::Success.code(),
        _ => Exit::ItemsFailed.code(),
    })
}
