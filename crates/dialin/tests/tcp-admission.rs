//! SIP over TCP admission control, against the dial-in driver running in this process on
//! loopback: the trunk allow-list at accept, the per-peer cap, the idle timeout, the
//! bounded write queue, and connections the bridge opens itself (read, and reused).
//!
//! The counters are process-wide, so the tests take turns (`SERIAL`) and compare each
//! counter with its value before the test.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use pinbridge_app::{App, StoreConfig};
use pinbridge_dialin::{DialIn, DialInConfig, PortRange, TcpLimits, metrics};
use pinbridge_domain::Cidr;
use pinbridge_store::OpenOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The longest any single wait in these tests may take before it counts as a failure.
const WAIT: Duration = Duration::from_secs(30);

const TRUNK: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

struct Running {
    bridge: DialIn,
    _dir: tempfile::TempDir,
}

async fn start(trunk_allow: Vec<Cidr>, tcp: TcpLimits) -> Running {
    let dir = tempfile::Builder::new()
        .prefix("pinbridge-tcp-test-")
        .tempdir()
        .expect("a temporary directory");
    let app = App::open(&StoreConfig {
        data_dir: dir.path().to_path_buf(),
        database_url: None,
        server_key: None,
        open: OpenOptions::default(),
    })
    .await
    .expect("open the store");
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let config = DialInConfig {
        sip_udp: loopback,
        sip_tcp: loopback,
        rtp_ports: "47000-47199".parse::<PortRange>().expect("a port range"),
        trunk_allow,
        tcp,
        ..DialInConfig::default()
    };
    let bridge = DialIn::start(app, config).await.expect("start the bridge");
    Running { bridge, _dir: dir }
}

/// A sample of the `/metrics` text.
fn metric(name: &str) -> i64 {
    let text = metrics::render();
    text.lines()
        .find_map(|line| {
            let (n, value) = line.split_once(' ')?;
            (n == name).then(|| value.parse().expect("a number"))
        })
        .unwrap_or_else(|| panic!("{name} is not in /metrics"))
}

/// Waits, bounded, until `done` holds for the metrics; whether it came true.
async fn wait_until(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

async fn connect_from(source: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind the source");
    socket.connect(to).await.expect("connect")
}

/// Reads until the bridge closes the connection; returns what arrived before.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout(WAIT, stream.read(&mut buf)).await {
            Err(_) => panic!("the bridge kept the connection open"),
            Ok(Ok(0)) | Ok(Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one SIP message (head and Content-Length body) from a stream.
async fn read_message(stream: &mut TcpStream, pending: &mut Vec<u8>) -> String {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            let length = header(&head, "Content-Length").map_or(0, |v| v.parse().unwrap());
            let total = end + 4 + length;
            if pending.len() >= total {
                let message = String::from_utf8_lossy(&pending[..total]).into_owned();
                pending.drain(..total);
                return message;
            }
        }
        let n = timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("a SIP message in time")
            .expect("read");
        assert!(n > 0, "the connection closed; so far: {pending:?}");
        pending.extend_from_slice(&buf[..n]);
    }
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (n, value) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(value.trim())
    })
}

fn options(from: SocketAddr, seq: u32) -> String {
    format!(
        "OPTIONS sip:bridge@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {from};branch=z9hG4bK-options-{seq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:trunk@127.0.0.1>;tag=options\r\n\
         To: <sip:bridge@127.0.0.1>\r\n\
         Call-ID: options-{seq}@{from}\r\n\
         CSeq: {seq} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// An OPTIONS from 127.0.0.1 over a new connection is answered with 200 OK.
async fn trunk_still_answered(tcp: SocketAddr) {
    let mut client = connect_from(Ipv4Addr::LOCALHOST, tcp).await;
    let from = client.local_addr().unwrap();
    client
        .write_all(options(from, 1).as_bytes())
        .await
        .expect("send OPTIONS");
    let response = read_message(&mut client, &mut Vec::new()).await;
    assert!(
        response.starts_with("SIP/2.0 200 "),
        "OPTIONS over TCP not answered: {response}"
    );
}

#[tokio::test]
async fn a_thousand_idle_connections_from_one_address_are_capped_and_closed() {
    let _turn = SERIAL.lock().await;
    let limits = TcpLimits {
        idle_timeout: Duration::from_secs(3),
        ..TcpLimits::default()
    };
    let running = start(Cidr::loopback(), limits).await;
    let tcp = running.bridge.tcp_address();
    let refused = "pinbridge_sip_tcp_refused_peer_limit_total";
    let idle = "pinbridge_sip_tcp_closed_idle_total";
    let refused_before = metric(refused);
    let idle_before = metric(idle);

    let mut clients = Vec::with_capacity(1000);
    for _ in 0..1000 {
        clients.push(connect_from(TRUNK, tcp).await);
    }
    // A trunk caller from another address is still served meanwhile.
    let mut other = connect_from(Ipv4Addr::LOCALHOST, tcp).await;
    let from = other.local_addr().unwrap();
    other.write_all(options(from, 1).as_bytes()).await.unwrap();
    let response = read_message(&mut other, &mut Vec::new()).await;
    assert!(response.starts_with("SIP/2.0 200 "), "{response}");

    // Every idle connection is closed, refused at once or after the idle timeout, and
    // none is sent anything.
    for client in &mut clients {
        assert!(read_to_close(client).await.is_empty());
    }
    assert!(read_to_close(&mut other).await.is_empty());
    let accounted = || metric(refused) - refused_before + metric(idle) - idle_before >= 1001;
    assert!(
        wait_until(accounted).await,
        "connections neither refused nor closed idle"
    );
    let refused_delta = metric(refused) - refused_before;
    assert_eq!(
        refused_delta + metric(idle) - idle_before,
        1001,
        "every connection is either refused or closed idle, once"
    );
    assert!(
        refused_delta >= 900,
        "only {refused_delta} of 1,000 connections were refused at the cap of 32"
    );
    assert!(wait_until(|| metric("pinbridge_sip_tcp_connections") == 0).await);
    running.bridge.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_total_cap_are_refused_until_one_closes() {
    let _turn = SERIAL.lock().await;
    let limits = TcpLimits {
        total: 4,
        ..TcpLimits::default()
    };
    let running = start(Cidr::loopback(), limits).await;
    let tcp = running.bridge.tcp_address();
    let name = "pinbridge_sip_tcp_refused_total_limit_total";
    let before = metric(name);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from(TRUNK, tcp).await);
    }
    assert!(wait_until(|| metric("pinbridge_sip_tcp_connections") == 4).await);
    // Full: another connection, from any address, is closed unanswered.
    let mut over = connect_from(Ipv4Addr::LOCALHOST, tcp).await;
    let from = over.local_addr().unwrap();
    let _ = over.write_all(options(from, 1).as_bytes()).await;
    assert_eq!(read_to_close(&mut over).await, b"");
    assert!(wait_until(|| metric(name) > before).await);
    assert_eq!(metric(name), before + 1);
    // One closes: a trunk caller is served again.
    drop(held.pop());
    assert!(wait_until(|| metric("pinbridge_sip_tcp_connections") == 3).await);
    trunk_still_answered(tcp).await;
    running.bridge.shutdown().await;
}

#[tokio::test]
async fn an_unfinished_message_does_not_keep_a_connection_open() {
    let _turn = SERIAL.lock().await;
    let limits = TcpLimits {
        idle_timeout: Duration::from_secs(1),
        ..TcpLimits::default()
    };
    let running = start(Cidr::loopback(), limits).await;
    let idle = "pinbridge_sip_tcp_closed_idle_total";
    let idle_before = metric(idle);
    let mut client = connect_from(TRUNK, running.bridge.tcp_address()).await;
    // One byte of a header every 100 ms, never the end of the message; the loop is
    // bounded far beyond the idle timeout.
    let text = options(client.local_addr().unwrap(), 1);
    let mut closed = false;
    for byte in text
        .as_bytes()
        .iter()
        .take(text.len() - 4)
        .cycle()
        .take(300)
    {
        if client.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        match timeout(Duration::from_millis(100), client.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => panic!("answered an unfinished message: {:?}", &buf[..n]),
        }
    }
    assert!(
        closed,
        "a trickled, unfinished message kept the connection open"
    );
    assert!(wait_until(|| metric(idle) > idle_before).await);
    assert_eq!(metric(idle), idle_before + 1);
    running.bridge.shutdown().await;
}

#[tokio::test]
async fn a_peer_outside_the_allow_list_is_closed_unanswered() {
    let _turn = SERIAL.lock().await;
    let only_localhost: Cidr = "127.0.0.1/32".parse().unwrap();
    let running = start(vec![only_localhost], TcpLimits::default()).await;
    let tcp = running.bridge.tcp_address();
    let name = "pinbridge_sip_tcp_refused_not_allowed_total";
    let before = metric(name);
    let mut stranger = connect_from(TRUNK, tcp).await;
    let from = stranger.local_addr().unwrap();
    // The request may or may not reach the socket before the bridge closes it; either
    // way nothing is answered.
    let _ = stranger.write_all(options(from, 1).as_bytes()).await;
    assert_eq!(read_to_close(&mut stranger).await, b"");
    assert!(wait_until(|| metric(name) > before).await);
    assert_eq!(metric(name), before + 1);
    trunk_still_answered(tcp).await;
    running.bridge.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_never_reads_is_closed_when_its_queue_fills() {
    let _turn = SERIAL.lock().await;
    let limits = TcpLimits {
        write_queue: 8,
        ..TcpLimits::default()
    };
    let running = start(Cidr::loopback(), limits).await;
    let tcp = running.bridge.tcp_address();
    let name = "pinbridge_sip_tcp_closed_write_queue_full_total";
    let before = metric(name);
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(SocketAddr::from((TRUNK, 0))).unwrap();
    let mut deaf = socket.connect(tcp).await.unwrap();
    let from = deaf.local_addr().unwrap();
    // OPTIONS in batches of 100, never reading the answers, until the bridge gives up
    // on the connection; bounded at 200,000 requests (about 60 MB).
    let mut full = false;
    'send: for batch in 0..2000u32 {
        let mut bytes = String::new();
        for i in 0..100 {
            bytes.push_str(&options(from, batch * 100 + i + 1));
        }
        if timeout(WAIT, deaf.write_all(bytes.as_bytes()))
            .await
            .expect("the bridge keeps reading")
            .is_err()
        {
            full = metric(name) > before;
            break 'send;
        }
        if metric(name) > before {
            full = true;
            break 'send;
        }
    }
    assert!(
        full,
        "the write queue of a peer that never reads never filled"
    );
    assert_eq!(metric(name), before + 1);
    trunk_still_answered(tcp).await;
    running.bridge.shutdown().await;
}

/// The SDP offer of a caller with PCMU only.
fn offer() -> String {
    "v=0\r\no=trunk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
     m=audio 47900 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        .to_owned()
}

#[tokio::test]
async fn a_connection_the_bridge_opens_is_read_and_reused() {
    let _turn = SERIAL.lock().await;
    let running = start(Cidr::loopback(), TcpLimits::default()).await;
    let tcp = running.bridge.tcp_address();

    // The caller's address listens too, so the bridge can connect back to it once the
    // caller's own connection is gone.
    let listener_socket = TcpSocket::new_v4().unwrap();
    listener_socket.set_reuseport(true).unwrap();
    listener_socket
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .unwrap();
    let caller = listener_socket.local_addr().unwrap();
    let listener: TcpListener = listener_socket.listen(16).unwrap();

    let body = offer();
    let invite = format!(
        "INVITE sip:+14255550100@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {caller};branch=z9hG4bK-invite-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+14255550199@127.0.0.1>;tag=caller\r\n\
         To: <sip:+14255550100@127.0.0.1>\r\n\
         Call-ID: outbound-read@{caller}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:trunk@{caller};transport=tcp>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // The INVITE goes out over a connection from the caller's address, closed at once:
    // the bridge's answer (sent after the ringing) needs a connection of its own.
    let first = TcpSocket::new_v4().unwrap();
    first.set_reuseport(true).unwrap();
    first.bind(caller).unwrap();
    let mut first = first.connect(tcp).await.unwrap();
    first.write_all(invite.as_bytes()).await.unwrap();
    drop(first);

    let (mut back, _) = timeout(WAIT, listener.accept())
        .await
        .expect("the bridge connects back to the caller")
        .unwrap();
    let mut pending = Vec::new();
    let ok = loop {
        let message = read_message(&mut back, &mut pending).await;
        if message.starts_with("SIP/2.0 200 ") {
            break message;
        }
        assert!(message.starts_with("SIP/2.0 1"), "{message}");
    };
    let to = header(&ok, "To").expect("To").to_owned();
    let ack = format!(
        "ACK sip:bridge@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {caller};branch=z9hG4bK-ack-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+14255550199@127.0.0.1>;tag=caller\r\n\
         To: {to}\r\n\
         Call-ID: outbound-read@{caller}\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let bye = format!(
        "BYE sip:bridge@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {caller};branch=z9hG4bK-bye-2\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+14255550199@127.0.0.1>;tag=caller\r\n\
         To: {to}\r\n\
         Call-ID: outbound-read@{caller}\r\n\
         CSeq: 2 BYE\r\n\
         Content-Length: 0\r\n\r\n"
    );
    // Both go over the connection the bridge opened; the BYE's answer comes back on it.
    back.write_all(ack.as_bytes()).await.unwrap();
    back.write_all(bye.as_bytes()).await.unwrap();
    let answer = read_message(&mut back, &mut pending).await;
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    assert!(
        header(&answer, "CSeq").unwrap().ends_with("BYE"),
        "{answer}"
    );
    running.bridge.shutdown().await;
}

/// Reads messages until one that `wanted` picks; returns it.
async fn read_until(
    stream: &mut TcpStream,
    pending: &mut Vec<u8>,
    wanted: impl Fn(&str) -> bool,
) -> String {
    loop {
        let message = read_message(stream, pending).await;
        if wanted(&message) {
            return message;
        }
    }
}

#[tokio::test]
async fn a_connection_that_carries_a_call_is_not_closed_as_idle() {
    let _turn = SERIAL.lock().await;
    let limits = TcpLimits {
        idle_timeout: Duration::from_secs(1),
        ..TcpLimits::default()
    };
    let running = start(Cidr::loopback(), limits).await;
    let tcp = running.bridge.tcp_address();
    let closed_idle = "pinbridge_sip_tcp_closed_idle_total";
    let before = metric(closed_idle);
    let mut trunk = connect_from(Ipv4Addr::LOCALHOST, tcp).await;
    let from = trunk.local_addr().unwrap();
    let dialog = |method: &str, seq: u32, to: &str| {
        format!(
            "{method} sip:bridge@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/TCP {from};branch=z9hG4bK-idle-{seq}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:+14255550199@127.0.0.1>;tag=caller\r\n\
             To: {to}\r\n\
             Call-ID: idle-call@{from}\r\n\
             CSeq: {seq} {method}\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    let body = offer();
    let invite = format!(
        "INVITE sip:+14255550100@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {from};branch=z9hG4bK-idle-invite\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+14255550199@127.0.0.1>;tag=caller\r\n\
         To: <sip:+14255550100@127.0.0.1>\r\n\
         Call-ID: idle-call@{from}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:trunk@{from};transport=tcp>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    trunk.write_all(invite.as_bytes()).await.unwrap();
    let mut pending = Vec::new();
    let ok = read_until(&mut trunk, &mut pending, |m| m.starts_with("SIP/2.0 200 ")).await;
    let to = header(&ok, "To").expect("To").to_owned();
    let ack = dialog("ACK", 1, &to);
    trunk.write_all(ack.as_bytes()).await.unwrap();
    // Three idle timeouts with no message either way: the call keeps its connection.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        metric(closed_idle),
        before,
        "the call's connection was closed"
    );
    let bye = dialog("BYE", 2, &to);
    trunk.write_all(bye.as_bytes()).await.unwrap();
    let answer = read_until(&mut trunk, &mut pending, |m| {
        header(m, "CSeq").is_some_and(|c| c.ends_with("BYE"))
    })
    .await;
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    // Without a call it idles out as any other.
    read_to_close(&mut trunk).await;
    assert!(
        wait_until(|| metric(closed_idle) == before + 1).await,
        "the connection was not closed as idle once the call ended"
    );
    running.bridge.shutdown().await;
}
