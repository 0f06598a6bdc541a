//! Request counters and latency histograms per route, rendered in the Prometheus text
//! exposition format (version 0.0.4). Hand-written: a few counters under one mutex need no
//! metrics registry, and the text format is a handful of lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default, Clone)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    /// Counts per bucket (not cumulative; rendered cumulative), the last for +Inf.
    buckets: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    routes: BTreeMap<(String, String), RouteStats>,
    reloads_ok: u64,
    reloads_failed: u64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    // A panic while holding this lock leaves counters that are still counters.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A label value with `\`, `"` and newlines escaped, as the text format asks.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts one answered request.
    pub fn record(&self, route: &str, method: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        let mut g = lock(&self.inner);
        let r = g
            .routes
            .entry((route.to_string(), method.to_string()))
            .or_default();
        *r.by_status.entry(status).or_default() += 1;
        r.buckets[b] += 1;
        r.sum += secs;
        r.count += 1;
    }

    /// Counts one reload, `ok` or failed.
    pub fn reload(&self, ok: bool) {
        let mut g = lock(&self.inner);
        if ok {
            g.reloads_ok += 1;
        } else {
            g.reloads_failed += 1;
        }
    }

    /// The Prometheus text; `models` is how many models are being served.
    pub fn render(&self, models: usize, uptime: Duration) -> String {
        let g = lock(&self.inner).routes.clone();
        let (ok, failed) = {
            let i = lock(&self.inner);
            (i.reloads_ok, i.reloads_failed)
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP recs_http_requests_total Requests answered, by route, method and status.\n# TYPE recs_http_requests_total counter"
        );
        for ((route, method), r) in &g {
            for (status, n) in &r.by_status {
                let _ = writeln!(
                    s,
                    "recs_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                    label(route)
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP recs_http_request_errors_total Requests answered with a 4xx or 5xx status, by route and method.\n# TYPE recs_http_request_errors_total counter"
        );
        for ((route, method), r) in &g {
            let n: u64 = r.by_status.range(400..).map(|(_, n)| n).sum();
            let _ = writeln!(
                s,
                "recs_http_request_errors_total{{route=\"{}\",method=\"{method}\"}} {n}",
                label(route)
            );
        }
        let _ = writeln!(
            s,
            "# HELP recs_http_request_duration_seconds Time from a request's arrival at its route to its answer.\n# TYPE recs_http_request_duration_seconds histogram"
        );
        for ((route, method), r) in &g {
            let l = format!("route=\"{}\",method=\"{method}\"", label(route));
            let mut cum = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cum += r.buckets[i];
                let _ = writeln!(
                    s,
                    "recs_http_request_duration_seconds_bucket{{{l},le=\"{le}\"}} {cum}"
                );
            }
            cum += r.buckets[BUCKETS.len()];
            let _ = writeln!(
                s,
                "recs_http_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {cum}"
            );
            let _ = writeln!(s, "recs_http_request_duration_seconds_sum{{{l}}} {}", r.sum);
            let _ = writeln!(
                s,
                "recs_http_request_duration_seconds_count{{{l}}} {}",
                r.count
            );
        }
        let _ = writeln!(
            s,
            "# HELP recs_model_reloads_total Reloads of the model files, by result.\n# TYPE recs_model_reloads_total counter\nrecs_model_reloads_total{{result=\"ok\"}} {ok}\nrecs_model_reloads_total{{result=\"failed\"}} {failed}"
        );
        let _ = writeln!(
            s,
            "# HELP recs_models Models being served.\n# TYPE recs_models gauge\nrecs_models {models}"
        );
        let _ = writeln!(
            s,
            "# HELP recs_uptime_seconds Seconds since the server started.\n# TYPE recs_uptime_seconds gauge\nrecs_uptime_seconds {}",
            uptime.as_secs_f64()
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_errors() {
        let m = Metrics::default();
        m.record("/v1/recommend", "GET", 200, Duration::from_micros(50));
        m.record("/v1/recommend", "GET", 200, Duration::from_millis(3));
        m.record("/v1/recommend", "GET", 404, Duration::from_secs(10));
        let t = m.render(1, Duration::from_secs(1));
        let l = "route=\"/v1/recommend\",method=\"GET\"";
        for want in [
            format!("recs_http_requests_total{{{l},status=\"200\"}} 2"),
            format!("recs_http_requests_total{{{l},status=\"404\"}} 1"),
            format!("recs_http_request_errors_total{{{l}}} 1"),
            format!("recs_http_request_duration_seconds_bucket{{{l},le=\"0.0001\"}} 1"),
            format!("recs_http_request_duration_seconds_bucket{{{l},le=\"0.005\"}} 2"),
            format!("recs_http_request_duration_seconds_bucket{{{l},le=\"5\"}} 2"),
            format!("recs_http_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} 3"),
            format!("recs_http_request_duration_seconds_count{{{l}}} 3"),
        ] {
            assert!(t.lines().any(|x| x == want), "missing `{want}` in\n{t}");
        }
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
