//! Autoencoder recommenders on candle: BiVAE, Mult-VAE, Mult-DAE and AutoRec.
//! (Being built: see issues 4, 5 and 6.)
#![deny(missing_docs)]
