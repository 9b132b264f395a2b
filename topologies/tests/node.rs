//! A node's supervision tree and its HTTP observability endpoints.

use std::io::{Read, Write};
use std::time::Duration;

use seawatch_runtime::{ActorKey, Clock, ShipId};
use seawatch_topologies::node::Node;

fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    let code = body[9..12].parse().unwrap();
    (code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_hosts_one_shard_per_ship_and_serves_health_and_metrics() {
    let ships = [ShipId::new("aurora"), ShipId::new("borealis")];
    let node = Node::start(&ships, Clock::system()).await.unwrap();
    for ship in &ships {
        let key = ActorKey::new(ship, "supervisor", "devices");
        assert!(node.runtime.registry().get(&key).is_some(), "{key}");
    }
    assert_eq!(node.runtime.registry().ships(), ships.to_vec());
    let addr = node.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (code, _) = tokio::task::spawn_blocking(move || http_get(addr, "/healthz"))
        .await
        .unwrap();
    assert_eq!(code, 200);
    let (code, text) = tokio::task::spawn_blocking(move || http_get(addr, "/metrics"))
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert!(
        text.contains("# TYPE seawatch_actor_messages counter"),
        "{text}"
    );
    assert!(text.contains("# TYPE seawatch_actor_handle_seconds histogram"));
    node.shutdown().await;
    assert!(node.runtime.registry().is_empty());
    let (code, _) = tokio::task::spawn_blocking(move || http_get(addr, "/healthz"))
        .await
        .unwrap();
    assert_eq!(code, 503, "unhealthy once the tree is down");
}
