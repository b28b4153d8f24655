//! Transit ids have one spelling (issue 11, item 11): every id the
//! repository ships fits the rule, and the engine refuses a transit whose
//! id is another spelling of one, naming the field and the rule. The
//! service holds path ids to the same rule (`host/tests/serve/ids.rs`).

use escort_host::{MAX_TRANSIT_ID_CHARS, Transit};

use escort_tests::{scenarios, template_scenario};

#[test]
fn every_shipped_transit_id_fits_the_rule() {
    let transits = scenarios().into_iter().map(|dir| dir.join("transit.json"));
    for path in transits.chain([template_scenario().join("transit.template.json")]) {
        let transit = Transit::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(Transit::check_id(&transit.id), Ok(()), "{}", path.display());
    }
}

#[test]
fn a_transit_under_another_spelling_of_its_id_is_refused() {
    let dir = &scenarios()[0];
    let text = std::fs::read_to_string(dir.join("transit.json")).expect("readable");
    let mut document: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let id = document["id"].as_str().expect("an id").to_owned();
    let spellings = [
        id.to_lowercase(),
        format!("{id}-\u{c9}"),
        format!("{id}-E\u{301}"),
        id.replacen('-', "-\u{200d}", 1),
        format!("\u{202e}{id}"),
        format!("{id}-{}", "0".repeat(MAX_TRANSIT_ID_CHARS)),
        String::new(),
        format!("{id}/"),
    ];
    for spelling in spellings {
        document["id"] = serde_json::Value::String(spelling.clone());
        let refused = Transit::from_json(&document.to_string()).expect_err(&spelling);
        let message = refused.to_string();
        assert!(
            message.starts_with("`id`: ") && message.contains(" is not a transit id: "),
            "{spelling:?}: {message}"
        );
        assert!(
            message.ends_with(
                "(a transit id is 1 to 64 characters of A-Z, 0-9, '-' and '/', beginning and ending with a letter or digit)"
            ),
            "{message}"
        );
    }
}
