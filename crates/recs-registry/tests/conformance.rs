//! The conformance kit over every registered model (one generic body), and the registry's
//! own rules.

use recs_registry::{HyperParams, MODELS, RegistryError, conformance, find, names};

#[test]
fn every_registered_model_passes_the_conformance_kit() {
    assert!(!MODELS.is_empty());
    for entry in MODELS {
        eprintln!("conformance: {}", entry.kind());
        conformance::check(*entry);
    }
}

#[test]
fn names_are_unique_and_found() {
    let mut n = names();
    let len = n.len();
    n.sort_unstable();
    n.dedup();
    assert_eq!(n.len(), len, "duplicate registry names");
    for name in names() {
        assert_eq!(find(name).unwrap().kind(), name);
        assert!(!find(name).unwrap().about().is_empty());
    }
    // Titles are the Python classes' names: identifiers, unique.
    let mut titles: Vec<&str> = MODELS.iter().map(|e| e.title()).collect();
    for t in &titles {
        assert!(
            t.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && t.chars().all(|c| c.is_ascii_alphanumeric()),
            "title `{t}` is not a class name"
        );
    }
    titles.sort_unstable();
    titles.dedup();
    assert_eq!(titles.len(), len, "duplicate titles");
    let e = find("nope")
        .err()
        .expect("no model is called nope")
        .to_string();
    assert!(
        e.contains("unknown model `nope`") && e.contains("bpr"),
        "{e}"
    );
}

#[test]
fn a_parameter_a_model_does_not_take_is_an_error_listing_what_it_takes() {
    let hp = HyperParams::new().with("factors", 10);
    let e = find("bias").unwrap().params_for(&hp, false).unwrap_err();
    assert!(matches!(e, RegistryError::NotTaken { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("`bias` does not take `factors`") && msg.contains("epochs"),
        "{msg}"
    );
    // Leniently (compare), it is skipped; seed and threads are always skippable.
    assert!(find("bias").unwrap().params_for(&hp, true).is_ok());
    let seeded = HyperParams::new().with("seed", 3).with("threads", 1);
    for entry in MODELS {
        entry
            .params_for(&seeded, false)
            .unwrap_or_else(|e| panic!("{}: {e}", entry.kind()));
    }
}

#[test]
fn shared_names_mean_the_same_thing_everywhere() {
    // Every model that has one of the shared parameters has it under its shared name with
    // the shared type: counts are integers, rates and weights are numbers.
    for entry in MODELS {
        let d = entry.defaults();
        let obj = d.as_object().unwrap();
        for key in ["factors", "epochs", "batch_size", "threads"] {
            if let Some(v) = obj.get(key) {
                assert!(v.is_u64(), "{}: `{key}` = {v} is not a count", entry.kind());
            }
        }
        for key in ["learning_rate", "reg"] {
            if let Some(v) = obj.get(key) {
                assert!(
                    v.is_f64(),
                    "{}: `{key}` = {v} is not a number",
                    entry.kind()
                );
            }
        }
        if let Some(v) = obj.get("seed") {
            assert!(v.is_u64(), "{}: seed", entry.kind());
        }
        for old in [
            "n_factors",
            "n_epochs",
            "lr",
            "k",
            "latent",
            "lambda",
            "weight_decay",
            "n_threads",
        ] {
            assert!(!obj.contains_key(old), "{}: old name `{old}`", entry.kind());
        }
    }
}

#[test]
fn out_of_range_values_name_the_parameter_and_range() {
    let hp = HyperParams::new().with("epochs", 0);
    for entry in MODELS {
        if entry.defaults().get("epochs").is_none() {
            continue;
        }
        let e = entry.params_for(&hp, false).unwrap_err().to_string();
        assert!(
            e.contains("epochs") && e.contains("allowed"),
            "{}: {e}",
            entry.kind()
        );
    }
}

#[test]
fn aliases_resolve_and_a_name_given_twice_is_refused() {
    let als = find("als").unwrap();
    let p = als
        .params_for(
            &HyperParams::new()
                .with("iterations", 7)
                .with("regularization", 0.5),
            false,
        )
        .unwrap();
    assert_eq!(
        (p["epochs"].as_u64(), p["reg"].as_f64()),
        (Some(7), Some(0.5))
    );
    let e = als
        .params_for(
            &HyperParams::new().with("epochs", 7).with("iterations", 8),
            false,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("given twice"), "{e}");
    let knn = find("itemknn").unwrap();
    let p = knn
        .params_for(&HyperParams::new().with("K", 20), false)
        .unwrap();
    assert_eq!(p["neighbours"].as_u64(), Some(20));
}

#[test]
fn command_line_text_is_parsed_by_the_declared_type() {
    let bivae = find("bivae").unwrap();
    let mut hp = HyperParams::new();
    hp.set_text("hidden", "30,20").set_text("epochs", "4");
    let p = bivae.params_for(&hp, false).unwrap();
    assert_eq!(p["hidden"], serde_json::json!([30, 20]));
    let mut bad = HyperParams::new();
    bad.set_text("epochs", "-3");
    let e = bivae.params_for(&bad, false).unwrap_err().to_string();
    assert_eq!(
        e,
        "parameter `epochs` = -3 is out of range: allowed 1..=1000000"
    );
}

#[test]
fn capabilities_are_known_before_any_fit() {
    use recs_core::Capability;
    let fold = recs_registry::with(Capability::FoldIn);
    for k in [
        "multvae", "multdae", "recvae", "als", "itemknn", "ease", "rp3beta", "sar",
    ] {
        assert!(fold.contains(&k), "{k} folds in");
    }
    for k in recs_registry::without(Capability::FoldIn) {
        assert!(!find(k).unwrap().capabilities().fold_in);
    }
}
