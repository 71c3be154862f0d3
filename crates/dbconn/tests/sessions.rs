//! Against the real PostgreSQL (`ZEROTRACE_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test`): every TCP connection of a pool has Nagle off and
//! plans generically, and options the URL sets are kept.

use socket2::SockRef;

fn postgres_url() -> String {
    std::env::var("ZEROTRACE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[tokio::test]
async fn pooled_tcp_connections_have_nagle_off() {
    let pool = zerotrace_dbconn::connect_postgres(&postgres_url(), "zerotrace-dbconn-test", 3)
        .await
        .expect("PostgreSQL is running (see README) or ZEROTRACE_TEST_POSTGRES names one");
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..3 {
        let mut connection = pool.acquire().await.unwrap();
        let port: Option<i32> = sqlx::query_scalar("SELECT inet_client_port()")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        ports.push(u16::try_from(port.expect("a TCP session")).unwrap());
        held.push(connection);
    }
    for port in ports {
        let nodelay = sockets_of_this_process()
            .into_iter()
            .find(|(local, _)| *local == port)
            .map(|(_, nodelay)| nodelay);
        assert_eq!(nodelay, Some(true), "the connection from port {port}");
    }
}

/// (local port, TCP_NODELAY) of every TCP socket this process holds.
fn sockets_of_this_process() -> Vec<(u16, bool)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(raw) = entry.file_name().to_string_lossy().parse() else {
            continue;
        };
        // SAFETY: the test's own descriptors, held open by the pool while this runs.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
        let socket = SockRef::from(&fd);
        if let (Ok(local), Ok(nodelay)) = (socket.local_addr(), socket.tcp_nodelay())
            && let Some(local) = local.as_socket()
        {
            found.push((local.port(), nodelay));
        }
    }
    found
}

#[tokio::test]
async fn sessions_plan_generically_and_keep_the_urls_options() {
    let url = format!(
        "{}{}options=-csearch_path%3Dpg_catalog",
        postgres_url(),
        if postgres_url().contains('?') {
            '&'
        } else {
            '?'
        }
    );
    let pool = zerotrace_dbconn::connect_postgres(&url, "zerotrace-dbconn-test", 1)
        .await
        .expect("PostgreSQL is running (see README) or ZEROTRACE_TEST_POSTGRES names one");
    let (mode, path): (String, String) =
        sqlx::query_as("SELECT current_setting('plan_cache_mode'), current_setting('search_path')")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(mode, "force_generic_plan");
    assert_eq!(path, "pg_catalog");
}
