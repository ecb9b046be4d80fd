use std::process::ExitCode;

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

/// Keeps glibc's allocator from holding on to the memory of large responses.
///
/// glibc serves blocks above its mmap threshold with their own mappings, which go back to
/// the system when freed. But each time such a block is freed it raises the threshold to
/// that size, up to 32 MiB, so after one large response the next ones come from the heap
/// arenas, where freed memory mostly stays with the process. With one arena per thread, by
/// default up to eight per core, a few large member lists then kept Hub's resident size at
/// several times what it needs. A fixed threshold turns the raising off, and four arenas are
/// enough for the few threads Hub runs.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; it runs before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}
