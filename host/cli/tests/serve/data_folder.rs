//! One service per data folder (issue 11, item 5): a second `escort serve`
//! on a folder another one serves refuses to start, naming it, and a
//! holder killed with SIGKILL leaves the folder free for the next.

use escort_tests::{OFFICER, Server, serve_refused, transit_as};

/// Before, both started and both wrote: every third batch was answered
/// 500, reads went stale and fixes were lost.
#[test]
fn a_second_server_on_one_data_folder_refuses_to_start_naming_the_first() {
    let mut first = Server::start(&[]);
    assert_eq!(
        first
            .put_transit("FOLDER-1", &transit_as("clean-khorgos-almaty", "FOLDER-1"))
            .0,
        201
    );

    let (status, stderr) = serve_refused(&first.dir);
    eprintln!("the second server said: {stderr}");
    assert_eq!(status, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "pid {}, listening on {}",
            first.pid(),
            first.url.trim_start_matches("http://")
        )),
        "{stderr}"
    );
    let lock = first.data().join("escort.lock");
    assert!(stderr.contains(&format!("{} is locked", lock.display())), "{stderr}");
    // The first one serves on, undisturbed.
    assert_eq!(first.get_json("/v1/transits/FOLDER-1", OFFICER).0, 200);

    // A crash lets the lock go with the process: the next one starts.
    first.kill();
    let second = Server::start_in(&first.dir, &[]);
    assert_eq!(second.get_json("/v1/transits/FOLDER-1", OFFICER).0, 200);
    let (status, stderr) = serve_refused(&second.dir);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("pid {},", second.pid())), "{stderr}");
}
