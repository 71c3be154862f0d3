//! What the CLI's process tests share.

use std::io::{BufRead, BufReader};
use std::process::ChildStderr;
use std::time::Duration;

/// Reads a first-start `serve` banner from its stderr: the listening address and the generated
/// administrator's password. The reader keeps draining stderr afterwards on its thread, so the
/// server never writes into a full or closed pipe while the test goes on.
pub fn first_start_banner(stderr: ChildStderr) -> (String, String) {
    let (banner, banner_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut address = None;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("ZeroTrace is listening on http://") {
                address = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(password) = line.trim().strip_prefix("password: ") {
                let _ = banner.send((address.take(), password.to_owned()));
            }
        }
    });
    let (address, password) = banner_lines
        .recv_timeout(Duration::from_secs(60))
        .expect("the first start prints the address and the administrator's password");
    (address.expect("the listening address"), password)
}
