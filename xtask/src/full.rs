//! The hand-over from the lean build to the full one.
//!
//! `cargo xtask` (the alias in `.cargo/config.toml`) builds xtask with no default features,
//! so the main job compiles only what it runs: no candle, no Parquet reader, no HTTPS client.
//! A task that needs one of those (a candle `--device`, the benchmark suite, a download over
//! HTTPS) builds the default, full feature set once with `cargo run --release -p xtask` and
//! hands its arguments over; later runs find that build fresh. The same commands therefore
//! reach every capability, and only the first use of one compiles more.

use std::ffi::OsString;
use std::process::Command;

/// Whether this build has every feature (`full`, the default outside the alias).
pub const FULL: bool = cfg!(feature = "full");

/// Set on the full build's process, so that a lean build can never hand over in a loop.
const HANDED_OVER: &str = "RECS_XTASK_FULL";

/// What in `args` (without the program name) the lean build cannot do, if anything.
pub fn needed_for(args: &[OsString]) -> Option<String> {
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    match args.first() {
        Some(&"bench") | Some(&"bench-worker") => {
            return Some("the benchmark suite".into());
        }
        Some(&"reproduce") => {}
        _ => return None,
    }
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let device = match a.strip_prefix("--device") {
            Some("") => it.next().copied(),
            Some(v) => v.strip_prefix('='),
            None => None,
        };
        if let Some(d) = device
            && d != "native"
            && !cfg!(feature = "candle")
        {
            return Some(format!("--device {d} (the candle engine)"));
        }
    }
    None
}

/// Builds and runs the full xtask with this process's arguments, and exits with its status.
pub fn hand_over(why: &str) -> ! {
    if std::env::var_os(HANDED_OVER).is_some() {
        eprintln!("error: {why} needs xtask's full build, and this process was meant to be it");
        std::process::exit(1);
    }
    eprintln!(
        "xtask: {why} needs the full build (features candle, parquet, download): \
         `cargo run --release -p xtask` builds it once, then runs the same command"
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(crate::workspace_root())
        .args(["run", "--release", "--package", "xtask", "--"])
        .args(std::env::args_os().skip(1))
        .env(HANDED_OVER, "1")
        .status();
    match status {
        Ok(s) => std::process::exit(s.code().unwrap_or(1)),
        Err(e) => {
            eprintln!("error: running cargo to build xtask's full build: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(args: &[&str]) -> Option<String> {
        let v: Vec<OsString> = args.iter().map(OsString::from).collect();
        needed_for(&v)
    }

    #[test]
    fn the_main_job_and_native_devices_stay_lean() {
        assert_eq!(needs(&["reproduce", "bivae-ml100k"]), None);
        assert_eq!(
            needs(&["reproduce", "bivae-ml100k", "--device", "native"]),
            None
        );
        assert_eq!(
            needs(&["reproduce", "bivae-ml100k", "--device=native"]),
            None
        );
        assert_eq!(needs(&["download", "ml-100k"]), None);
        assert_eq!(needs(&["golden"]), None);
        assert_eq!(needs(&[]), None);
    }

    #[test]
    fn the_bench_always_and_candle_devices_without_candle_hand_over() {
        assert!(needs(&["bench", "--compare", "HEAD^"]).is_some());
        assert!(needs(&["bench-worker", "list"]).is_some());
        for args in [
            &["reproduce", "bivae-ml100k", "--device", "cpu"][..],
            &["reproduce", "multvae-ml100k", "--device=cuda:1"][..],
        ] {
            assert_eq!(needs(args).is_some(), !cfg!(feature = "candle"), "{args:?}");
        }
    }
}
