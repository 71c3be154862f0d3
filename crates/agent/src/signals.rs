//! SIGTERM and SIGINT ask the daemon to stop; [`wait`] sleeps until a deadline or a stop,
//! whichever comes first, without waking up in between (a self-pipe and `poll`).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
static READ_FD: AtomicI32 = AtomicI32::new(-1);

#[derive(Debug, thiserror::Error)]
#[error("cannot install the stop signal handlers: {0}")]
pub struct SignalError(std::io::Error);

pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

extern "C" fn on_stop(_: libc::c_int) {
    if STOP.swap(true, Ordering::Relaxed) {
        // A second Ctrl-C means "now": skip the clean stop (the spool is consistent on disk).
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
    let fd = WAKE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write is async-signal-safe; a full pipe already holds a wake-up.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// Installs the handlers. Call once, before the first [`wait`].
pub fn install() -> Result<(), SignalError> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 returns.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(SignalError(std::io::Error::last_os_error()));
    }
    READ_FD.store(fds[0], Ordering::Relaxed);
    WAKE_FD.store(fds[1], Ordering::Relaxed);
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only touches atomics and calls async-signal-safe functions. No
        // SA_RESTART: a blocking request in progress is interrupted, and abandoned.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(SignalError(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Sleeps until `deadline` or a stop request. Returns `true` if a stop was requested.
pub fn wait(deadline: Instant) -> bool {
    let fd = READ_FD.load(Ordering::Relaxed);
    loop {
        if stop_requested() {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if fd < 0 {
            std::thread::sleep(left.min(Duration::from_millis(500)));
            continue;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: pfd is one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, ms) };
    }
}
