//! Shared by the server's integration tests: real models trained on ml-100k through the
//! registry (found as users find it: `$RECS_DATA_DIR`, installed from `$RECS_DATA_MIRROR`;
//! skipped, saying so, without it, failing under CI), a server on an ephemeral loopback
//! port, and a plain HTTP client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use recs_core::modelfile::Catalog;
use recs_core::{Control, EpochReport, TrainData};
use recs_registry::HyperParams;
use recs_serve::{Config, Limits, ModelSpec, Server};
use recs_sparse::DuplicatePolicy;
use serde_json::Value;

/// Model files trained once per test binary, in a directory that lives as long as it.
pub struct Fixture {
    pub dir: PathBuf,
    /// ml-100k's directory (for titles).
    pub ml100k: PathBuf,
    pub bpr: PathBuf,
    pub bpr_other_seed: PathBuf,
    pub multvae: PathBuf,
    pub global_mean: PathBuf,
}

fn train(kind: &str, hp: HyperParams, data: &recs_data::Interactions, out: &Path) {
    let entry = recs_registry::find(kind).unwrap();
    let params = entry.params_for(&hp, false).unwrap();
    let m = data.to_csr(DuplicatePolicy::KeepLast).unwrap();
    let mut progress = |_: &EpochReport| Control::Continue;
    let model = entry
        .fit(&params, &TrainData::new(&m), &mut progress)
        .unwrap();
    let catalog = Catalog {
        user_ids: Some(data.user_map().ids().to_vec()),
        item_ids: Some(data.item_map().ids().to_vec()),
        seen: Some(m.binarize()),
    };
    let extra = serde_json::json!({"source": {"dataset": "ml-100k"}, "note": "recs-serve test"});
    recs_registry::save(&*model, &catalog, extra, out).unwrap();
}

/// The fixture, or `None` (the test returns) where ml-100k is not to be had.
pub fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let ml100k = recs_data::registry::require("ml-100k")?;
        let data = recs_data::registry::load_dataset("ml-100k").unwrap();
        let dir = tempfile::tempdir().unwrap().keep();
        let hp = |epochs: usize, seed: u64| {
            HyperParams::new()
                .with("epochs", epochs)
                .with("threads", 1)
                .with("seed", seed)
        };
        let f = Fixture {
            bpr: dir.join("bpr.recs"),
            bpr_other_seed: dir.join("bpr-7.recs"),
            multvae: dir.join("multvae.recs"),
            global_mean: dir.join("global-mean.recs"),
            ml100k,
            dir,
        };
        train("bpr", hp(5, 42), &data, &f.bpr);
        train("bpr", hp(5, 7), &data, &f.bpr_other_seed);
        train("multvae", hp(2, 42), &data, &f.multvae);
        train("global-mean", HyperParams::default(), &data, &f.global_mean);
        Some(f)
    })
    .as_ref()
}

/// Titles from the installed ml-100k, as the CLI gives them.
pub fn titles(f: &Fixture) -> recs_serve::TitlesFn {
    let t = recs_data::movielens::item_titles(&f.ml100k).unwrap();
    Arc::new(move |_meta| t.clone())
}

pub fn config(f: &Fixture, models: &[(&str, &Path)]) -> Config {
    Config {
        models: models
            .iter()
            .map(|(n, p)| ModelSpec {
                name: n.to_string(),
                path: p.to_path_buf(),
            })
            .collect(),
        limits: Limits::default(),
        titles: Some(titles(f)),
        admin_token: Some(recs_serve::AdminToken::new(ADMIN_TOKEN).unwrap()),
        allowed_hosts: recs_serve::allowed_hosts(([127, 0, 0, 1], 0).into(), &[]),
        mmap: false,
    }
}

/// The admin token the test servers are configured with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// `POST /v1/reload` with the admin token.
pub fn reload(url: &str) -> (u16, Value) {
    let mut r = agent()
        .post(url)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send("")
        .unwrap();
    let s = r.status().as_u16();
    (s, json(&r.body_mut().read_to_string().unwrap()))
}

/// A server running on its own runtime on 127.0.0.1:0 until [`Running::stop`] (or drop).
pub struct Running {
    pub addr: SocketAddr,
    pub server: Arc<Server>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Asks for a graceful shutdown (no wait).
    pub fn begin_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Stops and waits for `serve` to return; its result.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.begin_stop();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.begin_stop();
    }
}

pub fn start(config: Config) -> Running {
    let server = Server::load(config).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let s = server.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(2)
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            tx.send(listener.local_addr()?).unwrap();
            recs_serve::serve(listener, s, async {
                let _ = stopped.await;
            })
            .await
        })
    });
    let addr = rx.recv().unwrap();
    Running {
        addr,
        server,
        stop: Some(stop),
        thread: Some(thread),
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// (status, body text) of a GET.
pub fn get(url: &str) -> (u16, String) {
    let mut r = agent().get(url).call().unwrap();
    let s = r.status().as_u16();
    (s, r.body_mut().read_to_string().unwrap())
}

/// (status, body text) of a POST of `body` as JSON.
pub fn post(url: &str, body: &str) -> (u16, String) {
    let mut r = agent()
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let s = r.status().as_u16();
    (s, r.body_mut().read_to_string().unwrap())
}

pub fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The status and JSON body of a GET.
pub fn get_json(url: &str) -> (u16, Value) {
    let (s, b) = get(url);
    (s, json(&b))
}

pub fn post_json(url: &str, body: &str) -> (u16, Value) {
    let (s, b) = post(url, body);
    (s, json(&b))
}

/// The (item, score) pairs of a response's `items`.
pub fn pairs(v: &Value, what: &str) -> Vec<(String, f32)> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["item"].as_str().unwrap().to_string(),
                x[what].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

/// Sends `head` and the first `sent` bytes of `body` on a raw connection, returns it.
pub fn partial_request(addr: SocketAddr, head: &str, body: &[u8], sent: usize) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        c,
        "{head}\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    c.write_all(&body[..sent]).unwrap();
    c.flush().unwrap();
    c
}

/// The status line and body of the response on `c` (read to its close or its length).
pub fn read_response(c: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match c.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(usize::MAX);
                    if body.len() >= len {
                        break;
                    }
                }
            }
            Err(e) => panic!("reading the response: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The ids of ml-100k's titles, to compare with.
pub fn title_map(f: &Fixture) -> HashMap<String, String> {
    recs_data::movielens::item_titles(&f.ml100k).unwrap()
}
