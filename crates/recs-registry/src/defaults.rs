//! The registry's lines, and each model's reproduction defaults, written once: `recs train`
//! and `recs compare` start from them, and the experiments of recs-experiments take them
//! from here (setting only the seed and, when asked, the epochs).

use recs_factor::{
    Als, AlsParams, BaselineOnly, BaselineParams, BiasedMf, Bpr, BprParams, GlobalMean,
    GlobalMeanParams, MfParams,
};
use recs_neighbors::{
    Ease, EaseParams, ItemKnn, ItemKnnParams, Rp3Beta, Rp3BetaParams, Sar, SarParams,
};
use recs_vae::{
    AutoRec, AutoRecParams, BiVae, BiVaeParams, MultDaeModel, MultVaeModel, MultVaeParams,
    RecVaeModel, RecVaeParams,
};

use crate::{Entry, register};

/// Every model, in the order `--help` lists them.
pub(crate) static MODELS: &[&dyn Entry] = &[
    &register::<BiVae>(
        "BiVAE",
        "BiVAE, bilateral variational autoencoder (Truong et al. 2021)",
        bivae,
    ),
    &register::<MultVaeModel>(
        "MultVAE",
        "Mult-VAE, variational autoencoder with a multinomial likelihood (Liang et al. 2018)",
        multvae,
    ),
    &register::<MultDaeModel>("MultDAE", "Mult-DAE, its denoising counterpart", multdae),
    &register::<RecVaeModel>(
        "RecVAE",
        "RecVAE, Mult-VAE with a composite prior and alternating updates (Shenbin et al. 2020)",
        recvae,
    ),
    &register::<AutoRec>("AutoRec", "I-AutoRec (Sedhain et al. 2015)", autorec),
    &register::<BiasedMf>(
        "MF",
        "biased matrix factorization by SGD, Surprise's SVD",
        mf,
    ),
    &register::<BaselineOnly>(
        "Bias",
        "user and item biases by ALS, Surprise's BaselineOnly",
        bias,
    ),
    &register::<GlobalMean>("GlobalMean", "the training ratings' mean", global_mean),
    &register::<Bpr>(
        "BPR",
        "Bayesian personalized ranking (Rendle et al. 2009), Cornac's update",
        bpr,
    ),
    &register::<Als>(
        "ALS",
        "alternating least squares for implicit feedback (Hu et al. 2008), implicit's conjugate gradient",
        als,
    ),
    &register::<ItemKnn>(
        "ItemKNN",
        "item-item nearest neighbours with implicit's cosine, BM25 or TF-IDF weighting",
        itemknn,
    ),
    &register::<Ease>(
        "EASE",
        "EASE, the closed-form item-item autoencoder (Steck 2019), dense",
        ease,
    ),
    &register::<Rp3Beta>(
        "RP3beta",
        "RP3beta, a popularity-penalised 3-step random walk on the item graph (Paudel et al. 2017)",
        rp3beta,
    ),
    &register::<Sar>(
        "SAR",
        "SAR, co-occurrence similarity times time-decayed affinities (Microsoft Recommenders)",
        sar,
    ),
];

/// BiVAE as the seed notebook trains it on ml-100k: k 50, encoder [100], tanh, Poisson,
/// 500 epochs, batch 128, lr 0.001.
pub fn bivae() -> BiVaeParams {
    BiVaeParams {
        factors: 50,
        hidden: vec![100],
        epochs: 500,
        batch_size: 128,
        learning_rate: 0.001,
        ..BiVaeParams::default()
    }
}

/// Mult-VAE as `multvae_torch.py` trains it: [I-600-200-600-I], 200 epochs (the params'
/// defaults otherwise).
pub fn multvae() -> MultVaeParams {
    MultVaeParams {
        variational: true,
        epochs: 200,
        ..MultVaeParams::default()
    }
}

/// Mult-DAE as `multvae_torch.py` trains it: the same network without the variational layer.
pub fn multdae() -> MultVaeParams {
    MultVaeParams {
        variational: false,
        ..multvae()
    }
}

/// RecVAE as Cornac's `RecVAE` trains it by default: hidden 600, latent 200, batch 500,
/// γ 0.005, Adam 5e-4, 50 epochs of 3 encoder and 1 decoder passes (the params' defaults).
pub fn recvae() -> RecVaeParams {
    RecVaeParams::default()
}

/// I-AutoRec as seed 003 trains it: 500 sigmoid hidden units, λ 100, Adam lr 0.001, batches
/// of 256 items, 200 epochs.
pub fn autorec() -> AutoRecParams {
    AutoRecParams {
        epochs: 200,
        ..AutoRecParams::default()
    }
}

/// The settings `mf-ml100k` trains with. Chosen on a validation split carved from the
/// training part of the seed-42 split (90/10 of the 90 %, seed 7; the test part is never
/// looked at), over k ∈ {10, 20, 50, 100}, epochs ∈ {10, 20, 30}, lr ∈ {0.005, 0.01, 0.02},
/// reg ∈ {0.05, 0.1}: k 50, 20 epochs, lr 0.02, reg 0.1 had validation RMSE 0.9205, within
/// 0.0001 of the best and among the cheapest. Everything else is Surprise's SVD default.
pub fn mf() -> MfParams {
    MfParams {
        factors: 50,
        epochs: 20,
        learning_rate: 0.02,
        reg: 0.1,
        ..MfParams::default()
    }
}

/// Surprise's BaselineOnly defaults (ALS, 10 epochs, reg_u 15, reg_i 10).
pub fn bias() -> BaselineParams {
    BaselineParams::default()
}

/// The global mean has no parameters.
pub fn global_mean() -> GlobalMeanParams {
    GlobalMeanParams::default()
}

/// The settings `bpr-ml100k` trains with. Chosen on a validation split carved from the
/// training part of the seed-42 split (80/20 of the 75 %, seed 7; the test part is never
/// looked at) over k ∈ {32, 50, 64, 100}, epochs ∈ {30, 50, 70}, lr ∈ {0.03, 0.05, 0.08},
/// λ ∈ {0.005, 0.01, 0.02}: k 64, 30 epochs, lr 0.05, λ 0.005 had validation MAP 0.0734
/// (best 0.0742; Cornac's settings 0.0655) at a tenth of the cost of Cornac's settings.
pub fn bpr() -> BprParams {
    BprParams {
        factors: 64,
        epochs: 30,
        learning_rate: 0.05,
        reg: 0.005,
        ..BprParams::default()
    }
}

/// Cornac's BPR settings (`bpr-ml100k-cornac`): k 200, 100 epochs, lr 0.01, λ 0.001.
pub fn bpr_cornac() -> BprParams {
    BprParams {
        factors: 200,
        epochs: 100,
        learning_rate: 0.01,
        reg: 0.001,
        ..BprParams::default()
    }
}

/// The settings `als-ml100k` trains with: implicit's ALS as `implicit_peers.py` runs it on
/// ml-100k (k 50, λ 0.01, 15 iterations, α 1.0, 3 CG steps); implicit's defaults otherwise.
pub fn als() -> AlsParams {
    AlsParams {
        factors: 50,
        epochs: 15,
        reg: 0.01,
        alpha: 1.0,
        ..AlsParams::default()
    }
}

/// ItemKNN as `itemknn-*-ml100k` fit it: K 100 neighbours (implicit's default is 20; the peer
/// script's setting), cosine weighting (the experiments set each weighting), BM25's K1 1.2
/// and B 0.75 (implicit's defaults).
pub fn itemknn() -> ItemKnnParams {
    ItemKnnParams {
        neighbours: 100,
        ..ItemKnnParams::default()
    }
}

/// EASE as `ease-ml100k` fits it: λ 500 (Steck's setting), f32, the params' defaults.
pub fn ease() -> EaseParams {
    EaseParams::default()
}

/// RP3beta as `rp3beta-ml100k` fits it: α 1, β 0.6, K 100 (the params' defaults, Dacrema et
/// al.'s and `graph_peers.py`'s).
pub fn rp3beta() -> Rp3BetaParams {
    Rp3BetaParams::default()
}

/// SAR as `sar-ml100k` fits it: Jaccard, no time decay, threshold 1 (the params' defaults,
/// Recommenders' `SARSingleNode`'s).
pub fn sar() -> SarParams {
    SarParams::default()
}
