//! Geodesy the host computes for policies: distances between positions and a
//! spatially indexed route.
//!
//! [`RouteIndex`] answers "how far is this fix from the planned route, and how
//! far along it" in logarithmic time, for a fix on the route as for one a
//! thousand kilometres off it (issue 10, item 4), and wherever the route runs,
//! across the antimeridian included (item 12). Every distance is measured on
//! the mean Earth sphere of the haversine, the same measure as [`distance_m`]
//! and the policy SDK's.
//!
//! # The route
//!
//! A route is a line of `(lon, lat)` positions in degrees, as GeoJSON draws
//! it (RFC 7946): each segment is straight in longitude and latitude and
//! takes the short way round, so a segment from 179.9° E to 179.9° W is 0.2°
//! long, not 359.8°.
//!
//! # The index
//!
//! Segments are cut into pieces of at most 5 km, interpolated in longitude
//! and latitude, and each piece stands for the great-circle arc between its
//! ends: within a quarter of a metre of the segment's line (`STRAY_M`), the
//! pieces shorter where the line curves harder. The ends
//! are held in Earth-centred 3-D coordinates, where there is no longitude
//! seam and no projection to distort distances, and where the straight chord
//! between two points is never longer than the arc and grows with it.
//!
//! Over the pieces, in route order, stands a strip tree (Ballard, "Strip
//! trees: a hierarchical representation for curves", CACM 24(5), 1981): each
//! node is the chord from the first to the last end of a run of pieces, with
//! a width that every point of those pieces' arcs lies within. A fix's
//! distance to a node's chord less its width is thus a lower bound of its
//! distance to anything under the node, and a search skips every node that
//! cannot beat the nearest piece found so far. Where the route runs straight
//! the width is about a piece's sagitta (centimetres), so the bound is tight
//! however far the fix is from the route. An R-tree of the same pieces in
//! 3-D boxes (`rstar`) was measured too: a box is as wide as its pieces are
//! long, so a fix 100 km off a 100,000-point route opened every box along a
//! kilometre or two of route, and took nine times as long (8.3 µs against
//! 0.9 µs).

use geo::{Coord, Distance, Haversine, Point};

/// Mean Earth radius in metres (GRS 80 R1), the radius of [`Haversine`].
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// How far a piece's arc may stray from the segment's line in longitude
/// and latitude, metres. A line in longitude and latitude heading α east of
/// north curves off the great circle by tan(lat) · sin(α) · (1 + cos²(α)) / R
/// per metre (at most 1.09 · tan(lat) / R, about α = 55°), so over a piece of
/// length d it strays that times d² / 8 from the piece's arc: 0.25 m takes
/// pieces of 3.4 km at 45° of latitude, 1.5 km at 80°.
const STRAY_M: f64 = 0.25;

/// The longest piece a segment is cut into, metres, nearer the equator and
/// on meridians: its chord dips R(1 − cos(θ/2)) ≈ 0.5 m below its arc.
const PIECE_M: f64 = 5_000.0;

/// The shortest piece, metres: a line in longitude and latitude within a
/// few kilometres of a pole curves too hard for [`STRAY_M`] at any length
/// worth indexing.
const SHORTEST_PIECE_M: f64 = 100.0;

/// Pieces a route gets beyond one per segment. A route too long for this
/// many (some 200,000 km of line: only a hostile route) gets longer pieces
/// instead, so its memory stays bounded: its bounds are looser by their
/// larger sagitta, never wrong, and its arcs stray further from its lines.
const EXTRA_PIECES: f64 = 65_536.0;

/// The longest piece whatever the route, metres: a quarter of a great
/// circle, so that no chord passes near the Earth's centre.
const LONGEST_PIECE_M: f64 = 10_000_000.0;

/// Margin for rounding in distances between points about 6.4e6 m from the
/// Earth's centre (a unit in the last place is about 1e-9 m there).
const ROUNDING_M: f64 = 1e-6;

/// Great-circle distance in metres between two positions given in degrees.
///
/// # Examples
/// ```
/// use escort_engine::geodesy::distance_m;
/// // Almaty to Taraz, about 453 km.
/// let d = distance_m(43.25667, 76.92861, 42.9, 71.36667);
/// assert!((d - 453_000.0).abs() < 2_000.0);
/// ```
pub fn distance_m(lat_a: f64, lon_a: f64, lat_b: f64, lon_b: f64) -> f64 {
    Haversine.distance(Point::new(lon_a, lat_a), Point::new(lon_b, lat_b))
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
    /// The ends of the pieces in Earth-centred coordinates, metres: piece
    /// `i` runs from `ends_m[i]` to `ends_m[i + 1]`.
    ends_m: Vec<[f64; 3]>,
    /// The route's segments, in order, each cut into one piece or more.
    segments: Vec<Segment>,
    /// The strip tree's widths, metres: one per node over two pieces or
    /// more, in preorder (see [`Run`]). A single piece needs none: it is
    /// measured exactly.
    widths_m: Vec<f64>,
    length_m: f64,
}

/// A segment of the route: its pieces start at `first_piece`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    first_piece: usize,
    /// Route distance at the segment's start, metres.
    start_m: f64,
    /// Great-circle distance between its ends, metres.
    length_m: f64,
}

/// A node of the strip tree: the pieces `first..end`, at `node` in
/// [`RouteIndex::widths_m`]. Its children split the run in the middle; the
/// left one's subtree comes right after it, the right one's after that.
#[derive(Debug, Clone, Copy)]
struct Run {
    node: usize,
    first: usize,
    end: usize,
}

impl Run {
    /// How many pieces the run holds.
    fn pieces(self) -> usize {
        self.end - self.first
    }

    /// The two halves of the run (the left one the shorter, when its
    /// pieces are odd in number).
    fn children(self) -> [Run; 2] {
        let middle = self.first + self.pieces() / 2;
        [
            Run {
                node: self.node + 1,
                first: self.first,
                end: middle,
            },
            // The left subtree has one node fewer than its pieces.
            Run {
                node: self.node + (middle - self.first),
                first: middle,
                end: self.end,
            },
        ]
    }
}

/// A search of the strip tree for one fix.
#[derive(Debug)]
struct Search {
    /// The fix, a unit vector, and the same in metres.
    fix: [f64; 3],
    fix_m: [f64; 3],
    best: Nearest,
    /// Nodes opened so far.
    opened: usize,
}

/// The nearest piece found so far in a search.
#[derive(Debug, Clone, Copy)]
struct Nearest {
    piece: usize,
    /// Where on the piece's chord its point nearest the fix is, 0 to 1.
    share_of_chord: f64,
    /// The closest point of the piece's arc, a unit vector.
    on_arc: [f64; 3],
    /// Straight distance from the fix to `on_arc`, metres.
    chord_m: f64,
}

impl RouteIndex {
    /// Indexes a route given as `(lon, lat)` coordinates in degrees.
    ///
    /// A coordinate that is not a position (a latitude beyond ±90° or not
    /// finite, a longitude not finite) is skipped, as if the route did not
    /// have it; a longitude beyond ±180° is taken modulo 360°. A route needs
    /// at least two positions: with fewer, every offset is infinite and
    /// every progress 0.
    ///
    /// # Examples
    /// ```
    /// use escort_engine::geodesy::RouteIndex;
    /// use geo::coord;
    /// // Along the 43rd parallel from 76° to 77° east.
    /// let route = RouteIndex::new(&[coord! { x: 76.0, y: 43.0 }, coord! { x: 77.0, y: 43.0 }]);
    /// let at = route.locate(43.05, 76.5); // about 5.6 km north of the middle
    /// assert!((at.offset_m - 5_560.0).abs() < 50.0);
    /// assert!((at.progress_m - route.length_m() / 2.0).abs() < 100.0);
    /// ```
    pub fn new(points: &[Coord<f64>]) -> Self {
        let route: Vec<Coord<f64>> = points
            .iter()
            .filter(|c| is_position(c.y, c.x))
            .map(|c| Coord {
                x: wrapped_lon(c.x),
                y: c.y,
            })
            .collect();
        let line_in_pieces: f64 = route
            .windows(2)
            .map(|pair| line_length_m(pair[0], pair[1]) / piece_length_m(pair[0], pair[1]))
            .sum();
        let growth = (line_in_pieces / EXTRA_PIECES).max(1.0);

        let mut ends = Vec::with_capacity(route.len());
        let mut sagittas_m = Vec::with_capacity(route.len());
        let mut segments = Vec::with_capacity(route.len().saturating_sub(1));
        if let Some(start) = route.first().filter(|_| route.len() >= 2) {
            ends.push(unit(start.y, start.x));
        }
        let mut length_m = 0.0;
        for pair in route.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let segment = Segment {
                first_piece: sagittas_m.len(),
                start_m: length_m,
                length_m: distance_m(a.y, a.x, b.y, b.x),
            };
            let piece_m = (piece_length_m(a, b) * growth).min(LONGEST_PIECE_M);
            let pieces = (line_length_m(a, b) / piece_m).ceil().max(1.0) as usize;
            let east_deg = short_way_deg(b.x - a.x);
            for i in 1..=pieces {
                // The last end is the route's own point, not an interpolation.
                let end = if i == pieces {
                    unit(b.y, b.x)
                } else {
                    let share = i as f64 / pieces as f64;
                    unit(a.y + share * (b.y - a.y), a.x + share * east_deg)
                };
                let half_chord_m = EARTH_RADIUS_M * norm(difference(end, ends[ends.len() - 1])) / 2.0;
                sagittas_m.push(sagitta_m(half_chord_m));
                ends.push(end);
            }
            length_m += segment.length_m;
            segments.push(segment);
        }
        let ends_m: Vec<[f64; 3]> = ends.into_iter().map(|end| scaled(end, EARTH_RADIUS_M)).collect();
        let mut widths_m = vec![0.0; sagittas_m.len().saturating_sub(1)];
        if sagittas_m.len() >= 2 {
            let root = Run {
                node: 0,
                first: 0,
                end: sagittas_m.len(),
            };
            fill_widths(&ends_m, &sagittas_m, &mut widths_m, root);
        }
        RouteIndex {
            ends_m,
            segments,
            widths_m,
            length_m,
        }
    }

    /// How many bytes the index holds, itself included.
    ///
    /// # Units
    /// Bytes.
    pub fn size_bytes(&self) -> usize {
        size_of::<RouteIndex>()
            + self.ends_m.capacity() * size_of::<[f64; 3]>()
            + self.segments.capacity() * size_of::<Segment>()
            + self.widths_m.capacity() * size_of::<f64>()
    }

    /// Length of the route along its line, metres.
    pub fn length_m(&self) -> f64 {
        self.length_m
    }

    /// Where the position `(lat, lon)` stands relative to the route.
    ///
    /// The offset is the great-circle distance to the nearest point of the
    /// route's pieces, within a quarter of a metre of its line in longitude
    /// and latitude (see the module's documentation). The progress is the
    /// route distance to that segment's start, plus the great-circle
    /// distance from there to that point, at most the segment's length.
    ///
    /// A position that is not one (a latitude beyond ±90° or not finite, a
    /// longitude not finite) gets NaN for both; a longitude beyond ±180° is
    /// taken modulo 360°. A route of fewer than two positions gives an
    /// infinite offset and progress 0.
    pub fn locate(&self, lat: f64, lon: f64) -> RoutePosition {
        self.search(lat, lon).0
    }

    /// [`RouteIndex::locate`]'s offset of each position `(lat[i], lon[i])`,
    /// metres: the contract's batch question.
    pub fn offsets_m(&self, lat: &[f64], lon: &[f64]) -> Vec<f64> {
        lat.iter()
            .zip(lon)
            .map(|(&lat, &lon)| self.locate(lat, lon).offset_m)
            .collect()
    }

    /// [`RouteIndex::locate`]'s progress of each position `(lat[i], lon[i])`,
    /// metres from the route's start.
    pub fn progress_m(&self, lat: &[f64], lon: &[f64]) -> Vec<f64> {
        lat.iter()
            .zip(lon)
            .map(|(&lat, &lon)| self.locate(lat, lon).progress_m)
            .collect()
    }

    /// [`RouteIndex::locate`], and how many nodes of the strip tree the
    /// search opened: what the tests hold the search's work to.
    fn search(&self, lat: f64, lon: f64) -> (RoutePosition, usize) {
        if !is_position(lat, lon) {
            let nowhere = RoutePosition {
                offset_m: f64::NAN,
                progress_m: f64::NAN,
            };
            return (nowhere, 0);
        }
        let pieces = self.ends_m.len().saturating_sub(1);
        if pieces == 0 {
            let unrouted = RoutePosition {
                offset_m: f64::INFINITY,
                progress_m: 0.0,
            };
            return (unrouted, 0);
        }
        let fix = unit(lat, lon);
        let mut search = Search {
            fix,
            fix_m: scaled(fix, EARTH_RADIUS_M),
            best: Nearest {
                piece: 0,
                share_of_chord: 0.0,
                on_arc: fix,
                chord_m: f64::INFINITY,
            },
            opened: 0,
        };
        if pieces == 1 {
            let (from_m, to_m) = (self.ends_m[0], self.ends_m[1]);
            let share = share_of_chord(from_m, to_m, search.fix_m);
            self.measure(0, share, along_chord(from_m, to_m, share), &mut search);
        } else {
            let root = Run {
                node: 0,
                first: 0,
                end: pieces,
            };
            self.open(root, &mut search);
        }
        (self.position(&search), search.opened)
    }

    /// Searches under `run`, two levels at a time: its pieces measured,
    /// its grandchildren opened nearer first, each only while it may hold
    /// a piece nearer than the best. A search is a chain of dependent
    /// divisions and square roots; the four bounds of two levels are
    /// independent of each other, so a processor computes them together,
    /// where one level at a time would give it two (a fix on a
    /// 100,000-point route took about 0.9 µs one level at a time, 0.65 µs
    /// two, natively).
    fn open(&self, run: Run, search: &mut Search) {
        search.opened += 1;
        let mut runs = [(run, f64::INFINITY); 4];
        let mut count = 0;
        for child in run.children() {
            if child.pieces() == 1 {
                self.try_piece(child.first, run, search);
                continue;
            }
            for grandchild in child.children() {
                if grandchild.pieces() == 1 {
                    self.try_piece(grandchild.first, child, search);
                } else {
                    let (from_m, to_m) = (self.ends_m[grandchild.first], self.ends_m[grandchild.end]);
                    let gap_m = difference(search.fix_m, nearest_on_chord(from_m, to_m, search.fix_m));
                    runs[count] = (grandchild, dot(gap_m, gap_m));
                    count += 1;
                }
            }
        }
        let runs = &mut runs[..count];
        runs.sort_unstable_by(|a, b| a.1.total_cmp(&b.1));
        for &(grandchild, chord2_m2) in runs.iter() {
            // The fix's distance to the run's chord less its width is a
            // lower bound; compared squared, it needs no square root.
            // Checked when the run's turn comes, after the nearer runs'
            // searches may have found a nearer piece.
            let reach_m = search.best.chord_m + self.widths_m[grandchild.node];
            if chord2_m2 < reach_m * reach_m {
                self.open(grandchild, search);
            }
        }
    }

    /// Measures piece `piece` of the run `parent` unless it is out of
    /// reach: the parent's width is at least the piece's sagitta.
    fn try_piece(&self, piece: usize, parent: Run, search: &mut Search) {
        let (from_m, to_m) = (self.ends_m[piece], self.ends_m[piece + 1]);
        let share = share_of_chord(from_m, to_m, search.fix_m);
        let on_chord = along_chord(from_m, to_m, share);
        let gap_m = difference(search.fix_m, on_chord);
        let reach_m = search.best.chord_m + self.widths_m[parent.node];
        if dot(gap_m, gap_m) < reach_m * reach_m {
            self.measure(piece, share, on_chord, search);
        }
    }

    /// Measures the fix against piece `piece`, whose chord's point nearest
    /// the fix is `on_chord`, `share_of_chord` of the way along it, and
    /// keeps it if it is the nearest so far. That point, pushed out to the
    /// sphere, is on the piece's arc. It is the arc's nearest point too, but
    /// for a slide along the arc of at most half the piece times 1 − cos of
    /// the fix's offset angle (30 m for a fix 1,000 km off, 0.3 m for one
    /// 100 km off), which lengthens the offset by under a millimetre.
    fn measure(&self, piece: usize, share_of_chord: f64, on_chord: [f64; 3], search: &mut Search) {
        let length_m = norm(on_chord);
        // Pieces are at most a quarter of a great circle, so a chord never
        // comes near the centre; were it to, the piece's start stands in.
        let on_arc = if length_m > 0.0 {
            scaled(on_chord, 1.0 / length_m)
        } else {
            scaled(self.ends_m[piece], 1.0 / EARTH_RADIUS_M)
        };
        let chord_m = EARTH_RADIUS_M * norm(difference(search.fix, on_arc));
        if chord_m < search.best.chord_m {
            search.best = Nearest {
                piece,
                share_of_chord,
                on_arc,
                chord_m,
            };
        }
    }

    /// The route position of the search's fix, from its nearest piece: the
    /// progress is that of its segment's start, plus the great-circle
    /// distance from there to the nearest point (at most the segment's
    /// length), as it was before segments were cut into pieces.
    fn position(&self, search: &Search) -> RoutePosition {
        let best = search.best;
        let next = self.segments.partition_point(|s| s.first_piece <= best.piece);
        let segment = self.segments[next - 1];
        let last_piece = self
            .segments
            .get(next)
            .map_or(self.ends_m.len() - 2, |next| next.first_piece - 1);
        // At the segment's ends, exactly its ends' progress.
        let into_segment_m = if best.piece == segment.first_piece && best.share_of_chord <= 0.0 {
            0.0
        } else if best.piece == last_piece && best.share_of_chord >= 1.0 {
            segment.length_m
        } else {
            let start = scaled(self.ends_m[segment.first_piece], 1.0 / EARTH_RADIUS_M);
            arc_m(norm(difference(start, best.on_arc))).min(segment.length_m)
        };
        RoutePosition {
            offset_m: arc_m(best.chord_m / EARTH_RADIUS_M),
            progress_m: segment.start_m + into_segment_m,
        }
    }
}

/// Fills the widths of `run`'s subtree and returns the largest sagitta of
/// its pieces, metres. Every point of a piece's arc is within its sagitta of
/// the piece's chord, and every point of that chord within the farther of
/// its ends' distances of the run's chord (distance to a segment is convex):
/// so the farthest end inside the run plus the largest sagitta bounds the
/// run. Each level scans every end once: O(n log n) for n pieces.
fn fill_widths(ends_m: &[[f64; 3]], sagittas_m: &[f64], widths_m: &mut [f64], run: Run) -> f64 {
    if run.pieces() == 1 {
        return sagittas_m[run.first];
    }
    let [left, right] = run.children();
    let sagitta_m =
        fill_widths(ends_m, sagittas_m, widths_m, left).max(fill_widths(ends_m, sagittas_m, widths_m, right));
    let (from_m, to_m) = (ends_m[run.first], ends_m[run.end]);
    let farthest_m = ends_m[run.first + 1..run.end]
        .iter()
        .map(|&end_m| norm(difference(end_m, nearest_on_chord(from_m, to_m, end_m))))
        .fold(0.0, f64::max);
    widths_m[run.node] = farthest_m + sagitta_m + ROUNDING_M;
    sagitta_m
}

/// Whether `(lat, lon)` in degrees is a position on the Earth.
fn is_position(lat: f64, lon: f64) -> bool {
    lat.abs() <= 90.0 && lon.is_finite()
}

/// A finite longitude in degrees, brought within ±180° when beyond, so that
/// differences of two stay finite.
fn wrapped_lon(lon: f64) -> f64 {
    if lon.abs() <= 180.0 {
        lon
    } else {
        let east = lon.rem_euclid(360.0);
        if east > 180.0 { east - 360.0 } else { east }
    }
}

/// A difference of two longitudes within ±180° each, taken the short way
/// round: within ±180°.
fn short_way_deg(east_deg: f64) -> f64 {
    if east_deg > 180.0 {
        east_deg - 360.0
    } else if east_deg < -180.0 {
        east_deg + 360.0
    } else {
        east_deg
    }
}

/// About the length of the segment's line in longitude and latitude,
/// metres, enough to cut it into pieces: never less than the great circle
/// between its ends, and longer where the line is (along a parallel near a
/// pole, say).
fn line_length_m(a: Coord<f64>, b: Coord<f64>) -> f64 {
    let north_rad = (b.y - a.y).to_radians();
    let east_rad = short_way_deg(b.x - a.x).to_radians() * ((a.y + b.y) / 2.0).to_radians().cos();
    (EARTH_RADIUS_M * north_rad.hypot(east_rad)).max(distance_m(a.y, a.x, b.y, b.x))
}

/// How long the pieces of the segment `a`–`b` may be, metres, for their
/// arcs to stay within [`STRAY_M`] of its line (see there).
fn piece_length_m(a: Coord<f64>, b: Coord<f64>) -> f64 {
    // The line's latitude runs evenly from end to end: it curves hardest at
    // the end nearer a pole, and heads furthest from north nearest the
    // equator.
    let (lat_a, lat_b) = (a.y.to_radians(), b.y.to_radians());
    let steepest_rad = lat_a.abs().max(lat_b.abs());
    let flattest_rad = if lat_a.signum() == lat_b.signum() {
        lat_a.abs().min(lat_b.abs())
    } else {
        0.0
    };
    let north_rad = lat_b - lat_a;
    let east_rad = short_way_deg(b.x - a.x).to_radians() * flattest_rad.cos();
    let sin_heading = if east_rad == 0.0 {
        0.0
    } else {
        east_rad.abs() / north_rad.hypot(east_rad)
    };
    // sin(α) · (1 + cos²(α)) is at most 2 sin(α), and at most 1.09.
    let turn = (2.0 * sin_heading).min(1.09);
    let curvature_per_m = steepest_rad.tan() * turn / EARTH_RADIUS_M;
    (8.0 * STRAY_M / curvature_per_m)
        .sqrt()
        .clamp(SHORTEST_PIECE_M, PIECE_M)
}

/// The unit vector, Earth-centred, of the position `(lat, lon)` in degrees:
/// x towards 0° E on the equator, y towards 90° E, z towards the north pole.
fn unit(lat: f64, lon: f64) -> [f64; 3] {
    let (sin_lat, cos_lat) = lat.to_radians().sin_cos();
    let (sin_lon, cos_lon) = lon.to_radians().sin_cos();
    [cos_lat * cos_lon, cos_lat * sin_lon, sin_lat]
}

/// How far the middle of a chord `2 · half_chord_m` long lies below its
/// arc, metres: R − √(R² − h²), written so as not to cancel.
fn sagitta_m(half_chord_m: f64) -> f64 {
    let h2 = half_chord_m * half_chord_m;
    h2 / (EARTH_RADIUS_M + (EARTH_RADIUS_M * EARTH_RADIUS_M - h2).max(0.0).sqrt())
}

/// The great-circle distance of a chord `chord` Earth radii long, metres:
/// the haversine's own arithmetic, 2R · asin(chord / 2R).
fn arc_m(chord: f64) -> f64 {
    2.0 * EARTH_RADIUS_M * (chord / 2.0).min(1.0).asin()
}

/// Where on the chord `from`–`to` the point nearest `point` is: 0 at
/// `from`, 1 at `to`.
fn share_of_chord(from: [f64; 3], to: [f64; 3], point: [f64; 3]) -> f64 {
    let along = difference(to, from);
    let length2 = dot(along, along);
    if length2 > 0.0 {
        (dot(difference(point, from), along) / length2).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The point `share` of the way from `from` to `to`.
fn along_chord(from: [f64; 3], to: [f64; 3], share: f64) -> [f64; 3] {
    [
        from[0] + share * (to[0] - from[0]),
        from[1] + share * (to[1] - from[1]),
        from[2] + share * (to[2] - from[2]),
    ]
}

/// The point of the chord `from`–`to` nearest `point`.
fn nearest_on_chord(from: [f64; 3], to: [f64; 3], point: [f64; 3]) -> [f64; 3] {
    along_chord(from, to, share_of_chord(from, to, point))
}

// Vector arithmetic in three dimensions, for the few operations above.

/// `a − b`.
fn difference(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// `a` times `factor`.
fn scaled(a: [f64; 3], factor: f64) -> [f64; 3] {
    [a[0] * factor, a[1] * factor, a[2] * factor]
}

/// The dot product of `a` and `b`.
fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The length of `a`.
fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

#[cfg(test)]
mod tests {
    //! The index against a brute-force scan of the route's line, and what it
    //! answers for routes and positions that are not what they should be.

    use super::*;
    use geo::coord;

    /// Khorgos – Almaty – Taraz – Shymkent – Kyzylorda – Aktobe (GeoNames).
    const KAZAKH_ROUTE: [Coord<f64>; 6] = [
        coord! { x: 80.41, y: 44.21 },
        coord! { x: 76.92861, y: 43.25667 },
        coord! { x: 71.36667, y: 42.9 },
        coord! { x: 69.6, y: 42.3 },
        coord! { x: 65.50917, y: 44.85278 },
        coord! { x: 57.20718, y: 50.27969 },
    ];

    /// Across the Bering Strait's longitudes and the antimeridian, from
    /// Chukotka towards Alaska.
    const ACROSS_THE_ANTIMERIDIAN: [Coord<f64>; 4] = [
        coord! { x: 177.5, y: 64.7 },
        coord! { x: 179.5, y: 65.0 },
        coord! { x: -179.5, y: 65.2 },
        coord! { x: -177.0, y: 65.6 },
    ];

    /// Offset and progress by scanning every segment's line in longitude
    /// and latitude (the short way round), densely and then finely around
    /// the nearest sample: what the index must agree with.
    fn brute_force(points: &[Coord<f64>], lat: f64, lon: f64) -> RoutePosition {
        let mut best = RoutePosition {
            offset_m: f64::INFINITY,
            progress_m: 0.0,
        };
        let mut start_m = 0.0;
        for pair in points.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let east_deg = short_way_deg(b.x - a.x);
            let at = |share: f64| (a.y + share * (b.y - a.y), a.x + share * east_deg);
            let offset_at = |share: f64| {
                let (plat, plon) = at(share);
                distance_m(lat, lon, plat, plon)
            };
            const SAMPLES: u32 = 500;
            let nearest = (0..=SAMPLES)
                .map(|i| f64::from(i) / f64::from(SAMPLES))
                .min_by(|&s, &t| offset_at(s).total_cmp(&offset_at(t)))
                .unwrap_or(0.0);
            // Ternary search between the neighbouring samples.
            let step = 1.0 / f64::from(SAMPLES);
            let (mut low, mut high) = ((nearest - step).max(0.0), (nearest + step).min(1.0));
            for _ in 0..100 {
                let (one, two) = (low + (high - low) / 3.0, high - (high - low) / 3.0);
                if offset_at(one) < offset_at(two) {
                    high = two;
                } else {
                    low = one;
                }
            }
            let share = (low + high) / 2.0;
            let offset_m = offset_at(share);
            if offset_m < best.offset_m {
                let (plat, plon) = at(share);
                best = RoutePosition {
                    offset_m,
                    progress_m: start_m + distance_m(a.y, a.x, plat, plon),
                };
            }
            start_m += distance_m(a.y, a.x, b.y, b.x);
        }
        best
    }

    /// Asserts that the index and the scan agree: the offset within a
    /// quarter of a metre, as far as a piece's arc may stray from the line
    /// it stands for ([`STRAY_M`]), and a centimetre for the scan. The
    /// progress within a metre and 1/2,000 of the offset: a piece's arc
    /// crosses the line at up to about 4 · 0.25 m / 3.4 km, 1/3,400 of a
    /// radian, and so the foot of a far fix slides along the route by that
    /// much of its offset (a fix 100 km off, 30 m).
    fn assert_agrees(points: &[Coord<f64>], index: &RouteIndex, lat: f64, lon: f64) {
        let expected = brute_force(points, lat, lon);
        let found = index.locate(lat, lon);
        assert!(
            (found.offset_m - expected.offset_m).abs() <= STRAY_M + 0.01,
            "({lat}, {lon}): index says {found:?}, scan says {expected:?}"
        );
        assert!(
            (found.progress_m - expected.progress_m).abs() <= 1.0 + expected.offset_m / 2_000.0,
            "({lat}, {lon}): index says {found:?}, scan says {expected:?}"
        );
    }

    /// A xorshift generator: the same points on every run, no dependency.
    struct Points(u64);

    impl Points {
        /// A number in `0.0..1.0`.
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }

        /// A position `distance_m` from a point picked along `route`, in a
        /// random direction.
        fn around(&mut self, route: &[Coord<f64>], distance_m: f64) -> (f64, f64) {
            use geo::Destination;
            let segment = ((self.next() * (route.len() - 1) as f64) as usize).min(route.len() - 2);
            let (a, b) = (route[segment], route[segment + 1]);
            let share = self.next();
            let on = Point::new(a.x + share * short_way_deg(b.x - a.x), a.y + share * (b.y - a.y));
            let off = Haversine.destination(on, self.next() * 360.0, distance_m);
            (off.y(), off.x())
        }
    }

    #[test]
    fn agrees_with_a_brute_force_scan_on_a_long_route() {
        let index = RouteIndex::new(&KAZAKH_ROUTE);
        for (lat, lon) in [
            (43.5, 77.0),
            (42.0, 70.0),
            (47.0, 61.0),
            (50.5, 57.0),
            (45.0, 80.0),
            (44.0, 66.0),
        ] {
            assert_agrees(&KAZAKH_ROUTE, &index, lat, lon);
        }
    }

    /// Issue 10, item 4: far from the route as near it, the search prunes
    /// without missing the nearest piece.
    #[test]
    fn issue_10_item_4_agrees_with_a_brute_force_scan_near_and_far() {
        let mut points = Points(0x5EED_0004);
        for route in [&KAZAKH_ROUTE[..], &ACROSS_THE_ANTIMERIDIAN[..]] {
            let index = RouteIndex::new(route);
            for distance_m in [0.0, 30.0, 2_000.0, 100_000.0, 1_000_000.0] {
                for _ in 0..20 {
                    let (lat, lon) = points.around(route, distance_m);
                    assert_agrees(route, &index, lat, lon);
                }
            }
        }
    }

    /// The benchmark's route: the Kazakh route's first leg, densified to
    /// `count` points 3.5 m apart, as `escort bench` densifies its template.
    fn dense_route(count: usize) -> Vec<Coord<f64>> {
        let (a, b) = (KAZAKH_ROUTE[0], KAZAKH_ROUTE[1]);
        (0..count)
            .map(|i| {
                let share = i as f64 / (count - 1) as f64;
                coord! { x: a.x + share * (b.x - a.x), y: a.y + share * (b.y - a.y) }
            })
            .collect()
    }

    /// Issue 10, item 4: a fix far from a route of 100,000 points opens a
    /// few dozen nodes of the index, as one on the route does, not the
    /// route's length in nodes. (Work is counted, not timed; `escort bench`
    /// times it.)
    #[test]
    fn issue_10_item_4_a_far_fix_opens_few_nodes() {
        let route = dense_route(100_000);
        let index = RouteIndex::new(&route);
        let mut points = Points(0x5EED_0044);
        for distance_m in [0.0, 10.0, 100_000.0, 1_000_000.0] {
            for _ in 0..50 {
                let (lat, lon) = points.around(&route, distance_m);
                let (position, opened) = index.search(lat, lon);
                assert!(opened < 100, "{distance_m} m off: {opened} nodes opened");
                assert!(position.offset_m <= distance_m + 1.0, "{position:?}");
            }
        }
    }

    /// Every shape of the strip tree, from one piece to 64, finds the
    /// nearest piece: a zigzag of 1.5 km segments (one piece each), which
    /// turns back every 16 points, so that pieces far apart along the
    /// route are near each other too.
    #[test]
    fn every_tree_shape_agrees_with_a_brute_force_scan() {
        let mut points = Points(0x5EED_0064);
        for count in 2..=65 {
            let route: Vec<Coord<f64>> = (0..count)
                .map(|i| {
                    let lap = i / 16;
                    let step = if lap % 2 == 0 { i % 16 } else { 15 - i % 16 };
                    let sideways = if i % 2 == 0 { 0.0 } else { 0.01 };
                    coord! { x: 76.0 + step as f64 * 0.013, y: 43.0 + sideways + lap as f64 * 0.002 }
                })
                .collect();
            let index = RouteIndex::new(&route);
            assert_eq!(index.ends_m.len(), count, "one piece a segment");
            for distance_m in [0.0, 300.0, 5_000.0] {
                for _ in 0..2 {
                    // The offset only: where laps cross, two points of the
                    // route can be as near, and either progress right.
                    let (lat, lon) = points.around(&route, distance_m);
                    let expected = brute_force(&route, lat, lon);
                    let found = index.locate(lat, lon);
                    assert!(
                        (found.offset_m - expected.offset_m).abs() <= STRAY_M + 0.01,
                        "{count} points, ({lat}, {lon}): index says {found:?}, scan says {expected:?}"
                    );
                }
            }
        }
    }

    /// Issue 10, item 12: a route across the antimeridian goes the short
    /// way, and a fix half a world away from it is not on it.
    #[test]
    fn issue_10_item_12_a_route_across_the_antimeridian_takes_the_short_way() {
        let route = ACROSS_THE_ANTIMERIDIAN;
        let index = RouteIndex::new(&route);
        let short_way_m: f64 = route
            .windows(2)
            .map(|pair| distance_m(pair[0].y, pair[0].x, pair[1].y, pair[1].x))
            .sum();
        assert_eq!(index.length_m(), short_way_m);
        assert!(short_way_m < 300_000.0, "{short_way_m}");

        // On the Greenwich meridian, a world away: before, the projected
        // route ran round the globe through it.
        let far = index.locate(65.0, 0.0);
        assert!(far.offset_m > 5_000_000.0, "{far:?}");
        assert_agrees(&route, &index, 65.0, 0.0);

        // Beside the route (0.005° north of it, 500 m off it as it climbs
        // north-east), 470 m either side of the antimeridian: near it, and
        // the progress runs on across it.
        let west = index.locate(65.103, 179.99);
        let east = index.locate(65.107, -179.99);
        for at in [west, east] {
            assert!((at.offset_m - 500.0).abs() < 10.0, "{at:?}");
        }
        assert_agrees(&route, &index, 65.103, 179.99);
        assert_agrees(&route, &index, 65.107, -179.99);
        let apart_m = distance_m(65.103, 179.99, 65.107, -179.99);
        assert!(
            (east.progress_m - west.progress_m - apart_m).abs() < 1.0,
            "{west:?} {east:?}, {apart_m} m apart"
        );
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
        assert_eq!(index.locate(44.0, 77.0).progress_m, index.length_m());
        assert!(index.locate(43.5, 77.0).offset_m < 1.0);
        // Before the start and past the end, the ends.
        assert_eq!(index.locate(43.0, 75.0).progress_m, 0.0);
        assert_eq!(index.locate(45.0, 77.0).progress_m, index.length_m());
    }

    #[test]
    fn routes_of_zero_one_and_two_points() {
        let nowhere = RoutePosition {
            offset_m: f64::INFINITY,
            progress_m: 0.0,
        };
        assert_eq!(RouteIndex::new(&[]).locate(43.0, 76.0), nowhere);
        assert_eq!(RouteIndex::new(&[]).length_m(), 0.0);
        let one = RouteIndex::new(&[coord! { x: 76.0, y: 43.0 }]);
        assert_eq!(one.locate(43.0, 76.0), nowhere);
        assert_eq!(one.length_m(), 0.0);

        let two = RouteIndex::new(&[coord! { x: 76.0, y: 43.0 }, coord! { x: 76.0, y: 44.0 }]);
        assert_eq!(two.locate(43.5, 76.0).offset_m.round(), 0.0);
        assert_eq!(
            two.locate(43.5, 76.0).progress_m.round(),
            (two.length_m() / 2.0).round()
        );
        // Two points in one place: a route that stands still.
        let still = RouteIndex::new(&[coord! { x: 76.0, y: 43.0 }, coord! { x: 76.0, y: 43.0 }]);
        assert_eq!(still.length_m(), 0.0);
        let at = still.locate(43.0, 77.0);
        assert!(
            (at.offset_m - distance_m(43.0, 77.0, 43.0, 76.0)).abs() < 1e-3,
            "{at:?}"
        );
        assert_eq!(at.progress_m, 0.0);
    }

    /// Issue 10, item 1: no position, however wrong, panics the host.
    #[test]
    fn issue_10_item_1_a_query_that_is_not_a_position_gets_nan() {
        let index = RouteIndex::new(&KAZAKH_ROUTE);
        for (lat, lon) in [
            (f64::NAN, 76.0),
            (43.0, f64::NAN),
            (f64::INFINITY, 76.0),
            (43.0, f64::NEG_INFINITY),
            (90.000_001, 76.0),
            (-91.0, 76.0),
            (f64::MAX, f64::MAX),
        ] {
            let at = index.locate(lat, lon);
            assert!(at.offset_m.is_nan() && at.progress_m.is_nan(), "({lat}, {lon}): {at:?}");
        }
        for route in [RouteIndex::new(&[]), RouteIndex::new(&[coord! { x: 1.0, y: 2.0 }])] {
            assert!(route.locate(f64::NAN, 0.0).offset_m.is_nan());
        }
        // A longitude beyond ±180° is an angle like any other.
        let wrapped = index.locate(43.5, 77.0 - 720.0);
        let plain = index.locate(43.5, 77.0);
        assert!(
            (wrapped.offset_m - plain.offset_m).abs() < 1e-6,
            "{wrapped:?} {plain:?}"
        );
        assert!(
            (wrapped.progress_m - plain.progress_m).abs() < 1e-6,
            "{wrapped:?} {plain:?}"
        );
        for lon in [1e300, -1e300, f64::MAX, f64::MIN] {
            assert!(index.locate(43.5, lon).offset_m.is_finite(), "{lon}");
        }
        // The poles are positions.
        assert!(index.locate(90.0, 0.0).offset_m.is_finite());
        assert!(index.locate(-90.0, 123.0).offset_m.is_finite());
    }

    /// Issue 10, item 1: a route point that is not a position is skipped.
    #[test]
    fn issue_10_item_1_route_points_that_are_not_positions_are_skipped() {
        let mut spoiled = KAZAKH_ROUTE.to_vec();
        spoiled.insert(1, coord! { x: f64::NAN, y: 43.0 });
        spoiled.insert(3, coord! { x: 75.0, y: f64::INFINITY });
        spoiled.insert(4, coord! { x: 75.0, y: 95.0 });
        spoiled.push(coord! { x: f64::NEG_INFINITY, y: f64::NAN });
        let (clean, spoiled) = (RouteIndex::new(&KAZAKH_ROUTE), RouteIndex::new(&spoiled));
        assert_eq!(clean.length_m(), spoiled.length_m());
        for (lat, lon) in [(43.5, 77.0), (47.0, 61.0), (0.0, 0.0)] {
            assert_eq!(clean.locate(lat, lon), spoiled.locate(lat, lon));
        }
        // A route of nothing but such points has no segment.
        let nothing = RouteIndex::new(&[coord! { x: f64::NAN, y: f64::NAN }, coord! { x: 0.0, y: -90.5 }]);
        assert_eq!(nothing.locate(43.0, 76.0).offset_m, f64::INFINITY);
        // Longitudes beyond ±180° are angles: the same route.
        let turned: Vec<Coord<f64>> = KAZAKH_ROUTE.iter().map(|c| coord! { x: c.x + 360.0, y: c.y }).collect();
        let turned = RouteIndex::new(&turned);
        let (a, b) = (clean.locate(45.0, 70.0), turned.locate(45.0, 70.0));
        assert!((a.offset_m - b.offset_m).abs() < 1e-6 && (a.progress_m - b.progress_m).abs() < 1e-6);
        let huge = RouteIndex::new(&[coord! { x: 1e300, y: 10.0 }, coord! { x: -f64::MAX, y: 20.0 }]);
        assert!(huge.locate(15.0, 0.0).offset_m.is_finite());
        assert!(huge.length_m().is_finite());
    }

    /// Issue 10, item 1: a hostile route of points thousands of kilometres
    /// apart gets longer pieces, not millions of them.
    #[test]
    fn issue_10_item_1_a_route_of_long_jumps_stays_small() {
        let mut points = Points(0x5EED_0001);
        let route: Vec<Coord<f64>> = (0..20_000)
            .map(|_| coord! { x: points.next() * 360.0 - 180.0, y: points.next() * 180.0 - 90.0 })
            .collect();
        let index = RouteIndex::new(&route);
        let pieces = index.ends_m.len() - 1;
        assert!(pieces < route.len() - 1 + EXTRA_PIECES as usize, "{pieces} pieces");
        for (lat, lon) in [(0.0, 0.0), (45.0, 90.0), (-89.0, -179.0)] {
            let at = index.locate(lat, lon);
            let nearest_point_m = route
                .iter()
                .map(|c| distance_m(lat, lon, c.y, c.x))
                .fold(f64::INFINITY, f64::min);
            assert!(
                at.offset_m <= nearest_point_m + 1e-6,
                "{at:?}, a point at {nearest_point_m}"
            );
            assert!((0.0..=index.length_m()).contains(&at.progress_m), "{at:?}");
        }
    }
}
