//! The parameter schema: each params type declares its parameters once, as data — name,
//! type, allowed range, aliases, a one-line doc, and the range a tuner searches — and
//! everything else is derived from that declaration: [`ModelParams::validate`](crate::ModelParams::validate),
//! every "out of range" message, the CLI's flags and their help, the Python keyword
//! arguments and their documentation, the server's model list and the tuning search spaces.
//!
//! A parameter whose name is one of the shared [`WORDS`] (`factors`, `epochs`,
//! `learning_rate`, …) means the same idea in every model that takes it; a model takes a
//! shared word by declaring a parameter of that name. The values a model takes by default
//! come from its params type's `Default` (and, for `recs train`, the registry's reproduction
//! settings), never from the schema, so there is one place for each fact.

use serde::Serialize;
use serde_json::Value;

use crate::params::ParamError;

/// The type and allowed range of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Kind {
    /// A whole number in `min..=max`.
    Int {
        /// The smallest value allowed.
        min: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// A whole number in `min..=max`, or `null` (none).
    OptionalInt {
        /// The smallest value allowed.
        min: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// A finite number between `min` and `max`, each end included unless open.
    Float {
        /// The lower end.
        min: f64,
        /// Whether `min` itself is excluded.
        min_open: bool,
        /// The upper end (`f64::INFINITY`: unbounded above).
        max: f64,
        /// Whether `max` itself is excluded.
        max_open: bool,
    },
    /// `true` or `false`.
    Bool,
    /// A list of `min_len..=max_len` whole numbers, each in `min..=max` (layer widths).
    IntList {
        /// The fewest entries.
        min_len: usize,
        /// The most entries.
        max_len: usize,
        /// The smallest entry.
        min: u64,
        /// The largest entry.
        max: u64,
    },
    /// One of a fixed set of words (or, when `optional`, `null`).
    Choice {
        /// The words allowed.
        choices: &'static [&'static str],
        /// Whether `null` (none) is allowed too.
        optional: bool,
    },
    /// `null`, or a pair `[lo, hi]` of finite numbers with `lo <= hi` (a rating scale).
    OptionalRange,
    /// A value of a shape the schema does not spell out (a tagged choice with data); serde
    /// and [`ModelParams::relations`](crate::ModelParams::relations) check it.
    Other {
        /// The allowed values, in words.
        allowed: &'static str,
    },
    /// Where a model trains: `native` or `cpu` for every model; `cuda` / `cuda:N` for a
    /// model that can train on a GPU (`gpu`).
    Device {
        /// Whether `cuda` is allowed.
        gpu: bool,
    },
}

/// How a tuner samples a numeric parameter between its tuning bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Uniform.
    Linear,
    /// Uniform in the logarithm.
    Log,
    /// Uniform whole numbers.
    Int,
    /// Whole numbers, uniform in the logarithm.
    LogInt,
}

/// A parameter's search range for tuning (its allowed range is usually far wider).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tune {
    /// The lower end.
    pub low: f64,
    /// The upper end.
    pub high: f64,
    /// How to sample between them.
    pub scale: Scale,
}

/// One parameter of a params type.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParamSpec {
    /// Its name: the params field's (and, for shared ideas, a [`WORDS`] entry's).
    pub name: &'static str,
    /// Its type and allowed range.
    pub kind: Kind,
    /// What it means, in one line.
    pub doc: &'static str,
    /// Other names accepted for it (implicit's keyword arguments), besides the aliases of
    /// the shared word it is.
    pub aliases: &'static [&'static str],
    /// Where a tuner searches (`None`: not tuned by default; choices of a
    /// [`Kind::Choice`] or [`Kind::Bool`] are searched whole).
    pub tune: Option<Tune>,
}

impl ParamSpec {
    /// A whole number in `min..=max`.
    pub const fn int(name: &'static str, min: u64, max: u64, doc: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Int { min, max },
            doc,
            aliases: &[],
            tune: None,
        }
    }

    /// A whole number in `min..=max` or none.
    pub const fn optional_int(name: &'static str, min: u64, max: u64, doc: &'static str) -> Self {
        Self {
            name,
            kind: Kind::OptionalInt { min, max },
            doc,
            aliases: &[],
            tune: None,
        }
    }

    /// A finite number in `[min, max]` (`max` may be `f64::INFINITY`).
    pub const fn float(name: &'static str, min: f64, max: f64, doc: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Float {
                min,
                min_open: false,
                max,
                max_open: false,
            },
            doc,
            aliases: &[],
            tune: None,
        }
    }

    /// A finite number in `(min, max]`.
    pub const fn float_above(name: &'static str, min: f64, max: f64, doc: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Float {
                min,
                min_open: true,
                max,
                max_open: false,
            },
            doc,
            aliases: &[],
            tune: None,
        }
    }

    /// A finite number in `[min, max)`.
    pub const fn float_below(name: &'static str, min: f64, max: f64, doc: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Float {
                min,
                min_open: false,
                max,
                max_open: true,
            },
            doc,
            aliases: &[],
            tune: None,
        }
    }

    /// `true` or `false`.
    pub const fn bool(name: &'static str, doc: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Bool,
            doc,
            aliases: &[],
            tune: None,
        }
    }

    /// One of `choices`.
    pub const fn choice(
        name: &'static str,
        choices: &'static [&'static str],
        doc: &'static str,
    ) -> Self {
        Self {
            name,
            kind: Kind::Choice {
                choices,
                optional: false,
            },
            doc,
            aliases: &[],
            tune: None,
        }
    }

    /// A list of layer widths.
    pub const fn int_list(
        name: &'static str,
        (min_len, max_len): (usize, usize),
        (min, max): (u64, u64),
        doc: &'static str,
    ) -> Self {
        Self {
            name,
            kind: Kind::IntList {
                min_len,
                max_len,
                min,
                max,
            },
            doc,
            aliases: &[],
            tune: None,
        }
    }

    /// The shared `threads` parameter: worker threads, 0 for all cores, at most 1024.
    pub const fn threads() -> Self {
        Self::int("threads", 0, 1024, "worker threads (0: all cores)")
    }

    /// The shared `seed` parameter: any 64-bit whole number.
    pub const fn seed() -> Self {
        Self::int("seed", 0, u64::MAX, "seed of every random draw")
    }

    /// The shared `device` parameter of a model that can train on a GPU.
    pub const fn device() -> Self {
        Self {
            name: "device",
            kind: Kind::Device { gpu: true },
            doc: "where it trains: native (hand-written CPU kernels), cpu (candle on the CPU), cuda or cuda:N (candle on GPU N)",
            aliases: &[],
            tune: None,
        }
    }

    /// `null` or a rating scale `[lo, hi]`.
    pub const fn optional_range(name: &'static str, doc: &'static str) -> Self {
        Self {
            name,
            kind: Kind::OptionalRange,
            doc,
            aliases: &[],
            tune: None,
        }
    }

    /// A value serde and the params' relations check (`allowed` says what it may be).
    pub const fn other(name: &'static str, allowed: &'static str, doc: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Other { allowed },
            doc,
            aliases: &[],
            tune: None,
        }
    }

    /// The same choice, `null` allowed too.
    pub const fn or_none(mut self) -> Self {
        if let Kind::Choice { choices, .. } = self.kind {
            self.kind = Kind::Choice {
                choices,
                optional: true,
            };
        }
        self
    }

    /// The same parameter with other accepted names.
    pub const fn alias(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// Every other name accepted for it: its own aliases and its shared word's.
    pub fn all_aliases(&self) -> Vec<&'static str> {
        let mut v = self.aliases.to_vec();
        if let Some(w) = WORDS.iter().find(|w| w.name == self.name) {
            v.extend_from_slice(w.aliases);
        }
        v
    }

    /// The same parameter with a tuning range.
    pub const fn tuned(mut self, low: f64, high: f64, scale: Scale) -> Self {
        self.tune = Some(Tune { low, high, scale });
        self
    }

    /// The allowed values, as every message and help text words them.
    pub fn allowed(&self) -> String {
        allowed(&self.kind)
    }

    /// `Ok` when `value` (JSON, as the params type serialises it) is allowed; otherwise
    /// the [`ParamError`] naming this parameter, the value and the allowed range.
    pub fn check(&self, value: &Value) -> Result<(), ParamError> {
        let bad = || ParamError::new(self.name, show(value), self.allowed());
        let int_in =
            |v: &Value, min: u64, max: u64| v.as_u64().is_some_and(|x| x >= min && x <= max);
        let ok = match self.kind {
            Kind::Int { min, max } => int_in(value, min, max),
            Kind::OptionalInt { min, max } => value.is_null() || int_in(value, min, max),
            Kind::Float {
                min,
                min_open,
                max,
                max_open,
            } => value.as_f64().is_some_and(|x| {
                x.is_finite()
                    && (if min_open { x > min } else { x >= min })
                    && (if max_open { x < max } else { x <= max })
            }),
            Kind::Bool => value.is_boolean(),
            Kind::IntList {
                min_len,
                max_len,
                min,
                max,
            } => value.as_array().is_some_and(|a| {
                (min_len..=max_len).contains(&a.len()) && a.iter().all(|x| int_in(x, min, max))
            }),
            Kind::Choice { choices, optional } => {
                (optional && value.is_null())
                    || value.as_str().is_some_and(|s| choices.contains(&s))
            }
            Kind::OptionalRange => {
                value.is_null()
                    || value.as_array().is_some_and(|a| match a.as_slice() {
                        [lo, hi] => match (lo.as_f64(), hi.as_f64()) {
                            (Some(lo), Some(hi)) => lo.is_finite() && hi.is_finite() && lo <= hi,
                            _ => false,
                        },
                        _ => false,
                    })
            }
            Kind::Other { .. } => true,
            Kind::Device { gpu } => value.as_str().is_some_and(|s| device_ok(s, gpu)),
        };
        if ok { Ok(()) } else { Err(bad()) }
    }

    /// The JSON value of a command-line word (`--epochs 20`, `--hidden 600,200`,
    /// `--param solver=cg`) for this parameter, checked: a value that is no number, a
    /// negative count or a number out of range gets the same message as [`ParamSpec::check`].
    pub fn parse_text(&self, text: &str) -> Result<Value, ParamError> {
        let t = text.trim();
        let bad = || ParamError::new(self.name, t, self.allowed());
        let v = match self.kind {
            Kind::Int { .. } => Value::from(t.parse::<u64>().map_err(|_| bad())?),
            Kind::OptionalInt { .. } if t == "none" || t == "null" => Value::Null,
            Kind::OptionalInt { .. } => Value::from(t.parse::<u64>().map_err(|_| bad())?),
            Kind::Float { .. } => {
                let x = t.parse::<f64>().map_err(|_| bad())?;
                if !x.is_finite() {
                    return Err(bad());
                }
                Value::from(x)
            }
            Kind::Bool => Value::from(t.parse::<bool>().map_err(|_| bad())?),
            Kind::IntList { .. } => Value::from(
                t.split(',')
                    .map(|w| {
                        let w = w.trim();
                        w.parse::<u64>()
                            .map_err(|_| ParamError::new(self.name, w, self.allowed()))
                    })
                    .collect::<Result<Vec<u64>, _>>()?,
            ),
            Kind::Choice { optional: true, .. } if t == "none" || t == "null" => Value::Null,
            Kind::Choice { .. } | Kind::Device { .. } => Value::from(t),
            Kind::OptionalRange if t == "none" || t == "null" => Value::Null,
            Kind::OptionalRange | Kind::Other { .. } => {
                serde_json::from_str(t).unwrap_or_else(|_| Value::from(t))
            }
        };
        // The message quotes what was typed (`-1`, not JSON's `-1.0`).
        self.check(&v).map_err(|_| bad())?;
        Ok(v)
    }

    /// The word the CLI's help and Python's docs give as the type.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Int { .. } => "int",
            Kind::OptionalInt { .. } => "int or None",
            Kind::Float { .. } => "float",
            Kind::Bool => "bool",
            Kind::IntList { .. } => "list of int",
            Kind::Choice {
                optional: false, ..
            }
            | Kind::Device { .. } => "str",
            Kind::Choice { optional: true, .. } => "str or None",
            Kind::OptionalRange => "(float, float) or None",
            Kind::Other { .. } => "object",
        }
    }
}

/// Whether `s` names a device a model with (`gpu`) or without a GPU path can train on.
fn device_ok(s: &str, gpu: bool) -> bool {
    match s {
        "native" | "cpu" => true,
        "cuda" => gpu,
        // Digits only (`u16::from_str` would take "+1"), ordinals up to 1023.
        _ => {
            gpu && s.strip_prefix("cuda:").is_some_and(|n| {
                !n.is_empty()
                    && n.len() <= 4
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && n.parse::<u16>().is_ok_and(|i| i <= 1023)
            })
        }
    }
}

/// A value as a message shows it (JSON has no NaN: a non-finite number serialises as null).
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null (or a number that is not finite)".into(),
        v => v.to_string(),
    }
}

fn num(x: f64) -> String {
    if x.abs() >= 1e7 {
        format!("{x:e}")
    } else if x == x.trunc() {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn allowed(kind: &Kind) -> String {
    let count = |min: u64, max: u64| {
        if max == u64::MAX || max >= 1 << 53 {
            format!(">= {min}")
        } else {
            format!("{min}..={max}")
        }
    };
    match *kind {
        Kind::Int { min, max } => count(min, max),
        Kind::OptionalInt { min, max } => format!("{} (or none)", count(min, max)),
        Kind::Float {
            min,
            min_open,
            max,
            max_open,
        } => {
            if min.is_infinite() && max.is_infinite() {
                "a finite number".into()
            } else if max.is_infinite() {
                format!(
                    "finite and {} {}",
                    if min_open { ">" } else { ">=" },
                    num(min)
                )
            } else {
                format!(
                    "{}{}, {}{}",
                    if min_open { "(" } else { "[" },
                    num(min),
                    num(max),
                    if max_open { ")" } else { "]" }
                )
            }
        }
        Kind::Bool => "true or false".into(),
        Kind::IntList {
            min_len,
            max_len,
            min,
            max,
        } => format!("{min_len} to {max_len} layer widths, each in {min}..={max}"),
        Kind::Choice { choices, optional } => format!(
            "one of {}{}",
            choices.join(", "),
            if optional { " (or none)" } else { "" }
        ),
        Kind::OptionalRange => "finite [lo, hi] with lo <= hi (or none)".into(),
        Kind::Other { allowed } => allowed.into(),
        Kind::Device { gpu: true } => {
            "native, cpu, cuda or cuda:N (N a CUDA device ordinal)".into()
        }
        Kind::Device { gpu: false } => "native or cpu (this model trains on the CPU only)".into(),
    }
}

/// Checks every parameter of `schema` present in `params` (a JSON object); the first one
/// out of range is the error. Keys the schema does not declare are left to serde (which
/// refuses them).
pub fn check_object(schema: &[ParamSpec], params: &Value) -> Result<(), ParamError> {
    for spec in schema {
        if let Some(v) = params.get(spec.name) {
            spec.check(v)?;
        }
    }
    Ok(())
}

/// The `device` parameter as a model without one declares it: `native` and `cpu` taken
/// (and ignored: the model trains on the CPU), a GPU refused.
pub const CPU_ONLY_DEVICE: ParamSpec = ParamSpec {
    name: "device",
    kind: Kind::Device { gpu: false },
    doc: "where it trains (this model trains on the CPU whichever is given)",
    aliases: &[],
    tune: None,
};

/// A word of the shared vocabulary: the same idea under the same name in every model that
/// takes it, with the aliases implicit's users write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Word {
    /// The name.
    pub name: &'static str,
    /// What it means across models.
    pub doc: &'static str,
    /// Other names accepted for it (implicit's and Cornac's keyword arguments).
    pub aliases: &'static [&'static str],
    /// Whether a model that does not take it ignores it instead of refusing it (worker
    /// threads, the seed: a model that draws nothing has no use for one).
    pub ignorable: bool,
}

/// The shared vocabulary.
pub const WORDS: &[Word] = &[
    Word {
        name: "factors",
        doc: "latent size: factors, the VAEs' latent dimension, AutoRec's hidden units",
        aliases: &["k"],
        ignorable: false,
    },
    Word {
        name: "epochs",
        doc: "training epochs (iterations)",
        aliases: &["iterations", "max_iter"],
        ignorable: false,
    },
    Word {
        name: "learning_rate",
        doc: "learning rate",
        aliases: &["lr"],
        ignorable: false,
    },
    Word {
        name: "reg",
        doc: "regularisation weight (MF/BPR/ALS reg, AutoRec's λ, Mult-VAE's L2)",
        aliases: &["regularization", "lambda_reg"],
        ignorable: false,
    },
    Word {
        name: "batch_size",
        doc: "mini-batch size",
        aliases: &[],
        ignorable: false,
    },
    Word {
        name: "hidden",
        doc: "encoder hidden layer sizes",
        aliases: &[],
        ignorable: false,
    },
    Word {
        name: "threads",
        doc: "worker threads (0: all cores); with 1, the same seed and data give a byte-identical model file, for every model",
        aliases: &["num_threads"],
        ignorable: true,
    },
    Word {
        name: "seed",
        doc: "seed of every random draw",
        aliases: &["random_state"],
        ignorable: true,
    },
    Word {
        name: "device",
        doc: "where it trains: native or cpu for every model; cuda or cuda:N for the autoencoders (a build with the cuda feature)",
        aliases: &[],
        ignorable: false,
    },
];

/// The shared word `name` is, or is an alias of.
pub fn word(name: &str) -> Option<&'static Word> {
    WORDS
        .iter()
        .find(|w| w.name == name || w.aliases.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_name_parameter_value_and_range() {
        let e = ParamSpec::int("epochs", 1, 100_000, "")
            .check(&json!(0))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "parameter `epochs` = 0 is out of range: allowed 1..=100000"
        );
        let lr = ParamSpec::float_above("learning_rate", 0.0, f64::INFINITY, "");
        assert_eq!(lr.allowed(), "finite and > 0");
        assert!(lr.check(&json!(0.0)).is_err());
        assert!(lr.check(&json!(1e-3)).is_ok());
        assert!(lr.check(&Value::Null).is_err());
        assert_eq!(
            ParamSpec::float_below("dropout", 0.0, 1.0, "").allowed(),
            "[0, 1)"
        );
        assert_eq!(ParamSpec::seed().allowed(), ">= 0");
        assert!(ParamSpec::seed().check(&json!(u64::MAX)).is_ok());
        assert!(ParamSpec::seed().check(&json!(-1)).is_err());
    }

    #[test]
    fn text_is_parsed_by_kind_and_checked() {
        let e = ParamSpec::int("epochs", 1, 9, "")
            .parse_text("-1")
            .unwrap_err();
        assert_eq!(e.value, "-1");
        assert_eq!(e.allowed, "1..=9");
        let r = ParamSpec::float("reg", 0.0, 1e6, "");
        assert!(r.parse_text("nan").is_err());
        assert!(r.parse_text("inf").is_err());
        assert_eq!(r.parse_text("0.5").unwrap(), json!(0.5));
        let h = ParamSpec::int_list("hidden", (1, 2), (1, 10), "");
        assert_eq!(h.parse_text("3,4").unwrap(), json!([3, 4]));
        assert!(h.parse_text("3,4,5").is_err());
        assert!(h.parse_text("3,-4").is_err());
        let p = ParamSpec::optional_int("patience", 1, 10, "");
        assert_eq!(p.parse_text("none").unwrap(), Value::Null);
    }

    #[test]
    fn devices() {
        let gpu = ParamSpec::device();
        for d in ["native", "cpu", "cuda", "cuda:1"] {
            assert!(gpu.check(&json!(d)).is_ok(), "{d}");
        }
        assert!(gpu.check(&json!("cuda:x")).is_err());
        assert!(gpu.check(&json!("tpu")).is_err());
        for d in ["native", "cpu"] {
            assert!(CPU_ONLY_DEVICE.check(&json!(d)).is_ok());
        }
        let e = CPU_ONLY_DEVICE.check(&json!("cuda")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "parameter `device` = cuda is out of range: allowed native or cpu (this model trains on the CPU only)"
        );
    }

    #[test]
    fn words_and_aliases() {
        assert_eq!(word("regularization").unwrap().name, "reg");
        assert_eq!(word("iterations").unwrap().name, "epochs");
        assert!(word("negatives").is_none());
    }
}
