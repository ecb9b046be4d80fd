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

/// Keeps glibc from holding on to the memory of large responses. Each freed large block raises
/// glibc's mmap threshold (up to 32 MiB, see mallopt(3)). Later large blocks then come from
/// per-thread arenas that keep freed memory, so Hub fixes the threshold and caps the arenas.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; it runs before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}
