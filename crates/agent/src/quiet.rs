//! Staying out of the way: low CPU and I/O priority, and a CPU cap on scans.
//!
//! The cap works inside the scan, not only after it: while a [`Throttle`] is alive, the kernel
//! sends SIGPROF every [`SLICE`] of CPU time the process uses, and the handler sleeps long enough
//! that the slice is `cap`% of the wall time that passes. So a scan of a root ten times larger
//! takes ten times longer but never uses more than its share of a core. `nanosleep` is
//! async-signal-safe, and the agent is single-threaded, so the thread that is put to sleep is the
//! one scanning. Once a stop is requested (SIGTERM) the handler stops sleeping, so the scan in
//! progress ends quickly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::signals;

/// CPU time between two pauses: short enough that the cap holds over a fraction of a second,
/// long enough that the signal costs nothing measurable.
pub const SLICE: Duration = Duration::from_millis(10);

static PAUSE_NS: AtomicU64 = AtomicU64::new(0);
/// Pauses taken since the current [`Throttle`] started, so a scan can say what the cap cost it.
static PAUSED_NS: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, thiserror::Error)]
pub enum QuietError {
    #[error("{what} refused: {source}")]
    Refused {
        what: &'static str,
        source: std::io::Error,
    },
}

/// Lowers this process's CPU priority to at least `nice` and puts its I/O in the idle class.
/// Each refusal (a container without the capability, a non-Linux kernel) is returned, and the
/// other step is still tried.
pub fn lower_priority(nice: i32) -> Vec<QuietError> {
    let mut refused = Vec::new();
    // getpriority returns -1 both as a value and as an error; errno tells them apart.
    // SAFETY: getpriority/setpriority have no memory preconditions.
    let current = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    if current < nice {
        // SAFETY: as above.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
            refused.push(QuietError::Refused {
                what: "setpriority (nice)",
                source: std::io::Error::last_os_error(),
            });
        }
    }
    if let Err(e) = set_idle_io() {
        refused.push(e);
    }
    refused
}

#[cfg(target_os = "linux")]
fn set_idle_io() -> Result<(), QuietError> {
    // From linux/ioprio.h: the class sits above the 13 data bits; who 1 is a process.
    const IOPRIO_CLASS_IDLE: libc::c_long = 3;
    const IOPRIO_CLASS_SHIFT: libc::c_long = 13;
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    // SAFETY: ioprio_set takes three integers and touches no memory of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_long,
            IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
        )
    };
    if rc != 0 {
        return Err(QuietError::Refused {
            what: "ioprio_set (idle I/O class)",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_idle_io() -> Result<(), QuietError> {
    Err(QuietError::Refused {
        what: "ioprio_set (idle I/O class)",
        source: std::io::Error::from(std::io::ErrorKind::Unsupported),
    })
}

/// How long to pause after each [`SLICE`] of CPU so that CPU stays at `cap_percent` of one core.
pub fn pause_for(cap_percent: f64) -> Duration {
    if cap_percent >= 100.0 {
        return Duration::ZERO;
    }
    SLICE.mul_f64((100.0 - cap_percent) / cap_percent.max(0.01))
}

/// While alive, keeps this process's CPU use at or under a cap (see the module docs).
#[derive(Debug)]
pub struct Throttle {
    previous: libc::sigaction,
}

extern "C" fn on_sigprof(_: libc::c_int) {
    if signals::stop_requested() {
        return;
    }
    let ns = PAUSE_NS.load(Ordering::Relaxed);
    PAUSED_NS.fetch_add(ns, Ordering::Relaxed);
    let pause = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: nanosleep is async-signal-safe; an early wake-up (EINTR from SIGTERM) just ends
    // this pause.
    unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) };
}

impl Throttle {
    /// Starts capping CPU at `cap_percent` of one core; `None` for caps of 100% and more.
    pub fn start(cap_percent: f64) -> Result<Option<Throttle>, QuietError> {
        let pause = pause_for(cap_percent);
        if pause.is_zero() {
            return Ok(None);
        }
        PAUSE_NS.store(pause.as_nanos() as u64, Ordering::Relaxed);
        PAUSED_NS.store(0, Ordering::Relaxed);
        // SAFETY: sigaction is plain old data; the handler only calls async-signal-safe code.
        let previous = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigprof as extern "C" fn(libc::c_int) as libc::sighandler_t;
            // Restart interrupted reads and writes: the scan must not see EINTR because of us.
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGPROF, &action, &mut previous) != 0 {
                return Err(QuietError::Refused {
                    what: "sigaction(SIGPROF)",
                    source: std::io::Error::last_os_error(),
                });
            }
            previous
        };
        let throttle = Throttle { previous };
        set_timer(SLICE).map_err(|source| QuietError::Refused {
            what: "setitimer(ITIMER_PROF)",
            source,
        })?;
        Ok(Some(throttle))
    }

    /// How long the cap has paused this process so far: one pause per [`SLICE`] of CPU used.
    pub fn paused(&self) -> Duration {
        Duration::from_nanos(PAUSED_NS.load(Ordering::Relaxed))
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        // Disarm before restoring, so no SIGPROF meets the default action (which terminates).
        let _ = set_timer(Duration::ZERO);
        // SAFETY: restores the action saved in `start`.
        unsafe { libc::sigaction(libc::SIGPROF, &self.previous, std::ptr::null_mut()) };
    }
}

fn set_timer(every: Duration) -> std::io::Result<()> {
    let tv = libc::timeval {
        tv_sec: every.as_secs() as libc::time_t,
        tv_usec: every.subsec_micros() as libc::suseconds_t,
    };
    let timer = libc::itimerval {
        it_interval: tv,
        it_value: tv,
    };
    // SAFETY: timer is a valid itimerval; the old value is not wanted.
    if unsafe { libc::setitimer(libc::ITIMER_PROF, &timer, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_makes_the_slice_the_capped_share() {
        assert_eq!(pause_for(5.0), Duration::from_millis(190));
        assert_eq!(pause_for(50.0), Duration::from_millis(10));
        assert_eq!(pause_for(100.0), Duration::ZERO);
        assert_eq!(pause_for(250.0), Duration::ZERO);
    }
}
