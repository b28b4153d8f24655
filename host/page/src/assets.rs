//! The page's files, carried inside the binary: its HTML, CSS and
//! JavaScript, the pinned copy of Leaflet, and the country borders drawn
//! under the track when no tile server is configured.

use std::sync::OnceLock;

use rust_embed::RustEmbed;

/// Everything under `host/page/assets/`, embedded at build time (in debug
/// builds too), so that the page works on a network with no way out.
#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

/// A file of the page: its bytes and media type.
pub struct Asset {
    /// The file's bytes.
    pub bytes: std::borrow::Cow<'static, [u8]>,
    /// Its `Content-Type`.
    pub media_type: &'static str,
    /// A strong validator for `ETag`: the SHA-256 of the bytes, hex.
    pub etag: String,
}

impl Assets {
    /// The file at `path` under the assets folder.
    pub fn named(path: &str) -> Option<Asset> {
        let file = Assets::get(path)?;
        let media_type = media_type(path)?;
        let etag = file.metadata.sha256_hash().iter().map(|b| format!("{b:02x}")).collect();
        Some(Asset {
            bytes: file.data,
            media_type,
            etag,
        })
    }
}

/// The media type of the kinds of file the page is made of; other kinds
/// are not served.
fn media_type(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.')?.1;
    Some(match extension {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" | "geojson" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// The countries drawn under a transit: Kazakhstan and every country
/// within reach of its borders and the Caspian.
const NEIGHBOURS: [&str; 11] = [
    "Kazakhstan",
    "Russia",
    "China",
    "Kyrgyzstan",
    "Uzbekistan",
    "Turkmenistan",
    "Tajikistan",
    "Mongolia",
    "Afghanistan",
    "Iran",
    "Azerbaijan",
];

/// The borders of Kazakhstan and its neighbours as a GeoJSON
/// FeatureCollection, each feature with `properties.name`: converted once
/// from the pinned world-atlas TopoJSON (Natural Earth 1:50m).
pub fn borders() -> &'static str {
    static BORDERS: OnceLock<String> = OnceLock::new();
    BORDERS.get_or_init(|| {
        let file = Assets::get("vendor/world-atlas/countries-50m.json").expect("the borders are embedded");
        let topology: topojson::TopoJson =
            serde_json::from_slice(&file.data).expect("the embedded borders are TopoJSON");
        let topojson::TopoJson::Topology(topology) = topology else {
            panic!("the embedded borders are a TopoJSON topology");
        };
        let mut countries = topojson::to_geojson(&topology, "countries").expect("the borders hold `countries`");
        countries.features.retain(|feature| {
            feature
                .properties
                .as_ref()
                .and_then(|properties| properties.get("name"))
                .and_then(|name| name.as_str())
                .is_some_and(|name| NEIGHBOURS.contains(&name))
        });
        countries.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// Every vendored file is the release file it claims to be: its
    /// SHA-256 is the one its folder's `SHA256SUMS` pins.
    #[test]
    fn vendored_files_match_their_pinned_checksums() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/vendor");
        let mut checked = 0;
        for library in std::fs::read_dir(&root).expect("the vendor folder reads") {
            let folder = library.expect("an entry").path();
            let sums = std::fs::read_to_string(folder.join("SHA256SUMS"))
                .unwrap_or_else(|e| panic!("{} has a SHA256SUMS: {e}", folder.display()));
            for line in sums.lines() {
                let (sum, name) = line.split_once("  ").expect("a `SUM  NAME` line");
                let bytes = std::fs::read(folder.join(name)).expect("a pinned file reads");
                assert_eq!(hex::encode(Sha256::digest(&bytes)), sum, "{}/{name}", folder.display());
                checked += 1;
            }
            let listed = sums.lines().count();
            let present = std::fs::read_dir(&folder)
                .expect("the folder reads")
                .filter(|entry| {
                    entry
                        .as_ref()
                        .is_ok_and(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
                })
                .count();
            assert_eq!(
                present,
                listed + 1,
                "{}: every file but SHA256SUMS is pinned",
                folder.display()
            );
        }
        assert!(checked >= 2, "the vendored files are checked");
    }

    #[test]
    fn the_borders_are_kazakhstan_and_its_neighbours() {
        let borders: serde_json::Value = serde_json::from_str(borders()).expect("GeoJSON");
        let mut names: Vec<&str> = borders["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|feature| feature["properties"]["name"].as_str().expect("a name"))
            .collect();
        names.sort_unstable();
        let mut expected = NEIGHBOURS.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected);
    }

    #[test]
    fn only_known_kinds_of_file_are_served() {
        assert_eq!(media_type("app.js"), Some("text/javascript; charset=utf-8"));
        assert_eq!(media_type("vendor/leaflet/LICENSE"), None);
        assert!(Assets::named("vendor/world-atlas/SHA256SUMS").is_none());
    }
}
