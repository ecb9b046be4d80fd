use std::process::ExitCode;

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// The global allocator, mimalloc in place of glibc malloc. Under 32 connections glibc spent a
/// fifth of Hub's CPU time in malloc and free, part of it waiting on arena locks, and a GET by
/// id cost about a quarter more CPU than with mimalloc (conformance/bench/results.md).
///
/// The crate is built without transparent huge pages (feature `no_thp`). With them, mimalloc
/// asked for 2 MiB pages, and 16 concurrent large responses peaked at about 150 MiB, not 100.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`, by its position in `mi_option_e` of the mimalloc v3 that
/// libmimalloc-sys 0.1.49 bundles (`include/mimalloc.h`). The crate's own option constants
/// predate v3 and lack it, so the number is written here and both crates are pinned.
const PURGE_DELAY: mi_option_t = 15;
/// The default of that option in the bundled mimalloc, in milliseconds.
const PURGE_DELAY_DEFAULT_MS: std::ffi::c_long = 1000;

fn main() -> ExitCode {
    tune_allocator();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(hub::cli::run())
}

/// Has mimalloc return freed memory to the system at once instead of a second later. Sixteen
/// concurrent responses of a few megabytes each (a large group, pages of 1,000 users) peaked
/// at about 140 MiB with the delay and 100 MiB without, at the same speed of GET by id.
///
/// The option is changed only while it has its documented default. Another value means that
/// the operator set `MIMALLOC_PURGE_DELAY`, or that the position no longer names this option.
fn tune_allocator() {
    // SAFETY: reading and setting a mimalloc option has no preconditions, and this runs before
    // any other thread starts.
    unsafe {
        if mi_option_get(PURGE_DELAY) == PURGE_DELAY_DEFAULT_MS {
            mi_option_set(PURGE_DELAY, 0);
        }
    }
}
