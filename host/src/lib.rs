pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_policies.rs"));
}
