//! The routes: one table ([`ROUTES`]) builds the router and is checked against
//! `openapi.json`; each handler parses and checks its parameters (a 4xx naming the one at
//! fault), then scores on the blocking pool.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::{Served, Server};

type AppState = Arc<Server>;

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path.
    pub path: &'static str,
    /// The query parameters it takes (any other is answered 400).
    pub query: &'static [&'static str],
    /// Whether the request timeout bounds it (every route but reload, which takes as long
    /// as its files take to load and answers with what happened).
    pub timed: bool,
    make: fn() -> MethodRouter<AppState>,
}

/// Every route, as the router serves them and `openapi.json` documents them.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/v1/recommend",
        query: &["user", "k", "filter", "model"],
        timed: true,
        make: || get(recommend_get),
    },
    Route {
        method: "POST",
        path: "/v1/recommend",
        query: &[],
        timed: true,
        make: || post(recommend_post),
    },
    Route {
        method: "GET",
        path: "/v1/similar",
        query: &["item", "k", "model"],
        timed: true,
        make: || get(similar),
    },
    Route {
        method: "GET",
        path: "/v1/models",
        query: &[],
        timed: true,
        make: || get(models),
    },
    Route {
        method: "POST",
        path: "/v1/reload",
        query: &[],
        timed: false,
        make: || post(reload),
    },
    Route {
        method: "GET",
        path: "/healthz",
        query: &[],
        timed: true,
        make: || get(healthz),
    },
    Route {
        method: "GET",
        path: "/metrics",
        query: &[],
        timed: true,
        make: || get(metrics),
    },
];

/// The fields of a `POST /v1/recommend` body (any other is answered 422).
pub const RECOMMEND_BODY: &[&str] = &["items", "users", "k", "filter", "model"];

fn query_of(method: &str, path: &str) -> &'static [&'static str] {
    ROUTES
        .iter()
        .find(|r| r.method == method && r.path == path)
        .map_or(&[], |r| r.query)
}

/// The router of [`ROUTES`] over `server`: body limit, request timeout, panics caught as a
/// JSON 500, metrics per route, JSON 404/405 for unknown paths and methods.
pub fn router(server: Arc<Server>) -> Router {
    let mut r: Router<AppState> = Router::new();
    for route in ROUTES {
        let methods = (route.make)();
        let methods = if route.timed {
            methods.route_layer(middleware::from_fn_with_state(server.clone(), timeout))
        } else {
            methods
        };
        r = r.route(route.path, methods);
    }
    let limits = server.config().limits.clone();
    r.route_layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .route_layer(middleware::from_fn_with_state(server.clone(), measure))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(middleware::from_fn_with_state(server.clone(), check_host))
        .with_state(server)
}

/// Refuses (403) a request whose `Host` is not one of [`crate::Config::allowed_hosts`],
/// before any route runs. A request without `Host` (HTTP/1.0 tools) passes: a browser,
/// the client a rebound name would use, always sends one.
async fn check_host(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if let (Some(allowed), Some(given)) =
        (&s.config().allowed_hosts, req.headers().get(header::HOST))
    {
        let given = String::from_utf8_lossy(given.as_bytes());
        if !allowed.contains(&crate::host_name(&given)) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                Some("Host"),
                format!(
                    "this server answers to the host names {}, not `{}` (recs serve --allowed-host NAME adds one)",
                    allowed.join(", "),
                    given.chars().take(100).collect::<String>().escape_debug()
                ),
            )
            .into_response();
        }
    }
    next.run(req).await
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("the server failed answering this request (a bug: please report it)")
        .into_response()
}

/// The request timeout, on the routes marked [`Route::timed`].
async fn timeout(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let limit = s.config().limits.timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            format!(
                "the request took longer than the server's limit of {} ms",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}

async fn measure(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = req.method().as_str().to_string();
    let resp = next.run(req).await;
    s.metrics
        .record(&route, &method, resp.status().as_u16(), started.elapsed());
    resp
}

fn route_list() -> String {
    ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn no_route(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        None,
        format!(
            "no route {} {}; the routes are: {}",
            req.method(),
            req.uri().path(),
            route_list()
        ),
    )
}

async fn no_method(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        format!(
            "{} is not a method of {}; the routes are: {}",
            req.method(),
            req.uri().path(),
            route_list()
        ),
    )
}

/// Runs `f` on the blocking pool (scoring never runs on the async threads), if the server
/// admits it: at most `max_in_flight` scoring tasks run at once and at most `max_queue`
/// requests wait for a place (a waiting request whose time runs out is dropped before any
/// work starts); a request beyond both is answered 503 with `Retry-After` at once. A task
/// holds its place until it ends, even when its client has already been answered (a
/// timeout): the limit bounds the work, not only the waiting.
async fn blocking<T: Send + 'static>(
    s: &Server,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let limits = &s.config().limits;
    let place = match s.admit() {
        Some(p) => p,
        None => {
            let Some(waiting) = s.wait_in_queue() else {
                return Err(ApiError::busy(limits.max_in_flight, limits.max_queue));
            };
            let p = s.next_place().await;
            drop(waiting);
            p.ok_or_else(|| ApiError::busy(limits.max_in_flight, limits.max_queue))?
        }
    };
    tokio::task::spawn_blocking(move || {
        let _place = place;
        f()
    })
    .await
    .unwrap_or_else(|e| {
        // The panic's message is for the log, not for the client.
        eprintln!("recs serve: a scoring task failed: {e}");
        Err(ApiError::internal(
            "the server failed answering this request (a bug: please report it)",
        ))
    })
}

/// `Ok` when the request says its body is JSON (`Content-Type: application/json`, any
/// parameters): a POST body of another type (a form a web page can send without the
/// server's consent) is answered 415 before it is read.
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let is_json = given.as_deref().is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if is_json {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Some("Content-Type"),
        format!(
            "the body must be JSON sent as `Content-Type: application/json` (curl --json '…'); got {}",
            given.map_or("no Content-Type".to_string(), |g| format!(
                "`{}`",
                g.chars().take(100).collect::<String>()
            ))
        ),
    ))
}

/// A request's query parameters, taken one by one; what is left is an error.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(q: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Result<Self, ApiError> {
        match q {
            Ok(Query(v)) => Ok(Self(v)),
            Err(e) => Err(ApiError::bad(
                "query",
                format!("malformed query string: {e}"),
            )),
        }
    }

    /// The value of `name`, if given (once: twice is an error).
    fn take(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let mut found = None;
        let mut i = 0;
        while i < self.0.len() {
            if self.0[i].0 == name {
                let (_, v) = self.0.remove(i);
                if found.is_some() {
                    return Err(ApiError::bad(name, format!("`{name}` is given twice")));
                }
                found = Some(v);
            } else {
                i += 1;
            }
        }
        Ok(found)
    }

    fn required(&mut self, name: &str) -> Result<String, ApiError> {
        self.take(name)?
            .ok_or_else(|| ApiError::bad(name, format!("`{name}` is required")))
    }

    /// `ID,ID,…` (empty parts skipped).
    fn list(&mut self, name: &str) -> Result<Vec<String>, ApiError> {
        Ok(self
            .take(name)?
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    fn k(&mut self, max_k: usize) -> Result<usize, ApiError> {
        match self.take("k")? {
            None => Ok(10.min(max_k)),
            Some(v) => match v.trim().parse::<i128>() {
                Ok(k) if k >= 1 && k <= max_k as i128 => Ok(k as usize),
                _ => Err(k_error(&v, max_k)),
            },
        }
    }

    /// Refuses what is left: parameters `GET path` does not take.
    fn finish(self, path: &str) -> Result<(), ApiError> {
        let allowed = query_of("GET", path);
        match self.0.first() {
            None => Ok(()),
            Some((k, _)) => Err(ApiError::bad(
                k,
                if allowed.is_empty() {
                    format!("unknown parameter `{k}`; this route takes none")
                } else {
                    format!(
                        "unknown parameter `{k}`; this route takes: {}",
                        allowed.join(", ")
                    )
                },
            )),
        }
    }
}

fn k_error(v: &str, max_k: usize) -> ApiError {
    ApiError::bad(
        "k",
        format!("k = {v} is out of range: allowed a whole number in 1..={max_k}"),
    )
}

fn pick(s: &Server, name: Option<&str>) -> Result<Arc<Served>, ApiError> {
    let m = s.models();
    let name = name.unwrap_or(&m.default);
    m.by_name.get(name).cloned().ok_or_else(|| {
        ApiError::not_found(
            "model",
            format!(
                "no model named `{name}`; serving: {}",
                m.by_name.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

fn items_json(m: &Served, top: &[(u32, f32)], what: &'static str) -> Value {
    serde_json::to_value(Ranked { m, top, what }).unwrap_or(Value::Null)
}

/// A ranked list as JSON, `[{"item": id, <what>: score, "title": t}, …]` (the title where
/// known; keys in sorted order, scores as f64 like every JSON number here), serialised
/// straight from the model's ids and titles, without building a JSON tree.
struct Ranked<'a> {
    m: &'a Served,
    top: &'a [(u32, f32)],
    what: &'static str,
}

/// One entry of a [`Ranked`] list.
struct RankedItem<'a> {
    id: &'a str,
    score: f64,
    what: &'static str,
    title: Option<&'a String>,
}

impl serde::Serialize for Ranked<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.top.len()))?;
        for &(i, score) in self.top {
            let id = self.m.q.items[i as usize].as_str();
            seq.serialize_element(&RankedItem {
                id,
                score: f64::from(score),
                what: self.what,
                title: self.m.titles.get(id),
            })?;
        }
        seq.end()
    }
}

impl serde::Serialize for RankedItem<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2 + usize::from(self.title.is_some())))?;
        if self.what < "item" {
            map.serialize_entry(self.what, &self.score)?;
        }
        map.serialize_entry("item", self.id)?;
        if self.what > "item" {
            map.serialize_entry(self.what, &self.score)?;
        }
        if let Some(t) = self.title {
            map.serialize_entry("title", t)?;
        }
        map.end()
    }
}

/// The body of `GET /v1/recommend` (fields in sorted order, as a JSON object's keys).
#[derive(serde::Serialize)]
struct RecommendBody<'a> {
    items: Ranked<'a>,
    model: &'a str,
    user: &'a str,
}

/// The body of a fold-in `POST /v1/recommend`.
#[derive(serde::Serialize)]
struct NewUserBody<'a> {
    items: Ranked<'a>,
    model: &'a str,
}

/// The body of a batch `POST /v1/recommend`, `{"model": …, "results": [{"items": …,
/// "user": …}, …]}`, streamed in pieces of about [`BATCH_CHUNK`] bytes as the client reads
/// them: a request holds its ranked indices (8 bytes an entry, each user's freed once
/// written) and one piece, never the whole answer (up to `max_batch × max_k` entries). The
/// pieces are written on the I/O thread, a few hundred microseconds each, after the scoring
/// place is given back; a client that goes away drops the rest.
struct BatchChunks {
    m: Arc<Served>,
    users: Vec<String>,
    tops: Vec<Vec<(u32, f32)>>,
    started: bool,
    next: usize,
    done: bool,
}

/// The size a streamed answer's pieces reach before they are sent.
const BATCH_CHUNK: usize = 64 << 10;

impl Iterator for BatchChunks {
    type Item = Result<Vec<u8>, std::io::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut buf = Vec::with_capacity(BATCH_CHUNK + (BATCH_CHUNK >> 2));
        let mut write = |buf: &mut Vec<u8>| -> serde_json::Result<()> {
            if !self.started {
                self.started = true;
                buf.extend_from_slice(b"{\"model\":");
                serde_json::to_writer(&mut *buf, &self.m.name)?;
                buf.extend_from_slice(b",\"results\":[");
            }
            while self.next < self.users.len() && buf.len() < BATCH_CHUNK {
                let u = self.next;
                if u > 0 {
                    buf.push(b',');
                }
                let top = std::mem::take(&mut self.tops[u]);
                serde_json::to_writer(
                    &mut *buf,
                    &BatchResult {
                        items: Ranked {
                            m: &self.m,
                            top: &top,
                            what: "score",
                        },
                        user: &self.users[u],
                    },
                )?;
                self.next += 1;
            }
            if self.next == self.users.len() {
                buf.extend_from_slice(b"]}");
                self.done = true;
            }
            Ok(())
        };
        Some(write(&mut buf).map(|()| buf).map_err(|e| {
            self.done = true;
            std::io::Error::other(e)
        }))
    }
}

/// One user of a batch answer ([`BatchChunks`]).
#[derive(serde::Serialize)]
struct BatchResult<'a> {
    items: Ranked<'a>,
    user: &'a str,
}

/// `body` as an `application/json` response, serialised on the calling (blocking) thread.
fn json_bytes(body: &impl serde::Serialize) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| ApiError::internal(format!("writing the response: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

async fn recommend_get(
    State(s): State<AppState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let mut p = Params::new(q)?;
    let user = p.required("user")?;
    let k = p.k(s.config().limits.max_k)?;
    let filter = p.list("filter")?;
    let model = p.take("model")?;
    p.finish("/v1/recommend")?;
    let m = pick(&s, model.as_deref())?;
    blocking(&s, move || {
        let err = |e| ApiError::from_query(e, "user");
        let u = m.q.user_or_err(&user).map_err(err)?;
        let f = m.q.item_indices(&filter, "filter").map_err(err)?;
        let top = m.q.recommend(u, k, &f).map_err(err)?;
        json_bytes(&RecommendBody {
            items: Ranked {
                m: &m,
                top: &top,
                what: "score",
            },
            model: &m.name,
            user: &user,
        })
    })
    .await
}

/// An id in a JSON list: a string, or a whole number written as one.
fn id_of(v: &Value, param: &str) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        other => Err(ApiError::unprocessable(
            param,
            format!("`{param}` holds {other}: ids are strings"),
        )),
    }
}

fn id_list(body: &mut Map<String, Value>, param: &str) -> Result<Option<Vec<String>>, ApiError> {
    match body.remove(param) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(
            a.iter()
                .map(|v| id_of(v, param))
                .collect::<Result<_, _>>()?,
        )),
        Some(other) => Err(ApiError::unprocessable(
            param,
            format!("`{param}` must be a list of ids, not {other}"),
        )),
    }
}

/// Reads a request body of at most `limits.max_body_bytes`: a larger `Content-Length` is
/// answered 413 before anything is read; a body that stops arriving (a `Content-Length`
/// larger than what is sent) is answered 400 once nothing has come for `limits.body_idle`,
/// naming how much came.
async fn read_body(
    headers: &HeaderMap,
    body: axum::body::Body,
    limits: &crate::Limits,
) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt as _;
    let max = limits.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("body"),
            format!("the request body is over the limit of {max} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let idle = limits.body_idle;
    let mut stream = body.into_data_stream();
    // Reserved as it arrives beyond 64 KiB: a declared length is not yet a body.
    let mut got = Vec::with_capacity(declared.unwrap_or(0).min(64 << 10) as usize);
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(None) => return Ok(got),
            Ok(Some(Ok(chunk))) => {
                if got.len() + chunk.len() > max {
                    return Err(too_large());
                }
                got.extend_from_slice(&chunk);
            }
            Ok(Some(Err(e))) => {
                return Err(ApiError::bad(
                    "body",
                    format!(
                        "could not read the body ({} of {} bytes came): {e}",
                        got.len(),
                        declared.map_or("its".to_string(), |n| n.to_string())
                    ),
                ));
            }
            Err(_) => {
                return Err(ApiError::bad(
                    "body",
                    format!(
                        "the body stopped arriving: {} of {} bytes (its Content-Length) came, then nothing for {} ms",
                        got.len(),
                        declared.map_or("the".to_string(), |n| n.to_string()),
                        idle.as_millis()
                    ),
                ));
            }
        }
    }
}

/// A JSON request body: an object whose keys are each given once, or what else it was.
enum BodyJson {
    Object(Map<String, Value>),
    Repeated(String),
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for BodyJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BodyJson;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<BodyJson, A::Error> {
                let mut m = Map::new();
                while let Some(k) = a.next_key::<String>()? {
                    let v: Value = a.next_value()?;
                    if m.contains_key(&k) {
                        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        return Ok(BodyJson::Repeated(k));
                    }
                    m.insert(k, v);
                }
                Ok(BodyJson::Object(m))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<BodyJson, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(BodyJson::Other("a list"))
            }
            fn visit_str<E>(self, _: &str) -> Result<BodyJson, E> {
                Ok(BodyJson::Other("a string"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<BodyJson, E> {
                Ok(BodyJson::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<BodyJson, E> {
                Ok(BodyJson::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<BodyJson, E> {
                Ok(BodyJson::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<BodyJson, E> {
                Ok(BodyJson::Other("a number"))
            }
            fn visit_unit<E>(self) -> Result<BodyJson, E> {
                Ok(BodyJson::Other("null"))
            }
        }
        d.deserialize_any(V)
    }
}

async fn recommend_post(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let limits = s.config().limits.clone();
    let body = read_body(&headers, body, &limits).await?;
    let parsed: BodyJson = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad("body", format!("malformed JSON: {e}")))?;
    let mut o = match parsed {
        BodyJson::Object(o) => o,
        BodyJson::Repeated(key) => {
            return Err(ApiError::unprocessable(
                &key,
                format!("the field `{key}` is given twice; give each field once"),
            ));
        }
        BodyJson::Other(what) => {
            return Err(ApiError::unprocessable(
                "body",
                format!(
                    "the body must be a JSON object, not {what}: {{\"items\": [...], \"k\": 10}} or {{\"users\": [...], \"k\": 10}}"
                ),
            ));
        }
    };
    let k = match o.remove("k") {
        None | Some(Value::Null) => 10.min(limits.max_k),
        Some(v) => match v.as_i64() {
            Some(k) if k >= 1 && k as u64 <= limits.max_k as u64 => k as usize,
            _ => {
                let mut e = k_error(&v.to_string(), limits.max_k);
                e.status = StatusCode::UNPROCESSABLE_ENTITY;
                return Err(e);
            }
        },
    };
    let model = match o.remove("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(ApiError::unprocessable(
                "model",
                format!("`model` must be a model's name, not {other}"),
            ));
        }
    };
    let items = id_list(&mut o, "items")?;
    let users = id_list(&mut o, "users")?;
    let filter = id_list(&mut o, "filter")?.unwrap_or_default();
    if let Some(key) = o.keys().next() {
        return Err(ApiError::unprocessable(
            key,
            format!(
                "unknown field `{key}`; the body takes: {}",
                RECOMMEND_BODY.join(", ")
            ),
        ));
    }
    let m = pick(&s, model.as_deref())?;
    match (items, users) {
        (Some(_), Some(_)) => Err(ApiError::unprocessable(
            "items",
            "give `items` (a new user's items) or `users` (a batch), not both",
        )),
        (None, None) => Err(ApiError::unprocessable(
            "items",
            "give `items` (the items of a user the model never saw) or `users` (a batch of known users)",
        )),
        (Some(items), None) => {
            blocking(&s, move || {
                let err = |e| ApiError::from_query(e, "users");
                let idx = m.q.item_indices(&items, "items").map_err(err)?;
                let f = m.q.item_indices(&filter, "filter").map_err(err)?;
                let top = m.q.recommend_new(&idx, k, &f).map_err(err)?;
                json_bytes(&NewUserBody {
                    items: Ranked {
                        m: &m,
                        top: &top,
                        what: "score",
                    },
                    model: &m.name,
                })
            })
            .await
        }
        (None, Some(users)) => {
            if users.len() > limits.max_batch {
                return Err(ApiError::unprocessable(
                    "users",
                    format!(
                        "{} users in one batch: at most {} a request",
                        users.len(),
                        limits.max_batch
                    ),
                ));
            }
            let deadline = recs_core::ranking::Deadline::after(limits.timeout);
            blocking(&s, move || {
                let err = |e| ApiError::from_query(e, "users");
                let idx: Vec<u32> = users
                    .iter()
                    .map(|u| m.q.user_or_err(u))
                    .collect::<Result<_, _>>()
                    .map_err(err)?;
                let f = m.q.item_indices(&filter, "filter").map_err(err)?;
                let tops = m.q.recommend_users(&idx, k, &f, &deadline).map_err(err)?;
                Ok((m, users, tops))
            })
            .await
            .map(|(m, users, tops)| {
                let chunks = BatchChunks {
                    m,
                    users,
                    tops,
                    started: false,
                    next: 0,
                    done: false,
                };
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    axum::body::Body::from_stream(futures_util::stream::iter(chunks)),
                )
                    .into_response()
            })
        }
    }
}

async fn similar(
    State(s): State<AppState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::new(q)?;
    let item = p.required("item")?;
    let k = p.k(s.config().limits.max_k)?;
    let model = p.take("model")?;
    p.finish("/v1/similar")?;
    let m = pick(&s, model.as_deref())?;
    blocking(&s, move || {
        let err = |e| ApiError::from_query(e, "item");
        let i = m.q.item(&item).ok_or_else(|| {
            ApiError::not_found("item", format!("item '{item}' is not in the training data"))
        })?;
        let top = m.q.similar(i, k).map_err(err)?;
        Ok(Json(json!({
            "model": m.name,
            "item": item,
            "title": m.titles.get(&item),
            "items": items_json(&m, &top, "cosine"),
        })))
    })
    .await
}

fn model_json(m: &Served, default: &str) -> Value {
    let d = m.q.model();
    let meta = &m.q.file.meta;
    json!({
        "name": m.name,
        "default": m.name == default,
        "kind": d.kind(),
        "params": d.params_json(),
        "training": meta.training,
        "crate_version": meta.crate_version,
        "users": m.q.users.len(),
        "items": m.q.items.len(),
        "capabilities": d.capabilities(),
        "parameters": recs_registry::find(d.kind()).map(|e| e.schema()).unwrap_or(&[]),
        "loaded_at": m.loaded_at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
        "load_seconds": m.load_seconds,
    })
}

async fn models(
    State(s): State<AppState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    Params::new(q)?.finish("/v1/models")?;
    let m = s.models();
    Ok(Json(json!({
        "default": m.default,
        "generation": m.generation,
        "models": m.by_name.values().map(|x| model_json(x, &m.default)).collect::<Vec<_>>(),
    })))
}

async fn reload(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &s.config().admin_token else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            None,
            "reload over HTTP is off: start recs serve with --admin-token-file FILE and send \
             `Authorization: Bearer <token>`, or send SIGHUP to the server's process",
        )
        .into_response();
    };
    if !token.authorizes(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes())) {
        let mut r = ApiError::new(
            StatusCode::UNAUTHORIZED,
            Some("Authorization"),
            "reload needs `Authorization: Bearer <token>` with the server's admin token",
        )
        .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Bearer".parse().expect("a header value"),
        );
        return r;
    }
    match s.reload().await {
        Ok(m) => Json(json!({
            "reloaded": m.by_name.values().map(|x| json!({
                "name": x.name,
                "kind": x.q.model().kind(),
                "load_seconds": x.load_seconds,
            })).collect::<Vec<_>>(),
            "generation": m.generation,
        }))
        .into_response(),
        Err(e) => {
            // The file's path and the error chain go to the log; the client learns which
            // model failed.
            eprintln!("recs serve: reload failed: {e}");
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": format!(
                        "model `{}` could not be loaded (the server's log says why); the previous models keep serving",
                        e.name
                    ),
                    "param": "model",
                    "model": e.name,
                    "generation": s.models().generation,
                })),
            )
                .into_response()
        }
    }
}

async fn healthz(State(s): State<AppState>) -> Json<Value> {
    let m = s.models();
    Json(json!({"status": "ok", "models": m.by_name.len(), "generation": m.generation}))
}

async fn metrics(State(s): State<AppState>) -> Response {
    let text = s.metrics.render(s.models().by_name.len(), s.uptime());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
