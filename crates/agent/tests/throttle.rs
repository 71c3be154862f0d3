//! The CPU cap's pacing, checked by what the kernel counts rather than by the wall clock: a busy
//! machine only makes a capped scan take longer, so these bounds hold however loaded it is. The
//! share of a core a real scan gets is measured by `benches/agent_cpu_cap.sh`.
//!
//! One test in its own binary: the throttle arms a process-wide timer.

use std::hint::black_box;
use std::time::{Duration, Instant};

use zerotrace_agent::quiet::{SLICE, Throttle, pause_for};

fn process_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the kernel to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[test]
fn every_slice_of_cpu_is_followed_by_its_pause_in_the_thread_that_used_it() {
    let cap = 20.0;
    let pause = pause_for(cap);
    let throttle = Throttle::start(cap)
        .expect("SIGPROF and ITIMER_PROF are available")
        .expect("a 20% cap throttles");
    let started = Instant::now();
    let cpu_at_start = process_cpu();
    let mut spin = 0u64;
    while process_cpu() - cpu_at_start < Duration::from_millis(500) {
        spin = black_box(spin.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    let cpu = process_cpu() - cpu_at_start;
    let wall = started.elapsed();
    let paused = throttle.paused();
    drop(throttle);

    // The timer counts the same CPU time in SLICE steps; the slices at either end may fall on
    // either side of the measurement, and the kernel checks the timer once per clock tick.
    let slices = (cpu.as_nanos() / SLICE.as_nanos()) as u32;
    assert!(
        paused >= pause * (slices - 3) && paused <= pause * (slices + 3),
        "{cpu:?} of CPU is {slices} slices, so about {:?} of pauses, but the throttle paused {paused:?}",
        pause * slices
    );
    // The pauses are sleeps of the spinning thread, between its slices of CPU, so both add up
    // in its wall time (the slack is the harness's own thread, which shares the process clock).
    assert!(
        wall + SLICE >= cpu + paused,
        "paused {paused:?} and used {cpu:?} of CPU, yet only {wall:?} passed"
    );
}
