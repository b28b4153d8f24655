//! The workload: a truck driving a transit's declared route at a steady
//! speed, reporting at a fixed interval and turning round at each end, so
//! that a batch of any size is a plausible, clean track.

use chrono::{DateTime, Duration, Utc};
use geo::{Bearing, Destination, Haversine, Point};

use escort_engine::geodesy::distance_m;
use escort_engine::{Fix, SealState, Transit};

/// The shipped scenario every benchmark transit copies.
pub const TEMPLATE: &str = include_str!("../../../tests/scenarios/clean-khorgos-almaty/transit.json");

/// The template transit, parsed.
pub fn template_transit() -> Transit {
    Transit::from_json(TEMPLATE).expect("the shipped scenario's transit is valid")
}

/// A route with the distance from its start to each vertex, to place the
/// truck at any distance along it.
#[derive(Debug, Clone)]
pub struct Drive {
    /// (lat, lon) in degrees.
    points: Vec<(f64, f64)>,
    from_start_m: Vec<f64>,
    speed_kmh: f64,
    interval_s: i64,
}

impl Drive {
    /// A drive along `transit`'s route at `speed_kmh`, one fix every
    /// `interval_s` seconds.
    ///
    /// # Panics
    /// When the transit declares no route.
    pub fn along(transit: &Transit, speed_kmh: f64, interval_s: i64) -> Drive {
        assert!(transit.route.len() >= 2, "a drive needs a route");
        let points: Vec<(f64, f64)> = transit.route.iter().map(|c| (c.y, c.x)).collect();
        let mut from_start_m = vec![0.0];
        for pair in points.windows(2) {
            let leg_m = distance_m(pair[0].0, pair[0].1, pair[1].0, pair[1].1);
            from_start_m.push(from_start_m.last().copied().unwrap_or(0.0) + leg_m);
        }
        Drive {
            points,
            from_start_m,
            speed_kmh,
            interval_s,
        }
    }

    /// Length of the route, metres.
    pub fn length_m(&self) -> f64 {
        self.from_start_m.last().copied().unwrap_or(0.0)
    }

    /// Fixes `first..first + count` of the drive, the first of all taken at
    /// `start`. The truck goes to the end of the route and back, again and
    /// again.
    pub fn fixes(&self, start: DateTime<Utc>, first: usize, count: usize) -> Vec<Fix> {
        self.fixes_aside(start, first, count, 0.0)
    }

    /// The fixes of [`Drive::fixes`], each moved `aside_m` metres to the left
    /// of the truck's direction of travel (at right angles to the route
    /// segment it is on): a track that keeps beside the route, as a spoofed
    /// position or a parallel road draws it. Where the route bends, a fix
    /// beside one segment may be nearer another, so `aside_m` is how far the
    /// fixes are moved, not exactly their offset from the route.
    pub fn fixes_aside(&self, start: DateTime<Utc>, first: usize, count: usize, aside_m: f64) -> Vec<Fix> {
        let metres_per_fix = self.speed_kmh / 3.6 * self.interval_s as f64;
        (first..first + count)
            .map(|index| {
                let driven_m = metres_per_fix * index as f64;
                let lap = (driven_m / self.length_m()) as u64;
                let into_lap_m = driven_m % self.length_m();
                let outward = lap.is_multiple_of(2);
                let along_m = if outward {
                    into_lap_m
                } else {
                    self.length_m() - into_lap_m
                };
                let (mut lat, mut lon) = self.position_at(along_m);
                if aside_m != 0.0 {
                    let heading_deg = self.heading_at(along_m) + if outward { 0.0 } else { 180.0 };
                    let beside = Haversine.destination(Point::new(lon, lat), heading_deg - 90.0, aside_m);
                    (lat, lon) = (beside.y(), beside.x());
                }
                Fix {
                    at: start + Duration::seconds(self.interval_s * index as i64),
                    lat,
                    lon,
                    speed_kmh: Some(self.speed_kmh),
                    course_deg: None,
                    hdop: Some(0.9),
                    sats: Some(11),
                    battery_pct: Some(90.0),
                    seal: Some(SealState::Intact),
                    seal_id: None,
                }
            })
            .collect()
    }

    /// The point `along_m` metres along the route. Within a segment the
    /// position is interpolated in degrees: segments are about a kilometre
    /// long, so the chord strays centimetres from the great circle.
    fn position_at(&self, along_m: f64) -> (f64, f64) {
        let end = self.segment_end_at(along_m);
        let (start, stop) = (self.points[end - 1], self.points[end]);
        let span = self.from_start_m[end] - self.from_start_m[end - 1];
        let share = if span > 0.0 {
            ((along_m - self.from_start_m[end - 1]) / span).clamp(0.0, 1.0)
        } else {
            0.0
        };
        (
            start.0 + (stop.0 - start.0) * share,
            start.1 + (stop.1 - start.1) * share,
        )
    }

    /// The initial bearing, degrees clockwise from north, of the route
    /// segment `along_m` metres along the route.
    fn heading_at(&self, along_m: f64) -> f64 {
        let end = self.segment_end_at(along_m);
        let (start, stop) = (self.points[end - 1], self.points[end]);
        Haversine.bearing(Point::new(start.1, start.0), Point::new(stop.1, stop.0))
    }

    /// The index of the vertex that ends the segment `along_m` metres along
    /// the route.
    fn segment_end_at(&self, along_m: f64) -> usize {
        self.from_start_m
            .partition_point(|&d| d <= along_m)
            .clamp(1, self.points.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use escort_engine::geodesy::RouteIndex;

    #[test]
    fn the_truck_stays_on_the_route_and_keeps_its_speed() {
        let transit = template_transit();
        let drive = Drive::along(&transit, 60.0, 30);
        let route = RouteIndex::new(&transit.route);
        // Three laps: out, back and out again.
        let count = (3.0 * drive.length_m() / 500.0) as usize;
        let fixes = drive.fixes(transit.opened_at, 0, count);
        for fix in &fixes {
            assert!(route.locate(fix.lat, fix.lon).offset_m < 50.0, "{fix:?}");
        }
        for pair in fixes.windows(2) {
            let leg_m = distance_m(pair[0].lat, pair[0].lon, pair[1].lat, pair[1].lon);
            // 500 m per fix, less only where the truck turns round.
            assert!(leg_m <= 501.0, "{leg_m}");
        }
        let total_m: f64 = fixes
            .windows(2)
            .map(|pair| distance_m(pair[0].lat, pair[0].lon, pair[1].lat, pair[1].lon))
            .sum();
        assert!((total_m - 500.0 * (count - 1) as f64).abs() < 2_000.0, "{total_m}");
    }

    #[test]
    fn a_later_slice_continues_the_same_drive() {
        let transit = template_transit();
        let drive = Drive::along(&transit, 60.0, 30);
        let whole = drive.fixes(transit.opened_at, 0, 20);
        let tail = drive.fixes(transit.opened_at, 10, 10);
        assert_eq!(&whole[10..], &tail[..]);
    }

    #[test]
    fn a_track_aside_keeps_its_distance_from_the_route() {
        let transit = template_transit();
        let drive = Drive::along(&transit, 60.0, 30);
        let route = RouteIndex::new(&transit.route);
        let on = drive.fixes(transit.opened_at, 0, 1_000);
        let aside = drive.fixes_aside(transit.opened_at, 0, 1_000, 100_000.0);
        let mut offsets_m = Vec::new();
        for (on, aside) in on.iter().zip(&aside) {
            assert_eq!(on.at, aside.at);
            let moved_m = distance_m(on.lat, on.lon, aside.lat, aside.lon);
            assert!((moved_m - 100_000.0).abs() < 1.0, "{moved_m}");
            offsets_m.push(route.locate(aside.lat, aside.lon).offset_m);
        }
        // The route bends, so a fix beside one segment may be nearer another:
        // the offsets run from about 58 km to 100 km, half of them over 98 km.
        // None is farther than the 100 km it was moved, give or take the
        // route index's quarter of a metre.
        offsets_m.sort_by(f64::total_cmp);
        assert!(offsets_m[0] > 50_000.0, "{}", offsets_m[0]);
        assert!(
            offsets_m[offsets_m.len() / 2] > 95_000.0,
            "{}",
            offsets_m[offsets_m.len() / 2]
        );
        assert!(
            offsets_m[offsets_m.len() - 1] < 100_000.5,
            "{}",
            offsets_m[offsets_m.len() - 1]
        );
    }
}
