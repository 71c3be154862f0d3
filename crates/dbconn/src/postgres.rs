//! PostgreSQL pools.
//!
//! Sessions use generic plans (`plan_cache_mode = force_generic_plan`). Every statement ZeroTrace
//! runs is prepared, and most reach hash-partitioned tables through an `org_id` parameter. In
//! the default mode the server keeps planning such statements afresh for every execution (a
//! custom plan considers all 16 partitions of each table the statement names), while a generic
//! plan is made once and prunes partitions when it runs. Measured on the pipeline benchmark
//! (PostgreSQL + Redis, 2 cores): the API accepted 132,150 package records/s instead of
//! 87,000-93,000, and a report's findings were visible after p95 0.18 s instead of 12.8 s at
//! 20,000 records/s offered.
//!
//! One thing here is a workaround: sqlx 0.9.0 leaves Nagle's algorithm on for its TCP
//! connections (launchbadge/sqlx#4335; the fix, #4336, is not in a release yet). A statement
//! whose message leaves the client in more than one segment then waits for the server's delayed
//! ACK, 40 ms on Linux. The pipeline's array statements are such messages, and with Nagle on
//! the PostgreSQL worker drained about 5,000 package records/s instead of 33,000 over a Unix
//! socket. Until sqlx carries the fix, every new TCP connection finds its own socket and turns
//! Nagle off. Delete [`disable_nagle`] when sqlx is upgraded past it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// A pool on `url` (`postgres://…`), named `application_name` in `pg_stat_activity`.
pub async fn connect_postgres(
    url: &str,
    application_name: &str,
    max_connections: u32,
) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .application_name(application_name)
        .options([("plan_cache_mode", "force_generic_plan")]);
    // No liveness ping on acquire: sqlx already pings each connection when it is released, and
    // drops a broken one there. The acquire ping only catches a connection that broke while idle
    // (a server restart), at the price of a round trip per transaction. Without it, a request on
    // such a connection fails once and the connection is dropped.
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .after_connect(|connection, _| Box::pin(disable_nagle(connection)))
        .connect_with(options)
        .await
}

/// Sets `TCP_NODELAY` on the socket of `connection`: the one of this process whose local and
/// peer ports are the client and server ports the server reports for this session. Unix-socket
/// sessions (no ports) and sessions through a proxy (ports that match no socket here) are left
/// as they are.
async fn disable_nagle(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
    let (client_port, server_port): (Option<i32>, Option<i32>) =
        sqlx::query_as("SELECT inet_client_port(), inet_server_port()")
            .fetch_one(connection)
            .await?;
    let (Some(client_port), Some(server_port)) = (client_port, server_port) else {
        return Ok(());
    };
    let (Ok(client_port), Ok(server_port)) =
        (u16::try_from(client_port), u16::try_from(server_port))
    else {
        return Ok(());
    };
    if !sockets::set_nodelay_on(client_port, server_port) {
        tracing::debug!(
            client_port,
            server_port,
            "no socket of this process matches the PostgreSQL session; TCP_NODELAY left unset"
        );
    }
    Ok(())
}

#[cfg(target_os = "linux")]
mod sockets {
    use std::os::fd::{BorrowedFd, RawFd};

    use socket2::SockRef;

    /// Whether a TCP socket from local port `local` to peer port `peer` was found and set.
    pub(super) fn set_nodelay_on(local: u16, peer: u16) -> bool {
        let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
            return false;
        };
        for entry in entries.flatten() {
            let Some(raw) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<RawFd>().ok())
            else {
                continue;
            };
            // SAFETY: `raw` was listed as open a moment ago, and the borrow lives only for the
            // two getsockname/getpeername calls and one setsockopt below. Should another thread
            // close it and a new file take its number in between, the calls fail (not a socket)
            // or report other ports, and nothing is changed.
            let fd = unsafe { BorrowedFd::borrow_raw(raw) };
            let socket = SockRef::from(&fd);
            let ports = |address: std::io::Result<socket2::SockAddr>| {
                address.ok().and_then(|a| a.as_socket()).map(|a| a.port())
            };
            if ports(socket.local_addr()) == Some(local) && ports(socket.peer_addr()) == Some(peer)
            {
                return socket.set_tcp_nodelay(true).is_ok();
            }
        }
        false
    }
}

#[cfg(not(target_os = "linux"))]
mod sockets {
    /// Only Linux lists a process's descriptors where this looks; elsewhere Nagle stays on.
    pub(super) fn set_nodelay_on(_local: u16, _peer: u16) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use socket2::SockRef;

    #[test]
    fn finds_and_sets_the_socket_with_the_given_ports() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        assert!(!client.nodelay().unwrap());
        let local = client.local_addr().unwrap().port();
        let peer = client.peer_addr().unwrap().port();
        assert!(super::sockets::set_nodelay_on(local, peer));
        assert!(client.nodelay().unwrap());
        assert!(SockRef::from(&client).tcp_nodelay().unwrap());
        assert!(
            !super::sockets::set_nodelay_on(local, peer.wrapping_add(1)),
            "a port pair of no socket here changes nothing"
        );
    }
}
