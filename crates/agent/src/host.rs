//! Facts about the device (for enrollment) and about the agent's own resource use (for the
//! heartbeat and `status`).

use std::ffi::CStr;
use std::path::Path;
use std::time::Duration;

use zerotrace_inventory::os_release::read_os_release;

/// What enrollment tells the server about this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub hostname: String,
    /// `linux`, `macos`, ...
    pub os: String,
    /// `Debian GNU/Linux 12 (bookworm)` from os-release, else the kernel release.
    pub os_version: String,
    pub arch: String,
}

impl HostFacts {
    /// The facts of the running system; os-release is read under `root`.
    pub fn gather(root: &Path) -> HostFacts {
        let uname = uname();
        let os_release = read_os_release(root).ok().flatten();
        let os_version = os_release
            .and_then(|os| {
                os.pretty_name.or_else(|| {
                    Some(match os.version_id {
                        Some(v) => format!("{} {v}", os.id),
                        None => os.id,
                    })
                })
            })
            .or_else(|| uname.as_ref().map(|u| u.release.clone()))
            .unwrap_or_else(|| "unknown".to_owned());
        HostFacts {
            hostname: uname
                .as_ref()
                .map(|u| u.nodename.clone())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unknown".to_owned()),
            os: std::env::consts::OS.to_owned(),
            os_version,
            arch: uname
                .map(|u| u.machine)
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| std::env::consts::ARCH.to_owned()),
        }
    }
}

struct Uname {
    nodename: String,
    release: String,
    machine: String,
}

fn uname() -> Option<Uname> {
    // SAFETY: utsname is plain old data; uname fills it with NUL-terminated strings.
    let mut buf: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: buf is a valid, writable utsname.
    if unsafe { libc::uname(&mut buf) } != 0 {
        return None;
    }
    let field = |raw: &[libc::c_char]| {
        // SAFETY: the kernel NUL-terminates every field within its array.
        unsafe { CStr::from_ptr(raw.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Some(Uname {
        nodename: field(&buf.nodename),
        release: field(&buf.release),
        machine: field(&buf.machine),
    })
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> Duration {
    // SAFETY: rusage is plain old data and getrusage only writes it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: usage is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The agent's own use from `/proc/self`: CPU seconds consumed and resident bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelfUsage {
    pub cpu: Duration,
    pub rss_bytes: u64,
}

impl SelfUsage {
    /// Read from /proc/self/stat (utime, stime) and /proc/self/statm (resident pages); `None`
    /// where /proc is not mounted.
    pub fn read() -> Option<SelfUsage> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        // SAFETY: as above.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        parse_usage(
            &stat,
            &statm,
            u64::try_from(ticks).ok()?,
            u64::try_from(page).ok()?,
        )
    }
}

fn parse_usage(stat: &str, statm: &str, ticks_per_sec: u64, page_size: u64) -> Option<SelfUsage> {
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name come state (field 3), ..., utime (14) and stime (15).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    if ticks_per_sec == 0 {
        return None;
    }
    let ticks = utime + stime;
    let cpu = Duration::from_secs(ticks / ticks_per_sec)
        + Duration::from_nanos((ticks % ticks_per_sec) * 1_000_000_000 / ticks_per_sec);
    Some(SelfUsage {
        cpu,
        rss_bytes: resident * page_size,
    })
}

/// CPU use between two samples taken `elapsed` apart, in percent of one core.
pub fn cpu_percent(before: &SelfUsage, after: &SelfUsage, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    after.cpu.saturating_sub(before.cpu).as_secs_f64() / elapsed.as_secs_f64() * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_with_a_hostile_command_name_parses() {
        let stat = "4242 (evil) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 30 10 1 0 100 10000000 900 18446744073709551615";
        let usage = parse_usage(stat, "2500 900 400 100 0 300 0", 100, 4096).unwrap();
        assert_eq!(usage.cpu, Duration::from_secs(3));
        assert_eq!(usage.rss_bytes, 900 * 4096);
        assert!(parse_usage("garbage", "1 2", 100, 4096).is_none());
        assert!(parse_usage(stat, "", 100, 4096).is_none());
    }

    #[test]
    fn own_usage_is_read_from_proc() {
        let usage = SelfUsage::read().unwrap();
        assert!(usage.rss_bytes > 100 * 1024, "{usage:?}");
        let later = SelfUsage {
            cpu: usage.cpu + Duration::from_millis(300),
            ..usage
        };
        let pct = cpu_percent(&usage, &later, Duration::from_secs(60));
        assert!((pct - 0.5).abs() < 1e-9, "{pct}");
    }

    #[test]
    fn facts_come_from_os_release_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/os-release"),
            "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        )
        .unwrap();
        let facts = HostFacts::gather(dir.path());
        assert_eq!(facts.os_version, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(facts.os, "linux");
        assert!(!facts.hostname.is_empty() && !facts.arch.is_empty());
        let empty = tempfile::tempdir().unwrap();
        let facts = HostFacts::gather(empty.path());
        assert_ne!(facts.os_version, "Debian GNU/Linux 12 (bookworm)");
        assert!(!facts.os_version.is_empty());
    }
}
