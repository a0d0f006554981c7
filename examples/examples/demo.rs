//! Placeholder demo until the writer lands.
fn main() {
    println!("demo: placeholder");
}
