fn main() {
    for (name, bytes, digest) in preflight::builtin::BUILTIN_POLICIES {
        println!("{name} {} {digest}", bytes.len());
    }
}
