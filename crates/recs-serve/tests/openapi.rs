//! `openapi.json` documents exactly the routes the router serves ([`recs_serve::ROUTES`],
//! the table the router is built from), each with its responses.

use std::collections::BTreeSet;
use std::path::PathBuf;

#[test]
fn openapi_paths_and_methods_are_the_routers() {
    let text = std::fs::read_to_string(manifest_dir().join("openapi.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("200"),
                "{method} {path}: no 200 answer"
            );
            for (code, r) in responses {
                let c: u16 = code.parse().unwrap();
                assert!((200..600).contains(&c), "{method} {path}: {code}");
                assert!(
                    r["description"].is_string(),
                    "{method} {path} {code}: no description"
                );
                if c >= 400 {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path} {code}: not the error body"
                    );
                }
            }
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = recs_serve::ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(documented, served);
    assert_eq!(
        served.len(),
        recs_serve::ROUTES.len(),
        "a route listed twice"
    );
}

/// The query parameters each route documents are the ones it takes (any other is refused
/// with 400), and the POST body's fields the ones it reads.
#[test]
fn openapi_parameters_are_the_routes() {
    let text = std::fs::read_to_string(manifest_dir().join("openapi.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    for r in recs_serve::ROUTES {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        let documented: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|a| a.iter().map(|p| p["name"].as_str().unwrap()).collect())
            .unwrap_or_default();
        let taken: BTreeSet<&str> = r.query.iter().copied().collect();
        assert_eq!(documented, taken, "{} {}", r.method, r.path);
    }
    let body = &doc["components"]["schemas"]["RecommendRequest"]["properties"];
    let documented: BTreeSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let read: BTreeSet<&str> = recs_serve::RECOMMEND_BODY.iter().copied().collect();
    assert_eq!(documented, read);
}

/// This crate's directory as cargo gives it to the running test (a test binary built in
/// another checkout and found fresh, as CI's cached builds are, must read this checkout's
/// files), else as it was at compile time.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
