//! The `recs` command. (Being built: see issue 8.)

fn main() {
    eprintln!("recs: no commands yet (see issue 8)");
    std::process::exit(2);
}
