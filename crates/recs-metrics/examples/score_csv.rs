//! Scores predictions made by any system from CSV files, with the reference definitions:
//!
//! `cargo run --release -p recs-metrics --example score_csv -- --truth T.csv --pred P.csv
//!  [--pairs PAIRS.csv] [--auc-pairs LABELLED.csv] --k 1,5,10,20 --liang-k 20,50,100 --json`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use recs_metrics::table::{RankingTable, auc_pairs_csv, rating_pairs_csv};

#[derive(Parser, Debug)]
#[command(about = "Score truth/prediction CSVs as Microsoft Recommenders and Liang et al. do")]
struct Args {
    /// userID,itemID,rating
    #[arg(long)]
    truth: PathBuf,
    /// userID,itemID,prediction
    #[arg(long)]
    pred: PathBuf,
    /// userID,itemID,rating,prediction, for RMSE and MAE
    #[arg(long)]
    pairs: Option<PathBuf>,
    /// userID,itemID,label,prediction with 0/1 labels, for Recommenders' global `auc`
    #[arg(long = "auc-pairs")]
    auc_pairs: Option<PathBuf>,
    /// Cut-offs of the ranking metrics
    #[arg(long, value_delimiter = ',', default_value = "10")]
    k: Vec<usize>,
    /// Cut-offs of Liang et al.'s Recall@R and NDCG@R
    #[arg(long = "liang-k", value_delimiter = ',')]
    liang_k: Vec<usize>,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = || -> Result<std::collections::BTreeMap<String, f64>, recs_metrics::MetricsError> {
        let t = RankingTable::from_csv(&args.truth, &args.pred)?;
        let mut m = t.metrics(&args.k, &args.liang_k)?;
        if let Some(p) = &args.pairs {
            let r = rating_pairs_csv(p)?;
            m.insert("rmse".into(), r.rmse);
            m.insert("mae".into(), r.mae);
        }
        if let Some(p) = &args.auc_pairs {
            m.insert("auc".into(), auc_pairs_csv(p)?);
        }
        Ok(m)
    };
    match run() {
        Ok(m) if args.json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&m).expect("numbers serialise")
            );
            ExitCode::SUCCESS
        }
        Ok(m) => {
            for (k, v) in m {
                println!("{k:<20} {v:.6}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
