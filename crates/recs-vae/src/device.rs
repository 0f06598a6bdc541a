//! The `device` parameter every model's params carry: which [`Engine`] trains it.
//!
//! - `"native"` (the default): the hand-written CPU kernels ([`Engine::Native`]);
//! - `"cpu"`: candle tensor ops on candle's CPU device;
//! - `"cuda"` (device 0) or `"cuda:N"`: candle on CUDA device `N`, in a build with the
//!   `cuda` feature.
//!
//! The params' schema only reads the string (a model file trained on a GPU still loads where
//! there is none); [`Engine::from_device`] opens the device.

use recs_core::{ModelError, ParamError};

use crate::Result;

/// Where a model trains.
#[derive(Debug, Clone, Default)]
pub enum Engine {
    /// Hand-written kernels on the CPU (parallel through rayon's global pool). The default,
    /// and the fast path on a CPU.
    #[default]
    Native,
    /// Candle tensor ops on a candle device: `Device::Cpu`, or a GPU (`Engine::cuda`).
    #[cfg(feature = "candle")]
    Candle(candle_core::Device),
}

/// The values a `device` parameter allows, as its errors say them.
pub(crate) const ALLOWED: &str = "one of native, cpu, cuda, cuda:N (N a CUDA device ordinal)";

/// The default `device`.
pub(crate) const DEFAULT: &str = "native";

/// The highest CUDA ordinal `cuda:N` accepts.
const MAX_ORDINAL: usize = 1023;

/// What a `device` string names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceSpec {
    /// `"native"`.
    Native,
    /// `"cpu"`.
    Cpu,
    /// `"cuda"` (0) or `"cuda:N"`.
    Cuda(usize),
}

/// Parses a `device` value; the error names the parameter `device` and the allowed values.
pub(crate) fn parse(device: &str) -> Result<DeviceSpec, ParamError> {
    let bad = || ParamError::new("device", format!("{device:?}"), ALLOWED);
    match device {
        "native" => Ok(DeviceSpec::Native),
        "cpu" => Ok(DeviceSpec::Cpu),
        "cuda" => Ok(DeviceSpec::Cuda(0)),
        _ => {
            let n = device.strip_prefix("cuda:").ok_or_else(bad)?;
            // Digits only: `usize::from_str` would also take "+1".
            if n.is_empty() || n.len() > 4 || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            match n.parse::<usize>() {
                Ok(i) if i <= MAX_ORDINAL => Ok(DeviceSpec::Cuda(i)),
                _ => Err(bad()),
            }
        }
    }
}

/// Candle on CUDA device `ordinal`, the errors saying what is missing.
#[cfg(feature = "candle")]
pub(crate) fn open_cuda(ordinal: usize) -> Result<Engine> {
    let name = format!("cuda:{ordinal}");
    let unavailable = |reason: String| ModelError::Device {
        device: name.clone(),
        reason,
    };
    // cudarc loads the CUDA driver library at the first call and panics when it is absent:
    // turn that into an error too.
    match std::panic::catch_unwind(|| candle_core::Device::new_cuda(ordinal)) {
        Ok(Ok(device)) => Ok(Engine::Candle(device)),
        Ok(Err(candle_core::Error::NotCompiledWithCudaSupport)) => Err(unavailable(
            "this build of recs has no CUDA support (candle: \"the candle crate has not been \
             built with cuda support\"); build with `--features cuda`, or train with device \
             \"native\" or \"cpu\""
                .into(),
        )),
        Ok(Err(e)) => Err(unavailable(format!(
            "no CUDA device {ordinal} is available ({})",
            without_backtrace(e)
        ))),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("the CUDA driver could not be loaded");
            Err(unavailable(format!("no CUDA device is available ({why})")))
        }
    }
}

/// Without the candle engine compiled in, every candle device is refused, saying how to get it.
#[cfg(not(feature = "candle"))]
pub(crate) fn open_cuda(ordinal: usize) -> Result<Engine> {
    Err(no_candle(&format!("cuda:{ordinal}")))
}

/// The error for a candle device in a build without the `candle` feature.
#[cfg_attr(feature = "candle", allow(dead_code))]
fn no_candle(device: &str) -> ModelError {
    ModelError::Device {
        device: device.to_string(),
        reason: "this build of recs has no candle engine; build with `--features candle` \
                 (`--features cuda` for a GPU), or train with device \"native\""
            .into(),
    }
}

/// `e` without the backtrace candle attaches when `RUST_BACKTRACE` is set (a user's error
/// message names the cause; the frames of candle's device setup say nothing to them).
#[cfg(feature = "candle")]
fn without_backtrace(e: candle_core::Error) -> candle_core::Error {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(*inner),
        e => e,
    }
}

impl Engine {
    /// Candle on CUDA device `ordinal`. Fails with a [`ModelError::Device`] unless the crate
    /// was built with the `cuda` feature (the message says to build with `--features cuda`)
    /// and the device exists.
    pub fn cuda(ordinal: usize) -> Result<Engine, ModelError> {
        open_cuda(ordinal)
    }

    /// A short description: `native-cpu`, `candle-cpu`, `candle-cuda:0`, …
    pub fn describe(&self) -> String {
        match self {
            Engine::Native => "native-cpu".into(),
            #[cfg(feature = "candle")]
            Engine::Candle(d) => match d.location() {
                candle_core::DeviceLocation::Cpu => "candle-cpu".into(),
                candle_core::DeviceLocation::Cuda { gpu_id } => format!("candle-cuda:{gpu_id}"),
                candle_core::DeviceLocation::Metal { gpu_id } => format!("candle-metal:{gpu_id}"),
            },
        }
    }

    /// The engine a model's `device` parameter names: `"native"` → [`Engine::Native`],
    /// `"cpu"` → candle on its CPU device, `"cuda"` / `"cuda:N"` → candle on CUDA device 0
    /// / `N`.
    ///
    /// Errors: any other string is a [`ModelError::Param`] naming `device` and the allowed
    /// values; CUDA in a build without the `cuda` feature, or a CUDA device that is not
    /// there, is a [`ModelError::Device`] saying so (and, for the first, to build with
    /// `--features cuda`).
    pub fn from_device(device: &str) -> Result<Engine, ModelError> {
        match parse(device)? {
            DeviceSpec::Native => Ok(Engine::Native),
            #[cfg(feature = "candle")]
            DeviceSpec::Cpu => Ok(Engine::Candle(candle_core::Device::Cpu)),
            #[cfg(not(feature = "candle"))]
            DeviceSpec::Cpu => Err(no_candle(device)),
            DeviceSpec::Cuda(i) => open_cuda(i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_allowed_value_parses_and_nothing_else_does() {
        assert_eq!(parse("native").unwrap(), DeviceSpec::Native);
        assert_eq!(parse("cpu").unwrap(), DeviceSpec::Cpu);
        assert_eq!(parse("cuda").unwrap(), DeviceSpec::Cuda(0));
        assert_eq!(parse("cuda:0").unwrap(), DeviceSpec::Cuda(0));
        assert_eq!(parse("cuda:13").unwrap(), DeviceSpec::Cuda(13));
        for bad in [
            "",
            "gpu",
            "CUDA",
            "Native",
            " cpu",
            "cpu ",
            "cuda:",
            "cuda:+1",
            "cuda:-1",
            "cuda:x",
            "cuda:1.5",
            "cuda:1024",
            "cuda:99999",
            "cuda0",
            "metal",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("`device`") && e.contains(ALLOWED),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn the_engines_are_the_ones_named() {
        assert_eq!(
            Engine::from_device("native").unwrap().describe(),
            "native-cpu"
        );
        assert_eq!(Engine::from_device("cpu").unwrap().describe(), "candle-cpu");
        let e = Engine::from_device("tpu").unwrap_err();
        assert!(matches!(e, ModelError::Param(_)), "{e}");
    }

    #[test]
    fn a_build_without_candle_says_how_to_get_it() {
        let msg = no_candle("cpu").to_string();
        assert!(msg.starts_with("device `cpu` cannot be used"), "{msg}");
        assert!(
            msg.contains("--features candle") && msg.contains("\"native\""),
            "{msg}"
        );
    }

    #[test]
    fn a_backtrace_is_left_out_of_the_message() {
        let e = candle_core::Error::Msg("CUDA_ERROR_NO_DEVICE".into());
        let bt = candle_core::Error::WithBacktrace {
            inner: Box::new(e),
            backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
        };
        assert_eq!(without_backtrace(bt).to_string(), "CUDA_ERROR_NO_DEVICE");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_to_build_with_it() {
        for name in ["cuda", "cuda:1"] {
            let e = Engine::from_device(name).unwrap_err();
            assert!(matches!(e, ModelError::Device { .. }), "{e}");
            let msg = e.to_string();
            assert!(msg.contains("--features cuda"), "{msg}");
            assert!(
                msg.contains(&format!(
                    "`{}`",
                    if name == "cuda" { "cuda:0" } else { name }
                )),
                "{msg}"
            );
        }
    }
}
