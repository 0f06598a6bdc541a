//! Interactions with id maps, dataset loaders, transforms, seeded splits and the dataset
//! registry. (Being built: see issue 2.)
#![deny(missing_docs)]
