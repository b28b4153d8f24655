//! Geodesy the host computes for policies: distances between positions and a
//! spatially indexed route.
//!
//! [`RouteIndex`] answers "how far is this fix from the planned route, and how
//! far along it" in logarithmic time. The route's segments go into an R-tree
//! (`rstar`) in a flat projection of the route's own area (equirectangular,
//! scaled at the route's mean latitude), so a nearest-segment query does not
//! scan a route of tens of thousands of points. The projection only chooses
//! candidates: every distance reported is a haversine distance on the mean
//! Earth sphere, the same measure as [`distance_m`] and the policy SDK's.

use geo::{Coord, Distance, Haversine, Point};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Line};

/// Mean Earth radius in metres (GRS 80 R1), the radius of [`Haversine`].
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two positions given in degrees.
///
/// # Examples
/// ```
/// use escort_host::geodesy::distance_m;
/// // Almaty to Taraz, about 453 km.
/// let d = distance_m(43.25667, 76.92861, 42.9, 71.36667);
/// assert!((d - 453_000.0).abs() < 2_000.0);
/// ```
pub fn distance_m(lat_a: f64, lon_a: f64, lat_b: f64, lon_b: f64) -> f64 {
    Haversine.distance(Point::new(lon_a, lat_a), Point::new(lon_b, lat_b))
}

/// A segment of the route in projected metres, with the route distance at
/// its start.
type Segment = GeomWithData<Line<[f64; 2]>, SegmentStart>;

#[derive(Debug, Clone, Copy, PartialEq)]
struct SegmentStart {
    index: usize,
    progress_m: f64,
}

/// Where a position stands relative to a route.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoutePosition {
    /// Shortest distance from the position to the route, metres.
    pub offset_m: f64,
    /// Distance along the route to the point closest to the position,
    /// metres from the route's start.
    pub progress_m: f64,
}

/// A route held for the lifetime of a transit, indexed once.
#[derive(Debug)]
pub struct RouteIndex {
    points: Vec<Coord<f64>>,
    tree: RTree<Segment>,
    /// Cosine of the projection's reference latitude.
    cos_lat0: f64,
    length_m: f64,
}

impl RouteIndex {
    /// Indexes a route given as `(lon, lat)` coordinates in degrees. A route
    /// needs at least two points; with fewer, every offset is infinite.
    ///
    /// # Examples
    /// ```
    /// use escort_host::geodesy::RouteIndex;
    /// use geo::coord;
    /// // Along the 43rd parallel from 76° to 77° east.
    /// let route = RouteIndex::new(&[coord! { x: 76.0, y: 43.0 }, coord! { x: 77.0, y: 43.0 }]);
    /// let at = route.locate(43.05, 76.5); // about 5.6 km north of the middle
    /// assert!((at.offset_m - 5_560.0).abs() < 50.0);
    /// assert!((at.progress_m - route.length_m() / 2.0).abs() < 100.0);
    /// ```
    pub fn new(points: &[Coord<f64>]) -> Self {
        let cos_lat0 = if points.is_empty() {
            1.0
        } else {
            (points.iter().map(|p| p.y).sum::<f64>() / points.len() as f64)
                .to_radians()
                .cos()
        };
        let mut segments = Vec::with_capacity(points.len().saturating_sub(1));
        let mut progress_m = 0.0;
        for (index, pair) in points.windows(2).enumerate() {
            let (a, b) = (pair[0], pair[1]);
            segments.push(GeomWithData::new(
                Line::new(project(a, cos_lat0), project(b, cos_lat0)),
                SegmentStart { index, progress_m },
            ));
            progress_m += distance_m(a.y, a.x, b.y, b.x);
        }
        RouteIndex {
            points: points.to_vec(),
            tree: RTree::bulk_load(segments),
            cos_lat0,
            length_m: progress_m,
        }
    }

    /// Length of the route along its line, metres.
    pub fn length_m(&self) -> f64 {
        self.length_m
    }

    /// Where the position `(lat, lon)` stands relative to the route.
    pub fn locate(&self, lat: f64, lon: f64) -> RoutePosition {
        let query = Coord { x: lon, y: lat };
        let projected = project(query, self.cos_lat0);
        // The projection stretches east-west distances by up to
        // cos(lat0) / cos(lat) away from the reference latitude. Projected
        // distances are thus at most that factor (with margin) larger than
        // true ones; once a candidate is that far, no later one can be closer.
        let shrink = 0.9 * (lat.to_radians().cos() / self.cos_lat0).min(1.0);
        let mut best = RoutePosition {
            offset_m: f64::INFINITY,
            progress_m: 0.0,
        };
        for (segment, projected_d2) in self.tree.nearest_neighbor_iter_with_distance_2(&projected) {
            if projected_d2.sqrt() * shrink > best.offset_m {
                break;
            }
            let start = segment.data;
            let (a, b) = (self.points[start.index], self.points[start.index + 1]);
            let closest = unproject(segment.geom().nearest_point(&projected), self.cos_lat0);
            let offset_m = distance_m(lat, lon, closest.y, closest.x);
            if offset_m < best.offset_m {
                let into_segment_m = distance_m(a.y, a.x, closest.y, closest.x).min(distance_m(a.y, a.x, b.y, b.x));
                best = RoutePosition {
                    offset_m,
                    progress_m: start.progress_m + into_segment_m,
                };
            }
        }
        best
    }
}

fn project(c: Coord<f64>, cos_lat0: f64) -> [f64; 2] {
    [
        c.x.to_radians() * EARTH_RADIUS_M * cos_lat0,
        c.y.to_radians() * EARTH_RADIUS_M,
    ]
}

fn unproject(p: [f64; 2], cos_lat0: f64) -> Coord<f64> {
    Coord {
        x: (p[0] / (EARTH_RADIUS_M * cos_lat0)).to_degrees(),
        y: (p[1] / EARTH_RADIUS_M).to_degrees(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::coord;

    /// The route a brute-force scan would find: every segment, densely sampled.
    fn brute_force_offset_m(points: &[Coord<f64>], lat: f64, lon: f64) -> f64 {
        points
            .windows(2)
            .flat_map(|pair| {
                (0..=1000).map(move |i| {
                    let t = f64::from(i) / 1000.0;
                    (
                        pair[0].y + t * (pair[1].y - pair[0].y),
                        pair[0].x + t * (pair[1].x - pair[0].x),
                    )
                })
            })
            .map(|(plat, plon)| distance_m(lat, lon, plat, plon))
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn agrees_with_a_brute_force_scan_on_a_long_route() {
        // Khorgos – Almaty – Taraz – Shymkent – Kyzylorda – Aktobe (GeoNames).
        let route = [
            coord! { x: 80.41, y: 44.21 },
            coord! { x: 76.92861, y: 43.25667 },
            coord! { x: 71.36667, y: 42.9 },
            coord! { x: 69.6, y: 42.3 },
            coord! { x: 65.50917, y: 44.85278 },
            coord! { x: 57.20718, y: 50.27969 },
        ];
        let index = RouteIndex::new(&route);
        for (lat, lon) in [
            (43.5, 77.0),
            (42.0, 70.0),
            (47.0, 61.0),
            (50.5, 57.0),
            (45.0, 80.0),
            (44.0, 66.0),
        ] {
            let expected = brute_force_offset_m(&route, lat, lon);
            let found = index.locate(lat, lon).offset_m;
            assert!(
                (found - expected).abs() <= expected * 0.01 + 1.0,
                "({lat}, {lon}): index says {found}, scan says {expected}"
            );
        }
    }

    #[test]
    fn progress_runs_from_start_to_end() {
        let route = [
            coord! { x: 76.0, y: 43.0 },
            coord! { x: 77.0, y: 43.0 },
            coord! { x: 77.0, y: 44.0 },
        ];
        let index = RouteIndex::new(&route);
        assert_eq!(index.locate(43.0, 76.0).progress_m, 0.0);
        assert!((index.locate(44.0, 77.0).progress_m - index.length_m()).abs() < 1.0);
        assert!(index.locate(43.5, 77.0).offset_m < 1.0);
    }

    #[test]
    fn a_route_without_segments_is_infinitely_far() {
        assert_eq!(RouteIndex::new(&[]).locate(43.0, 76.0).offset_m, f64::INFINITY);
    }
}
