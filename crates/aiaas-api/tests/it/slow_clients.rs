//! Slow clients cannot hold the server: 200 connections that send their headers one byte a
//! second do not keep a normal client from being served at once, and are closed when the header
//! timeout passes.

use crate::{TestServer, test_config};
use aiaas_api::ServerLimits;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_and_do_not_block_others() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ServerLimits {
        header_timeout: Duration::from_secs(2),
        ..ServerLimits::default()
    };
    let server = TestServer::with_limits(dir.path(), test_config(), limits).await;
    let addr = server.base.trim_start_matches("http://").to_string();

    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..200 {
        let stream = TcpStream::connect(&addr).await.unwrap();
        let (reader, mut writer) = stream.into_split();
        readers.push(reader);
        // One byte a second of a request that never ends its headers.
        writers.push(tokio::spawn(async move {
            for byte in b"GET /v2/health/live HTTP/1.1\r\nX-Slow: " {
                if writer.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }

    // A normal client is served at once, over and over, while they dribble.
    for _ in 0..5 {
        let started = Instant::now();
        let res = server.get("/v2/health/live").await;
        assert!(res.status().is_success());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a normal request took {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Past the header timeout every slow connection is closed by the server.
    let deadline = Instant::now() + Duration::from_secs(6);
    for mut reader in readers {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(left, reader.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a slow connection was still open after 6 s");
    }
    for writer in writers {
        writer.abort();
    }
    // And the server still answers.
    assert!(server.get("/v2/health/live").await.status().is_success());
    server.stop().await;
}

/// Past `max_connections`, a new connection is closed as it arrives; once others go, new ones
/// are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_to_either_port_are_closed_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ServerLimits {
        header_timeout: Duration::from_millis(500),
        ..ServerLimits::default()
    };
    let server = TestServer::with_limits(dir.path(), test_config(), limits).await;
    for base in [&server.base, &server.grpc_url] {
        let addr = base.trim_start_matches("http://");
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut rest));
        assert!(
            closed.await.is_ok(),
            "{base}: a silent connection stayed open"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{base}: closed too soon"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ServerLimits {
        max_connections: 4,
        ..ServerLimits::default()
    };
    let server = TestServer::with_limits(dir.path(), test_config(), limits).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    // Give the server time to take them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), extra.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the connection past the cap was kept open");
    assert!(
        answer.is_empty(),
        "it was served: {}",
        String::from_utf8_lossy(&answer)
    );
    drop(held);
    let mut served = false;
    for _ in 0..40 {
        if let Ok(res) = server.http.get(server.url("/v2/health/live")).send().await
            && res.status().is_success()
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        served,
        "no connection was served after the held ones closed"
    );
    server.stop().await;
}

/// A request that never finishes does not hold shutdown past its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drops_what_is_still_open_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ServerLimits {
        body_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(1),
        ..ServerLimits::default()
    };
    let server = TestServer::with_limits(dir.path(), test_config(), limits).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    // A request whose body stops half way.
    let mut stuck = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/datasets?name=stuck HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\
         Authorization: Bearer {}\r\n\r\nx,target\n",
        server.admin_key
    );
    stuck.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
}
