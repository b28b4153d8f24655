//! The `escort` binary as a user runs it: arguments, output formats, policy
//! folders and exit statuses (`docs/reference.md` § The command line). Evaluation itself is tested in
//! `tests/suite`; here only what the command line adds.

use std::fs;
use std::process::Output;

use escort_tests::{escort, escort_command, scenario, workspace};

fn check_args(name: &str) -> Vec<String> {
    let dir = scenario(name);
    vec![
        "check".into(),
        "--transit".into(),
        dir.join("transit.json").display().to_string(),
        "--fixes".into(),
        dir.join("fixes.ndjson").display().to_string(),
    ]
}

fn run(args: &[String]) -> Output {
    escort(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 output")
}

#[test]
fn prints_json_when_stdout_is_not_a_terminal() {
    let output = run(&check_args("clean-khorgos-almaty"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    assert_eq!(report["verdict"], "clear");
    assert_eq!(report["transit"], "KZ-2021-000123");
}

#[test]
fn prints_text_on_request() {
    let mut args = check_args("seal-events");
    args.extend(["--format".into(), "text".into()]);
    let output = run(&args);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert_eq!(text.lines().next(), Some("Transit KZ-2025-002004"), "{text}");
    assert!(text.lines().any(|line| line.starts_with("VIOLATION: ")), "{text}");
    // Most severe first, in Almaty time beside UTC by default.
    let first = text
        .lines()
        .skip_while(|line| !line.starts_with("Findings"))
        .nth(2)
        .expect("a finding");
    assert!(first.starts_with("critical") && first.contains("+05 ("), "{text}");
    assert!(
        text.lines()
            .any(|line| line.contains("critical") && line.contains("seal.breach")),
        "{text}"
    );
}

#[test]
fn text_times_are_in_the_time_zone_asked_for() {
    let mut args = check_args("seal-events");
    args.extend(["--format", "text", "--timezone", "UTC"].map(String::from));
    let output = run(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("opened       2025-04-08 02:00:00 UTC\n"), "{text}");
}

#[test]
fn a_time_zone_that_is_no_iana_name_is_refused() {
    let mut args = check_args("seal-events");
    args.extend(["--format", "text", "--timezone", "Almaty"].map(String::from));
    let output = run(&args);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(
        stderr.contains("'Almaty'") && stderr.contains("not an IANA time zone name such as Asia/Almaty"),
        "{stderr}"
    );
}

#[test]
fn fail_on_sets_the_exit_status() {
    let mut args = check_args("dwell-stops");
    args.extend(["--fail-on".into(), "violation".into()]);
    assert_eq!(run(&args).status.code(), Some(1));

    let mut args = check_args("clean-khorgos-almaty");
    args.extend(["--fail-on".into(), "warning".into()]);
    assert_eq!(run(&args).status.code(), Some(0));
}

#[test]
fn now_moves_the_evaluation_clock() {
    // Long after the deadline, a transit that stopped reporting is overdue.
    let dir = scenario("overdue");
    let mut args = check_args("overdue");
    let now = fs::read_to_string(dir.join("now.txt")).expect("now.txt");
    args.extend(["--now".into(), now.trim().to_owned()]);
    let output = run(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(report["evaluated_at"], now.trim());
    let codes: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].clone())
        .collect();
    assert!(codes.contains(&"transit.overdue".into()), "{codes:?}");
}

#[test]
fn unusable_input_exits_2_with_nothing_on_stdout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let transit = dir.path().join("transit.json");
    fs::write(&transit, r#"{"id": "KZ-1", "dedline": "2021-05-18T06:00:00Z"}"#).expect("write");
    let fixes = scenario("clean-khorgos-almaty").join("fixes.ndjson");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "check".into(),
                "--transit".into(),
                transit.display().to_string(),
                "--fixes".into(),
                fixes.display().to_string(),
            ],
            "transit.json: unknown field `dedline` (did you mean `deadline`?)",
        ),
        (
            {
                let mut args = check_args("clean-khorgos-almaty");
                args.extend(["--now".into(), "yesterday".into()]);
                args
            },
            "RFC 3339",
        ),
        (
            {
                let mut args = check_args("clean-khorgos-almaty");
                args.extend(["--now".into(), "2021-05-16T07:00:00Z".into()]);
                args
            },
            "earlier than the fix",
        ),
        (
            {
                let mut args = check_args("clean-khorgos-almaty");
                args.extend(["--policies".into(), dir.path().display().to_string()]);
                args
            },
            "no policy components",
        ),
    ];
    for (args, expected) in cases {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}: {}", stdout(&output));
        assert!(stderr(&output).contains(expected), "{args:?}: {}", stderr(&output));
    }
}

/// Guards issue 10 items 6, 7 and 8 end to end: a line with `seal` twice, a line that is not UTF-8
/// and a fix dated 1901 are each refused with its line and a reason, and every other fix of the file
/// is evaluated as if they were not there.
#[test]
fn refused_lines_are_listed_and_the_rest_is_evaluated() {
    let clean = stdout(&run(&check_args("clean-khorgos-almaty")));
    let clean: serde_json::Value = serde_json::from_str(&clean).expect("JSON");
    let good = fs::read(scenario("clean-khorgos-almaty").join("fixes.ndjson")).expect("fixes");
    let mut lines: Vec<&[u8]> = good.split_inclusive(|&byte| byte == b'\n').collect();
    let inserted: [&[u8]; 3] = [
        b"{\"at\":\"2021-05-16T03:48:00Z\",\"lat\":44.1568,\"lon\":80.3973,\"seal\":\"cable_cut\",\"seal\":\"intact\"}\n",
        b"{\"at\":\"2021-05-16T03:49:00Z\",\"lat\":44.1568,\"lon\":80.3973,\"seal_id\":\"NS-\xA7\"}\n",
        b"{\"at\":\"1901-12-13T20:45:52Z\",\"lat\":44.1568,\"lon\":80.3973,\"seal\":\"intact\"}\n",
    ];
    lines.splice(2..2, inserted);
    let dir = tempfile::tempdir().expect("temp dir");
    let fixes = dir.path().join("fixes.ndjson");
    fs::write(&fixes, lines.concat()).expect("write");
    let mut args = check_args("clean-khorgos-almaty");
    args[4] = fixes.display().to_string();

    let output = run(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON report");
    assert_eq!(
        report["rejected"],
        serde_json::json!([
            {"line": 3, "reason": "the key `seal` is given twice"},
            {"line": 4, "reason": "the line is not UTF-8 (byte 0xA7 at column 72); save the file as UTF-8"},
            {"line": 5, "reason": "`at` 1901-12-13T20:45:52Z is before the transit opened (2021-05-16T03:40:00Z)"},
        ])
    );
    assert_eq!(report["fixes"]["accepted"], clean["fixes"]["accepted"]);
    assert_eq!(report["fixes"]["rejected"], 3);
    assert_eq!(report["findings"], clean["findings"], "the rest is evaluated as before");
    assert_eq!(report["verdict"], "clear");
}

/// Guards issue 10 item 6: a transit whose importer is both red and green is refused, not green.
#[test]
fn a_transit_with_a_key_given_twice_is_unusable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let transit = fs::read_to_string(scenario("clean-khorgos-almaty").join("transit.json")).expect("transit");
    let value: serde_json::Value = serde_json::from_str(&transit).expect("JSON");
    let importer = value["importer"].to_string();
    assert!(importer.contains(r#""zone":"green""#), "{importer}");
    let twice = value.to_string().replace(
        &importer,
        &importer.replace(r#""zone":"green""#, r#""zone":"red","zone":"green""#),
    );
    let path = dir.path().join("transit.json");
    fs::write(&path, twice).expect("write");
    let mut args = check_args("clean-khorgos-almaty");
    args[2] = path.display().to_string();
    let output = run(&args);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(
        stderr(&output).contains("transit.json: `importer`: the key `zone` is given twice"),
        "{}",
        stderr(&output)
    );
}

/// A policy folder of the built-in components, configured by policies.toml.
fn policy_folder(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (id, bytes) in escort_builtin::COMPONENTS.iter().copied() {
        fs::write(dir.path().join(format!("{id}.wasm")), bytes).expect("write component");
    }
    fs::write(dir.path().join(escort_bundle::folder::CONFIG_FILE), config).expect("write config");
    dir
}

#[test]
fn a_policy_folder_is_configured_by_policies_toml() {
    // A 10 km corridor turns the 8 km excursion of the detour into nothing.
    let folder = policy_folder("[corridor.params]\ncorridor_m = 10000\n");
    let mut args = check_args("corridor-detour");
    let builtin: serde_json::Value = serde_json::from_str(&stdout(&run(&args))).expect("JSON");
    args.extend(["--policies".into(), folder.path().display().to_string()]);
    let output = run(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let configured: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let deviations = |report: &serde_json::Value| {
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["code"] == "corridor.deviation")
            .count()
    };
    assert_eq!(deviations(&builtin), 2);
    assert_eq!(deviations(&configured), 1);
}

#[test]
fn a_misconfigured_policy_folder_names_the_mistake() {
    for (config, expected) in [
        (
            "[corridor.params]\ncorridor_km = 10\n",
            "policy `corridor`: no parameter `corridor_km`; it takes corridor_m",
        ),
        (
            "[corridor.params]\ncorridor_m = \"wide\"\n",
            "parameter `corridor_m` must be a float, found \"wide\"",
        ),
        (
            "[coridor.params]\ncorridor_m = 3000\n",
            "configuration for `coridor`, but no policy has that id",
        ),
    ] {
        let folder = policy_folder(config);
        let mut args = check_args("clean-khorgos-almaty");
        args.extend(["--policies".into(), folder.path().display().to_string()]);
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{config}");
        assert!(stderr(&output).contains(expected), "{config}: {}", stderr(&output));
    }
}

/// `escort test` at the repository's root passes as shipped: it tests the
/// project's scenarios with the default policies, and enters neither a
/// bundle (whose scenarios expect its policy alone), the policy template,
/// nor `target/`.
#[test]
fn escort_test_at_the_repository_root_passes_the_shipped_scenarios() {
    let output = escort_command()
        .arg("test")
        .current_dir(workspace())
        .output()
        .expect("escort runs");
    let printed = stdout(&output);
    assert!(output.status.success(), "{printed}{}", stderr(&output));
    let tested: Vec<&str> = printed
        .lines()
        .filter_map(|line| line.strip_prefix("ok       "))
        .collect();
    let shipped = escort_tests::scenarios();
    assert_eq!(tested.len(), shipped.len(), "{printed}");
    assert!(
        tested.iter().all(|dir| dir.starts_with("./tests/scenarios/")),
        "{printed}"
    );
    assert!(
        printed.ends_with(&format!("ok: {} passed, 0 failed\n", shipped.len())),
        "{printed}"
    );
}

#[test]
fn policy_list_shows_versions_hashes_and_parameters() {
    let output = escort(&["policy", "list"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    for id in ["corridor", "dwell", "eligibility", "seal", "signal", "speed", "transit"] {
        assert!(
            text.lines().any(|line| line.starts_with(&format!("{id} 0.1.0 "))),
            "{id} missing:\n{text}"
        );
    }
    assert!(text.contains("corridor_m = 5000 (float)"), "{text}");
    assert!(text.contains("sha256 "), "{text}");
}

#[test]
fn serve_refuses_a_configuration_with_an_unknown_setting() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = dir.path().join("escort.toml");
    fs::write(&config, "listen = \"127.0.0.1:0\"\ntick_second = 5\n").unwrap();
    let output = escort(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty());
    let message = stderr(&output);
    assert!(
        message.contains("escort.toml") && message.contains("tick_second"),
        "{message}"
    );
}

/// Issue 10: a number of seconds no clock can count (`1e300`) or that is
/// no time at all (`1e-300`) panicked where it was used; it is refused by
/// name.
#[test]
fn serve_refuses_seconds_a_clock_cannot_count() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = dir.path().join("escort.toml");
    for (setting, value) in [
        ("compile_timeout_seconds", "1e300"),
        ("policy_poll_seconds", "1e300"),
        ("policy_poll_seconds", "1e-300"),
    ] {
        fs::write(&config, format!("listen = \"127.0.0.1:0\"\n{setting} = {value}\n")).unwrap();
        let output = escort(&["serve", "--config", config.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{setting} = {value}");
        let message = stderr(&output);
        assert!(
            message.contains(&format!(
                "{setting} must be above 0 and at most 18446744073709551615 seconds, not {value}"
            )),
            "{message}"
        );
    }
}

#[test]
fn audit_verify_without_a_database_is_unusable_input() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let output = escort(&["audit", "verify", "--data", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no database at"), "{}", stderr(&output));
}

/// Issue 11: a checkpoint or key that cannot be used is unusable input
/// (exit 2, nothing on stdout), told apart from a log that does not verify
/// (exit 1).
#[test]
fn audit_checkpoints_and_keys_that_cannot_be_used_are_unusable_input() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = dir.path().to_str().unwrap();
    let not_a_checkpoint = dir.path().join("checkpoint.json");
    fs::write(&not_a_checkpoint, "{\"records\": 3}").unwrap();
    let checkpoint = not_a_checkpoint.to_str().unwrap();
    let key = dir.path().join("audit.key");
    let cases: [(&[&str], &str); 4] = [
        (
            &["audit", "verify", "--data", data, "--checkpoint", checkpoint],
            "checkpoint.json: not a checkpoint as `escort audit checkpoint` prints it",
        ),
        (
            &["audit", "verify", "--data", data, "--trusted-key", "ab"],
            "--checkpoint <FILE>",
        ),
        (
            &["audit", "checkpoint", "--data", data, "--key", key.to_str().unwrap()],
            "audit.key",
        ),
        (&["audit", "checkpoint", "--data", data], "--key <KEY.key>"),
    ];
    for (args, message) in cases {
        let output = escort(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stdout(&output).is_empty(), "{args:?}");
        assert!(stderr(&output).contains(message), "{args:?}: {}", stderr(&output));
    }
    let output = escort(&["policy", "keygen", dir.path().join("audit").to_str().unwrap()]);
    assert!(output.status.success());
    let output = escort(&["audit", "checkpoint", "--data", data, "--key", key.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no database at"), "{}", stderr(&output));
}

/// Issue 12: `docs/reference.md` names every subcommand and flag the binary
/// has, and no other. Under its `## The command line`, each ``### `escort …` ``
/// heading is a command and each table row beginning with `` `--`` one of
/// its flags; the binary's are what `escort … --help` lists, walked from the
/// top through every `Commands:` list.
#[test]
fn the_reference_lists_every_subcommand_and_flag() {
    use std::collections::{BTreeMap, BTreeSet};

    type Commands = BTreeMap<Vec<String>, BTreeSet<String>>;

    /// The names that start the lines of a `--help` section (`Commands:`, `Options:`).
    fn section<'a>(help: &'a str, title: &str) -> impl Iterator<Item = &'a str> {
        help.lines()
            .skip_while(move |line| *line != title)
            .skip(1)
            .take_while(|line| !line.trim().is_empty())
            .filter_map(|line| {
                line.split_whitespace()
                    .find(|word| !word.starts_with('-') || word.starts_with("--"))
            })
    }

    fn walk(path: Vec<String>, into: &mut Commands) {
        let output = escort_command()
            .args(&path)
            .arg("--help")
            .output()
            .expect("escort runs");
        assert_eq!(output.status.code(), Some(0), "escort {path:?} --help");
        let help = String::from_utf8(output.stdout).expect("UTF-8 help");
        let subcommands: Vec<&str> = section(&help, "Commands:").filter(|name| *name != "help").collect();
        for name in &subcommands {
            walk(path.iter().cloned().chain([name.to_string()]).collect(), into);
        }
        if subcommands.is_empty() {
            let flags = section(&help, "Options:")
                .filter_map(|word| word.strip_prefix("--"))
                .filter(|flag| !["help", "version"].contains(flag))
                .map(|flag| format!("--{flag}"))
                .collect();
            into.insert(path, flags);
        }
    }

    let reference = fs::read_to_string(workspace().join("docs/reference.md")).expect("docs/reference.md exists");
    let command_line = reference
        .split("\n## ")
        .find(|section| section.starts_with("The command line\n"))
        .expect("docs/reference.md has a `## The command line` section");
    let mut listed = Commands::new();
    for block in command_line.split("\n### ") {
        let Some(command) = block.strip_prefix("`escort ").and_then(|rest| rest.split_once('`')) else {
            continue;
        };
        let flags = block
            .lines()
            .filter_map(|line| line.strip_prefix("| `--"))
            .map(|row| format!("--{}", row.split([' ', '`']).next().unwrap_or_default()))
            .collect();
        listed.insert(command.0.split(' ').map(str::to_owned).collect(), flags);
    }
    let mut actual = Commands::new();
    walk(Vec::new(), &mut actual);
    assert_eq!(
        listed, actual,
        "docs/reference.md (left) and `escort --help` (right) differ"
    );
}

#[test]
fn a_log_filter_that_does_not_parse_is_named_and_logging_goes_on_at_info() {
    let output = escort_command()
        .args(check_args("seal-events"))
        .env("ESCORT_LOG", "escort_http=loud")
        .output()
        .expect("escort runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("escort: ESCORT_LOG=\"escort_http=loud\" is not a log filter ("),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).contains("\"verdict\""), "the report is still printed");
}

/// Issue 14, the author's loop: a manifest's parameter that does not match
/// the component names both sides' kinds; a whole number is a float's value
/// in `policy.toml` as in `policies.toml`; `escort policy keygen` makes the
/// key's folder.
#[test]
fn a_manifest_parameter_names_both_kinds_and_keygen_makes_the_folder() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let bundle = dir.path().join("speed");
    fs::create_dir_all(&bundle).expect("a bundle folder");
    fs::write(
        bundle.join("policy.wasm"),
        escort_builtin::component("speed").expect("a built-in speed policy"),
    )
    .expect("the component");
    let manifest_of = |contract: &str, max_hdop: &str| {
        format!(
            "id = \"speed\"\nversion = \"0.1.0\"\ndescription = \"Speed sanity.\"\ncontract = \"escort:policy@{contract}\"\n\
             language = \"rust\"\n[params]\nexcessive_kmh = 110\nexcessive_min_minutes = 2\nimplausible_kmh = 150\n\
             implausible_min_m = 1000\nmax_hdop = {max_hdop}\npoor_warning_minutes = 30\n"
        )
    };
    let manifest = |max_hdop: &str| manifest_of("0.2.0", max_hdop);
    let verify = || escort(&["policy", "verify", bundle.to_str().unwrap()]);
    fs::write(bundle.join("policy.toml"), manifest("5")).expect("the manifest");
    let output = verify();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "speed 0.1.0: not signed, loads\n");

    // Issue 14: both contracts load, but a manifest must name the one its
    // component exports.
    fs::write(bundle.join("policy.toml"), manifest_of("0.1.0", "5")).expect("the manifest");
    let output = verify();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "the manifest says the component implements escort:policy@0.1.0, but it exports escort:policy@0.2.0"
        ),
        "{}",
        stderr(&output)
    );
    fs::write(bundle.join("policy.toml"), manifest_of("0.3.0", "5")).expect("the manifest");
    let output = verify();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "the bundle implements escort:policy@0.3.0; this host implements escort:policy@0.1.0 and escort:policy@0.2.0"
        ),
        "{}",
        stderr(&output)
    );

    fs::write(bundle.join("policy.toml"), manifest("\"five\"")).expect("the manifest");
    let output = verify();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("parameter `max_hdop`: the manifest says \"five\" (text), the component's default is 5 (float)"),
        "{}",
        stderr(&output)
    );
    fs::write(bundle.join("policy.toml"), manifest("5\nmin_hdop = 1")).expect("the manifest");
    let output = verify();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("the manifest's [params] list `min_hdop`, which the component does not declare"),
        "{}",
        stderr(&output)
    );

    let key = dir.path().join("keys/risk-unit/regulator");
    let output = escort(&["policy", "keygen", key.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(key.with_extension("key").is_file() && key.with_extension("pub").is_file());
}

/// The codes of a JSON report's findings.
fn codes(report: &str) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_str(report).expect("a JSON report");
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|finding| finding["code"].as_str().expect("a code").to_owned())
        .collect()
}

/// Issue 14: `escort policy export-builtin` writes the default set as
/// bundles that `--policies` and `--overlay` load, refuses a folder that
/// exists, and an exported bundle's parameters are set in its
/// `policies.toml` (its manifest declares the component's defaults, and
/// one edited there is refused by name).
#[test]
fn exported_builtin_bundles_load_and_one_configured_over_the_default_set_changes_the_report() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mine = dir.path().join("mine");
    let exported = escort(&["policy", "export-builtin", mine.to_str().unwrap()]);
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    for (id, bytes) in escort_builtin::COMPONENTS.iter().copied() {
        assert_eq!(fs::read(mine.join(id).join("policy.wasm")).expect("a component"), bytes);
        let manifest = fs::read_to_string(mine.join(id).join("policy.toml")).expect("a manifest");
        assert!(manifest.contains(&format!("id = \"{id}\"")), "{manifest}");
    }
    let again = escort(&["policy", "export-builtin", mine.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains(&format!("{} exists already", mine.join("corridor").display())),
        "{}",
        stderr(&again)
    );

    let scenario = scenario("speed-jump-and-excessive");
    let builtin = run(&check_args("speed-jump-and-excessive"));
    let with = |flag: &str, path: &std::path::Path| {
        let mut args = check_args("speed-jump-and-excessive");
        args.extend([flag.to_owned(), path.display().to_string()]);
        run(&args)
    };
    let exported_set = with("--policies", &mine);
    assert_eq!(exported_set.status.code(), Some(0), "{}", stderr(&exported_set));
    assert_eq!(
        stdout(&exported_set),
        stdout(&builtin),
        "the exported set is the default set"
    );
    assert!(codes(&stdout(&builtin)).contains(&"speed.excessive".to_owned()));

    let speed = mine.join("speed");
    let manifest = fs::read_to_string(speed.join("policy.toml")).expect("a manifest");
    fs::write(
        speed.join("policy.toml"),
        manifest.replace("excessive_kmh = 110", "excessive_kmh = 130"),
    )
    .expect("the manifest");
    let edited = with("--overlay", &speed);
    assert_eq!(edited.status.code(), Some(2));
    assert!(
        stderr(&edited).contains("parameter `excessive_kmh`: the manifest says 130"),
        "{}",
        stderr(&edited)
    );
    fs::write(speed.join("policy.toml"), &manifest).expect("the manifest");
    fs::write(speed.join("policies.toml"), "[speed.params]\nexcessive_kmh = 130\n").expect("the configuration");
    let configured = with("--overlay", &speed);
    assert_eq!(configured.status.code(), Some(0), "{}", stderr(&configured));
    let codes = codes(&stdout(&configured));
    assert!(!codes.contains(&"speed.excessive".to_owned()), "{codes:?}");
    assert!(codes.contains(&"speed.implausible".to_owned()), "{codes:?}");

    // In `escort test`, the scenario folder runs against the overlay: its
    // golden file, the default set's report, no longer holds.
    let tested = escort(&["test", scenario.to_str().unwrap(), "--overlay", speed.to_str().unwrap()]);
    assert_eq!(tested.status.code(), Some(1), "{}", stdout(&tested));
    assert!(
        stdout(&tested).contains("-      \"code\": \"speed.excessive\","),
        "{}",
        stdout(&tested)
    );
    let both = escort(&[
        "test",
        scenario.to_str().unwrap(),
        "--overlay",
        speed.to_str().unwrap(),
        "--policies",
        mine.to_str().unwrap(),
    ]);
    assert_eq!(both.status.code(), Some(2));
    assert!(stderr(&both).contains("cannot be used with"), "{}", stderr(&both));

    let untested = escort(&["test", speed.to_str().unwrap()]);
    assert_eq!(untested.status.code(), Some(2));
    assert!(
        stderr(&untested).contains(&format!(
            "{}: the bundle has no scenarios; add one as {}",
            speed.display(),
            speed.join("scenarios/NAME").display()
        )),
        "{}",
        stderr(&untested)
    );
}

/// Issue 14: `escort test` warns when a bundle's `policy.wasm` is older
/// than its sources, and only then; the packagers' `.escort/`, cargo's
/// `target/` and the scenarios are no sources.
#[test]
fn escort_test_warns_when_the_component_is_older_than_the_sources() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mine = dir.path().join("mine");
    let exported = escort(&["policy", "export-builtin", mine.to_str().unwrap()]);
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    let speed = mine.join("speed");
    let example = speed.join("scenarios/jump");
    fs::create_dir_all(&example).expect("a scenario folder");
    for file in ["transit.json", "fixes.ndjson"] {
        fs::copy(scenario("speed-jump-and-excessive").join(file), example.join(file)).expect("copies");
    }
    let component = fs::File::options()
        .write(true)
        .open(speed.join("policy.wasm"))
        .expect("the component");
    component
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .expect("an hour ago");
    for not_a_source in [
        ".escort/node/shim.js",
        "target/debug/build/lib.rs",
        "scenarios/jump/notes.py",
    ] {
        let path = speed.join(not_a_source);
        fs::create_dir_all(path.parent().unwrap()).expect("a folder");
        fs::write(&path, "").expect("a file");
    }
    let blessed = escort(&["test", "--bless", speed.to_str().unwrap()]);
    assert_eq!(blessed.status.code(), Some(0), "{}", stdout(&blessed));
    assert_eq!(stderr(&blessed), "");

    fs::create_dir_all(speed.join("src")).expect("a source folder");
    fs::write(speed.join("src/lib.rs"), "// the rule\n").expect("a source");
    let tested = escort(&["test", speed.to_str().unwrap()]);
    assert_eq!(
        tested.status.code(),
        Some(0),
        "a warning, not a failure: {}",
        stdout(&tested)
    );
    assert_eq!(
        stderr(&tested),
        format!(
            "warning: {} is older than {}; run `escort policy build {}`\n",
            speed.join("policy.wasm").display(),
            speed.join("src/lib.rs").display(),
            speed.display()
        )
    );
    // The same bundle as an overlay is warned about too.
    let overlaid = escort(&["test", example.to_str().unwrap(), "--overlay", mine.to_str().unwrap()]);
    assert!(
        stderr(&overlaid).contains("src/lib.rs; run `escort policy build"),
        "{}",
        stderr(&overlaid)
    );
}

/// Issue 14: `escort test` feeds each scenario in batches too, and a policy
/// whose report depends on them fails and is not blessed. The hostile
/// policy reports `hostile.alive`, final, at every call.
#[test]
fn escort_test_fails_a_policy_whose_report_depends_on_the_batches_and_does_not_bless_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let bundle = escort_tests::hostile_bundle(dir.path());
    let example = bundle.join("scenarios/example");
    let golden = fs::read_to_string(example.join("expected.json")).expect("blessed");
    fs::copy(
        escort_tests::template_scenario().join("fixes.ndjson"),
        example.join("fixes.ndjson"),
    )
    .expect("every fix of the template");
    let blessed = escort(&["test", "--bless", bundle.to_str().unwrap()]);
    assert_eq!(blessed.status.code(), Some(1), "{}", stdout(&blessed));
    let printed = stdout(&blessed);
    assert!(
        printed.contains(
            "scenarios/example: fed in batches split at fix 2 (2021-05-16T06:10:00Z) the policy gives another \
             report: its state does not carry everything from one batch to the next\n--- one batch\n+++ in batches\n"
        ),
        "{printed}"
    );
    assert_eq!(
        fs::read_to_string(example.join("expected.json")).expect("the golden file"),
        golden,
        "not blessed"
    );
}
