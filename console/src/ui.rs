//! The web UI: plain HTML, CSS and JavaScript from `console/assets/`, built into the binary
//! (no build step, no separate server, no internet at run time).
//!
//! The shell is public (a browser must load the login page before it has a token); it
//! holds no data: every piece of state comes from the token-protected API and `/ws`.
//!
//! One codebase for every node (decision 0074): the page says which node serves it
//! (`<body data-node="ship|demo|shore">`) and the scripts show the pages that node
//! serves (a page marked `data-nodes` only on those).

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir};

static ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets");

/// The node that serves the console: decides which pages the UI shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// A ship's edge node: its incidents, logs, links, topology, runbooks, mail.
    Ship,
    /// `seawatch demo`: the ships' pages and the fleet in one process.
    Demo,
    /// A shore node: the fleet map, rollouts and models (no ship's own pages).
    Shore,
}

impl Node {
    /// The `data-node` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Node::Ship => "ship",
            Node::Demo => "demo",
            Node::Shore => "shore",
        }
    }
}

/// `GET /` (the single page, marked for `node`) and `GET /ui/{file}` (its scripts,
/// styles and icons).
pub fn routes(node: Node) -> Router {
    let page = Bytes::from(index_for(node));
    Router::new()
        .route(
            "/",
            get(move || {
                let page = page.clone();
                async move { served("index.html", page) }
            }),
        )
        .route("/ui/{*path}", get(asset))
}

/// The shell with `node` in its `<body data-node>`.
fn index_for(node: Node) -> String {
    let shell = ASSETS
        .get_file("index.html")
        .and_then(|f| f.contents_utf8())
        .unwrap_or_default();
    shell.replacen(
        "<body data-node=\"ship\">",
        &format!("<body data-node=\"{}\">", node.as_str()),
        1,
    )
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn file(path: &str) -> Response {
    match ASSETS.get_file(path) {
        Some(f) => served(path, Bytes::from_static(f.contents())),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

fn served(path: &str, body: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn asset(Path(path): Path<String>) -> Response {
    if path.contains("..") || path == "index.html" {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    file(&path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{http, serve};

    #[tokio::test]
    async fn shell_and_assets_are_served_from_the_binary() {
        let addr = serve(routes(Node::Ship)).await;
        let (code, body) = http(addr, "GET", "/", None, "").await;
        assert_eq!(code, 200);
        assert!(body.contains("<body data-node=\"ship\">"), "{body:.300}");
        assert!(body.contains("<script src=\"/ui/app.js\""), "{body:.300}");
        assert!(body.contains("<script src=\"/ui/mail.js\""), "{body:.300}");
        assert!(
            body.contains("<script src=\"/ui/runbooks.js\""),
            "{body:.300}"
        );
        assert!(body.contains("<script src=\"/ui/logs.js\""), "{body:.300}");
        assert!(
            body.contains("<script src=\"/ui/models.js\""),
            "{body:.300}"
        );
        assert!(
            body.contains("<script src=\"/ui/elements.js\""),
            "{body:.300}"
        );
        for f in [
            "app.js",
            "mail.js",
            "runbooks.js",
            "logs.js",
            "elements.js",
            "models.js",
            "fleetmap.js",
            "rollouts.js",
            "world.json",
            "style.css",
        ] {
            let (code, body) = http(addr, "GET", &format!("/ui/{f}"), None, "").await;
            assert_eq!(code, 200, "{f}");
            assert!(!body.is_empty());
        }
        assert_eq!(
            http(addr, "GET", "/ui/../Cargo.toml", None, "").await.0,
            404
        );
        assert_eq!(http(addr, "GET", "/ui/nope.js", None, "").await.0, 404);
    }

    /// One shell for every node, marked with the node that serves it (decision 0074): at
    /// shore the Rollouts page is there and the ship's own pages say they are not.
    #[tokio::test]
    async fn the_shell_names_the_node_and_marks_node_only_pages() {
        let addr = serve(routes(Node::Shore)).await;
        let (code, body) = http(addr, "GET", "/", None, "").await;
        assert_eq!(code, 200);
        assert!(body.contains("<body data-node=\"shore\">"), "{body:.300}");
        assert!(body.contains("<script src=\"/ui/rollouts.js\""));
        assert!(body.contains(r#"<section id="rollouts" class="page" data-nodes="shore" hidden>"#));
        for ship_only in ["incidents", "logs", "links", "topology", "runbooks", "mail"] {
            assert!(
                body.contains(&format!(
                    r#"<section id="{ship_only}" class="page" data-nodes="ship demo" hidden>"#
                )),
                "{ship_only}"
            );
        }
        for everywhere in ["fleet", "models"] {
            assert!(
                body.contains(&format!(
                    r#"<section id="{everywhere}" class="page" hidden>"#
                )),
                "{everywhere}"
            );
        }
        let demo = serve(routes(Node::Demo)).await;
        assert!(http(demo, "GET", "/", None, "")
            .await
            .1
            .contains("<body data-node=\"demo\">"));
    }

    /// The fleet map's land (decision 0071): Natural Earth 1:110m, public domain, in
    /// tenths of a degree with deltas; every ring decodes to points on the globe, or on
    /// its 360-degree copy for a ring that crosses the antimeridian.
    #[test]
    fn the_world_map_is_natural_earth_land_in_tenths_of_a_degree() {
        let w: serde_json::Value =
            serde_json::from_slice(ASSETS.get_file("world.json").unwrap().contents()).unwrap();
        assert!(w["source"].as_str().unwrap().contains("Natural Earth"));
        assert!(w["licence"].as_str().unwrap().contains("public domain"));
        assert_eq!(w["scale"], 10);
        let rings = w["rings"].as_array().unwrap();
        assert!(rings.len() > 100, "{} rings", rings.len());
        let mut points = 0;
        for r in rings {
            let r: Vec<i64> = r
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert!(r.len() >= 8 && r.len().is_multiple_of(2));
            let (mut x, mut y) = (r[0], r[1]);
            for d in r[2..].chunks(2) {
                x += d[0];
                y += d[1];
                assert!(
                    (-5400..=5400).contains(&x) && (-900..=900).contains(&y),
                    "{x},{y}"
                );
                points += 1;
            }
        }
        assert!(points > 5000, "{points} points");
    }
}
