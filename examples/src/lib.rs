//! Examples live in `examples/`; this library is empty so the package can hold them.
