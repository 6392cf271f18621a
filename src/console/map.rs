//! The weapon's path between countries on a world map, drawn as SVG on the
//! node: no tile server, no internet. The shapes are Natural Earth's 1:110m
//! countries (public domain), projected once by scripts/map/make-world-map.mjs
//! into assets/world.tsv (ISO code, centroid x, centroid y, SVG path).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use crate::model::CountryCode;

struct Shape {
    x: f32,
    y: f32,
    d: &'static str,
}

fn shapes() -> &'static HashMap<&'static str, Shape> {
    static S: OnceLock<HashMap<&'static str, Shape>> = OnceLock::new();
    S.get_or_init(|| {
        include_str!("assets/world.tsv")
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(4, '\t');
                let code = f.next()?;
                let x = f.next()?.parse().ok()?;
                let y = f.next()?.parse().ok()?;
                let d = f.next()?;
                Some((code, Shape { x, y, d }))
            })
            .collect()
    })
}

/// Countries the map can draw, for the tests.
pub fn known(code: &str) -> bool {
    shapes().contains_key(code)
}

/// A former State (YU, SU, ...) drawn where its successor on the map is.
fn drawn_as(code: &str) -> &str {
    match code {
        "SU" => "RU",
        "YU" | "CS" => "RS",
        "DD" => "DE",
        other => other,
    }
}

/// The map with `path` (the countries of the chain of custody in order)
/// highlighted and joined by numbered arrows; `diversion` marked. `title`
/// is the accessible name. The markup is built here from the shipped
/// shapes and country codes only (two capital letters), nothing a peer
/// wrote.
pub fn render(path: &[CountryCode], diversion: Option<CountryCode>, title: &str) -> String {
    let shapes = shapes();
    let on_path: Vec<&str> = path.iter().map(|c| drawn_as(c.as_str())).collect();
    let mut svg = String::with_capacity(140_000);
    let _ = write!(
        svg,
        r#"<svg class="world" viewBox="0 0 1000 520" role="img" aria-labelledby="map-title" xmlns="http://www.w3.org/2000/svg"><title id="map-title">{}</title><g class="land">"#,
        escape(title)
    );
    let mut codes: Vec<&&str> = shapes.keys().collect();
    codes.sort();
    for code in codes {
        let s = &shapes[*code];
        let class = if diversion.is_some_and(|d| drawn_as(d.as_str()) == *code) {
            "diversion"
        } else if on_path.contains(code) {
            "on-path"
        } else {
            "country"
        };
        let _ = write!(
            svg,
            r#"<path class="{class}" data-country="{code}" d="{}"/>"#,
            s.d
        );
    }
    svg += r#"</g><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" class="arrow-head"/></marker></defs><g class="route">"#;
    let points: Vec<(&str, f32, f32)> = on_path
        .iter()
        .filter_map(|c| shapes.get(c).map(|s| (*c, s.x, s.y)))
        .collect();
    for w in points.windows(2) {
        let ((_, x1, y1), (_, x2, y2)) = (w[0], w[1]);
        if (x1, y1) == (x2, y2) {
            continue;
        }
        // A gentle curve, so that a return leg does not hide the way out.
        let (mx, my) = (
            (x1 + x2) / 2.0,
            (y1 + y2) / 2.0 - 0.15 * (x2 - x1).abs() - 10.0,
        );
        let _ = write!(
            svg,
            r#"<path class="leg" marker-end="url(#arrow)" d="M{x1:.1} {y1:.1}Q{mx:.1} {my:.1} {x2:.1} {y2:.1}"/>"#
        );
    }
    for (i, (code, x, y)) in points.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<g class="stop" data-stop="{code}"><circle cx="{x:.1}" cy="{y:.1}" r="9"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text></g>"#,
            y + 4.0,
            i + 1
        );
    }
    svg += "</g></svg>";
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    #[test]
    fn the_map_draws_every_member_state_and_the_path_in_order() {
        for c in [
            "BE", "NG", "KE", "FR", "US", "RU", "CN", "BR", "ZA", "AR", "ML", "SN",
        ] {
            assert!(known(c), "{c}");
        }
        let svg = render(&[cc("BE"), cc("NG"), cc("KE")], Some(cc("NG")), "path <1>");
        assert!(svg.contains(r#"class="diversion" data-country="NG""#));
        assert!(svg.contains(r#"class="on-path" data-country="BE""#));
        assert_eq!(svg.matches(r#"class="leg""#).count(), 2);
        assert_eq!(svg.matches(r#"class="stop""#).count(), 3);
        assert!(svg.contains("path &lt;1&gt;"));
        let be = svg.find(r#"data-stop="BE""#).unwrap();
        let ke = svg.find(r#"data-stop="KE""#).unwrap();
        assert!(be < ke);
    }

    #[test]
    fn former_states_are_drawn_where_their_successor_is() {
        let svg = render(&[cc("SU"), cc("UA")], None, "t");
        assert!(svg.contains(r#"data-stop="RU""#));
    }
}
