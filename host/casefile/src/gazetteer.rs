//! Named places, for saying where a finding happened in words an officer
//! knows: [`Gazetteer`], read from a CSV of populated places, and its
//! answer [`NearestPlace`].
//!
//! The binary carries Kazakhstan's places ([`Gazetteer::kazakhstan`]), so a
//! report needs no network and no file beside the binary on a customs
//! network. The search is a scan of every place: the embedded file has 263,
//! a report asks once per finding, and a scan of even [`MAX_PLACES`] takes
//! well under a millisecond, where a spatial index would cost more to build
//! than it saves.

use std::sync::OnceLock;

use escort_engine::geodesy::distance_m;
use geo::{Bearing, Haversine, Point};
use thiserror::Error;

/// Kazakhstan's populated places from GeoNames (CC BY 4.0): see
/// `data/README.md` for the source and the licence.
const KAZAKHSTAN_CSV: &str = include_str!("../data/kz-places.csv");

/// The most places a gazetteer holds. GeoNames lists about 150,000 populated
/// places of more than 1,000 people in the whole world; a file with more
/// rows than this is no gazetteer of one deployment's country.
pub const MAX_PLACES: usize = 100_000;

/// The longest place name kept, in bytes: the longest name in GeoNames is
/// under 200. A longer one is refused rather than cut, since a cut name
/// could name another place.
const MAX_NAME_BYTES: usize = 256;

/// A populated place.
#[derive(Debug, Clone, PartialEq)]
struct Place {
    /// Latitude, WGS 84 degrees.
    lat: f64,
    /// Longitude, WGS 84 degrees.
    lon: f64,
    /// The place's name, as the file gives it.
    name: String,
}

/// Named places to describe positions by.
#[derive(Debug, Clone, PartialEq)]
pub struct Gazetteer {
    places: Vec<Place>,
}

/// The place nearest a position, and how to get from it to the position.
#[derive(Debug, Clone, PartialEq)]
pub struct NearestPlace {
    /// The place's name.
    pub name: String,
    /// Great-circle distance from the place to the position.
    ///
    /// # Units
    /// Metres.
    pub distance_m: f64,
    /// Initial bearing from the place to the position, clockwise from north.
    ///
    /// # Units
    /// Degrees, 0 to 360.
    pub bearing_deg: f64,
}

impl NearestPlace {
    /// The eight-point compass direction of [`NearestPlace::bearing_deg`],
    /// such as `"NE"`.
    pub fn direction(&self) -> &'static str {
        const POINTS: [&str; 8] = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
        // Each point covers 45°, centred on its own bearing.
        let sector = ((self.bearing_deg.rem_euclid(360.0) + 22.5) / 45.0) as usize % 8;
        POINTS[sector]
    }
}

/// Why a gazetteer's CSV was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GazetteerError {
    /// The CSV could not be read: a row with the wrong number of fields, or
    /// text that is not UTF-8.
    #[error("places: {0}")]
    Csv(#[from] csv::Error),
    /// The header lacks a column the gazetteer needs.
    #[error("places: no `{0}` column")]
    MissingColumn(&'static str),
    /// A row's position or name is not one.
    #[error("places, line {line}: {reason}")]
    Row {
        /// The row's line in the file, counting the header as line 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// More rows than [`MAX_PLACES`].
    #[error("places: more than {MAX_PLACES} places")]
    TooMany,
}

impl Gazetteer {
    /// The populated places of Kazakhstan the binary carries: GeoNames'
    /// `cities1000` extract, read once.
    ///
    /// # Examples
    /// ```
    /// use escort_casefile::Gazetteer;
    /// // A waypoint of the Khorgos–Almaty route, at the Kapshagay dam.
    /// let nearest = Gazetteer::kazakhstan().nearest(43.86681, 77.06304).expect("places");
    /// assert_eq!(nearest.name, "Kapshagay");
    /// assert!(nearest.distance_m < 1_000.0);
    /// ```
    pub fn kazakhstan() -> &'static Gazetteer {
        static KAZAKHSTAN: OnceLock<Gazetteer> = OnceLock::new();
        KAZAKHSTAN.get_or_init(|| Gazetteer::from_csv(KAZAKHSTAN_CSV).expect("the embedded places read"))
    }

    /// Reads places from CSV text with a header naming at least `lat`,
    /// `lon` and `name` (other columns are ignored).
    ///
    /// # Errors
    /// [`GazetteerError`] for text that is not such a CSV, a position off
    /// the globe, an empty name or one longer than 256 bytes, or more than
    /// [`MAX_PLACES`] rows.
    pub fn from_csv(text: &str) -> Result<Gazetteer, GazetteerError> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers()?.clone();
        let column = |name: &'static str| {
            headers
                .iter()
                .position(|header| header == name)
                .ok_or(GazetteerError::MissingColumn(name))
        };
        let (lat, lon, name) = (column("lat")?, column("lon")?, column("name")?);
        let mut places = Vec::new();
        for record in reader.records() {
            let record = record?;
            if places.len() == MAX_PLACES {
                return Err(GazetteerError::TooMany);
            }
            let line = record.position().map_or(0, |position| position.line());
            let row = |reason: String| GazetteerError::Row { line, reason };
            let degrees = |index: usize, limit: f64| {
                let text = record.get(index).unwrap_or_default();
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|value| value.abs() <= limit)
                    .ok_or_else(|| row(format!("{text:?} is not a coordinate within ±{limit}°")))
            };
            let place = Place {
                lat: degrees(lat, 90.0)?,
                lon: degrees(lon, 180.0)?,
                name: record.get(name).unwrap_or_default().trim().to_owned(),
            };
            if place.name.is_empty() || place.name.len() > MAX_NAME_BYTES {
                return Err(row(format!("a name is 1 to {MAX_NAME_BYTES} bytes")));
            }
            places.push(place);
        }
        Ok(Gazetteer { places })
    }

    /// The place nearest `(lat, lon)` (WGS 84 degrees), or `None` for a
    /// gazetteer without places or a position that is not one.
    ///
    /// # Examples
    /// ```
    /// use escort_casefile::Gazetteer;
    /// let places = Gazetteer::from_csv("lat,lon,name\n43.25667,76.92861,Almaty\n42.9,71.36667,Taraz\n")?;
    /// let nearest = places.nearest(43.0, 72.0).expect("a place");
    /// assert_eq!((nearest.name.as_str(), nearest.direction()), ("Taraz", "E"));
    /// # Ok::<(), escort_casefile::GazetteerError>(())
    /// ```
    pub fn nearest(&self, lat: f64, lon: f64) -> Option<NearestPlace> {
        if !(lat.abs() <= 90.0 && lon.is_finite()) {
            return None;
        }
        let (place, distance_m) = self
            .places
            .iter()
            .map(|place| (place, distance_m(place.lat, place.lon, lat, lon)))
            .min_by(|(_, a), (_, b)| a.total_cmp(b))?;
        Some(NearestPlace {
            name: place.name.clone(),
            distance_m,
            bearing_deg: Haversine.bearing(Point::new(place.lon, place.lat), Point::new(lon, lat)),
        })
    }
}

#[cfg(test)]
mod tests {
    //! The gazetteer's reading and search, on small files written here.

    use super::*;

    #[test]
    fn the_embedded_places_read() {
        assert_eq!(Gazetteer::kazakhstan().places.len(), 263);
    }

    #[test]
    fn a_point_east_of_a_place_is_said_to_be_east() {
        let places = Gazetteer::from_csv("lat,lon,name,admin1\n44.0,77.0,Here,\n").unwrap();
        // 0.1° of longitude at 44° N is about 8 km.
        let nearest = places.nearest(44.0, 77.1).unwrap();
        assert_eq!(nearest.direction(), "E");
        assert!((nearest.distance_m - 8_000.0).abs() < 100.0, "{}", nearest.distance_m);
    }

    #[test]
    fn an_empty_gazetteer_names_nothing() {
        let places = Gazetteer::from_csv("lat,lon,name\n").unwrap();
        assert_eq!(places.nearest(44.0, 77.0), None);
    }

    #[test]
    fn a_position_off_the_globe_names_nothing() {
        assert_eq!(Gazetteer::kazakhstan().nearest(f64::NAN, 77.0), None);
        assert_eq!(Gazetteer::kazakhstan().nearest(91.0, 77.0), None);
    }

    #[test]
    fn a_row_off_the_globe_is_refused_with_its_line() {
        let error = Gazetteer::from_csv("lat,lon,name\n44,77,A\n95,77,B\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "places, line 3: \"95\" is not a coordinate within ±90°"
        );
    }

    #[test]
    fn a_file_without_names_is_refused() {
        let error = Gazetteer::from_csv("lat,lon\n44,77\n").unwrap_err();
        assert_eq!(error.to_string(), "places: no `name` column");
    }
}
