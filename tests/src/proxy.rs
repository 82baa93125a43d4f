//! A TCP proxy in front of a service that a test can make fail: forward, hang (accept and
//! never answer, as a stuck network path does) or drop every connection (as a service
//! that is down does).

use std::net::SocketAddr;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Forward,
    Hang,
    Drop,
}

pub struct FaultyProxy {
    pub url: String,
    mode: watch::Sender<Mode>,
    task: JoinHandle<()>,
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultyProxy {
    /// A proxy on a free loopback port in front of `upstream` (an http:// URL).
    pub async fn start(upstream: &str) -> FaultyProxy {
        let hostport = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let upstream: SocketAddr = tokio::net::lookup_host(&hostport)
            .await
            .expect("upstream address")
            .next()
            .expect("an upstream address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (mode, watcher) = watch::channel(Mode::Forward);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream, watcher.clone()));
            }
        });
        FaultyProxy { url, mode, task }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let now = *mode.borrow_and_update();
    if now == Mode::Forward {
        let Ok(mut up) = TcpStream::connect(upstream).await else {
            return;
        };
        // A pooled connection follows a change of mode too: the SDK keeps connections
        // alive, and a fault must reach them, not only new ones.
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut up) => return,
            _ = mode.wait_for(|m| *m != Mode::Forward) => {}
        }
    }
    if *mode.borrow() == Mode::Drop {
        return;
    }
    // Hang: read and discard until the client gives up.
    let mut buf = [0u8; 4096];
    while let Ok(n) = client.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}
