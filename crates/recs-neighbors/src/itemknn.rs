//! ItemKNN: implicit's item–item nearest-neighbour recommenders (`CosineRecommender`,
//! `BM25Recommender`, `TFIDFRecommender` and the unweighted `ItemItemRecommender` of
//! implicit 0.7), with their semantics:
//!
//! 1. The user × item matrix `X` (values as given: counts, confidences or 1) is weighted
//!    per item, as implicit weights `X.T` (items × users) before the product:
//!    - `cosine`: each item's column divided by its L2 norm;
//!    - `tfidf`: `sqrt(x) · idf(u)`, then each item's column divided by its L2 norm;
//!    - `bm25`: `x · (K1 + 1) / (K1 · len(i) + x) · idf(u)`, with
//!      `len(i) = (1 − B) + B · Σ_u x_ui / mean_i(Σ_u x_ui)`;
//!    - `none`: the values as they are.
//!
//!    `idf(u) = ln N − ln(1 + n_u)`, `n_u` the user's stored entries and `N` the number of
//!    items (implicit's `log(N) - log1p(bincount(X.col))` on the items × users matrix).
//!    `N` and the mean count only items with at least one training entry: implicit counts
//!    the rows of the matrix it is given, which is the same unless some item column is empty
//!    (our id maps keep items seen only in test data, which must not change the model).
//! 2. The similarity `S = WᵀW` (item × item) is computed sparse — for each item, a dense
//!    accumulator over the items that share a user with it — and only the `neighbours`
//!    largest entries of each item's row are kept (the item itself included, as implicit's
//!    `all_pairs_knn` keeps it; ties to the lower item index). Rows are independent, so the
//!    result is the same whatever the thread count.
//! 3. A user's scores are their row of `X` times `S` (implicit 0.7's
//!    `user_items[u] @ similarity`), every item not reached scoring 0. A new user's scores
//!    (fold-in) are the same product with a value of 1 for each of their items.

use rayon::prelude::*;
use recs_core::Capabilities;
use recs_core::modelfile::{ModelReader, ModelWriter};
use recs_core::rank::TopK;
use recs_core::schema::{ParamSpec, Scale};
use recs_core::{
    FoldIn, ModelError, ModelParams, Progress, Recommender, ScoreError, Scorer, TrainData,
};
use recs_sparse::CsrMatrix;
use serde::{Deserialize, Serialize};

use crate::common::{
    MAX_THREADS, check_len, check_user, fold_in_items, meta_size, read_csr, score_users_parallel,
    sparse_row_times_sparse, with_threads, write_csr,
};

/// How the user × item matrix is weighted before the item–item product (implicit's
/// recommender classes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// Cosine similarity: each item's column L2-normalised (implicit's `CosineRecommender`).
    #[default]
    Cosine,
    /// BM25 with `k1` and `b` (implicit's `BM25Recommender`).
    Bm25,
    /// TF-IDF: square-rooted values times the user's idf, L2-normalised per item
    /// (implicit's `TFIDFRecommender`).
    Tfidf,
    /// The values as given: co-occurrence counts (implicit's `ItemItemRecommender`).
    None,
}

impl Weighting {
    /// The name params use (`"cosine"`, `"bm25"`, `"tfidf"`, `"none"`).
    pub fn name(self) -> &'static str {
        match self {
            Weighting::Cosine => "cosine",
            Weighting::Bm25 => "bm25",
            Weighting::Tfidf => "tfidf",
            Weighting::None => "none",
        }
    }
}

/// ItemKNN's hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemKnnParams {
    /// The weighting of the user × item matrix: `cosine` (default), `bm25`, `tfidf` or
    /// `none`.
    pub weighting: Weighting,
    /// Neighbours kept per item, the item itself included (implicit's `K`; default 20, as
    /// implicit's).
    pub neighbours: usize,
    /// BM25's `K1`, the term-frequency saturation (default 1.2, implicit's
    /// `BM25Recommender` default); only `bm25` reads it.
    pub k1: f64,
    /// BM25's `B`, the length normalisation in [0, 1] (default 0.75, implicit's
    /// `BM25Recommender` default); only `bm25` reads it.
    pub b: f64,
    /// Worker threads for the fit (default 0: all of rayon's pool). The model does not depend
    /// on it.
    pub threads: usize,
}

impl Default for ItemKnnParams {
    fn default() -> Self {
        Self {
            weighting: Weighting::Cosine,
            neighbours: 20,
            k1: 1.2,
            b: 0.75,
            threads: 0,
        }
    }
}

impl ModelParams for ItemKnnParams {
    const SCHEMA: &'static [ParamSpec] = &[
        ParamSpec::choice(
            "weighting",
            &["cosine", "bm25", "tfidf", "none"],
            "how interactions are weighted before the item-item cosine",
        ),
        ParamSpec::int("neighbours", 1, u64::MAX, "neighbours kept per item")
            .alias(&["K"])
            .tuned(10.0, 1000.0, Scale::LogInt),
        ParamSpec::float("k1", 0.0, f64::INFINITY, "BM25's k1")
            .alias(&["K1"])
            .tuned(0.5, 3.0, Scale::Linear),
        ParamSpec::float("b", 0.0, 1.0, "BM25's b")
            .alias(&["B"])
            .tuned(0.0, 1.0, Scale::Linear),
        ParamSpec::int(
            "threads",
            0,
            MAX_THREADS as u64,
            "worker threads (0: all cores)",
        ),
    ];
}

/// A fitted ItemKNN model: the training matrix (values as given) and the sparse top-K
/// item × item similarity.
#[derive(Debug, Clone)]
pub struct ItemKnn {
    params: ItemKnnParams,
    user_items: CsrMatrix,
    similarity: CsrMatrix,
}

/// An error in the data ItemKNN is fitted on.
#[derive(Debug)]
struct DataError(String);

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DataError {}

fn data_error(msg: String) -> ModelError {
    ModelError::model(DataError(msg))
}

/// The weighted items × users matrix `Wᵀ` implicit builds from `X` (users × items) before
/// its item–item product; see the [module docs](self) for the formulas. Values are
/// computed in `f64` and stored as `f32`. `bm25` and `tfidf` refuse negative values (a
/// square root, a saturation that could divide by zero).
pub fn weighted_items(x: &CsrMatrix, params: &ItemKnnParams) -> Result<CsrMatrix, ModelError> {
    let xt = x.transpose();
    let w = params.weighting;
    if matches!(w, Weighting::Bm25 | Weighting::Tfidf)
        && let Some(pos) = x.values().iter().position(|&v| v < 0.0)
    {
        let user = x.indptr().partition_point(|&p| p <= pos) - 1;
        return Err(data_error(format!(
            "{} weighting needs values >= 0: user {user}, item {} has {}",
            w.name(),
            x.indices()[pos],
            x.values()[pos]
        )));
    }
    let n_items = (0..xt.n_rows()).filter(|&i| !xt.row(i).is_empty()).count();
    // implicit's `log(N) - log1p(n_u)`, written as one logarithm of the ratio so that a user
    // with N − 1 items gets exactly 0 (the difference of two logarithms leaves ≈1e-16, which
    // cosine/TF-IDF normalisation would blow up to a full weight).
    let idf: Vec<f64> = (0..x.n_rows())
        .map(|u| (n_items as f64 / (1.0 + x.row(u).len() as f64)).ln())
        .collect();
    let mut values = Vec::with_capacity(xt.nnz());
    match w {
        Weighting::None => values.extend_from_slice(xt.values()),
        Weighting::Cosine | Weighting::Tfidf => {
            let mut row = Vec::new();
            for i in 0..xt.n_rows() {
                let r = xt.row(i);
                row.clear();
                row.extend(r.indices.iter().zip(r.values).map(|(&u, &v)| {
                    if w == Weighting::Tfidf {
                        (v as f64).sqrt() * idf[u as usize]
                    } else {
                        v as f64
                    }
                }));
                let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
                let scale = if norm > 0.0 { 1.0 / norm } else { 1.0 };
                values.extend(row.iter().map(|&v| (v * scale) as f32));
            }
        }
        Weighting::Bm25 => {
            let sums: Vec<f64> = (0..xt.n_rows())
                .map(|i| xt.row(i).values.iter().map(|&v| v as f64).sum())
                .collect();
            let mean = if n_items == 0 {
                0.0
            } else {
                sums.iter().sum::<f64>() / n_items as f64
            };
            let (k1, b) = (params.k1, params.b);
            for (i, &sum) in sums.iter().enumerate() {
                let ratio = if mean > 0.0 { sum / mean } else { 1.0 };
                let length_norm = (1.0 - b) + b * ratio;
                let r = xt.row(i);
                values.extend(r.indices.iter().zip(r.values).map(|(&u, &v)| {
                    let v = v as f64;
                    let denom = k1 * length_norm + v;
                    let tf = if denom > 0.0 {
                        v * (k1 + 1.0) / denom
                    } else {
                        0.0
                    };
                    (tf * idf[u as usize]) as f32
                }));
            }
        }
    }
    if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
        return Err(data_error(format!(
            "{} weighting gave a non-finite weight at entry {pos}",
            w.name()
        )));
    }
    CsrMatrix::from_parts(
        xt.n_rows(),
        xt.n_cols(),
        xt.indptr().to_vec(),
        xt.indices().to_vec(),
        values,
    )
    .map_err(ModelError::model)
}

/// Items per rayon task in the similarity product (each task owns one accumulator).
const CHUNK: usize = 16;

/// The top-`k` item × item similarity `WᵀW` of the weighted items × users matrix `wt`
/// (row i keeps the `k` largest entries of `Σ_u W[u, i] · W[u, ·]` over the items that
/// share a user with i, i itself included). Accumulates in `f64`; parallel over items on
/// the current rayon pool, with the same result whatever its size.
///
/// Each task keeps a dense accumulator and a bitset of the items touched: the inner loop
/// is one multiply-add and one OR per (user, item) pair, without a branch, and the touched
/// items come out of the bitset in index order.
pub fn top_k_similarity(wt: &CsrMatrix, k: usize) -> Result<CsrMatrix, ModelError> {
    let w = wt.transpose();
    let n = wt.n_rows();
    let starts: Vec<usize> = (0..n).step_by(CHUNK).collect();
    let rows: Vec<Vec<(u32, f64)>> = starts
        .par_iter()
        .map(|&start| {
            let mut acc = vec![0.0f64; n];
            let mut touched = vec![0u64; n.div_ceil(64)];
            let mut top = TopK::new(k);
            let mut out = Vec::with_capacity(CHUNK);
            for i in start..(start + CHUNK).min(n) {
                let ri = wt.row(i);
                for (&u, &w1) in ri.indices.iter().zip(ri.values) {
                    let ru = w.row(u as usize);
                    let w1 = f64::from(w1);
                    for (&j, &w2) in ru.indices.iter().zip(ru.values) {
                        let j = j as usize;
                        acc[j] += w1 * f64::from(w2);
                        touched[j >> 6] |= 1 << (j & 63);
                    }
                }
                let (acc, touched) = (&mut acc, &mut touched);
                let cand = touched.iter_mut().enumerate().flat_map(|(b, word)| {
                    let mut bits = std::mem::take(word);
                    std::iter::from_fn(move || {
                        (bits != 0).then(|| {
                            let j = b * 64 + bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            j
                        })
                    })
                });
                let cand = cand.map(|j| (j as u32, std::mem::take(&mut acc[j])));
                for (j, v) in cand {
                    top.push(j, v);
                }
                out.push(top.take_by_index());
            }
            out
        })
        .flatten()
        .collect();
    let nnz = rows.iter().map(Vec::len).sum();
    let mut indptr = Vec::with_capacity(n + 1);
    let mut indices = Vec::with_capacity(nnz);
    let mut values = Vec::with_capacity(nnz);
    indptr.push(0);
    for r in rows {
        for (j, v) in r {
            indices.push(j);
            values.push(v as f32);
        }
        indptr.push(indices.len());
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(data_error(
            "an item–item similarity does not fit f32: the values are too large".into(),
        ));
    }
    CsrMatrix::from_parts(n, n, indptr, indices, values).map_err(ModelError::model)
}

impl ItemKnn {
    /// Fits on `x` (users × items, values as given) with `params` (validated first).
    pub fn fit(params: &ItemKnnParams, x: &CsrMatrix) -> Result<Self, ModelError> {
        params.validate()?;
        let similarity = with_threads(params.threads, || {
            let wt = weighted_items(x, params)?;
            top_k_similarity(&wt, params.neighbours)
        })??;
        Ok(Self {
            params: params.clone(),
            user_items: x.clone(),
            similarity,
        })
    }

    /// The parameters it was fitted with.
    pub fn params(&self) -> &ItemKnnParams {
        &self.params
    }

    /// The item × item similarity: each row's kept neighbours (implicit's `similarity`).
    pub fn similarity(&self) -> &CsrMatrix {
        &self.similarity
    }

    /// The training matrix the users' scores are computed from.
    pub fn user_items(&self) -> &CsrMatrix {
        &self.user_items
    }
}

impl Scorer for ItemKnn {
    fn n_users(&self) -> usize {
        self.user_items.n_rows()
    }

    fn n_items(&self) -> usize {
        self.similarity.n_rows()
    }

    fn score_user(&self, user: u32, out: &mut [f32]) -> Result<(), ScoreError> {
        check_len(out, self.n_items())?;
        check_user(user, self.n_users())?;
        let r = self.user_items.row(user as usize);
        sparse_row_times_sparse(r.indices, r.values, &self.similarity, out);
        Ok(())
    }

    fn score_users(&self, users: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        score_users_parallel(self, users, out)
    }
}

impl FoldIn for ItemKnn {
    fn score_items(&self, items: &[u32], out: &mut [f32]) -> Result<(), ScoreError> {
        check_len(out, self.n_items())?;
        let items = fold_in_items(items, self.n_items())?;
        let ones = vec![1.0f32; items.len()];
        sparse_row_times_sparse(&items, &ones, &self.similarity, out);
        Ok(())
    }
}

const USER_ITEMS: &str = "itemknn.user_items";
const SIMILARITY: &str = "itemknn.similarity";

impl Recommender for ItemKnn {
    const KIND: &'static str = "itemknn";
    const CAPABILITIES: Capabilities = Capabilities {
        fold_in: true,
        batch_scoring: true,
        ..Capabilities::NONE
    };
    type Params = ItemKnnParams;

    fn fit(
        params: &ItemKnnParams,
        data: &TrainData<'_>,
        _progress: &mut dyn Progress,
    ) -> Result<Self, ModelError> {
        ItemKnn::fit(params, data.matrix)
    }

    fn params(&self) -> &ItemKnnParams {
        &self.params
    }

    fn save<'a>(&'a self, out: &mut ModelWriter<'a>) -> Result<(), ModelError> {
        out.meta_mut().training = serde_json::json!({
            "n_users": self.n_users(),
            "n_items": self.n_items(),
        });
        write_csr(out, USER_ITEMS, &self.user_items)?;
        write_csr(out, SIMILARITY, &self.similarity)
    }

    fn load(file: &ModelReader) -> Result<Self, ModelError> {
        let params: ItemKnnParams = file.params()?;
        params.validate()?;
        let n_users = meta_size(file, "n_users")?;
        let n_items = meta_size(file, "n_items")?;
        // Both sizes are checked against the tensors' row pointers before anything is
        // allocated by them.
        let similarity = read_csr(file, SIMILARITY, n_items, n_items)?;
        let user_items = read_csr(file, USER_ITEMS, n_users, n_items)?;
        if let Some(i) = (0..n_items).find(|&i| similarity.row(i).len() > params.neighbours) {
            return Err(file
                .error(format!(
                    "similarity row {i} holds {} neighbours, more than `neighbours` = {}",
                    similarity.row(i).len(),
                    params.neighbours
                ))
                .into());
        }
        Ok(Self {
            params,
            user_items,
            similarity,
        })
    }

    fn fold_in(&self) -> Option<&dyn FoldIn> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use recs_sparse::DuplicatePolicy;

    fn matrix(n_users: usize, n_items: usize, cells: &[(u32, u32, f32)]) -> CsrMatrix {
        let u: Vec<u32> = cells.iter().map(|c| c.0).collect();
        let i: Vec<u32> = cells.iter().map(|c| c.1).collect();
        let v: Vec<f32> = cells.iter().map(|c| c.2).collect();
        CsrMatrix::from_triplets(n_users, n_items, &u, &i, &v, DuplicatePolicy::KeepLast).unwrap()
    }

    /// Seeded cells with counts 1–4 (about a third of the grid), item 5 empty.
    fn sample(n_users: usize, n_items: usize, seed: u64) -> CsrMatrix {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut cells = Vec::new();
        for u in 0..n_users as u32 {
            for i in 0..n_items as u32 {
                if i != 5 && next() % 3 == 0 {
                    cells.push((u, i, (1 + next() % 4) as f32));
                }
            }
        }
        matrix(n_users, n_items, &cells)
    }

    /// implicit's weighting written out densely from the formulas (items × users, f64).
    fn dense_weighted(x: &CsrMatrix, p: &ItemKnnParams) -> Vec<Vec<f64>> {
        let (nu, ni) = x.shape();
        let d = x.to_dense();
        let at = |u: usize, i: usize| d[u * ni + i] as f64;
        let stored = |u: usize, i: usize| x.contains(u, i);
        let nonempty = (0..ni).filter(|&i| (0..nu).any(|u| stored(u, i))).count() as f64;
        let idf: Vec<f64> = (0..nu)
            .map(|u| (nonempty / (1.0 + (0..ni).filter(|&i| stored(u, i)).count() as f64)).ln())
            .collect();
        let sums: Vec<f64> = (0..ni).map(|i| (0..nu).map(|u| at(u, i)).sum()).collect();
        let mean = sums.iter().sum::<f64>() / nonempty;
        let mut w = vec![vec![0.0; nu]; ni];
        for (i, wi) in w.iter_mut().enumerate() {
            for (u, wiu) in wi.iter_mut().enumerate() {
                let v = at(u, i);
                *wiu = match p.weighting {
                    Weighting::None | Weighting::Cosine => v,
                    Weighting::Tfidf => v.sqrt() * idf[u],
                    Weighting::Bm25 => {
                        let len = (1.0 - p.b) + p.b * sums[i] / mean;
                        if v == 0.0 {
                            0.0
                        } else {
                            v * (p.k1 + 1.0) / (p.k1 * len + v) * idf[u]
                        }
                    }
                };
            }
            if matches!(p.weighting, Weighting::Cosine | Weighting::Tfidf) {
                let norm = wi.iter().map(|v| v * v).sum::<f64>().sqrt();
                if norm > 0.0 {
                    wi.iter_mut().for_each(|v| *v /= norm);
                }
            }
        }
        w
    }

    /// The full dense product and which pairs share a user (the sparse candidates).
    #[allow(clippy::needless_range_loop)] // a dense reference, written as the formula reads
    fn dense_similarity(x: &CsrMatrix, p: &ItemKnnParams) -> (Vec<Vec<f64>>, Vec<Vec<bool>>) {
        let (nu, ni) = x.shape();
        let w = dense_weighted(x, p);
        let mut s = vec![vec![0.0; ni]; ni];
        let mut share = vec![vec![false; ni]; ni];
        for i in 0..ni {
            for j in 0..ni {
                for u in 0..nu {
                    s[i][j] += w[i][u] * w[j][u];
                    share[i][j] |= x.contains(u, i) && x.contains(u, j);
                }
            }
        }
        (s, share)
    }

    fn params(weighting: Weighting, k: usize) -> ItemKnnParams {
        ItemKnnParams {
            weighting,
            neighbours: k,
            k1: 1.2,
            b: 0.75,
            threads: 1,
        }
    }

    const ALL: [Weighting; 4] = [
        Weighting::Cosine,
        Weighting::Bm25,
        Weighting::Tfidf,
        Weighting::None,
    ];

    #[test]
    fn similarity_matches_a_dense_reference_when_every_neighbour_is_kept() {
        let x = sample(13, 9, 3);
        for w in ALL {
            let p = params(w, 9);
            let m = ItemKnn::fit(&p, &x).unwrap();
            let (s, share) = dense_similarity(&x, &p);
            for i in 0..9 {
                let row = m.similarity().row(i);
                let want: Vec<u32> = (0..9u32).filter(|&j| share[i][j as usize]).collect();
                assert_eq!(row.indices, want.as_slice(), "{w:?} row {i}");
                for (&j, &v) in row.indices.iter().zip(row.values) {
                    let r = s[i][j as usize];
                    assert!(
                        (v as f64 - r).abs() <= 1e-5 * (1.0 + r.abs()),
                        "{w:?} {i},{j}"
                    );
                }
            }
            // Cosine and TF-IDF rows are unit vectors: an item's self-similarity is 1.
            if matches!(w, Weighting::Cosine | Weighting::Tfidf) {
                for i in (0..9).filter(|&i| i != 5) {
                    assert!((m.similarity().get(i, i).unwrap() - 1.0).abs() < 1e-6);
                }
            }
            assert!(
                m.similarity().row(5).is_empty(),
                "the empty item has no neighbours"
            );
        }
    }

    #[test]
    fn bm25_and_tfidf_follow_implicits_formulas_on_a_hand_computed_case() {
        // 3 users × 2 items: user 0 has both items (counts 2, 1), user 1 item 0 (count 1),
        // user 2 item 1 (count 3). N = 2 items; n_u = 2, 1, 1.
        let x = matrix(3, 2, &[(0, 0, 2.0), (0, 1, 1.0), (1, 0, 1.0), (2, 1, 3.0)]);
        let idf = [2f64.ln() - 3f64.ln(), 2f64.ln() - 2f64.ln(), 0.0];
        let p = params(Weighting::Bm25, 2);
        let wt = weighted_items(&x, &p).unwrap();
        // Item sums 3 and 4, mean 3.5.
        let len = |s: f64| 0.25 + 0.75 * s / 3.5;
        let bm = |v: f64, s: f64, u: usize| v * 2.2 / (1.2 * len(s) + v) * idf[u];
        let want = [
            bm(2.0, 3.0, 0),
            bm(1.0, 3.0, 1),
            bm(1.0, 4.0, 0),
            bm(3.0, 4.0, 2),
        ];
        for (g, w) in wt.values().iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{g} vs {w}");
        }
        let t = weighted_items(&x, &params(Weighting::Tfidf, 2)).unwrap();
        let item0 = [2f64.sqrt() * idf[0], idf[1]];
        let norm = (item0[0] * item0[0] + item0[1] * item0[1]).sqrt();
        assert!((t.values()[0] as f64 - item0[0] / norm).abs() < 1e-6);
        // Item 1's weights are [idf 0, idf 2 = 0]: only user 0 counts.
        assert!(
            (t.values()[2] as f64 + 1.0).abs() < 1e-6,
            "{:?}",
            t.values()
        );
    }

    #[test]
    fn scores_are_the_user_row_times_the_similarity_and_fold_in_agrees() {
        let x = sample(11, 8, 5);
        let m = ItemKnn::fit(&params(Weighting::Bm25, 3), &x).unwrap();
        let s = m.similarity().to_dense();
        let d = x.to_dense();
        for u in 0..11u32 {
            let mut out = vec![0.0; 8];
            m.score_user(u, &mut out).unwrap();
            for j in 0..8 {
                let want: f32 = (0..8).map(|i| d[u as usize * 8 + i] * s[i * 8 + j]).sum();
                assert!((out[j] - want).abs() < 1e-5, "user {u} item {j}");
            }
        }
        // A binary matrix: a known user's scores are the fold-in of their items.
        let b = x.binarize();
        let m = ItemKnn::fit(&params(Weighting::Cosine, 4), &b).unwrap();
        for u in 0..11u32 {
            let mut known = vec![0.0; 8];
            m.score_user(u, &mut known).unwrap();
            let mut items = b.row(u as usize).indices.to_vec();
            items.reverse();
            items.push(items.first().copied().unwrap_or(0));
            let mut fold = vec![0.0; 8];
            m.score_items(&items, &mut fold).unwrap();
            if b.row(u as usize).is_empty() {
                continue;
            }
            assert_eq!(known, fold, "user {u}");
        }
        let mut out = vec![0.0; 8];
        assert!(m.score_items(&[8], &mut out).is_err());
        assert!(m.score_items(&[0], &mut out[..7]).is_err());
    }

    #[test]
    fn negative_values_are_refused_where_the_weighting_needs_them_positive() {
        let x = matrix(2, 2, &[(0, 0, 1.0), (1, 1, -2.0)]);
        for w in [Weighting::Bm25, Weighting::Tfidf] {
            let e = ItemKnn::fit(&params(w, 2), &x).unwrap_err().to_string();
            assert!(e.contains("values >= 0") && e.contains("user 1"), "{e}");
        }
        assert!(ItemKnn::fit(&params(Weighting::Cosine, 2), &x).is_ok());
    }

    #[test]
    fn params_name_the_bad_value() {
        for (p, name) in [
            (
                ItemKnnParams {
                    neighbours: 0,
                    ..ItemKnnParams::default()
                },
                "neighbours",
            ),
            (
                ItemKnnParams {
                    b: 1.5,
                    ..ItemKnnParams::default()
                },
                "b",
            ),
            (
                ItemKnnParams {
                    k1: f64::NAN,
                    ..ItemKnnParams::default()
                },
                "k1",
            ),
            (
                ItemKnnParams {
                    threads: 5000,
                    ..ItemKnnParams::default()
                },
                "threads",
            ),
        ] {
            let e = p.validate().unwrap_err();
            assert_eq!(e.param, name);
        }
        let p: ItemKnnParams = serde_json::from_str(r#"{"weighting": "bm25"}"#).unwrap();
        assert_eq!(p.weighting, Weighting::Bm25);
        assert_eq!(p.neighbours, 20);
        assert!(serde_json::from_str::<ItemKnnParams>(r#"{"K": 3}"#).is_err());
        assert!(serde_json::from_str::<ItemKnnParams>(r#"{"weighting": "bm26"}"#).is_err());
    }

    #[test]
    fn a_zero_idf_gives_zero_weight_not_a_normalised_rounding_error() {
        // Items 1 and 2 are held only by user 8, who holds 2 of the 3 non-empty items:
        // idf = ln(3 / (1 + 2)) = 0, so both items have all-zero TF-IDF weights and zero
        // similarity (found by the top-K proptest: ln 3 − ln1p 2 ≈ 1e-16, normalised to 1).
        let x = matrix(9, 7, &[(8, 2, 1.0), (0, 0, 1.0), (8, 1, 1.0)]);
        let p = params(Weighting::Tfidf, 1);
        let m = ItemKnn::fit(&p, &x).unwrap();
        let (s, _) = dense_similarity(&x, &p);
        for i in [1, 2] {
            assert_eq!(s[i], vec![0.0; 7]);
            assert!(m.similarity().row(i).values.iter().all(|&v| v == 0.0));
        }
        assert_eq!(m.similarity().row(0).values, &[1.0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Top-K invariants: each row keeps min(K, candidates) entries in increasing index
        /// order, with the product's values, and none dropped is better than one kept; the
        /// result does not depend on the thread count.
        #[test]
        fn top_k_rows_keep_the_best_neighbours(
            cells in prop::collection::vec((0u32..9, 0u32..7, 1u32..5), 0..50),
            k in 1usize..8,
            w in prop::sample::select(ALL.to_vec()),
        ) {
            let cells: Vec<(u32, u32, f32)> =
                cells.into_iter().map(|(u, i, v)| (u, i, v as f32)).collect();
            let x = matrix(9, 7, &cells);
            let p = params(w, k);
            let m = ItemKnn::fit(&p, &x).unwrap();
            let (s, share) = dense_similarity(&x, &p);
            for i in 0..7 {
                let row = m.similarity().row(i);
                let cand: Vec<usize> = (0..7).filter(|&j| share[i][j]).collect();
                prop_assert_eq!(row.len(), cand.len().min(k));
                prop_assert!(row.indices.windows(2).all(|p| p[0] < p[1]));
                for (&j, &v) in row.indices.iter().zip(row.values) {
                    let r = s[i][j as usize];
                    prop_assert!((v as f64 - r).abs() <= 1e-5 * (1.0 + r.abs()));
                }
                let worst = row.values.iter().fold(f64::INFINITY, |a, &v| a.min(v as f64));
                for &j in cand.iter().filter(|&&j| !row.indices.contains(&(j as u32))) {
                    prop_assert!(s[i][j] <= worst + 1e-5, "dropped {} > kept {}", s[i][j], worst);
                }
            }
            let many = ItemKnn::fit(&ItemKnnParams { threads: 3, ..p }, &x).unwrap();
            prop_assert_eq!(many.similarity(), m.similarity());
        }
    }
}
