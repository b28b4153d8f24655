//! The `escort` command line: parses arguments, calls the library crates, prints
//! and exits. Exit status: 0 when the evaluation ran, whatever the verdict;
//! 1 with `--fail-on` when a finding reaches that severity, when `replay`
//! finds a transit whose decision the candidate changes, or when
//! `audit verify` or `audit checkpoint` finds the audit log broken, a table
//! that differs from it, or a checkpoint it no longer matches; 2 for
//! unusable input or options (and a service that refused a request of
//! `escort policy publish|promote|rollback|versions|shadow`, or could not
//! be reached), with one line on stderr and nothing on stdout.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use escort_bundle::golden::{Outcome, Scenario};
use escort_bundle::{self as bundle, Bundle, Language, Trust, folder};
use escort_engine::{PolicySet, Report, Sandbox, Severity, Telemetry, TelemetryError, Transit, TransitError, check};
use escort_service::audit::{self, AuditError, Checkpoint};
use escort_service::replay::{Options, Overlay, Progress, Selection, Source};
use escort_service::{ServeConfig, Service, reevaluation, verification};

mod logging;
mod project;
mod remote;

#[derive(Parser)]
#[command(name = "escort", version, about = "Rules engine for electronic customs escort")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate one transit's telemetry against the policies and print the report.
    Check(CheckArgs),
    /// Golden-file tests: each scenario's report against its expected.json.
    Test(TestArgs),
    /// Make, build, sign and inspect policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run the service: the HTTP API, durable storage, the tick, hot reload.
    Serve(ConfigArg),
    /// Check the service's audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Backtest candidate policies: replay stored transits under the base set and under
    /// the candidate laid over it, and print the decision diff. Exit 0 when nothing
    /// changes, 1 when something does.
    Replay(ReplayArgs),
    /// Measure what Escort costs on this machine (see docs/performance.md).
    Bench(BenchArgs),
}

#[derive(Args)]
struct ReplayArgs {
    /// The candidate: a bundle, or a folder of policy components (*.wasm) and bundles
    /// with an optional policies.toml, as `check --policies` loads it; laid over the
    /// base, each of its policies replacing the base's with its id.
    #[arg(long, value_name = "CANDIDATE")]
    policies: PathBuf,
    /// Load only candidate bundles signed by this public key (a .pub file); repeatable.
    #[arg(long, value_name = "KEY.pub")]
    trust: Vec<PathBuf>,
    /// Replay a service's data folder (its database, opened read only); each transit's
    /// base is the versions of the policies that judged it, which the database keeps.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["scenarios", "base"])]
    data: Option<PathBuf>,
    /// With --data: the service's configuration (its cache of compiled policies, limits).
    #[arg(long, value_name = "FILE", requires = "data")]
    config: Option<PathBuf>,
    /// Scenario folders (each a scenario, or a folder of them) to replay instead.
    #[arg(value_name = "SCENARIO_DIR")]
    scenarios: Vec<PathBuf>,
    /// With scenarios: the base policies, a folder as `check --policies` loads it;
    /// the built-in default set when absent.
    #[arg(long, value_name = "DIR")]
    base: Option<PathBuf>,
    /// Only transits opened at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Only transits opened before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Only this transit; repeatable.
    #[arg(long = "transit", value_name = "ID")]
    transits: Vec<String>,
    /// With --data: evaluate every transit under the whole base set, even where the
    /// service stored what that set decides.
    #[arg(long, requires = "data")]
    reevaluate: bool,
    /// Output format; JSON unless stdout is a terminal.
    #[arg(long, value_enum)]
    format: Option<Format>,
}

#[derive(Args)]
struct BenchArgs {
    /// Fewer, shorter samples and a smaller load: well under a minute.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Skip the end-to-end run of `escort serve`.
    #[arg(long)]
    no_serve: bool,
}

#[derive(Args)]
struct ConfigArg {
    /// The service's configuration; every setting has a default without it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain, check every table against it, and name the first difference.
    Verify {
        #[command(flatten)]
        database: DatabaseArg,
        /// Also check that the chain still holds what this checkpoint (from
        /// `escort audit checkpoint`) recorded.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// The public key the checkpoint must be signed by: 64 hex digits, as in
        /// the .pub file of `escort policy keygen`.
        #[arg(long, value_name = "HEX", requires = "checkpoint")]
        trusted_key: Option<String>,
        /// Also evaluate every transit again from its stored fixes, with the policies
        /// the service would load, and compare the findings with the stored ones.
        #[arg(long)]
        reevaluate: bool,
    },
    /// Verify, then print the chain's head signed with a key, to keep elsewhere.
    Checkpoint {
        #[command(flatten)]
        database: DatabaseArg,
        /// The secret key, as `escort policy keygen` wrote it.
        #[arg(long, value_name = "KEY.key")]
        key: PathBuf,
    },
}

#[derive(Args)]
struct DatabaseArg {
    #[command(flatten)]
    config: ConfigArg,
    /// The data folder, instead of the one the configuration names.
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    data: Option<PathBuf>,
}

#[derive(Args)]
struct CheckArgs {
    /// The transit, as JSON (see docs/reference.md).
    #[arg(long, value_name = "FILE")]
    transit: PathBuf,
    /// The fixes: .ndjson, .gpx or .csv.
    #[arg(long, value_name = "FILE")]
    fixes: PathBuf,
    #[command(flatten)]
    policies: PoliciesArg,
    /// The evaluation clock (RFC 3339); defaults to the time of the latest fix.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    now: Option<DateTime<Utc>>,
    /// Output format; JSON unless stdout is a terminal.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Exit with status 1 when a finding reaches this severity.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    fail_on: Option<SeverityArg>,
}

#[derive(Args)]
struct PoliciesArg {
    /// A bundle, or a folder of policy components (*.wasm) and bundles with an
    /// optional policies.toml; the built-in default set when absent.
    #[arg(long, value_name = "DIR")]
    policies: Option<PathBuf>,
    /// The built-in default set with the policies of DIR over it (loaded as
    /// --policies loads a folder): each replaces the built-in policy with its id,
    /// or is added.
    #[arg(long, value_name = "DIR", conflicts_with = "policies")]
    overlay: Option<PathBuf>,
    /// Load only bundles signed by this public key (a .pub file); repeatable.
    #[arg(long, value_name = "KEY.pub")]
    trust: Vec<PathBuf>,
}

#[derive(Args)]
struct TestArgs {
    /// Bundles (tested with their own policy alone) or folders of scenarios
    /// (tested with --policies or --overlay); the current folder when none is given.
    dirs: Vec<PathBuf>,
    /// Write each scenario's expected.json from its report instead of comparing.
    #[arg(long)]
    bless: bool,
    #[command(flatten)]
    policies: PoliciesArg,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// List the policies with their versions, content hashes and parameters.
    List {
        #[command(flatten)]
        policies: PoliciesArg,
    },
    /// Make a new policy project that builds and passes `escort test` as it is.
    New {
        /// The policy's name, which becomes its folder and (with `-` as `_`) its id.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum)]
        lang: LanguageArg,
        /// Where to make the project folder.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Build a project into a bundle (writes DIR/policy.wasm).
    Build {
        /// The project.
        dir: PathBuf,
    },
    /// Write the built-in default set as bundles to start from: DIR/ID/ with
    /// policy.toml and policy.wasm for each policy.
    ExportBuiltin {
        /// The folder to write the bundles in.
        dir: PathBuf,
    },
    /// Make a key pair for signing: NAME.key (secret) and NAME.pub.
    Keygen {
        /// The key files' path without extension.
        name: PathBuf,
    },
    /// Sign a bundle (writes DIR/policy.sig), or a policies.toml (writes
    /// policies.toml.sig beside it).
    Sign {
        /// The secret key, as `escort policy keygen` wrote it.
        #[arg(long, value_name = "KEY.key")]
        key: PathBuf,
        /// The bundle, or the policies.toml.
        #[arg(value_name = "PATH")]
        dir: PathBuf,
    },
    /// Check a bundle's signature, and that it loads; or a policies.toml's signature,
    /// and that it reads.
    Verify {
        /// The bundle, or the policies.toml.
        #[arg(value_name = "PATH")]
        dir: PathBuf,
        /// Require a signature by this public key (a .pub file); repeatable.
        #[arg(long, value_name = "KEY.pub")]
        trust: Vec<PathBuf>,
    },
    /// Publish a bundle (a folder) or a bare component (a .wasm file) to a running
    /// service, enforced or in shadow. The token is read from ESCORT_TOKEN.
    Publish {
        /// The bundle, or the component.
        path: PathBuf,
        #[command(flatten)]
        service: ServiceArg,
        /// Run it in shadow beside the enforced version instead (over the manifest's mode).
        #[arg(long)]
        shadow: bool,
        /// The policy's id, for a bare component; default: the file's name without .wasm.
        #[arg(long)]
        id: Option<String>,
    },
    /// Make a policy's shadow version the enforced one from a time.
    Promote {
        /// The policy's id.
        id: String,
        #[command(flatten)]
        service: ServiceArg,
        /// The shadow version, by its seq in the timeline; default: the last one published.
        #[arg(long)]
        seq: Option<i64>,
        #[command(flatten)]
        schedule: ScheduleArgs,
    },
    /// Make an earlier enforced version of a policy the enforced one again from a time.
    Rollback {
        /// The policy's id.
        id: String,
        #[command(flatten)]
        service: ServiceArg,
        /// The version to roll back to, by its seq in the timeline.
        #[arg(long)]
        seq: i64,
        #[command(flatten)]
        schedule: ScheduleArgs,
    },
    /// Print a policy's timeline: every version, enforced or shadow, and when it is in force.
    Versions {
        /// The policy's id.
        id: String,
        #[command(flatten)]
        service: ServiceArg,
    },
    /// Print where a policy's shadow version disagrees with the enforced versions.
    Shadow {
        /// The policy's id.
        id: String,
        #[command(flatten)]
        service: ServiceArg,
        /// The shadow version, by its seq in the timeline; default: the last one published.
        #[arg(long)]
        seq: Option<i64>,
    },
}

#[derive(Args)]
struct ServiceArg {
    /// The running service, such as http://escort.example:8080.
    #[arg(long, value_name = "URL")]
    service: String,
}

#[derive(Args)]
struct ScheduleArgs {
    /// When it comes into force: an RFC 3339 time, or `now`.
    #[arg(long = "from", value_name = "TIME")]
    effective_from: String,
    /// When it stops judging newly opened transits, if before the next version begins.
    #[arg(long = "until", value_name = "TIME")]
    effective_until: Option<String>,
    /// `new-transits` (the default) or `open-transits`, for an emergency.
    #[arg(long, value_name = "WHICH")]
    applies_to: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LanguageArg {
    Rust,
    Python,
    Js,
}

impl From<LanguageArg> for Language {
    fn from(arg: LanguageArg) -> Language {
        match arg {
            LanguageArg::Rust => Language::Rust,
            LanguageArg::Python => Language::Python,
            LanguageArg::Js => Language::Js,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Text,
}

#[derive(Clone, Copy, ValueEnum)]
enum SeverityArg {
    Info,
    Warning,
    Violation,
    Critical,
}

impl From<SeverityArg> for Severity {
    fn from(arg: SeverityArg) -> Severity {
        match arg {
            SeverityArg::Info => Severity::Info,
            SeverityArg::Warning => Severity::Warning,
            SeverityArg::Violation => Severity::Violation,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| format!("not an RFC 3339 time such as 2021-05-17T10:00:00Z: {e}"))
}

/// A failure to report: unusable input or options (exit status 2).
struct Unusable(String);

impl<E: std::error::Error> From<E> for Unusable {
    fn from(error: E) -> Self {
        Unusable(error.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    let outcome = match cli.command {
        Command::Check(args) => run_check(args),
        Command::Test(args) => run_test(args),
        Command::Policy(PolicyCommand::List { policies }) => run_policy_list(&policies),
        Command::Policy(PolicyCommand::New { name, lang, dir }) => run_policy_new(&dir, &name, lang.into()),
        Command::Policy(PolicyCommand::Build { dir }) => run_policy_build(&dir),
        Command::Policy(PolicyCommand::ExportBuiltin { dir }) => run_policy_export_builtin(&dir),
        Command::Policy(PolicyCommand::Keygen { name }) => run_policy_keygen(&name),
        Command::Policy(PolicyCommand::Sign { key, dir }) => run_policy_sign(&key, &dir),
        Command::Policy(PolicyCommand::Verify { dir, trust }) => run_policy_verify(&dir, &trust),
        Command::Policy(PolicyCommand::Publish {
            path,
            service,
            shadow,
            id,
        }) => run_policy_publish(&path, &service, shadow, id),
        Command::Policy(PolicyCommand::Promote {
            id,
            service,
            seq,
            schedule,
        }) => run_policy_reinstate("promote", &id, &service, seq, &schedule),
        Command::Policy(PolicyCommand::Rollback {
            id,
            service,
            seq,
            schedule,
        }) => run_policy_reinstate("rollback", &id, &service, Some(seq), &schedule),
        Command::Policy(PolicyCommand::Versions { id, service }) => {
            run_policy_get(&service, &format!("/v1/policies/{id}/versions"))
        }
        Command::Policy(PolicyCommand::Shadow { id, service, seq }) => {
            let query = seq.map(|seq| format!("?seq={seq}")).unwrap_or_default();
            run_policy_get(&service, &format!("/v1/policies/{id}/shadow{query}"))
        }
        Command::Serve(config) => run_serve(&config),
        Command::Audit(AuditCommand::Verify {
            database,
            checkpoint,
            trusted_key,
            reevaluate,
        }) => run_audit_verify(&database, checkpoint.as_deref(), trusted_key.as_deref(), reevaluate),
        Command::Audit(AuditCommand::Checkpoint { database, key }) => run_audit_checkpoint(&database, &key),
        Command::Replay(args) => run_replay(&args),
        Command::Bench(args) => run_bench(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(Unusable(message)) => {
            eprintln!("escort: {message}");
            ExitCode::from(2)
        }
    }
}

fn sandbox() -> Result<Sandbox, Unusable> {
    Sandbox::new().map_err(|e| Unusable(format!("cannot start the WebAssembly engine: {e}")))
}

fn trust(keys: &[PathBuf]) -> Result<Trust, Unusable> {
    let keys = keys
        .iter()
        .map(|path| bundle::read_public_key(path))
        .collect::<Result<Vec<_>, _>>()?;
    Trust::keys(keys.iter().map(String::as_str)).map_err(Unusable)
}

fn load_policies(arg: &PoliciesArg) -> Result<PolicySet, Unusable> {
    let sandbox = sandbox()?;
    Ok(match (&arg.policies, &arg.overlay) {
        (Some(dir), _) => folder::load_dir(&sandbox, dir, &trust(&arg.trust)?)?,
        (None, Some(dir)) => {
            folder::load_over(escort_builtin::policies(&sandbox)?, &sandbox, dir, &trust(&arg.trust)?)?
        }
        (None, None) => escort_builtin::policies(&sandbox)?,
    })
}

/// Warns on stderr about each bundle at or in `dir` (a bundle, or a folder
/// of them) whose component is older than its sources: a test of it would
/// not test what the author last wrote.
fn warn_if_unbuilt(dir: &Path) {
    let bundles: Vec<PathBuf> = if Bundle::is_bundle(dir) {
        vec![dir.to_owned()]
    } else {
        // The bundles a load of the folder takes: a linked one it refuses.
        folder::folder_entries(dir, None)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|entry| match entry {
                folder::FolderEntry::Bundle(name) => Some(dir.join(name)),
                _ => None,
            })
            .collect()
    };
    for bundle in bundles {
        if let Some(source) = project::newer_source(&bundle) {
            eprintln!(
                "warning: {} is older than {}; run `escort policy build {}`",
                bundle.join(bundle::COMPONENT).display(),
                source.display(),
                bundle.display()
            );
        }
    }
}

fn run_test(args: TestArgs) -> Result<ExitCode, Unusable> {
    let dirs = if args.dirs.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.dirs
    };
    let (mut passed, mut failed, mut blessed) = (0, 0, 0);
    let mut text = String::new();
    for dir in &dirs {
        let (policies, scenarios) = if Bundle::is_bundle(dir) {
            warn_if_unbuilt(dir);
            let policies = folder::load_dir(&sandbox()?, dir, &trust(&args.policies.trust)?)?;
            (policies, Scenario::find(&dir.join(bundle::SCENARIOS)))
        } else {
            for policies in args.policies.policies.iter().chain(&args.policies.overlay) {
                warn_if_unbuilt(policies);
            }
            (load_policies(&args.policies)?, Scenario::find(dir))
        };
        if scenarios.is_empty() && Bundle::is_bundle(dir) {
            return Err(Unusable(format!(
                "{}: the bundle has no scenarios; add one as {} (a folder with transit.json and \
                 fixes.ndjson), then write its expected.json with `escort test --bless {0}`",
                dir.display(),
                dir.join(bundle::SCENARIOS).join("NAME").display()
            )));
        } else if scenarios.is_empty() {
            return Err(Unusable(format!(
                "{}: no scenarios (folders with transit.json)",
                dir.display()
            )));
        }
        for scenario in scenarios {
            let name = scenario.dir.display();
            match scenario.test(&policies, args.bless) {
                Outcome::Passed => {
                    passed += 1;
                    text.push_str(&format!("ok       {name}\n"));
                }
                Outcome::Blessed => {
                    blessed += 1;
                    text.push_str(&format!("blessed  {name}\n"));
                }
                Outcome::Failed(diff) => {
                    failed += 1;
                    text.push_str(&format!(
                        "FAILED   {name}: the report differs from expected.json\n{diff}"
                    ));
                }
                Outcome::NoGolden => {
                    failed += 1;
                    text.push_str(&format!("FAILED   {name}: no expected.json (write it with --bless)\n"));
                }
                Outcome::Unrepeatable(diff) => {
                    failed += 1;
                    text.push_str(&format!(
                        "FAILED   {name}: run again, it gives another report; a policy keeps something \
                         between calls outside its state\n{diff}"
                    ));
                }
                Outcome::SplitDiffers { split, diff } => {
                    failed += 1;
                    text.push_str(&format!(
                        "FAILED   {name}: fed in batches split {split} the policy gives another report: its state \
                         does not carry everything from one batch to the next\n{diff}"
                    ));
                }
                Outcome::Unusable(reason) => {
                    failed += 1;
                    text.push_str(&format!("FAILED   {name}: {reason}\n"));
                }
            }
        }
    }
    text.push_str(&format!(
        "\n{}: {passed} passed, {failed} failed{}\n",
        if failed == 0 { "ok" } else { "FAILED" },
        if blessed > 0 {
            format!(", {blessed} blessed")
        } else {
            String::new()
        }
    ));
    print(&text)?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_policy_new(parent: &Path, name: &str, language: Language) -> Result<ExitCode, Unusable> {
    let dir = project::new(parent, name, language)?;
    print(&format!(
        "made {}: build it with `escort policy build {0}`, test it with `escort test {0}`\n",
        dir.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn run_policy_build(dir: &Path) -> Result<ExitCode, Unusable> {
    let built = project::build(dir)?;
    let size = std::fs::metadata(&built.component).map(|m| m.len()).unwrap_or(0);
    // Loading proves the component implements the contract and matches its manifest.
    folder::load_policy(&sandbox()?, &Bundle::open(dir)?, &Trust::default())?;
    let resign = if built.unsigned {
        "; the old signature was removed: sign it again"
    } else {
        ""
    };
    print(&format!("built {} ({size} bytes){resign}\n", built.component.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn run_policy_export_builtin(dir: &Path) -> Result<ExitCode, Unusable> {
    let folders = project::export_builtin(dir, &escort_builtin::policies(&sandbox()?)?)?;
    let mut text: String = folders
        .iter()
        .map(|folder| format!("wrote {}\n", folder.display()))
        .collect();
    text.push_str(&format!(
        "run them with `escort check --overlay {}/ID` or `--policies {0}`; a bundle's parameters are set in its \
         policies.toml ([ID.params]), its policy.toml declares the component's defaults\n",
        dir.display()
    ));
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn run_policy_keygen(name: &Path) -> Result<ExitCode, Unusable> {
    let public = bundle::keygen(name)?;
    print(&format!(
        "wrote {} (secret: keep it) and {} (public: give it to hosts)\npublic key {public}\n",
        name.with_extension("key").display(),
        name.with_extension("pub").display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn run_policy_sign(key: &Path, path: &Path) -> Result<ExitCode, Unusable> {
    let key = bundle::read_signing_key(key)?;
    let signature = if path.is_file() {
        bundle::params::sign(path, &key)?
    } else {
        Bundle::open(path)?.sign(&key)?;
        path.join(bundle::SIGNATURE)
    };
    print(&format!("signed {}\n", signature.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn run_policy_publish(
    path: &Path,
    service: &ServiceArg,
    shadow: bool,
    id: Option<String>,
) -> Result<ExitCode, Unusable> {
    let id = match id {
        Some(id) => id,
        None if path.is_dir() => Bundle::open(path)?.manifest().id.clone(),
        None => path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .ok_or_else(|| Unusable(format!("{}: name the policy with --id", path.display())))?,
    };
    let body = remote::upload(path)?;
    let mode = if shadow { "?mode=shadow" } else { "" };
    let answer = remote::Service::at(&service.service)?.send("PUT", &format!("/v1/policies/{id}{mode}"), &body)?;
    print(&pretty(&answer))?;
    Ok(ExitCode::SUCCESS)
}

fn run_policy_reinstate(
    change: &str,
    id: &str,
    service: &ServiceArg,
    seq: Option<i64>,
    schedule: &ScheduleArgs,
) -> Result<ExitCode, Unusable> {
    let mut body = serde_json::json!({"effective_from": schedule.effective_from});
    if let Some(seq) = seq {
        body["seq"] = seq.into();
    }
    if let Some(until) = &schedule.effective_until {
        body["effective_until"] = until.as_str().into();
    }
    if let Some(applies_to) = &schedule.applies_to {
        body["applies_to"] = applies_to.as_str().into();
    }
    let answer = remote::Service::at(&service.service)?.send(
        "POST",
        &format!("/v1/policies/{id}/{change}"),
        body.to_string().as_bytes(),
    )?;
    print(&pretty(&answer))?;
    Ok(ExitCode::SUCCESS)
}

fn run_policy_get(service: &ServiceArg, path: &str) -> Result<ExitCode, Unusable> {
    let answer = remote::Service::at(&service.service)?.get(path)?;
    print(&pretty(&answer))?;
    Ok(ExitCode::SUCCESS)
}

/// A service's JSON answer, pretty-printed with a final newline.
fn pretty(answer: &str) -> String {
    let mut text = serde_json::from_str::<serde_json::Value>(answer)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| answer.to_owned());
    text.push('\n');
    text
}

fn run_policy_verify(dir: &Path, keys: &[PathBuf]) -> Result<ExitCode, Unusable> {
    if dir.is_file() {
        let signer = bundle::params::verify_file(dir, dir, &trust(keys)?)?;
        let by = signer.map_or_else(|| "not signed".to_owned(), |key| format!("signed by {key}"));
        print(&format!("{}: {by}, reads\n", dir.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let (policy, signer) = folder::load_policy(&sandbox()?, &Bundle::open(dir)?, &trust(keys)?)?;
    let by = signer.map_or_else(|| "not signed".to_owned(), |key| format!("signed by {key}"));
    print(&format!("{} {}: {by}, loads\n", policy.id(), policy.version()))?;
    Ok(ExitCode::SUCCESS)
}

fn run_check(args: CheckArgs) -> Result<ExitCode, Unusable> {
    let transit = Transit::from_path(&args.transit).map_err(|e| match e {
        TransitError::Io { .. } => Unusable(e.to_string()),
        _ => Unusable(format!("{}: {e}", args.transit.display())),
    })?;
    let telemetry = Telemetry::read_path(&args.fixes).map_err(|e| match e {
        TelemetryError::Read { .. } | TelemetryError::UnknownFormat { .. } => Unusable(e.to_string()),
        _ => Unusable(format!("{}: {e}", args.fixes.display())),
    })?;
    let policies = load_policies(&args.policies)?;
    let report = check(&policies, &transit, &telemetry, args.now)?;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Text
    } else {
        Format::Json
    });
    print(&match format {
        Format::Json => report.to_json(),
        Format::Text => report.to_text(),
    })?;
    // A report often goes to a file or a tool: a policy that failed is said
    // where its author looks as well.
    for failure in report.findings.iter().filter(|f| f.code == "policy.error") {
        eprintln!("escort: {}", failure.message);
    }
    Ok(exit_code(&report, args.fail_on.map(Severity::from)))
}

fn serve_config(arg: &ConfigArg) -> Result<ServeConfig, Unusable> {
    match &arg.config {
        Some(path) => ServeConfig::from_path(path).map_err(|e| Unusable(format!("{}: {e}", path.display()))),
        None => Ok(ServeConfig::default()),
    }
}

/// Runs `escort serve` until SIGINT or SIGTERM (see `escort_http::serve`).
fn run_serve(arg: &ConfigArg) -> Result<ExitCode, Unusable> {
    let config = serve_config(arg)?;
    let service = Arc::new(Service::open(&config)?);
    let (access, created) = service.establish_access(&config)?;
    if let Some(created) = created {
        tracing::info!(
            "created one access token per role (ingest, officer, regulator) in {}",
            created.path.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Unusable(format!("starting the runtime: {e}")))?;
    let app = escort_http::router(Arc::clone(&service), access.clone(), &config).merge(escort_page::router(
        Arc::clone(&service),
        access,
        &config,
    ));
    let stopped = runtime.block_on(escort_http::serve(
        &config,
        service,
        app,
        escort_http::shutdown_signal(),
    ))?;
    // Dropping the runtime would wait for every blocking thread to finish
    // its work, however long: a stuck publish, a slow tick or reload.
    runtime.shutdown_timeout(
        stopped
            .grace_deadline
            .saturating_duration_since(std::time::Instant::now()),
    );
    if stopped.ticks_running > 0 {
        tracing::warn!(
            "stopping: {} ticks still running are abandoned; the transits they had stored are kept",
            stopped.ticks_running
        );
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The service's configuration, with the data folder `--data` names.
fn database_config(arg: &DatabaseArg) -> Result<ServeConfig, Unusable> {
    let mut config = serve_config(&arg.config)?;
    if let Some(data) = &arg.data {
        config.data = data.clone();
    }
    Ok(config)
}

fn run_audit_verify(
    arg: &DatabaseArg,
    checkpoint: Option<&Path>,
    trusted_key: Option<&str>,
    reevaluate: bool,
) -> Result<ExitCode, Unusable> {
    let config = database_config(arg)?;
    let path = config.data.join("escort.db");
    let checkpoint = checkpoint
        .map(|file| {
            let text = std::fs::read_to_string(file).map_err(|e| Unusable(format!("{}: {e}", file.display())))?;
            Checkpoint::from_json(&text).map_err(|e| Unusable(format!("{}: {e}", file.display())))
        })
        .transpose()?;
    let trusted_key = trusted_key.map(audit::public_key).transpose()?;
    let outcome = if reevaluate {
        reevaluation::verify_database(&path, &config.sandbox()?, checkpoint.as_ref(), trusted_key.as_ref())
            .map(|(verified, reevaluated)| (verified, Some(reevaluated)))
    } else {
        verification::verify_database(&path, checkpoint.as_ref(), trusted_key.as_ref()).map(|verified| (verified, None))
    };
    match outcome {
        Ok((verified, reevaluated)) => {
            let mut text = format!(
                "audit log intact: {} records, head {}\n\
                 tables match it: {} transits, {} fixes, {} refused lines, {} findings\n",
                verified.chain.records,
                verified.chain.head,
                verified.transits,
                verified.fixes,
                verified.rejections,
                verified.findings
            );
            if let Some(checkpoint) = &checkpoint {
                let by = if trusted_key.is_some() {
                    "the trusted key"
                } else {
                    "a key not checked against a trusted one (give --trusted-key)"
                };
                text.push_str(&format!(
                    "checkpoint of {} holds: record {} has the hash it recorded; signed by {by}, {}\n",
                    checkpoint.at(),
                    checkpoint.records(),
                    checkpoint.key()
                ));
            }
            if let Some(reevaluated) = reevaluated {
                text.push_str(&format!(
                    "evaluated again: {} transits give their stored findings; {} not evaluated again, \
                     since a version that last evaluated them is not kept or does not load\n",
                    reevaluated.reevaluated, reevaluated.not_reevaluated
                ));
                for (transit, reason) in &reevaluated.not_reevaluated_named {
                    text.push_str(&format!("  {transit}: {reason}\n"));
                }
            }
            print(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(AuditError::Store(e)) => Err(Unusable(e.to_string())),
        Err(found) => {
            print(&format!("{found}\n"))?;
            Ok(ExitCode::from(1))
        }
    }
}

fn run_audit_checkpoint(arg: &DatabaseArg, key: &Path) -> Result<ExitCode, Unusable> {
    let key = bundle::read_signing_key(key)?;
    match verification::verify_database(&database_config(arg)?.data.join("escort.db"), None, None) {
        Ok(verified) => {
            print(&format!(
                "{}\n",
                Checkpoint::sign(&verified.chain, Utc::now(), &key).to_json()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(AuditError::Store(e)) => Err(Unusable(e.to_string())),
        Err(found) => {
            // Nothing on stdout, where the checkpoint would have gone.
            eprintln!("escort: the audit log does not verify, so no checkpoint was signed: {found}");
            Ok(ExitCode::from(1))
        }
    }
}

fn exit_code(report: &Report, fail_on: Option<Severity>) -> ExitCode {
    let reached = fail_on.is_some_and(|threshold| report.findings.iter().any(|f| f.severity >= threshold));
    if reached { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn run_policy_list(arg: &PoliciesArg) -> Result<ExitCode, Unusable> {
    let policies = load_policies(arg)?;
    let mut text = String::new();
    for policy in policies.policies() {
        text.push_str(&format!(
            "{} {}  {}\n  {}\n",
            policy.id(),
            policy.version(),
            policy.summary(),
            display_origin(policy.origin(), policy.content_hash())
        ));
        for ((name, value), spec) in policy.param_values().into_iter().zip(policy.params()) {
            text.push_str(&format!("    {name} = {value} ({})  {}\n", spec.kind, spec.doc));
        }
    }
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn display_origin(origin: &str, hash: &str) -> String {
    let name = Path::new(origin)
        .file_name()
        .map_or(origin.into(), |n| n.to_string_lossy());
    format!("{name}, sha256 {hash}")
}

/// Writes to stdout; a closed pipe (`escort check ... | head`) is not an error
/// worth a panic.
fn print(text: &str) -> Result<(), Unusable> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Unusable(format!("cannot write the report: {e}"))),
        _ => Ok(()),
    }
}

fn run_replay(args: &ReplayArgs) -> Result<ExitCode, Unusable> {
    if args.data.is_none() && args.scenarios.is_empty() {
        return Err(Unusable(
            "nothing to replay: give --data DIR (a service's data folder) or scenario folders".to_owned(),
        ));
    }
    if !args.policies.is_dir() {
        return Err(Unusable(format!("{}: no such policy folder", args.policies.display())));
    }
    let (overlay, source) = match &args.data {
        Some(data) => {
            let database = data.join("escort.db");
            if !database.is_file() {
                return Err(Unusable(format!(
                    "{}: no service database here (escort.db)",
                    data.display()
                )));
            }
            // The service's cache and limits when its configuration is
            // given; this command's own otherwise.
            let sandbox = match &args.config {
                Some(_) => serve_config(&ConfigArg {
                    config: args.config.clone(),
                })?
                .sandbox()?,
                None => sandbox()?,
            };
            let candidate = folder::load_dir(&sandbox, &args.policies, &trust(&args.trust)?)?;
            (Overlay::over_judged(sandbox, candidate), Source::Data(data.clone()))
        }
        None => {
            let base = load_policies(&PoliciesArg {
                policies: args.base.clone(),
                overlay: None,
                trust: args.trust.clone(),
            })?;
            let candidate = folder::load_dir(&sandbox()?, &args.policies, &trust(&args.trust)?)?;
            (Overlay::new(base, candidate), Source::Scenarios(args.scenarios.clone()))
        }
    };
    let selection = Selection {
        since: args.since,
        until: args.until,
        transits: args.transits.clone(),
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let progress = |done: Progress| {
        if let Some(bar) = &bar {
            bar.set_message(format!("{} transits, {} fixes replayed", done.transits, done.fixes));
        }
    };
    let replayed = overlay.replay(
        &source,
        &selection,
        &Options {
            threads: 0,
            reevaluate: args.reevaluate,
            progress: Some(&progress),
        },
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let replay = replayed?;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Text
    } else {
        Format::Json
    });
    print(&match format {
        Format::Json => replay.to_json(),
        Format::Text => replay.to_text(),
    })?;
    Ok(if replay.has_changes() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_bench(args: &BenchArgs) -> Result<ExitCode, Unusable> {
    let options = escort_bench::Options {
        quick: args.quick,
        cache: escort_engine::ComponentCache::user_default(),
        speed_bundles: escort_bench::Options::shipped_speed_bundles(Path::new(".")),
        server: (!args.no_serve)
            .then(std::env::current_exe)
            .transpose()
            .map_err(|e| Unusable(format!("cannot find the escort binary to serve: {e}")))?,
    };
    let results = escort_bench::run(&options).map_err(|e| Unusable(e.to_string()))?;
    if args.json {
        let json = serde_json::to_string_pretty(&results).map_err(|e| Unusable(e.to_string()))?;
        print(&format!("{json}\n"))?;
    } else {
        print(&format!("{results}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}
