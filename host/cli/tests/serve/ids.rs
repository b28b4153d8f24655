//! Transit ids have one spelling (issue 11, item 11): the service refuses a
//! path id outside the transit id rule on every transit endpoint, before
//! looking anything up, and a declaration whose id is outside it.

use serde_json::Value;

use escort_tests::{INGEST, OFFICER, Server, transit_as};

/// The rule as every refusal states it.
const RULE: &str =
    "a transit id is 1 to 64 characters of A-Z, 0-9, '-' and '/', beginning and ending with a letter or digit";

/// `id` as a path segment: every byte but letters, digits and `-`
/// percent-encoded, `/` as `%2F`.
fn segment(id: &str) -> String {
    id.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => char::from(byte).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn fixes() -> String {
    std::fs::read_to_string(escort_tests::scenario("clean-khorgos-almaty").join("fixes.ndjson"))
        .unwrap()
        .lines()
        .take(3)
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn an_id_outside_the_alphabet_is_refused_on_every_transit_endpoint() {
    let server = Server::start(&[]);
    let too_long = format!("KZ-{}", "0".repeat(62));
    let refused = [
        ("NFC", "KZ-2021-000123-\u{c9}"),
        ("NFD", "KZ-2021-000123-E\u{301}"),
        ("zero-width joiner", "KZ-2021\u{200d}-000123"),
        ("bidi override", "KZ-2021-\u{202e}321000"),
        ("lower case", "kz-2021-000123"),
        ("65 characters", too_long.as_str()),
        ("empty", ""),
    ];
    for (what, id) in refused {
        let path = format!("/v1/transits/{}", segment(id));
        let body = transit_as("clean-khorgos-almaty", id);
        let requests = [
            ("PUT", path.clone(), body),
            ("POST", format!("{path}/fixes"), fixes()),
            ("GET", path.clone(), String::new()),
            ("POST", format!("{path}/close"), r#"{"reason": "arrived"}"#.to_owned()),
        ];
        for (method, path, body) in requests {
            let token = if method == "GET" { OFFICER } else { INGEST };
            let (status, answer) = server.json(method, &path, Some(token), body.as_bytes());
            if path.ends_with('/') {
                // `/v1/transits/` names no transit: it is no endpoint at all.
                assert_eq!(status, 404, "{what}: {method} {path}: {answer}");
                continue;
            }
            assert_eq!(status, 400, "{what}: {method} {path}: {answer}");
            let error = answer["error"].as_str().unwrap();
            // Quoted escaped as Rust quotes it, cut after 60 characters.
            let quoted = format!("{id:?}");
            let quoted = if id.len() > 60 { &quoted[..61] } else { quoted.as_str() };
            assert!(
                error.starts_with(&format!("the transit in the path: {quoted}"))
                    && error.ends_with(&format!("({RULE})")),
                "{what}: {method} {path}: {error}"
            );
            eprintln!("{what}: {method}: {error}");
        }
    }

    // Refused in the declaration too, naming the field.
    for id in ["", "kz-1"] {
        let (status, answer) = server.put_transit("KZ-1", &transit_as("clean-khorgos-almaty", id));
        assert_eq!(status, 422, "{id:?}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(
            error.starts_with("`id`: ") && error.ends_with(&format!("({RULE})")),
            "{error}"
        );
    }
    let (status, list) = server.get_json("/v1/transits", OFFICER);
    assert_eq!(status, 200);
    assert_eq!(
        list["transits"],
        Value::Array(Vec::new()),
        "no spelling became a transit"
    );
}

/// A declaration number is an id: its `/` reaches the API as `%2F`.
#[test]
fn a_declaration_number_with_slashes_is_an_id() {
    let server = Server::start(&[]);
    let id = "55501/160521/0001234";
    let path = format!("/v1/transits/{}", segment(id));
    assert_eq!(path, "/v1/transits/55501%2F160521%2F0001234");
    let (status, admission) = server.json(
        "PUT",
        &path,
        Some(INGEST),
        transit_as("clean-khorgos-almaty", id).as_bytes(),
    );
    assert_eq!(status, 201, "{admission}");
    assert_eq!(admission["transit"], id);
    let (status, outcome) = server.json("POST", &format!("{path}/fixes"), Some(INGEST), fixes().as_bytes());
    assert_eq!((status, &outcome["accepted"]), (200, &Value::from(3)), "{outcome}");
    let (status, report) = server.get_json(&path, OFFICER);
    assert_eq!((status, &report["transit"]), (200, &Value::from(id)), "{report}");
    let (_, list) = server.get_json("/v1/transits", OFFICER);
    assert_eq!(list["transits"][0]["id"], id, "{list}");
}
