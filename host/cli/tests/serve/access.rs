//! Bearer tokens and roles: who may do what, and how tokens are kept.

use std::fs;

use escort_tests::{INGEST, OFFICER, REGULATOR, Server, transit_as};

#[test]
fn each_role_may_do_its_own_work_and_nothing_else() {
    let server = Server::start(&[]);
    let transit = transit_as("clean-khorgos-almaty", "ROLES-1");
    let fixes = fs::read_to_string(escort_tests::scenario("clean-khorgos-almaty").join("fixes.ndjson")).unwrap();
    let requests: [(&str, &str, &[u8]); 6] = [
        ("PUT", "/v1/transits/ROLES-1", transit.as_bytes()),
        ("POST", "/v1/transits/ROLES-1/fixes", fixes.as_bytes()),
        ("GET", "/v1/transits/ROLES-1", b""),
        ("GET", "/v1/transits", b""),
        ("GET", "/v1/policies", b""),
        ("PUT", "/v1/policies/speed", b"not a component"),
    ];
    for (method, path, body) in requests {
        let (status, answer) = server.json(method, path, None, body);
        assert_eq!(status, 401, "{method} {path} without a token: {answer}");
        assert!(answer["error"].as_str().unwrap().contains("Bearer"), "{answer}");
        let (status, _) = server.json(method, path, Some("a-token-nobody-was-given"), body);
        assert_eq!(status, 401, "{method} {path} with an unknown token");
    }
    // Who may: ingest writes transits and fixes; officer and regulator read;
    // only the regulator publishes.
    let allowed = [
        (INGEST, [true, true, false, false, false, false]),
        (OFFICER, [false, false, true, true, true, false]),
        (REGULATOR, [false, false, true, true, true, true]),
    ];
    for (token, may) in allowed {
        for ((method, path, body), may) in requests.iter().zip(may) {
            let (status, answer) = server.json(method, path, Some(token), body);
            if may {
                assert!(
                    status != 401 && status != 403,
                    "{token} may {method} {path}: {status} {answer}"
                );
            } else {
                assert_eq!(status, 403, "{token} may not {method} {path}: {answer}");
                let message = answer["error"].as_str().unwrap();
                assert!(message.contains("has the role"), "{message}");
            }
        }
    }
    for path in ["/healthz", "/metrics"] {
        assert_eq!(server.request("GET", path, None, b"").0, 200, "{path} needs no token");
    }
    let (_, metrics) = server.request("GET", "/metrics", None, b"");
    for family in [
        "escort_http_requests_total{method=\"GET\",route=\"/v1/transits/{id}\",status=\"403\"}",
        "escort_fixes_total{outcome=\"accepted\"} 261",
        "escort_evaluations_total{kind=\"observe\"}",
        "escort_policy_call_seconds_count{policy=\"corridor\"} 2",
        "escort_policy_errors_total{policy=\"corridor\"} 0",
    ] {
        assert!(metrics.contains(family), "/metrics lacks {family}:\n{metrics}");
    }
}

#[test]
fn a_first_start_creates_one_token_per_role_and_keeps_only_their_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_without_tokens(dir.path());
    let file = server.data().join("tokens.toml");
    assert!(
        server.stderr().contains(&file.display().to_string()),
        "{}",
        server.stderr()
    );
    let text = fs::read_to_string(&file).expect("the tokens were written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "only the owner may read the tokens");
    }
    let tokens: toml::Table = toml::from_str(&text).expect("the file is TOML");
    let tokens = tokens["token"].as_array().expect("a list of tokens");
    assert_eq!(tokens.len(), 3);
    let secret = |role: &str| {
        tokens
            .iter()
            .find(|t| t["role"].as_str() == Some(role))
            .and_then(|t| t["token"].as_str())
            .expect("one token per role")
            .to_owned()
    };
    let transit = transit_as("clean-khorgos-almaty", "FIRST-START");
    let (status, _) = server.json(
        "PUT",
        "/v1/transits/FIRST-START",
        Some(&secret("ingest")),
        transit.as_bytes(),
    );
    assert_eq!(status, 201);
    let (status, _) = server.json(
        "PUT",
        "/v1/transits/FIRST-START",
        Some(&secret("officer")),
        transit.as_bytes(),
    );
    assert_eq!(status, 403);
    server.stop();

    // Restarted, the service knows the same tokens and makes no new ones.
    let server = Server::start_without_tokens(dir.path());
    assert_eq!(fs::read_to_string(&file).unwrap(), text);
    let (status, _) = server.report("FIRST-START", None);
    assert_eq!(status, 401, "the test tokens are not configured here");
    let (status, _) = server.json("GET", "/v1/transits/FIRST-START", Some(&secret("officer")), b"");
    assert_eq!(status, 200);
    for role in ["ingest", "officer", "regulator"] {
        let secret = secret(role);
        assert!(!server.stderr().contains(&secret), "a token was logged");
        for file in ["escort.db", "escort.db-wal"] {
            let bytes = fs::read(server.data().join(file)).unwrap_or_default();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{file} holds a token's secret"
            );
        }
    }
}
