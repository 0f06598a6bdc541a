//! The network's layout in the flat parameter vector, and the blocks of parameters that one
//! training task updates.

use super::MultVaeParams;

/// One dense layer's place in the flat parameter vector: `w` is `fan_in × fan_out`
/// (`y = x·W + b`), then `b`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layer {
    pub(super) w: usize,
    pub(super) b: usize,
    pub(super) fan_in: usize,
    pub(super) fan_out: usize,
}

/// The layer layout of a network over `n_items` items.
pub(super) fn layout(p: &MultVaeParams, n_items: usize) -> (Vec<Layer>, usize, usize) {
    let mut dims = vec![n_items];
    dims.extend(&p.hidden);
    let head = if p.variational {
        2 * p.factors
    } else {
        p.factors
    };
    dims.push(head);
    let mut dec = vec![p.factors];
    dec.extend(p.hidden.iter().rev());
    dec.push(n_items);
    let mut layers = Vec::new();
    let mut at = 0;
    let n_enc = dims.len() - 1;
    for w in dims.windows(2).chain(dec.windows(2)) {
        let (i, o) = (w[0], w[1]);
        layers.push(Layer {
            w: at,
            b: at + i * o,
            fan_in: i,
            fan_out: o,
        });
        at += i * o + o;
    }
    (layers, n_enc, at)
}

/// The parameters one [`Block`] covers.
#[derive(Debug, Clone, Copy)]
pub(super) enum Part {
    /// Rows `r0..r1` of a layer's weight matrix (`fan_in × fan_out`, row-major).
    Rows { layer: usize, r0: usize, r1: usize },
    /// A layer's bias.
    Bias { layer: usize },
}

/// A contiguous run of `len` flat parameters that one training task updates (the blocks
/// follow one another in layout order).
#[derive(Debug, Clone, Copy)]
pub(super) struct Block {
    pub(super) part: Part,
    pub(super) len: usize,
}

/// Parameters per [`Block`], about: its gradient (256 KiB) stays in L2 for its Adam update.
pub(super) const BLOCK_FLOATS: usize = 1 << 16;

/// The blocks of about `max_floats` parameters covering every parameter in layout order (a
/// layer's weights in row blocks, then its bias). Their boundaries depend only on the layer
/// shapes, never on the thread count, so the numbers do not either.
pub(super) fn blocks(layers: &[Layer], max_floats: usize) -> Vec<Block> {
    let mut out = Vec::new();
    for (li, l) in layers.iter().enumerate() {
        let r = (max_floats / l.fan_out).max(1);
        let mut r0 = 0;
        while r0 < l.fan_in {
            let r1 = (r0 + r).min(l.fan_in);
            out.push(Block {
                part: Part::Rows { layer: li, r0, r1 },
                len: (r1 - r0) * l.fan_out,
            });
            r0 = r1;
        }
        out.push(Block {
            part: Part::Bias { layer: li },
            len: l.fan_out,
        });
    }
    out
}
