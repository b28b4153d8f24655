//! Publishing policies through the API (issue 11, items 1 to 3): the same id
//! published again and again, a crash at any point of a publish, uploads as
//! hostile tar files, answers that show neither a server path nor a file's
//! content, and a publish that holds up nothing else. The command line reads
//! a bundle's files by the same rules.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use escort_tests::{
    HOSTILE_POLICY, OFFICER, REGULATOR, Server, copy_dir, escort_command, eventually, hostile_bundle, scenario, tar_of,
    transit_as,
};

/// Where `GET /v1/policies` says policy `id` comes from, if it is active.
fn origin(server: &Server, id: &str) -> Option<String> {
    let (status, listing) = server.get_json("/v1/policies", OFFICER);
    assert_eq!(status, 200, "{listing}");
    listing["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .map(|p| p["origin"].as_str().unwrap().to_owned())
}

/// The names in a live policy folder that begin with `.`: what a publish
/// stages and must not leave behind.
fn hidden_entries(live: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(live)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn publish(server: &Server, id: &str, upload: &[u8]) -> (u16, Value) {
    server.json("PUT", &format!("/v1/policies/{id}"), Some(REGULATOR), upload)
}

/// Issue 11, item 1: the second publish of an id was refused ("two policies
/// have the id `hostile`"), because the upload was staged in the live folder
/// and the loader read hidden folders as bundles.
#[test]
fn the_same_bundle_publishes_twenty_times_under_ingest_load() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = tar_of(&hostile_bundle(dir.path()));
    let server = Server::start(&[]);
    assert_eq!(
        server
            .put_transit("LOAD-1", &transit_as("clean-khorgos-almaty", "LOAD-1"))
            .0,
        201
    );
    let fixes = fs::read_to_string(scenario("clean-khorgos-almaty").join("fixes.ndjson")).unwrap();
    let lines: Vec<&str> = fixes.lines().collect();
    let publishing = AtomicBool::new(true);
    let (published, batches) = thread::scope(|scope| {
        // A gateway sends batches of five fixes for as long as the publishes
        // go on, from the first fix again once it has sent them all.
        let gateway = scope.spawn(|| {
            let mut statuses = Vec::new();
            let mut next = 0;
            while publishing.load(Ordering::SeqCst) {
                let batch: String = (next..next + 5)
                    .map(|index| format!("{}\n", lines[index % lines.len()]))
                    .collect();
                next = (next + 5) % lines.len();
                let (status, outcome) = server.post_fixes("LOAD-1", &batch);
                statuses.push((status, outcome));
            }
            statuses
        });
        let published: Vec<(u16, Value, Duration)> = (0..20)
            .map(|_| {
                let started = Instant::now();
                let (status, info) = publish(&server, "hostile", &bundle);
                (status, info, started.elapsed())
            })
            .collect();
        publishing.store(false, Ordering::SeqCst);
        (published, gateway.join().unwrap())
    });
    let took: Vec<String> = published.iter().map(|(_, _, t)| format!("{t:.2?}")).collect();
    println!(
        "20 publishes took {}; {} batches meanwhile",
        took.join(", "),
        batches.len()
    );
    for (round, (status, info, _)) in published.iter().enumerate() {
        assert_eq!(*status, 200, "publish {} of 20: {info}", round + 1);
    }
    assert!(!batches.is_empty());
    for (status, outcome) in &batches {
        assert_eq!(*status, 200, "{outcome}");
    }
    assert_eq!(origin(&server, "hostile").as_deref(), Some("live hostile/"));
    assert_eq!(hidden_entries(&server.data().join("policies")), Vec::<String>::new());
}

/// Issue 11, item 1: `origin` named the staging folder, deleted once the
/// publish was over, by its absolute path on the server.
#[test]
fn origin_names_the_policy_in_the_live_folder_and_never_a_server_path() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = tar_of(&hostile_bundle(dir.path()));
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path(), &[]);
    let server_path = data.path().display().to_string();
    let live = server.data().join("policies");

    let (status, info) = publish(&server, "hostile", &bundle);
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["origin"], "live hostile/");
    assert_eq!(origin(&server, "hostile").as_deref(), Some("live hostile/"));
    assert_eq!(origin(&server, "speed").as_deref(), Some("built-in speed"));

    let (status, info) = publish(&server, "hostile", HOSTILE_POLICY);
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["origin"], "live hostile.wasm");
    assert!(!live.join("hostile").exists(), "the bundle it replaced is gone");

    let (status, info) = publish(&server, "hostile", &bundle);
    assert_eq!(status, 200, "{info}");
    assert!(!live.join("hostile.wasm").exists(), "the component it replaced is gone");
    let (_, listing) = server.request("GET", "/v1/policies", Some(OFFICER), b"");
    assert!(!listing.contains(&server_path), "{listing}");

    server.stop();
    let server = Server::start_in(data.path(), &[]);
    assert_eq!(origin(&server, "hostile").as_deref(), Some("live hostile/"));
}

/// The intent a publish writes once its upload is staged, checked and on
/// disk: which staged folder becomes policy `hostile`, in which form.
fn intent(live: &Path, staged: &str, form: &str) {
    fs::write(
        live.join(".publish-hostile"),
        format!("staged = \"{staged}\"\nform = \"{form}\"\n"),
    )
    .unwrap();
}

/// Issue 11, item 1: a kill -9 during a publish left folders that kept the
/// service from starting. Each on-disk state that a crash at some point of a
/// publish leaves, built by hand: the service starts on it and serves the
/// version it had (`old`) or the one being published (`new`), and nothing
/// of the publish is left behind.
#[test]
fn every_state_a_crash_can_leave_mid_publish_starts_with_the_old_or_the_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle(dir.path());
    // Two editions of the bundle, told apart by a file that is not loaded.
    let edition = |name: &str| {
        let copy = dir.path().join(name);
        copy_dir(&bundle, &copy);
        fs::write(copy.join("edition.txt"), name).unwrap();
        copy
    };
    let (old, new) = (edition("old"), edition("new"));
    let component = HOSTILE_POLICY;

    type Build<'a> = Box<dyn Fn(&Path) + 'a>;
    let states: Vec<(&str, Build, &str, Option<&str>)> = vec![
        (
            "an upload staged and not yet checked: no intent",
            Box::new(|live| {
                fs::write(live.join("hostile.wasm"), component).unwrap();
                copy_dir(&new, &live.join(".upload-a1"));
            }),
            "live hostile.wasm",
            None,
        ),
        (
            "the intent is being written",
            Box::new(|live| {
                copy_dir(&old, &live.join("hostile"));
                copy_dir(&new, &live.join(".upload-a1"));
                fs::write(live.join(".publish-hostile.partial"), "staged = \".upl").unwrap();
            }),
            "live hostile/",
            Some("old"),
        ),
        (
            "the intent is written, nothing moved yet (a bundle over a component)",
            Box::new(|live| {
                fs::write(live.join("hostile.wasm"), component).unwrap();
                copy_dir(&new, &live.join(".upload-a1"));
                intent(live, ".upload-a1", "bundle");
            }),
            "live hostile/",
            Some("new"),
        ),
        (
            "the intent is written, nothing moved yet (a bundle over a bundle)",
            Box::new(|live| {
                copy_dir(&old, &live.join("hostile"));
                copy_dir(&new, &live.join(".upload-a1"));
                intent(live, ".upload-a1", "bundle");
            }),
            "live hostile/",
            Some("new"),
        ),
        (
            "the old bundle is retired, the new one not yet moved in",
            Box::new(|live| {
                copy_dir(&old, &live.join(".retired-hostile"));
                copy_dir(&new, &live.join(".upload-a1"));
                intent(live, ".upload-a1", "bundle");
            }),
            "live hostile/",
            Some("new"),
        ),
        (
            "the new bundle is in, the old component not yet removed: both forms",
            Box::new(|live| {
                copy_dir(&new, &live.join("hostile"));
                fs::write(live.join("hostile.wasm"), component).unwrap();
                intent(live, ".upload-a1", "bundle");
            }),
            "live hostile/",
            Some("new"),
        ),
        (
            "the new component is in, the old bundle not yet retired: both forms",
            Box::new(|live| {
                copy_dir(&old, &live.join("hostile"));
                fs::write(live.join("hostile.wasm"), component).unwrap();
                fs::create_dir(live.join(".upload-a1")).unwrap();
                intent(live, ".upload-a1", "component");
            }),
            "live hostile.wasm",
            None,
        ),
        (
            "the swap is done, the intent and the retired bundle not yet removed",
            Box::new(|live| {
                copy_dir(&new, &live.join("hostile"));
                copy_dir(&old, &live.join(".retired-hostile"));
                intent(live, ".upload-a1", "bundle");
            }),
            "live hostile/",
            Some("new"),
        ),
    ];
    for (state, build, expected_origin, expected_edition) in states {
        let data = tempfile::tempdir().unwrap();
        let live = data.path().join("data/policies");
        fs::create_dir_all(&live).unwrap();
        build(&live);
        let server = Server::start_in(data.path(), &[]);
        assert_eq!(origin(&server, "hostile").as_deref(), Some(expected_origin), "{state}");
        if let Some(edition) = expected_edition {
            assert_eq!(
                fs::read_to_string(live.join("hostile/edition.txt")).unwrap(),
                edition,
                "{state}"
            );
        }
        let other_form = if expected_origin.ends_with('/') {
            "hostile.wasm"
        } else {
            "hostile"
        };
        assert!(!live.join(other_form).exists(), "{state}: {other_form} is left");
        assert_eq!(hidden_entries(&live), Vec::<String>::new(), "{state}");
    }
}

/// What a crash left in the live folder, in short: its hidden entries and
/// which forms of `hostile` are there.
fn crash_state(live: &Path) -> String {
    let mut seen = hidden_entries(live);
    seen.extend(
        ["hostile", "hostile.wasm"]
            .into_iter()
            .filter(|name| live.join(name).exists())
            .map(str::to_owned),
    );
    seen.join(" ")
}

/// Issue 11, item 1, with real crashes: each publish is of the form that
/// does not serve (the bundle or the bare component, so that every swap
/// changes the form and `origin` tells the versions apart), killed with
/// SIGKILL at a delay that sweeps the publish. Every restart serves the version acknowledged
/// last, or the one whose publish was cut short.
#[test]
fn kill_9_at_any_point_of_a_publish_leaves_the_old_or_the_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = tar_of(&hostile_bundle(dir.path()));
    let forms: [(&str, &[u8]); 2] = [("live hostile/", &bundle), ("live hostile.wasm", HOSTILE_POLICY)];
    let data = tempfile::tempdir().unwrap();
    let live = data.path().join("data/policies");
    let mut server = Server::start_in(data.path(), &[]);
    let started = Instant::now();
    let (status, info) = publish(&server, "hostile", forms[0].1);
    assert_eq!(status, 200, "{info}");
    let publish_time = started.elapsed();
    let mut serving = forms[0].0.to_owned();
    let mut cut_short = 0;
    const CYCLES: u32 = 16;
    for cycle in 0..CYCLES {
        // The form that does not serve now, so that old and new differ.
        let (new, upload) = *forms.iter().find(|(origin, _)| *origin != serving).unwrap();
        // From 0 to 1.5 times a publish's length, in 8 steps, twice over.
        let delay = publish_time * (cycle % 8) * 3 / 16;
        let (url, upload) = (server.url.clone(), upload.to_vec());
        let request = thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            agent
                .put(format!("{url}/v1/policies/hostile"))
                .header("Authorization", format!("Bearer {REGULATOR}"))
                .send(&upload[..])
                .map(|response| response.status().as_u16())
                .ok()
        });
        thread::sleep(delay);
        server.kill();
        let answered = request.join().unwrap();
        let left = crash_state(&live);
        server = Server::start_in(data.path(), &[]);
        let now = origin(&server, "hostile").expect("hostile is active");
        println!(
            "cycle {cycle}: killed after {delay:.2?}, answered {answered:?}, left [{left}], serves {now} (was {serving})"
        );
        match answered {
            Some(status) => {
                assert_eq!(status, 200, "cycle {cycle}");
                assert_eq!(now, new, "cycle {cycle}: an acknowledged publish is kept");
            }
            None => {
                cut_short += 1;
                assert!(now == new || now == serving, "cycle {cycle}: serves {now}");
            }
        }
        assert_eq!(hidden_entries(&live), Vec::<String>::new(), "cycle {cycle}");
        serving = now;
    }
    println!("a publish took {publish_time:.2?}; {cut_short} of {CYCLES} were killed before their answer");
}

/// A tar archive of `bundle`'s files but `without`, with what `add`
/// appends after them.
fn archive_with(bundle: &Path, without: &[&str], add: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(bundle, copy.path());
    for file in without {
        fs::remove_file(copy.path().join(file)).unwrap();
    }
    let mut archive = tar::Builder::new(Vec::new());
    archive.append_dir_all(".", copy.path()).unwrap();
    add(&mut archive);
    archive.into_inner().unwrap()
}

/// Appends an empty entry of `kind` at `path`, written into the header as
/// it is (so that `..` and absolute paths get through), pointing at `link`.
fn append_special(archive: &mut tar::Builder<Vec<u8>>, path: &str, kind: tar::EntryType, link: Option<&str>) {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_entry_type(kind);
    header.set_size(0);
    header.set_mode(0o644);
    if let Some(link) = link {
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_cksum();
    archive.append(&header, std::io::empty()).unwrap();
}

/// A bundle's archive with one entry that must refuse it.
struct HostileEntry<'a> {
    case: &'a str,
    /// The bundle's files it goes without.
    without: &'a [&'a str],
    /// The entry: its path in the archive, its kind, what it links to.
    path: &'a str,
    kind: tar::EntryType,
    link: Option<&'a str>,
    /// What the refusal says.
    refusal: &'a str,
}

/// Issue 11, item 2: a tar entry that was a link was created as one and
/// read, quoting `/etc/passwd` or reading a 1 GiB file outside; a FIFO hung
/// the publish. Every entry that is not a regular file or a folder is
/// refused by its path in the archive and its kind, and so is a path that
/// leaves the archive's folder.
#[test]
fn uploads_with_links_devices_fifos_or_escaping_paths_are_refused_by_entry() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle(dir.path());
    // A large file outside, which a link would have been read whole from.
    let large = dir.path().join("large.bin");
    fs::File::create(&large).unwrap().set_len(1 << 30).unwrap();
    let large = large.display().to_string();
    use tar::EntryType;
    let cases = [
        HostileEntry {
            case: "a manifest that links to /etc/passwd",
            without: &["policy.toml"],
            path: "./policy.toml",
            kind: EntryType::Symlink,
            link: Some("/etc/passwd"),
            refusal: "`./policy.toml` is a symbolic link",
        },
        HostileEntry {
            case: "a component that links to a 1 GiB file",
            without: &["policy.wasm"],
            path: "./policy.wasm",
            kind: EntryType::Symlink,
            link: Some(&large),
            refusal: "`./policy.wasm` is a symbolic link",
        },
        HostileEntry {
            case: "a hard link",
            without: &["policy.toml"],
            path: "./policy.toml",
            kind: EntryType::Link,
            link: Some("/etc/passwd"),
            refusal: "`./policy.toml` is a hard link",
        },
        HostileEntry {
            case: "a FIFO",
            without: &["scenarios/example/fixes.ndjson"],
            path: "./scenarios/example/fixes.ndjson",
            kind: EntryType::Fifo,
            link: None,
            refusal: "`./scenarios/example/fixes.ndjson` is a FIFO",
        },
        HostileEntry {
            case: "a character device",
            without: &[],
            path: "./tty",
            kind: EntryType::Char,
            link: None,
            refusal: "`./tty` is a character device",
        },
        HostileEntry {
            case: "a block device",
            without: &[],
            path: "./sda",
            kind: EntryType::Block,
            link: None,
            refusal: "`./sda` is a block device",
        },
        HostileEntry {
            case: "an absolute path",
            without: &[],
            path: "/tmp/escort-escaped",
            kind: EntryType::Regular,
            link: None,
            refusal: "`/tmp/escort-escaped` is an absolute path",
        },
        HostileEntry {
            case: "a path that climbs out",
            without: &[],
            path: "./scenarios/../../escaped",
            kind: EntryType::Regular,
            link: None,
            refusal: "`./scenarios/../../escaped` has a `..` component",
        },
    ];
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(data.path(), &[]);
    let server_path = data.path().display().to_string();
    for HostileEntry {
        case,
        without,
        path,
        kind,
        link,
        refusal,
    } in cases
    {
        let upload = archive_with(&bundle, without, |archive| append_special(archive, path, kind, link));
        let (status, answer) = server.request("PUT", "/v1/policies/hostile", Some(REGULATOR), &upload);
        assert_eq!(status, 422, "{case}: {answer}");
        assert!(answer.contains(refusal), "{case}: {answer}");
        assert!(!answer.contains("root:"), "{case}: {answer}");
        assert!(!answer.contains(&server_path), "{case}: {answer}");
    }
    assert!(!Path::new("/tmp/escort-escaped").exists());
    assert!(!data.path().join("data/escaped").exists());
    assert_eq!(origin(&server, "hostile"), None);
    assert_eq!(hidden_entries(&server.data().join("policies")), Vec::<String>::new());
}

/// Issue 11, item 3: a 100,000-file bundle was unpacked whole, stalling
/// the service for 21 s. Its entries are counted as they are read, and the
/// upload is refused at the bound.
#[test]
fn a_bundle_of_a_hundred_thousand_files_is_refused_at_the_entry_bound() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle(dir.path());
    let upload = archive_with(&bundle, &[], |archive| {
        for n in 0..100_000 {
            append_special(archive, &format!("./filler/{n}"), tar::EntryType::Regular, None);
        }
    });
    let server = Server::start(&[]);
    let started = Instant::now();
    let (status, answer) = publish(&server, "hostile", &upload);
    println!(
        "a {} MiB upload of 100,000 files was answered {status} in {:.2?}",
        upload.len() >> 20,
        started.elapsed()
    );
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("more than 1000 entries"),
        "{answer}"
    );
    assert!(!server.data().join("policies/hostile").exists());
    assert_eq!(hidden_entries(&server.data().join("policies")), Vec::<String>::new());
}

/// Issue 11, item 2: a refusal quoted the file it refused. A TOML file of
/// an upload that does not parse (its manifest, its signature, its own
/// `policies.toml`) is refused with the file's name, the line and the
/// column, and none of its text.
#[test]
fn a_refused_upload_quotes_no_line_of_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle(dir.path());
    let manifest = fs::read_to_string(bundle.join("policy.toml")).unwrap();
    let cases = [
        (
            "policy.toml",
            manifest.replace("version = \"6.6.6\"", "version = 6.6.6 MARKER-IN-MANIFEST"),
            "MARKER-IN-MANIFEST",
        ),
        (
            "policy.sig",
            "key = MARKER-IN-SIGNATURE\n".to_owned(),
            "MARKER-IN-SIGNATURE",
        ),
        (
            "policies.toml",
            "[hostile.params]\nbehaviour = MARKER-IN-CONFIG\n".to_owned(),
            "MARKER-IN-CONFIG",
        ),
    ];
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(data.path(), &[]);
    for (file, text, marker) in cases {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(&bundle, copy.path());
        fs::write(copy.path().join(file), text).unwrap();
        let (status, answer) = publish(&server, "hostile", &tar_of(copy.path()));
        assert_eq!(status, 422, "{file}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(&format!("{file}: line ")), "{file}: {error}");
        assert!(!error.contains(marker), "{file}: {error}");
        assert!(!error.contains(&data.path().display().to_string()), "{file}: {error}");
    }
}

/// Issue 11, item 3: a publish held the reload lock for its whole run, and
/// `GET /v1/policies` waited for it on an async worker. While a publish
/// whose golden scenario takes seconds is under way, `/healthz` and the
/// listing answer, and a second publish is refused (409) after
/// `publish_wait_seconds` instead of queueing.
#[test]
fn a_slow_publish_holds_up_neither_the_listing_nor_the_health_check() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle(dir.path());
    // The bundle's own configuration makes its golden scenario dawdle, twice
    // per run (a scenario runs twice), for a few seconds in all.
    fs::write(
        bundle.join("policies.toml"),
        "[hostile]\nfuel = 1_000_000_000_000\ndeadline_ms = 120_000\n\
         [hostile.params]\nbehaviour = \"dawdle\"\nturns = 2_000_000_000\n",
    )
    .unwrap();
    let blessed = escort_tests::escort(&["test", "--bless", bundle.to_str().unwrap()]);
    assert!(blessed.status.success(), "{}", String::from_utf8_lossy(&blessed.stdout));
    let slow = tar_of(&bundle);
    let server = Server::start(&[("publish_wait_seconds", "0.5")]);
    let live = server.data().join("policies");

    let published = AtomicBool::new(false);
    let started = Instant::now();
    let (first, during) = thread::scope(|scope| {
        let first = scope.spawn(|| {
            let answer = publish(&server, "hostile", &slow);
            published.store(true, Ordering::SeqCst);
            (answer, started.elapsed())
        });
        eventually("the publish is under way", || {
            published.load(Ordering::SeqCst) || !hidden_entries(&live).is_empty()
        });
        let asked = Instant::now();
        let health = server.request("GET", "/healthz", None, b"");
        let health_time = asked.elapsed();
        let asked = Instant::now();
        let listing = server.get_json("/v1/policies", OFFICER);
        let listing_time = asked.elapsed();
        let listed_during = !published.load(Ordering::SeqCst);
        let asked = Instant::now();
        let second = publish(&server, "hostile", HOSTILE_POLICY);
        let second_time = asked.elapsed();
        let second_during = !published.load(Ordering::SeqCst);
        let first = first.join().unwrap();
        println!(
            "the slow publish took {:.2?}; meanwhile /healthz answered in {health_time:.2?}, \
             GET /v1/policies in {listing_time:.2?}, a second publish in {second_time:.2?}",
            first.1
        );
        (first.0, (health, listing, listed_during, second, second_during))
    });
    let (health, (listing_status, listing), listed_during, (second_status, second), second_during) = during;
    assert_eq!(health.0, 200, "{}", health.1);
    assert_eq!(listing_status, 200, "{listing}");
    assert!(listed_during, "the listing was answered only once the publish was over");
    assert!(
        listing["policies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != "hostile")
    );
    assert_eq!(second_status, 409, "{second}");
    assert!(
        second["error"].as_str().unwrap().contains("another publish"),
        "{second}"
    );
    assert!(
        second_during,
        "the second publish was answered only once the first was over"
    );
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(origin(&server, "hostile").as_deref(), Some("live hostile/"));
}

/// Runs `escort` with `args`, killing it if it has not ended after 60 s: a
/// read that hangs on a FIFO fails the test instead of hanging the suite.
/// Returns the exit status and what it printed, stdout then stderr.
fn escort_within_a_minute(args: &[&str]) -> (Option<i32>, String) {
    let mut child = escort_command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The outputs are short, so the pipes do not fill while it runs.
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("escort {args:?} hung");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let printed = [output.stdout, output.stderr].concat();
    (output.status.code(), String::from_utf8_lossy(&printed).into_owned())
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// Issue 11, item 2: the command line reads a bundle's files (and a policy
/// folder's) by the rules a service applies to an upload: regular files
/// only, never through a link, and a FIFO does not hang the read.
#[test]
fn the_command_line_reads_bundle_files_by_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = hostile_bundle(dir.path());
    let verify = |bundle: &Path| escort_within_a_minute(&["policy", "verify", bundle.to_str().unwrap()]);

    let linked = dir.path().join("linked");
    copy_dir(&bundle, &linked);
    fs::remove_file(linked.join("policy.wasm")).unwrap();
    std::os::unix::fs::symlink(bundle.join("policy.wasm"), linked.join("policy.wasm")).unwrap();
    let (code, stderr) = verify(&linked);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("policy.wasm: a symbolic link"), "{stderr}");

    let piped = dir.path().join("piped");
    copy_dir(&bundle, &piped);
    fs::remove_file(piped.join("policy.toml")).unwrap();
    mkfifo(&piped.join("policy.toml"));
    let (code, stderr) = verify(&piped);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("policy.toml: a FIFO"), "{stderr}");

    let scenario_linked = dir.path().join("scenario-linked");
    copy_dir(&bundle, &scenario_linked);
    let transit = scenario_linked.join("scenarios/example/transit.json");
    fs::remove_file(&transit).unwrap();
    std::os::unix::fs::symlink(bundle.join("scenarios/example/transit.json"), &transit).unwrap();
    let (code, printed) = escort_within_a_minute(&["test", scenario_linked.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("transit.json: a symbolic link"), "{printed}");

    let folder = dir.path().join("folder");
    fs::create_dir(&folder).unwrap();
    mkfifo(&folder.join("stuck.wasm"));
    let seal_events = scenario("seal-events");
    let (code, stderr) = escort_within_a_minute(&[
        "check",
        "--transit",
        seal_events.join("transit.json").to_str().unwrap(),
        "--fixes",
        seal_events.join("fixes.ndjson").to_str().unwrap(),
        "--policies",
        folder.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("stuck.wasm: a FIFO"), "{stderr}");
}
