//! Every route and every error class of the API, over HTTP on an ephemeral loopback port,
//! against models trained on ml-100k; answers are compared with the same queries asked of
//! the model file directly (`recs_registry::query::Opened`, what `recs recommend` uses).

mod common;

use std::time::Duration;

use common::*;
use recs_registry::query::Opened;
use serde_json::Value;

fn direct(path: &std::path::Path) -> Opened {
    Opened::open(path).unwrap()
}

fn named(o: &Opened, top: &[(u32, f32)]) -> Vec<(String, f32)> {
    o.named(top)
}

#[test]
fn recommend_similar_fold_in_batch_agree_with_the_model_file() {
    let Some(f) = fixture() else { return };
    let s = start(config(
        f,
        &[
            ("bpr", &f.bpr),
            ("vae", &f.multvae),
            ("mean", &f.global_mean),
        ],
    ));
    let bpr = direct(&f.bpr);
    let vae = direct(&f.multvae);
    let titles = title_map(f);

    // A known user: the file's own ranking, seen items left out, titles attached.
    let (st, v) = get_json(&s.url("/v1/recommend?user=196&k=10"));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["model"], "bpr");
    assert_eq!(v["user"], "196");
    let u = bpr.user("196").unwrap();
    let want = named(&bpr, &bpr.recommend(u, 10, &[]).unwrap());
    assert_eq!(pairs(&v, "score"), want);
    assert_eq!(want.len(), 10);
    let seen = bpr.seen_items(u).unwrap();
    assert!(!seen.is_empty());
    for x in v["items"].as_array().unwrap() {
        let id = x["item"].as_str().unwrap();
        assert!(
            !seen.contains(&bpr.item(id).unwrap()),
            "seen item {id} recommended"
        );
        assert_eq!(x["title"].as_str(), titles.get(id).map(String::as_str));
    }

    // A filter leaves its items out; k defaults to 10.
    let first = want[0].0.clone();
    let (st, v) = get_json(&s.url(&format!(
        "/v1/recommend?user=196&filter={first},{}",
        want[1].0
    )));
    assert_eq!(st, 200, "{v}");
    let got = pairs(&v, "score");
    assert_eq!(got.len(), 10);
    assert_eq!(got[..8], want[2..]);

    // Another model by name.
    let (st, v) = get_json(&s.url("/v1/recommend?user=196&k=5&model=vae"));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["model"], "vae");
    let uv = vae.user("196").unwrap();
    assert_eq!(
        pairs(&v, "score"),
        named(&vae, &vae.recommend(uv, 5, &[]).unwrap())
    );

    // Fold-in: a user Mult-VAE never saw, from their items.
    let (st, v) = post_json(
        &s.url("/v1/recommend"),
        r#"{"items": ["50", "181", 258], "k": 7, "model": "vae"}"#,
    );
    assert_eq!(st, 200, "{v}");
    let idx = vae.item_indices(&["50", "181", "258"], "items").unwrap();
    let want = named(&vae, &vae.recommend_new(&idx, 7, &[]).unwrap());
    assert_eq!(pairs(&v, "score"), want);
    assert!(
        want.iter()
            .all(|(i, _)| !["50", "181", "258"].contains(&i.as_str()))
    );

    // A batch: one result per user, each what the single route gives.
    let (st, v) = post_json(
        &s.url("/v1/recommend"),
        r#"{"users": ["196", "1", "943"], "k": 4}"#,
    );
    assert_eq!(st, 200, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for r in results {
        let user = r["user"].as_str().unwrap();
        let (_, one) = get_json(&s.url(&format!("/v1/recommend?user={user}&k=4")));
        assert_eq!(pairs(r, "score"), pairs(&one, "score"), "user {user}");
    }
    let (st, v) = post_json(&s.url("/v1/recommend"), r#"{"users": []}"#);
    assert_eq!((st, v["results"].as_array().unwrap().len()), (200, 0));

    // Similar items: the cosine of the item vectors, as `recs similar` gives.
    let (st, v) = get_json(&s.url("/v1/similar?item=50&k=5"));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["title"].as_str(), titles.get("50").map(String::as_str));
    let i = bpr.item("50").unwrap();
    assert_eq!(
        pairs(&v, "cosine"),
        named(&bpr, &bpr.similar(i, 5).unwrap())
    );

    // The models: kind, params, training facts, capabilities.
    let (st, v) = get_json(&s.url("/v1/models"));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["default"], "bpr");
    let ms = v["models"].as_array().unwrap();
    assert_eq!(ms.len(), 3);
    let by = |n: &str| ms.iter().find(|m| m["name"] == n).unwrap().clone();
    assert_eq!(by("bpr")["kind"], "bpr");
    assert_eq!(by("bpr")["params"]["epochs"], 5);
    assert_eq!(by("bpr")["users"], 943);
    assert_eq!(by("bpr")["items"], 1682);
    assert_eq!(by("bpr")["default"], true);
    // What a client needs, not where the files live or what they were trained from.
    assert!(by("bpr").get("file").is_none() && by("bpr").get("provenance").is_none());
    assert!(
        !v.to_string().contains(f.dir.to_str().unwrap()),
        "a path leaked: {v}"
    );
    assert_eq!(by("vae")["kind"], "multvae");
    assert_eq!(by("vae")["capabilities"]["fold_in"], true);
    assert_eq!(by("bpr")["capabilities"]["fold_in"], false);
    assert_eq!(by("mean")["capabilities"]["item_vectors"], false);
    assert_eq!(by("vae")["training"], direct(&f.multvae).file.meta.training);

    let (st, v) = get_json(&s.url("/healthz"));
    assert_eq!((st, v["status"].as_str()), (200, Some("ok")));
    s.stop().unwrap();
}

/// Every bad request: its status, a JSON body with an `error` message and the parameter.
#[test]
fn bad_requests_are_4xx_naming_the_parameter() {
    let Some(f) = fixture() else { return };
    let mut c = config(
        f,
        &[
            ("bpr", &f.bpr),
            ("vae", &f.multvae),
            ("mean", &f.global_mean),
        ],
    );
    c.limits.max_k = 50;
    c.limits.max_batch = 3;
    c.limits.max_body_bytes = 4096;
    let s = start(c);
    let big = format!(r#"{{"items": [{}]}}"#, vec!["\"50\""; 2000].join(","));
    // (method, path, body, status, the parameter the error names)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, u16, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("GET", "/v1/recommend?user=nobody", None, 404, Some("user")),
        ("GET", "/v1/recommend", None, 400, Some("user")),
        ("GET", "/v1/recommend?user=196&k=0", None, 400, Some("k")),
        ("GET", "/v1/recommend?user=196&k=-3", None, 400, Some("k")),
        ("GET", "/v1/recommend?user=196&k=51", None, 400, Some("k")),
        ("GET", "/v1/recommend?user=196&k=ten", None, 400, Some("k")),
        (
            "GET",
            "/v1/recommend?user=196&k=99999999999999999999999999",
            None,
            400,
            Some("k"),
        ),
        (
            "GET",
            "/v1/recommend?user=196&user=1",
            None,
            400,
            Some("user"),
        ),
        (
            "GET",
            "/v1/recommend?user=196&top=3",
            None,
            400,
            Some("top"),
        ),
        (
            "GET",
            "/v1/recommend?user=196&model=nope",
            None,
            404,
            Some("model"),
        ),
        (
            "GET",
            "/v1/recommend?user=196&filter=50,zzz",
            None,
            404,
            Some("filter"),
        ),
        ("GET", "/v1/similar?item=zzz", None, 404, Some("item")),
        ("GET", "/v1/similar?k=3", None, 400, Some("item")),
        ("GET", "/v1/similar?item=50&k=0", None, 400, Some("k")),
        (
            "GET",
            "/v1/similar?item=50&model=mean",
            None,
            422,
            Some("model"),
        ),
        ("GET", "/v1/models?x=1", None, 400, Some("x")),
        (
            "POST",
            "/v1/recommend",
            Some("{\"items\": [\"50\""),
            400,
            Some("body"),
        ),
        ("POST", "/v1/recommend", Some(""), 400, Some("body")),
        ("POST", "/v1/recommend", Some("[1, 2]"), 422, Some("body")),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"k": 3}"#),
            422,
            Some("items"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": ["50"], "users": ["1"]}"#),
            422,
            Some("items"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": "50", "model": "vae"}"#),
            422,
            Some("items"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": [[1]], "model": "vae"}"#),
            422,
            Some("items"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": ["50"], "model": "vae", "k": 0}"#),
            422,
            Some("k"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": ["50"], "model": "vae", "k": 51}"#),
            422,
            Some("k"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": ["50"], "model": "vae", "k": 2.5}"#),
            422,
            Some("k"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": ["50"], "model": "vae", "n": 5}"#),
            422,
            Some("n"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": ["50"], "model": 3}"#),
            422,
            Some("model"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": ["50"], "model": "nope"}"#),
            404,
            Some("model"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": ["zzz"], "model": "vae"}"#),
            404,
            Some("items"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": ["50"], "model": "vae", "filter": ["zzz"]}"#),
            404,
            Some("filter"),
        ),
        // BPR has no fold-in: a clear 422, not a 5xx.
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"items": ["50"]}"#),
            422,
            Some("items"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"users": ["196", "nobody"]}"#),
            404,
            Some("users"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(r#"{"users": ["1", "2", "3", "4"]}"#),
            422,
            Some("users"),
        ),
        (
            "POST",
            "/v1/recommend",
            Some(big.as_str()),
            413,
            Some("body"),
        ),
        ("GET", "/v2/recommend", None, 404, None),
        ("DELETE", "/v1/models", None, 405, None),
        ("GET", "/v1/reload", None, 405, None),
    ];
    let a = agent();
    for (method, path, body, status, param) in cases {
        let url = s.url(path);
        let mut r = match (method, body) {
            ("GET", _) => a.get(&url).call().unwrap(),
            ("DELETE", _) => a.delete(&url).call().unwrap(),
            (_, Some(b)) => a
                .post(&url)
                .header("content-type", "application/json")
                .send(b)
                .unwrap(),
            (_, None) => a.post(&url).send_empty().unwrap(),
        };
        let got = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        let what = format!(
            "{method} {path} {}",
            body.map_or("", |b| &b[..b.len().min(80)])
        );
        assert_eq!(got, status, "{what}: {text}");
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
        assert!(
            v["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: no error message: {text}"
        );
        assert_eq!(v["param"].as_str(), param, "{what}: {text}");
    }
    // Messages say what was wrong.
    let (_, v) = get_json(&s.url("/v1/recommend?user=196&k=51"));
    assert!(v["error"].as_str().unwrap().contains("1..=50"), "{v}");
    let (_, v) = post_json(&s.url("/v1/recommend"), r#"{"items": ["50"]}"#);
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("bpr model cannot fold in"), "{v}");
    // The models that cannot fold in, exactly, from the registry's declarations.
    let cannot: Vec<&str> = recs_registry::MODELS
        .iter()
        .filter(|m| !m.capabilities().fold_in)
        .map(|m| m.kind())
        .collect();
    assert!(
        e.ends_with(&format!("that cannot: {})", cannot.join(", "))),
        "{e}"
    );
    assert!(
        cannot.contains(&"bpr") && !cannot.contains(&"als"),
        "{cannot:?}"
    );
    let (_, v) = get_json(&s.url("/v1/recommend?user=196&model=nope"));
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("serving: bpr, mean, vae"),
        "{v}"
    );

    // Every one was counted as an error of its route.
    let (st, m) = get(&s.url("/metrics"));
    assert_eq!(st, 200);
    let errors = |route: &str, method: &str| -> u64 {
        let key =
            format!("recs_http_request_errors_total{{route=\"{route}\",method=\"{method}\"}} ");
        m.lines()
            .find_map(|l| l.strip_prefix(&key))
            .map_or(0, |n| n.parse().unwrap())
    };
    assert_eq!(errors("/v1/recommend", "GET"), 11 + 2, "{m}");
    assert_eq!(errors("/v1/recommend", "POST"), 19 + 1, "{m}");
    assert_eq!(errors("/v1/similar", "GET"), 4, "{m}");
    s.stop().unwrap();
}

#[test]
fn metrics_count_requests_and_latencies_per_route() {
    let Some(f) = fixture() else { return };
    let s = start(config(f, &[("bpr", &f.bpr)]));
    for _ in 0..5 {
        assert_eq!(get(&s.url("/v1/recommend?user=1&k=3")).0, 200);
    }
    assert_eq!(get(&s.url("/v1/similar?item=1&k=3")).0, 200);
    assert_eq!(get(&s.url("/v1/recommend?user=nobody")).0, 404);
    let (st, m) = get(&s.url("/metrics"));
    assert_eq!(st, 200);
    let l = "route=\"/v1/recommend\",method=\"GET\"";
    for want in [
        format!("recs_http_requests_total{{{l},status=\"200\"}} 5"),
        format!("recs_http_requests_total{{{l},status=\"404\"}} 1"),
        format!("recs_http_request_errors_total{{{l}}} 1"),
        format!("recs_http_request_duration_seconds_count{{{l}}} 6"),
        format!("recs_http_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} 6"),
        "recs_http_requests_total{route=\"/v1/similar\",method=\"GET\",status=\"200\"} 1".into(),
        "recs_models 1".into(),
    ] {
        assert!(m.lines().any(|x| x == want), "missing `{want}` in\n{m}");
    }
    // Each sample line is `name{labels} number` or `name number`, after its TYPE line.
    for line in m.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let base = name.split('{').next().unwrap();
        let family = base
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(m.contains(&format!("# TYPE {family} ")), "{line}: no TYPE");
    }
    s.stop().unwrap();
}

/// A server that maps its files (`mmap`) serves as one that reads them, and a file
/// replaced by renaming a new one over it reloads: the old mapping keeps the old inode.
#[test]
fn a_mapped_model_replaced_by_rename_reloads() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.recs");
    std::fs::copy(&f.bpr, &live).unwrap();
    let read = start(config(f, &[("m", &live)]));
    let mut c = config(f, &[("m", &live)]);
    c.mmap = true;
    let mapped = start(c);
    let url = "/v1/recommend?user=196&k=10";
    let (_, want) = get_json(&read.url(url));
    let (st, before) = get_json(&mapped.url(url));
    assert_eq!(st, 200);
    assert_eq!(before["items"], want["items"]);
    let next = dir.path().join("next.recs");
    std::fs::copy(&f.bpr_other_seed, &next).unwrap();
    std::fs::rename(&next, &live).unwrap();
    // Answers from the old mapping until the reload, then from the new file.
    assert_eq!(get_json(&mapped.url(url)).1["items"], before["items"]);
    let (st, v) = reload(&mapped.url("/v1/reload"));
    assert_eq!(st, 200, "{v}");
    let (_, after) = get_json(&mapped.url(url));
    assert_ne!(after["items"], before["items"]);
}

#[test]
fn reload_swaps_atomically_and_a_bad_file_keeps_the_old_model() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.recs");
    std::fs::copy(&f.bpr, &live).unwrap();
    let s = start(config(f, &[("m", &live)]));
    let url = s.url("/v1/recommend?user=196&k=10");
    let (_, before) = get_json(&url);

    // A corrupted file: refused, saying why; the old model keeps answering.
    let mut bytes = std::fs::read(&f.bpr_other_seed).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&live, &bytes).unwrap();
    let (st, v) = reload(&s.url("/v1/reload"));
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["model"], "m");
    // Why goes to the log; the client is told which model, never the file's path.
    assert!(
        v["error"].as_str().unwrap().contains("could not be loaded"),
        "{v}"
    );
    assert!(!v.to_string().contains(f.dir.to_str().unwrap()), "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("previous models keep serving"),
        "{v}"
    );
    assert_eq!(v["generation"], 0);
    let (st, after_bad) = get_json(&url);
    assert_eq!(st, 200);
    assert_eq!(after_bad["items"], before["items"]);
    // A file that is not a model at all, and a missing file: the same.
    std::fs::write(&live, b"not a model").unwrap();
    assert_eq!(reload(&s.url("/v1/reload")).0, 422);
    std::fs::remove_file(&live).unwrap();
    let (st, v) = reload(&s.url("/v1/reload"));
    assert_eq!(st, 422, "{v}");
    assert_eq!(get_json(&url).1["items"], before["items"]);

    // A good file (another seed): swapped in.
    std::fs::copy(&f.bpr_other_seed, &live).unwrap();
    let (st, v) = reload(&s.url("/v1/reload"));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["generation"], 1);
    assert_eq!(v["reloaded"][0]["kind"], "bpr");
    let (_, now) = get_json(&url);
    let other = direct(&f.bpr_other_seed);
    let u = other.user("196").unwrap();
    assert_eq!(
        pairs(&now, "score"),
        other.named(&other.recommend(u, 10, &[]).unwrap())
    );
    assert_ne!(now["items"], before["items"]);

    // Another kind in the same file: the server serves whatever the file holds.
    std::fs::copy(&f.multvae, &live).unwrap();
    assert_eq!(reload(&s.url("/v1/reload")).0, 200);
    let (_, v) = get_json(&s.url("/v1/models"));
    assert_eq!(v["models"][0]["kind"], "multvae");
    assert_eq!(v["generation"], 2);
    let (st, v) = post_json(&s.url("/v1/recommend"), r#"{"items": ["50"], "k": 3}"#);
    assert_eq!(st, 200, "{v}");

    let (_, m) = get(&s.url("/metrics"));
    assert!(
        m.contains("recs_model_reloads_total{result=\"ok\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("recs_model_reloads_total{result=\"failed\"} 3"),
        "{m}"
    );
    s.stop().unwrap();
}

/// Requests from several threads while the model file is reloaded again and again (good and
/// bad files in turn): not one request fails.
#[test]
fn no_request_fails_during_reloads() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.recs");
    std::fs::copy(&f.bpr, &live).unwrap();
    let s = start(config(f, &[("m", &live)]));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|t| {
            let url = s.url("/v1/recommend?k=10&user=");
            let done = done.clone();
            std::thread::spawn(move || {
                let a = agent();
                let mut n = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let u = 1 + (n * 7 + t * 13) % 943;
                    let mut r = a.get(&format!("{url}{u}")).call().unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                    let v: Value =
                        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                    assert_eq!(v["items"].as_array().unwrap().len(), 10);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let files = [&f.bpr_other_seed, &f.bpr];
    for round in 0..8 {
        if round % 3 == 2 {
            std::fs::write(&live, b"garbage").unwrap();
            assert_eq!(reload(&s.url("/v1/reload")).0, 422);
        } else {
            std::fs::copy(files[round % 2], &live).unwrap();
            assert_eq!(reload(&s.url("/v1/reload")).0, 200);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let total: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(total > 0);
    s.stop().unwrap();
}

/// A request in flight when shutdown begins is answered; then the server stops.
#[test]
fn graceful_shutdown_finishes_requests_in_flight() {
    let Some(f) = fixture() else { return };
    let mut s = start(config(f, &[("vae", &f.multvae)]));
    let body = br#"{"items": ["50", "181"], "k": 5}"#;
    // Half the body now; shutdown; the rest after.
    let mut c = partial_request(s.addr, "POST /v1/recommend HTTP/1.1", body, 10);
    std::thread::sleep(Duration::from_millis(100));
    s.begin_stop();
    std::thread::sleep(Duration::from_millis(200));
    use std::io::Write as _;
    c.write_all(&body[10..]).unwrap();
    let (st, text) = read_response(&mut c);
    assert_eq!(st, 200, "{text}");
    assert_eq!(json(&text)["items"].as_array().unwrap().len(), 5);
    let addr = s.addr;
    s.stop().unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

/// A request slower than the limit (here a body that never finishes) is answered 503 with a
/// JSON error, and the server goes on answering.
#[test]
fn slow_requests_time_out() {
    let Some(f) = fixture() else { return };
    let mut c = config(f, &[("vae", &f.multvae)]);
    c.limits.timeout = Duration::from_millis(300);
    c.limits.body_idle = Duration::from_secs(60);
    let s = start(c);
    let mut conn = partial_request(
        s.addr,
        "POST /v1/recommend HTTP/1.1",
        br#"{"items": ["50"]}"#,
        5,
    );
    let (st, text) = read_response(&mut conn);
    assert_eq!(st, 503, "{text}");
    assert!(
        json(&text)["error"].as_str().unwrap().contains("300 ms"),
        "{text}"
    );
    assert_eq!(get(&s.url("/healthz")).0, 200);
    s.stop().unwrap();
}

#[test]
fn models_that_fail_to_load_are_refused_at_start() {
    let Some(f) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.recs");
    std::fs::write(&bad, b"nope").unwrap();
    let e = recs_serve::Server::load(config(f, &[("good", &f.bpr), ("bad", &bad)])).unwrap_err();
    assert_eq!(e.name, "bad");
    assert!(e.to_string().contains("bad.recs"), "{e}");
    let e = recs_serve::Server::load(config(f, &[("a", &f.bpr), ("a", &f.multvae)])).unwrap_err();
    assert!(e.to_string().contains("two models have this name"), "{e}");
    assert!(recs_serve::Server::load(config(f, &[])).is_err());
}

/// Reload needs the admin token (and is off without one); a POST body must say it is JSON;
/// no response invites another origin's scripts (no CORS headers, whatever the `Origin`).
#[test]
fn admin_routes_need_the_token_and_bodies_must_be_json() {
    let Some(f) = fixture() else { return };
    let s = start(config(f, &[("bpr", &f.bpr), ("vae", &f.multvae)]));
    let url = s.url("/v1/reload");
    let send = |auth: Option<&str>| {
        let mut req = agent().post(&url).header("origin", "http://evil.example");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let mut r = req.send("").unwrap();
        let www = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        (
            r.status().as_u16(),
            www,
            json(&r.body_mut().read_to_string().unwrap()),
        )
    };
    let (st, www, v) = send(None);
    assert_eq!((st, www.as_deref()), (401, Some("Bearer")), "{v}");
    assert_eq!(v["param"], "Authorization");
    assert_eq!(send(Some("Bearer not-the-token-at-all-0")).0, 401);
    assert_eq!(send(Some(ADMIN_TOKEN)).0, 401, "the scheme is required");
    let (st, _, v) = send(Some(&format!("Bearer {ADMIN_TOKEN}")));
    assert_eq!((st, v["generation"].as_u64()), (200, Some(1)), "{v}");

    let post_as = |content_type: Option<&str>| {
        let mut req = agent()
            .post(s.url("/v1/recommend"))
            .header("origin", "http://evil.example");
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        let mut r = req.send(r#"{"users": ["196"], "k": 3}"#).unwrap();
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "a CORS header was sent"
        );
        (
            r.status().as_u16(),
            json(&r.body_mut().read_to_string().unwrap()),
        )
    };
    for bad in [
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let (st, v) = post_as(bad);
        assert_eq!(st, 415, "{bad:?}: {v}");
        assert_eq!(v["param"], "Content-Type");
    }
    for good in ["application/json", "Application/JSON; charset=utf-8"] {
        assert_eq!(post_as(Some(good)).0, 200, "{good}");
    }
    s.stop().unwrap();

    // Without a token configured, reload over HTTP is off whatever the request carries.
    let mut c = config(f, &[("bpr", &f.bpr)]);
    c.admin_token = None;
    let s = start(c);
    let (st, v) = reload(&s.url("/v1/reload"));
    assert_eq!(st, 403, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("--admin-token-file"),
        "{v}"
    );
    assert_eq!(s.server.models().generation, 0);
    s.stop().unwrap();
}

/// Reload is not bounded by the request timeout (a model slower to load than the timeout
/// can still be reloaded over HTTP), and reloads run one at a time, each reporting the
/// generation it made.
#[test]
fn reload_outlasts_the_request_timeout_and_reloads_are_serialized() {
    let Some(f) = fixture() else { return };
    let mut c = config(f, &[("bpr", &f.bpr), ("vae", &f.multvae)]);
    c.limits.timeout = Duration::from_millis(1);
    let s = start(c);
    let (st, v) = reload(&s.url("/v1/reload"));
    assert_eq!((st, v["generation"].as_u64()), (200, Some(1)), "{v}");
    // Four at once: each answered with its own generation, 2 to 5.
    let url = s.url("/v1/reload");
    let mut gens: Vec<u64> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4).map(|_| sc.spawn(|| reload(&url))).collect();
        hs.into_iter()
            .map(|h| {
                let (st, v) = h.join().unwrap();
                assert_eq!(st, 200, "{v}");
                v["generation"].as_u64().unwrap()
            })
            .collect()
    });
    gens.sort_unstable();
    assert_eq!(gens, [2, 3, 4, 5]);
    assert_eq!(s.server.models().generation, 5);
    s.stop().unwrap();
}

/// Scoring is admitted up to `max_in_flight` tasks and `max_queue` waiting requests: with
/// every place taken and no room to wait, a request is answered 503 with `Retry-After` at
/// once (no work queues behind it); a waiting request whose time runs out is answered 503
/// without being scored; a place freed, the next request is answered.
#[test]
fn a_busy_server_answers_503_with_retry_after_at_once() {
    let Some(f) = fixture() else { return };
    let mut c = config(f, &[("vae", &f.multvae)]);
    c.limits.max_in_flight = 1;
    c.limits.max_queue = 1;
    c.limits.timeout = Duration::from_millis(1500);
    let s = start(c);
    let place = s.server.admit().expect("a free place");
    assert!(s.server.admit().is_none());
    let waiter = {
        let url = s.url("/v1/recommend?user=196&k=3");
        std::thread::spawn(move || get(&url))
    };
    std::thread::sleep(Duration::from_millis(300));
    let t = std::time::Instant::now();
    let mut r = agent()
        .get(&s.url("/v1/recommend?user=196&k=3"))
        .call()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(
        r.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string()),
        Some("1".to_string())
    );
    let body = json(&r.body_mut().read_to_string().unwrap());
    assert!(body["error"].as_str().unwrap().contains("busy"), "{body}");
    // The waiting request runs out of time: 503, naming the limit.
    let (st, text) = waiter.join().unwrap();
    assert_eq!(st, 503, "{text}");
    assert!(text.contains("1500 ms"), "{text}");
    drop(place);
    assert_eq!(get(&s.url("/v1/recommend?user=196&k=3")).0, 200);
    s.stop().unwrap();
}

/// A request that never finishes (a body never sent) does not hold shutdown past the grace
/// period.
#[test]
fn shutdown_waits_at_most_the_grace_period() {
    let Some(f) = fixture() else { return };
    let mut c = config(f, &[("vae", &f.multvae)]);
    c.limits.timeout = Duration::from_secs(120);
    c.limits.body_idle = Duration::from_secs(120);
    c.limits.grace = Duration::from_millis(300);
    let mut s = start(c);
    let _conn = partial_request(
        s.addr,
        "POST /v1/recommend HTTP/1.1",
        br#"{"items": ["50"]}"#,
        5,
    );
    std::thread::sleep(Duration::from_millis(100));
    let t = std::time::Instant::now();
    s.begin_stop();
    s.stop().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

/// A browser page can reach a loopback server through a name of its own (DNS rebinding):
/// a `Host` outside the allowed names is refused before any route, 404s included.
#[test]
fn requests_for_another_host_are_refused() {
    let Some(f) = fixture() else { return };
    let s = start(config(f, &[("bpr", &f.bpr)]));
    let port = s.addr.port();
    let with_host = |host: &str, path: &str| {
        let mut r = agent()
            .get(s.url(path))
            .header("host", host)
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "LOCALHOST.".to_string(),
    ] {
        assert_eq!(with_host(&host, "/healthz").0, 200, "{host}");
    }
    for (host, path) in [
        (format!("evil.example:{port}"), "/v1/models"),
        ("rebound.example".to_string(), "/v1/recommend?user=196&k=3"),
        ("127.0.0.2".to_string(), "/no-such-route"),
    ] {
        let (st, text) = with_host(&host, path);
        assert_eq!(st, 403, "{host}: {text}");
        let v = json(&text);
        assert_eq!(v["param"], "Host");
        assert!(
            v["error"].as_str().unwrap().contains("--allowed-host"),
            "{v}"
        );
    }
    s.stop().unwrap();
    assert_eq!(
        recs_serve::allowed_hosts(([0, 0, 0, 0], 8080).into(), &[]),
        None,
        "beyond loopback without names, any host"
    );
    assert_eq!(
        recs_serve::allowed_hosts(([10, 0, 0, 1], 8080).into(), &["Recs.Example".into()]),
        Some(vec!["10.0.0.1".to_string(), "recs.example".to_string()])
    );
    let other_loopback = recs_serve::allowed_hosts(([127, 0, 0, 2], 8080).into(), &[]).unwrap();
    assert!(
        other_loopback.contains(&"127.0.0.2".to_string()),
        "{other_loopback:?}"
    );
}

/// A body shorter than its `Content-Length` is answered 400 once it stops arriving (not at
/// the request timeout), naming how much came; a `Content-Length` over the limit is 413
/// before the body is read; a field given twice is 422 naming it.
#[test]
fn bodies_that_stop_or_repeat_fields_are_refused_at_once() {
    let Some(f) = fixture() else { return };
    let mut c = config(f, &[("bpr", &f.bpr)]);
    c.limits.timeout = Duration::from_secs(30);
    c.limits.body_idle = Duration::from_millis(300);
    let s = start(c);
    let t = std::time::Instant::now();
    let mut conn = partial_request(
        s.addr,
        "POST /v1/recommend HTTP/1.1",
        br#"{"users": ["196"], "k": 3}"#,
        7,
    );
    let (st, text) = read_response(&mut conn);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(st, 400, "{text}");
    let v = json(&text);
    assert_eq!(v["param"], "body");
    assert!(
        v["error"].as_str().unwrap().contains("7 of 26 bytes"),
        "{v}"
    );

    use std::io::Write as _;
    let mut conn = std::net::TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "POST /v1/recommend HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000000000\r\n\r\n"
    )
    .unwrap();
    let (st, text) = read_response(&mut conn);
    assert_eq!(st, 413, "{text}");

    for (body, key) in [
        (r#"{"k": 3, "users": ["196"], "k": 1000000}"#, "k"),
        (r#"{"users": ["196"], "users": ["1"]}"#, "users"),
    ] {
        let (st, v) = post_json(&s.url("/v1/recommend"), body);
        assert_eq!((st, v["param"].as_str()), (422, Some(key)), "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains("given twice"), "{v}");
    }
    let (st, v) = post_json(&s.url("/v1/recommend"), "[1, 2]");
    assert_eq!(st, 422, "{v}");
    assert!(v["error"].as_str().unwrap().contains("not a list"), "{v}");
    s.stop().unwrap();
}

/// A batch answer is streamed (chunked, no `Content-Length`), and is the same JSON, user by
/// user, as each user's own answer.
#[test]
fn batch_answers_are_streamed() {
    let Some(f) = fixture() else { return };
    let s = start(config(f, &[("bpr", &f.bpr)]));
    let users: Vec<String> = direct(&f.bpr).users.iter().take(1000).cloned().collect();
    let body = serde_json::json!({"users": users, "k": 200}).to_string();
    let mut r = agent()
        .post(s.url("/v1/recommend"))
        .header("content-type", "application/json")
        .send(&body)
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("content-length").is_none());
    assert_eq!(
        r.headers()
            .get("transfer-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("chunked")
    );
    let text = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap();
    let v = json(&text);
    assert_eq!(v["model"], "bpr");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), users.len());
    for (k, u) in [0usize, 1, users.len() / 2, users.len() - 1].map(|k| (k, &users[k])) {
        assert_eq!(results[k]["user"], u.as_str());
        let (st, one) = get_json(&s.url(&format!("/v1/recommend?user={u}&k=200")));
        assert_eq!(st, 200);
        assert_eq!(results[k]["items"], one["items"], "user {u}");
    }
    s.stop().unwrap();
}
