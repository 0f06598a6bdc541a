//! `recs train --plot`: the loss, and the validation measure when the model reports one, per
//! epoch, as an SVG (plotters).

use std::path::Path;

use anyhow::{Context as _, bail};
use plotters::prelude::*;
use recs_core::EpochReport as Epoch;

fn range(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = v.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    }
}

/// Draws `curve` to `path` (written as model files are: `recs_core::atomic::write`).
pub fn curve(curve: &[Epoch], model: &str, path: &Path) -> anyhow::Result<()> {
    if curve.is_empty() {
        bail!("{model} reports no epochs: nothing to plot");
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 600)).into_drawing_area();
        root.fill(&WHITE)?;
        let validation = curve.iter().any(|e| e.validation.is_some());
        let areas = if validation {
            root.split_evenly((2, 1))
        } else {
            vec![root.clone()]
        };
        let n = curve.len() as f64 + 1.0;
        let (lo, hi) = range(curve.iter().map(|e| e.total_loss()));
        let mut chart = ChartBuilder::on(&areas[0])
            .caption(format!("{model}: training loss"), ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss")
            .draw()?;
        chart.draw_series(LineSeries::new(
            curve.iter().map(|e| (e.epoch as f64, e.total_loss())),
            &BLUE,
        ))?;
        if validation {
            let name = curve
                .iter()
                .find_map(|e| e.validation.map(|(n, _)| n))
                .unwrap_or("validation");
            let pts: Vec<(f64, f64)> = curve
                .iter()
                .filter_map(|e| e.validation.map(|(_, v)| (e.epoch as f64, v)))
                .collect();
            let (lo, hi) = range(pts.iter().map(|p| p.1));
            let mut chart = ChartBuilder::on(&areas[1])
                .caption(format!("{model}: {name}"), ("sans-serif", 20))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..n, lo..hi)?;
            chart.configure_mesh().x_desc("epoch").y_desc(name).draw()?;
            chart.draw_series(LineSeries::new(pts, &RED))?;
        }
        root.present()?;
    }
    recs_core::atomic::write_bytes(path, svg.as_bytes())
        .with_context(|| format!("--plot {}: cannot write the file", path.display()))?;
    Ok(())
}
